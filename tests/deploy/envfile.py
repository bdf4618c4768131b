"""Renders ``.env.example`` from ``infra.settings.Settings``: every ``VALUESTREAM_*`` variable with its default.

Regenerate after changing a setting: ``.venv/bin/python -m tests.deploy.envfile``.
``tests/deploy/test_envfile.py`` fails while the committed file differs from this rendering.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from infra.settings import GROUPS, Settings

REPO = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO / ".env.example"
PREFIX = "VALUESTREAM_"

HEADER = """\
# valuestream settings: every VALUESTREAM_* variable with its default.
# Generated from infra.settings.Settings by `python -m tests.deploy.envfile`; do not edit by hand.
# Copy to .env to change a value: every process reads .env (empty = default). docker compose passes
# .env to its containers too, but sets the addresses of Kafka, Redis, MLflow and the API itself.
"""


def env_name(field: str) -> str:
    return f"{PREFIX}{field.upper()}"


def default_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def render() -> str:
    """Every setting, group by group, each under its group's title."""
    blocks = [HEADER]
    for group in GROUPS:
        blocks.append(f"# ---- {group.__doc__}\n")
        for name in group.model_fields:
            field = Settings.model_fields[name]
            description = " ".join((field.description or "").split())
            default = default_text(field.get_default(call_default_factory=True))
            blocks.append(f"# {description}\n{env_name(name)}={default}\n")
    return "\n".join(blocks)


def main() -> None:
    ENV_EXAMPLE.write_text(render())
    print(f"wrote {ENV_EXAMPLE}")


if __name__ == "__main__":
    main()
