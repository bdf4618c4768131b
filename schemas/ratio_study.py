"""A ratio study of a model's valuations against sale prices, by segment (IAAO terms).

Shown in the training report, on ``GET /api/v1/model`` and on the dashboard's model page; see
``ratios/study.py`` for the definitions and the standard's thresholds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RATIO_STUDY_ARTIFACT = "ratio_study.json"
"""Where a training run logs its ``RatioStudy`` (runs before it was added have none)."""
RATIO_STUDY_PLOT = "report/ratio_study.png"

Verdict = Literal["pass", "fail", "uncertain", "too_few_sales"]
"""``pass``: the figure meets the IAAO standard; ``fail``: it does not and its 95 % bootstrap
interval lies wholly outside the acceptable range; ``uncertain``: it does not, but its interval
reaches the range; ``too_few_sales``: the segment is too small to judge."""


class Figure(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    value: float
    ci_low: float | None = Field(default=None, description="95 % bootstrap interval, lower end.")
    ci_high: float | None = Field(default=None, description="95 % bootstrap interval, upper end.")
    verdict: Verdict

    def text(self, spec: str) -> str:
        """The value with its interval, formatted with ``spec`` (e.g. ``".3f"``)."""
        if self.ci_low is None or self.ci_high is None:
            return f"{self.value:{spec}}"
        return f"{self.value:{spec}} ({self.ci_low:{spec}} to {self.ci_high:{spec}})"


class SegmentRatioStudy(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    dimension: str = Field(examples=["neighbourhood"], description="all, neighbourhood, price_decile, age_band, …")
    segment: str = Field(examples=["North_Ames"])
    sales: int = Field(ge=0)
    median_ratio: float = Field(description="Median of predicted / sale price.")
    level: Figure = Field(description="The median ratio with its interval, judged against 0.90-1.10.")
    cod: Figure = Field(description="Coefficient of dispersion, percent.")
    prd: Figure | None = Field(
        description="Price-related differential; none within a value decile (vertical equity is measured "
        "across values, and within a narrow band of values it only reflects the sale prices' noise)."
    )
    prb: Figure | None = Field(description="Coefficient of price-related bias; none within a value decile.")
    cod_limit: float = Field(description="The IAAO COD ceiling that applies to this segment.")


class SegmentErrors(BaseModel):
    """Error and interval coverage of one group of sales."""

    model_config = ConfigDict(allow_inf_nan=False)

    group: str = Field(examples=["upper-priced neighbourhoods"])
    sales: int = Field(ge=0)
    median_abs_pct_error: float
    rmse_log: float
    coverage: dict[str, float] = Field(default_factory=dict, description="Interval level ('90%') to coverage, percent.")


class RatioStudy(BaseModel):
    source: str = Field(description="Which valuations and sales the study is computed from.")
    sales: int = Field(ge=0)
    segments: list[SegmentRatioStudy] = Field(default_factory=list)
    errors_by_group: list[SegmentErrors] = Field(default_factory=list)


class SaleObservation(BaseModel):
    """One valuation and the sale price later observed for it: what the live ratio study needs.

    The feedback store keeps one of these per ``POST /feedback`` (today it keeps only the
    absolute error and two flags, from which no ratio study can be computed).
    """

    model_config = ConfigDict(allow_inf_nan=False)

    model_version: str
    predicted: float = Field(gt=0, description="The price the model gave, dollars.")
    sale_price: float = Field(gt=0, description="The observed sale price, dollars.")
    neighborhood: str
    year_built: int
    year_sold: int = Field(description="Year of the sale (the valuation's year when the sale's is unknown).")
    sale_condition: str = Field(examples=["Normal"])
    intervals: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Interval level ('90%') to (lower, upper) as served, dollars."
    )
