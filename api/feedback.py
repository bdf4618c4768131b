"""Rolling accuracy from observed sale prices, per neighbourhood and model version, as gauges.

The windows live in the state package (``state.feedback``), so every API replica computes the
same figures; ``/metrics`` refreshes the gauges from them on a scrape.
"""

from __future__ import annotations

from prometheus_client import Gauge

from schemas import Interval, PredictionResult, Variant
from schemas.feedback import AccuracyFigures, Observed
from schemas.ratio_study import SaleObservation
from schemas.rollout import LiveAccuracy, PairedAccuracy
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
VARIANT_LABELS = ["variant", "model_version"]
VARIANT_MAPE = Gauge(
    "valuestream_model_variant_mape",
    "Median absolute % error of a variant's recent valuations (answered or shadow) against the sales fed back.",
    VARIANT_LABELS,
)
VARIANT_COVERAGE = Gauge(
    "valuestream_model_variant_interval_coverage",
    "Share of the sales fed back inside a variant's 90 % interval (recent valuations).",
    VARIANT_LABELS,
)
VARIANT_SALES = Gauge(
    "valuestream_model_variant_sales", "Sales fed back for a variant's valuations, all time.", VARIANT_LABELS
)
PAIRED_MAPE = Gauge(
    "valuestream_model_paired_mape",
    "Median absolute % error of a variant on the recent sales fed back for requests both variants valued "
    "(what the promotion guard compares).",
    VARIANT_LABELS,
)
PAIRED_COVERAGE = Gauge(
    "valuestream_model_paired_interval_coverage",
    "Share of the recent sales fed back for requests both variants valued inside a variant's 90 % interval.",
    VARIANT_LABELS,
)
PAIRED_SALES = Gauge(
    "valuestream_model_paired_sales", "Sales fed back for requests both variants valued, all time.", VARIANT_LABELS
)


def error_of(price: float, intervals: list[Interval], sale_price: float) -> Observed:
    """Absolute % error, within 10 %, inside the 90 % interval."""
    ape = abs(price - sale_price) / sale_price * 100
    ninety = next((i for i in intervals if round(i.level * 100) == 90), None)
    covered = ninety is not None and ninety.lower <= sale_price <= ninety.upper
    return ape, ape <= 10.0, covered


def observation(result: PredictionResult, sale_price: float) -> Observed:
    """Absolute % error, within 10 %, inside the 90 % interval of a scored result."""
    assert result.price is not None
    return error_of(result.price, result.intervals, sale_price)


def _set(gauges: tuple[Gauge, Gauge, Gauge], variant: Variant, figures: LiveAccuracy) -> None:
    """Sales, median abs % error and coverage of one variant's figures into ``gauges`` (in that order)."""
    sales, mape, coverage = gauges
    labels = (variant, figures.version)
    sales.labels(*labels).set(figures.total)
    if figures.median_abs_pct_error is not None:
        mape.labels(*labels).set(figures.median_abs_pct_error)
    if figures.interval_coverage is not None:
        coverage.labels(*labels).set(figures.interval_coverage)


def clear_rollout_gauges() -> None:
    for gauge in (VARIANT_SALES, VARIANT_MAPE, VARIANT_COVERAGE, PAIRED_SALES, PAIRED_MAPE, PAIRED_COVERAGE):
        gauge.clear()


def export_live(variant: Variant, figures: LiveAccuracy) -> None:
    _set((VARIANT_SALES, VARIANT_MAPE, VARIANT_COVERAGE), variant, figures)


def export_paired(paired: PairedAccuracy) -> None:
    _set((PAIRED_SALES, PAIRED_MAPE, PAIRED_COVERAGE), "champion", paired.champion)
    _set((PAIRED_SALES, PAIRED_MAPE, PAIRED_COVERAGE), "challenger", paired.challenger)


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
