"""``valuestream-ingest`` / ``python -m producers``: bulk ingestion and a traffic simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from infra.kafka import KafkaUnavailableError
from infra.logging import configure_logging
from infra.settings import get_settings
from jobs.service import JobConflictError, JobNotFoundError
from jobs.tables import TableError
from producers.ingest import IngestTimeoutError, ingest
from producers.simulate import simulate

app = typer.Typer(
    help="Publish prediction requests to Kafka: files as jobs, or simulated traffic.", no_args_is_help=True
)


@app.command("ingest")
def ingest_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV, CSV.gz or Parquet file."),
    output: Path | None = typer.Option(None, help="Results file (default: FILE.results.<ext> next to it)."),
    job_id: str | None = typer.Option(None, help="Job id to create or resume (default: from the file's hash)."),
    owner: str = typer.Option("anonymous", help="API key id that may read the job through the REST API."),
    wait: float = typer.Option(3600.0, help="Seconds to wait for every row to be answered."),
    max_rows: int | None = typer.Option(None, hidden=True, help="Send at most this many rows, then stop (tests)."),
    quiet: bool = typer.Option(False, help="No progress bars."),
    detail: str = typer.Option("summary", help="summary, or full: keep each row's contributions and comparables."),
) -> None:
    """Stream FILE through Kafka as one job; write the results (with per-row failures) as its rows are answered."""
    if detail not in ("summary", "full"):
        typer.echo(f"error: --detail is summary or full, not {detail!r}", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}), "ingest")
    try:
        outcome = asyncio.run(
            ingest(
                settings,
                file,
                output=output,
                job_id=job_id,
                owner=owner,
                wait_seconds=wait,
                max_rows=max_rows,
                progress=not quiet,
                detail="full" if detail == "full" else "summary",
            )
        )
    except TableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KafkaUnavailableError as exc:
        typer.echo(f"error: {exc}; run the same command again to resume", err=True)
        raise typer.Exit(4) from exc
    except IngestTimeoutError as exc:
        typer.echo(f"error: {exc}; run the same command again to resume", err=True)
        raise typer.Exit(3) from exc
    except JobNotFoundError as exc:
        typer.echo(f"error: {exc} (erased or expired while it ran); run the same command again to start over", err=True)
        raise typer.Exit(5) from exc
    except JobConflictError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(6) from exc
    typer.echo(
        f"job {outcome.job_id}: {outcome.total} rows, {outcome.sent} sent, {outcome.skipped} already in, "
        f"{outcome.invalid} invalid; {outcome.done} done, {outcome.failed} failed"
        + (f"; results in {outcome.output}" if outcome.output else "; stopped early, run again to resume")
    )


@app.command("simulate")
def simulate_command(
    rate: float = typer.Option(20.0, min=0.1, help="Requests per second."),
    duration: float = typer.Option(60.0, min=0.1, help="Seconds to run."),
    seed: int = typer.Option(0, help="Random seed of the house draw."),
    wait: float = typer.Option(0.0, help="Seconds to wait for the results at the end (0: don't)."),
) -> None:
    """Send realistic houses from the training data at a steady rate (demos, live feed, load)."""
    settings = get_settings()
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}), "simulate")
    outcome = asyncio.run(simulate(settings, rate, duration, seed, wait))
    typer.echo(
        f"sent {outcome.sent} requests in {outcome.seconds:.1f} s ({outcome.rate:.1f}/s)"
        + (f"; {outcome.answered} answered" if wait > 0 else "")
    )
