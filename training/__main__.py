"""``python -m training [--quick] [--no-year-ahead] [--data PATH] [--no-tf] [--if-no-champion] [--unless-full-model]``,
``python -m training promote [--force --reason TEXT]`` and ``python -m training rollback [--reason TEXT]``.

Training keeps its progress in the status record under the state folder (``schemas.training``), which
``make run`` and the dashboard's model page read.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, help="Train, evaluate and register the valuestream price model.")


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast run (<= 60 s) for tests and CI.")] = False,
    year_ahead: Annotated[
        bool,
        typer.Option(
            "--year-ahead/--no-year-ahead",
            help="Run the rolling-origin checks (holdout figures); the model is the same.",
        ),
    ] = True,
    data: Annotated[Path | None, typer.Option("--data", help="CSV or Parquet with the Ames column names.")] = None,
    no_tf: Annotated[bool, typer.Option("--no-tf", help="Skip the TensorFlow candidate.")] = False,
    if_no_champion: Annotated[
        bool, typer.Option("--if-no-champion", help="Exit 0 without training when a champion is registered.")
    ] = False,
    unless_full_model: Annotated[
        bool,
        typer.Option(
            "--unless-full-model",
            help="Exit 0 without training when a version trained in full is registered (promoted or not).",
        ),
    ] = False,
) -> None:
    """Train, evaluate and register (when no command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from infra.logging import configure_logging
    from infra.settings import get_settings
    from infra.training_status import status_path
    from registry.versions import champion_exists, full_model_registered
    from training.pipeline import train
    from training.progress import Progress

    settings = get_settings()
    configure_logging(settings, "training")
    # A supervisor stops a process with SIGTERM: unwind, so the record says it was stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # A run that trains nothing leaves the record of the last training as it was.
    if if_no_champion and champion_exists(settings):
        typer.echo(f"{settings.champion_uri} exists: not training")
        return
    if unless_full_model and full_model_registered(settings):
        typer.echo("a fully trained version is registered: not training")
        return
    progress = Progress(status_path(settings), "quick" if quick else "full")
    try:
        outcome = train(
            settings, quick=quick, data_path=data, use_tf=not no_tf, year_ahead=year_ahead, progress=progress
        )
    except BaseException as exc:
        progress.failed(exc)
        raise
    typer.echo(
        f"run {outcome.run_id}: version {outcome.version} ({outcome.selected}), "
        f"cv_rmse {outcome.metrics['cv_rmse']:.4f}, promoted={outcome.promoted}, alias={outcome.alias}, "
        f"report {outcome.report_dir}"
    )


@app.command()
def promote(
    force: Annotated[bool, typer.Option("--force", help="Promote even if the guard refuses (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the guard is overridden (tagged).")] = None,
) -> None:
    """Move the challenger to champion if its live figures are at least as good (or with --force)."""
    from infra.logging import configure_logging
    from infra.settings import get_settings
    from registry.errors import RegistryError
    from training.rollout import PromotionRefusedError
    from training.rollout import promote as promote_challenger

    settings = get_settings()
    configure_logging(settings, "training")
    if force and not reason:
        raise typer.BadParameter("--force needs --reason", param_hint="--reason")
    try:
        event = promote_challenger(settings, force=force, reason=reason)
    except PromotionRefusedError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    except RegistryError as exc:
        typer.echo(f"cannot promote: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"champion: version {event.from_version} -> {event.to_version} ({event.reason})")


@app.command()
def rollback(
    reason: Annotated[str, typer.Option("--reason", help="Why (logged with the move).")] = "rollback",
) -> None:
    """Move the champion back to the version it replaced."""
    from infra.logging import configure_logging
    from infra.settings import get_settings
    from registry.errors import RegistryError
    from registry.rollout import rollback as roll_back

    settings = get_settings()
    configure_logging(settings, "training")
    try:
        event = roll_back(settings, reason)
    except RegistryError as exc:
        typer.echo(f"cannot roll back: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"champion: version {event.from_version} -> {event.to_version} (rolled back)")


if __name__ == "__main__":
    app()
