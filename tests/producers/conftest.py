"""Module-scoped deployment for the producer tests (fixtures shared with tests/api)."""

from tests.api.conftest import module_settings, worker

__all__ = ["module_settings", "worker"]
