"""``python -m consumers [--index N]``: run one scoring worker; ``--shadow``: the shadow scorer."""

from __future__ import annotations

import logging
import os

import typer
import uvloop

from consumers.app import create_app
from infra.blas import single_blas_thread
from infra.logging import configure_logging
from infra.settings import get_settings


def main(
    index: int = typer.Option(0, help="Worker number: its metrics port is the base port + index."),
    metrics_port: int | None = typer.Option(None, help="Override the metrics port (0: none)."),
    shadow: bool = typer.Option(
        False,
        "--shadow",
        help="Run the shadow scorer instead (consumers.shadow): the variant that did not answer a request scores "
        "it too, at the lowest CPU priority (SCHED_IDLE, nice 19, and VALUESTREAM_SHADOW_SESSION_NICE for its "
        "session group once its models are loaded); metrics on VALUESTREAM_SHADOW_METRICS_PORT.",
    ),
) -> None:
    settings = get_settings()
    single_blas_thread()
    if settings.model_threads or "OMP_NUM_THREADS" not in os.environ:
        # Read by the model's code when it loads (training.features.SERVING_THREADS), so set before.
        os.environ["OMP_NUM_THREADS"] = str(settings.threads_per_worker)
    if shadow:
        from consumers.shadow import create_shadow_app
        from infra.priority import lowest_priority

        lowest_priority()  # first: loading the models at startup must not slow the workers either
        configure_logging(settings, "shadow")
        app = create_shadow_app(settings, metrics_port=metrics_port)
    else:
        configure_logging(settings, f"worker-{index}")
        app = create_app(settings, worker_index=index, metrics_port=metrics_port)
    # uvloop, as uvicorn uses for the API: less event-loop overhead per Kafka and Redis round trip.
    uvloop.run(app.run(log_level=logging.getLevelName(settings.log_level.upper())))


if __name__ == "__main__":
    typer.run(main)
