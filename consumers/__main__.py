"""``python -m consumers [--index N]``: run one scoring worker."""

from __future__ import annotations

import logging

import typer
import uvloop

from consumers.app import create_app
from infra.logging import configure_logging
from infra.settings import get_settings


def main(
    index: int = typer.Option(0, help="Worker number: its metrics port is the base port + index."),
    metrics_port: int | None = typer.Option(None, help="Override the metrics port (0: none)."),
) -> None:
    settings = get_settings()
    configure_logging(settings, f"worker-{index}")
    app = create_app(settings, worker_index=index, metrics_port=metrics_port)
    # uvloop, as uvicorn uses for the API: less event-loop overhead per Kafka and Redis round trip.
    uvloop.run(app.run(log_level=logging.getLevelName(settings.log_level.upper())))


if __name__ == "__main__":
    typer.run(main)
