"""The wire contract: messages, API bodies, topic names and Redis keys. Imports no other package."""

from schemas.features import FEATURE_NAMES, NEIGHBORHOODS, PropertyFeatures
from schemas.messages import (
    AnswerHead,
    ErrorInfo,
    ModelRef,
    PredictionRequest,
    PredictionResult,
    PredictionState,
    Source,
    Subject,
    Timings,
    Variant,
    utc_now,
)
from schemas.valuation import (
    INTERVAL_LEVELS,
    VALUATION_COLUMNS,
    Applicability,
    Comparable,
    Contribution,
    Interval,
    Valuation,
)

__all__ = [
    "FEATURE_NAMES",
    "INTERVAL_LEVELS",
    "NEIGHBORHOODS",
    "VALUATION_COLUMNS",
    "AnswerHead",
    "Applicability",
    "Comparable",
    "Contribution",
    "ErrorInfo",
    "Interval",
    "ModelRef",
    "PredictionRequest",
    "PredictionResult",
    "PredictionState",
    "PropertyFeatures",
    "Source",
    "Subject",
    "Timings",
    "Valuation",
    "Variant",
    "utc_now",
]
