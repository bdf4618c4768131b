"""Rolling accuracy from observed sale prices, per neighbourhood and model version, as gauges.

The windows live in the state package (``state.feedback``), so every API replica computes the
same figures; ``/metrics`` refreshes the gauges from them on a scrape.
"""

from __future__ import annotations

from prometheus_client import Gauge

from schemas import PredictionResult
from schemas.feedback import AccuracyFigures
from schemas.ratio_study import SaleObservation
from state.predictions import SEGMENT_FIELDS

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


def sale_observation(result: PredictionResult, sale_price: float, segment: dict[str, str]) -> SaleObservation | None:
    """The valuation and its sale for the live ratio study; None when the request's segment fields are
    unknown (sent straight to Kafka, so the API kept none)."""
    if result.price is None or result.model is None or not set(SEGMENT_FIELDS) <= segment.keys():
        return None
    return SaleObservation(
        model_version=result.model.version,
        predicted=result.price,
        sale_price=sale_price,
        neighborhood=segment["neighborhood"],
        year_built=int(segment["year_built"]),
        year_sold=int(segment["year_sold"]),
        sale_condition=segment["sale_condition"],
        intervals={f"{round(i.level * 100)}%": (i.lower, i.upper) for i in result.intervals},
    )
