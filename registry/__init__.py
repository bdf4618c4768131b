"""The MLflow model registry: the one package that knows how versions are tagged, found, loaded and promoted.

- ``registry.client``: an MLflow client configured from ``Settings`` (readers and the training writer).
- ``registry.tags``: every version tag's name, spelled once.
- ``registry.contract``: the feature contract a version was trained for, and the input signature.
- ``registry.versions``: lookups by alias (the champion), and the versions as the API and dashboard show them.
- ``registry.loading``: the pyfunc of a version, loaded from the registry (never from a loose file), its
  drift reference, and its flavour's predict without the per-call schema check when that answers the same.
- ``registry.promotion``: registration, and the rule that moves an alias ("beats the champion").

Nothing here imports MLflow at import time (it takes about a second): the API and the dashboard import
this package at start and pay for MLflow on first use. Aliases are parameters (the serving one is
``Settings.model_alias``), so a second alias can sit beside the champion with the same code.
"""
