"""The state tests drive the real API and worker: the same module-scoped stack as the API tests."""

from tests.api.conftest import client, module_settings, worker

__all__ = ["client", "module_settings", "worker"]
