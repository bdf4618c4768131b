"""What a registry caller may have to handle, whatever MLflow raised underneath."""

from __future__ import annotations


class RegistryError(RuntimeError):
    """The registry cannot be read: no database yet, a server that does not answer, or a store error."""


class NoVersionError(RegistryError):
    """No version of the model holds the alias (or the model is not registered at all)."""
