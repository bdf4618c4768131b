"""The intervals' recalibration state as Prometheus gauges, refreshed from Redis on a scrape.

One series per model version, level, grouping and band: the band's current log factor, the sales
fed back for it and the realised coverage of the intervals actually served.
"""

from __future__ import annotations

from prometheus_client import Gauge

from schemas.calibration import CalibrationPublic
from state.calibration import CalibrationStore

LABELS = ["model_version", "level", "grouping", "band"]
LOG_FACTOR = Gauge(
    "valuestream_interval_recalibration_log_factor",
    "A band's term in the log of the factor that multiplies the served intervals' log-radius.",
    LABELS,
)
SALES = Gauge("valuestream_interval_recalibration_sales", "Sales fed back for valuations in the band.", LABELS)
COVERAGE = Gauge(
    "valuestream_interval_recalibration_coverage",
    "Share of the band's sales fed back that fell inside the served interval.",
    LABELS,
)


def export(state: CalibrationPublic) -> None:
    for seg in state.segments:
        labels = (state.model_version, f"{seg.level:g}", seg.grouping, seg.band)
        LOG_FACTOR.labels(*labels).set(seg.log_factor)
        SALES.labels(*labels).set(seg.sales)
        if seg.coverage is not None:
            COVERAGE.labels(*labels).set(seg.coverage)


async def refresh(store: CalibrationStore, learning_rate: float, price_edges: tuple[float, float]) -> None:
    """Every model version's state into the gauges."""
    for version in await store.versions():
        export(await store.public(version, learning_rate, price_edges))
