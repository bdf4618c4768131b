"""``python -m training [--quick] [--data PATH] [--no-tf] [--if-no-champion]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help="Train, evaluate and register the valuestream price model.")


@app.command()
def main(
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast run (<= 60 s) for tests and CI.")] = False,
    data: Annotated[Path | None, typer.Option("--data", help="CSV or Parquet with the Ames column names.")] = None,
    no_tf: Annotated[bool, typer.Option("--no-tf", help="Skip the TensorFlow candidate.")] = False,
    if_no_champion: Annotated[
        bool, typer.Option("--if-no-champion", help="Exit 0 without training when a champion is registered.")
    ] = False,
) -> None:
    from infra.settings import get_settings
    from training.pipeline import champion_exists, train

    settings = get_settings()
    if if_no_champion and champion_exists(settings):
        typer.echo(f"{settings.champion_uri} exists: not training")
        return
    outcome = train(settings, quick=quick, data_path=data, use_tf=not no_tf)
    typer.echo(
        f"run {outcome.run_id}: version {outcome.version} ({outcome.selected}), "
        f"cv_rmse {outcome.metrics['cv_rmse']:.4f}, promoted={outcome.promoted}, report {outcome.report_dir}"
    )


if __name__ == "__main__":
    app()
