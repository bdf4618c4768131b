"""Rolling accuracy from observed sale prices, per neighbourhood and model version, as gauges.

The windows live in the state package (``state.feedback``), so every API replica computes the
same figures; ``/metrics`` refreshes the gauges from them on a scrape.
"""

from __future__ import annotations

from prometheus_client import Gauge

from schemas import PredictionResult
from schemas.feedback import AccuracyFigures

WINDOW = 1_000
UNKNOWN = "unknown"
LABELS = ["neighborhood", "model_version"]
MAPE = Gauge("valuestream_model_feedback_mape", "Median absolute % error of recent feedback.", LABELS)
WITHIN_10 = Gauge("valuestream_model_feedback_within_10pct", "Share of recent prices within 10 % of the sale.", LABELS)
COVERAGE = Gauge(
    "valuestream_model_feedback_interval_coverage", "Share of recent sales inside the 90 % interval.", LABELS
)
TOTAL = Gauge("valuestream_model_feedback_total", "Feedback received, all time.", LABELS)


def observation(result: PredictionResult, sale_price: float) -> tuple[float, bool, bool]:
    """Absolute % error, within 10 %, inside the 90 % interval."""
    assert result.price is not None
    ape = abs(result.price - sale_price) / sale_price * 100
    ninety = next((i for i in result.intervals if round(i.level * 100) == 90), None)
    covered = ninety is not None and ninety.lower <= sale_price <= ninety.upper
    return ape, ape <= 10.0, covered


def export(fig: AccuracyFigures) -> None:
    labels = (fig.neighborhood, fig.model_version)
    MAPE.labels(*labels).set(fig.mape)
    WITHIN_10.labels(*labels).set(fig.within_10pct)
    COVERAGE.labels(*labels).set(fig.interval_coverage)
    TOTAL.labels(*labels).set(fig.total)
