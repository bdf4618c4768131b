"""The README documents every setting, so the configuration table cannot fall behind the code."""

from __future__ import annotations

from pathlib import Path

from infra.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    missing = [name for name in Settings.model_fields if f"`VALUESTREAM_{name.upper()}`" not in text]
    assert not missing, f"README.md lacks: {', '.join(missing)}"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text
    assert "make test" in text
