"""Ratio-study figures against hand-computed examples and the IAAO standard's own worked example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ratios.study import (
    COD_LIMIT_NEWER_HOMOGENEOUS,
    COD_LIMIT_RESIDENTIAL,
    MIN_SALES_FOR_VERDICT,
    PRB_RANGE,
    PRD_RANGE,
    cod,
    cod_limit,
    live_study,
    prb,
    prd,
    ratio_study,
    segment_labels,
    segment_study,
    verdict,
)
from schemas.ratio_study import SaleObservation

# IAAO Standard on Ratio Studies (2013), Table 1-4: 17 sales with their appraised values; the
# standard gives COD 14.5, PRD 0.98 and PRB 0.135 for them.
IAAO_TABLE_1_4_APPRAISED = [87200, 38240, 96320, 68610, 32960, 50560, 61360, 47360, 56580, 47040, 136000]
IAAO_TABLE_1_4_APPRAISED += [98000, 56000, 159100, 128000, 132000, 160000]
IAAO_TABLE_1_4_SALES = [138720, 59700, 146400, 99000, 47400, 70500, 78000, 60000, 69000, 55500, 154500]
IAAO_TABLE_1_4_SALES += [109500, 60000, 168000, 124500, 127500, 150000]


def test_iaao_worked_example() -> None:
    appraised, sales = np.array(IAAO_TABLE_1_4_APPRAISED, float), np.array(IAAO_TABLE_1_4_SALES, float)
    assert float(cod(appraised, sales)) == pytest.approx(14.5, abs=0.05)
    assert float(prd(appraised, sales)) == pytest.approx(0.98, abs=0.005)
    assert float(prb(appraised, sales)) == pytest.approx(0.135, abs=0.0005)


def hand_example() -> tuple[np.ndarray, np.ndarray]:
    """Ratios 0.8, 1.0, 1.2 (median 1) at value proxies 64, 128 and 256 (log2: 6, 7, 8):
    the proxy is sale x (1 + ratio) / 2, so sale = 2 x proxy / (1 + ratio)."""
    ratio = np.array([0.8, 1.0, 1.2])
    sale = 2 * np.array([64.0, 128.0, 256.0]) / (1 + ratio)
    return ratio * sale, sale


def test_hand_computed_figures() -> None:
    predicted, sale = hand_example()
    # COD: 100 x mean(|0.8 - 1|, 0, |1.2 - 1|) / 1
    assert float(cod(predicted, sale)) == pytest.approx(100 * 0.4 / 3)
    # PRD: mean ratio 1 over sum predicted / sum sale
    weighted = (0.8 * 128 / 1.8 + 128 + 1.2 * 512 / 2.2) / (128 / 1.8 + 128 + 512 / 2.2)
    assert float(prd(predicted, sale)) == pytest.approx(1.0 / weighted)
    # PRB: (ratio - 1) / 1 = -0.2, 0, 0.2 against log2 proxies 6, 7, 8: slope 0.2
    assert float(prb(predicted, sale)) == pytest.approx(0.2)


def test_figures_of_exact_valuations() -> None:
    sale = np.array([100_000.0, 150_000.0, 220_000.0, 310_000.0])
    assert float(cod(sale, sale)) == 0.0
    assert float(prd(sale, sale)) == pytest.approx(1.0)
    assert float(prb(sale, sale)) == pytest.approx(0.0)


def test_statistics_score_many_resamples_at_once() -> None:
    predicted, sale = hand_example()
    batch = np.stack([predicted, predicted * 1.1]), np.stack([sale, sale])
    assert np.allclose(cod(*batch), [cod(predicted, sale), cod(predicted * 1.1, sale)])
    assert np.allclose(prb(*batch), [prb(predicted, sale)] * 2)


def test_verdicts() -> None:
    assert verdict(1.00, (0.99, 1.01), PRD_RANGE, MIN_SALES_FOR_VERDICT) == "pass"
    assert verdict(1.10, (1.05, 1.15), PRD_RANGE, MIN_SALES_FOR_VERDICT) == "fail"
    assert verdict(1.05, (1.00, 1.10), PRD_RANGE, MIN_SALES_FOR_VERDICT) == "uncertain"
    assert verdict(1.00, (0.99, 1.01), PRD_RANGE, MIN_SALES_FOR_VERDICT - 1) == "too_few_sales"


def test_cod_limit_is_stricter_for_newer_homogeneous_segments() -> None:
    assert cod_limit("new_construction", "new construction") == COD_LIMIT_NEWER_HOMOGENEOUS
    assert cod_limit("age_band", "3-15 years") == COD_LIMIT_NEWER_HOMOGENEOUS
    assert cod_limit("age_band", "41-70 years") == COD_LIMIT_RESIDENTIAL
    assert cod_limit("neighbourhood", "North_Ames") == COD_LIMIT_RESIDENTIAL


def test_segment_study_flags_regressive_valuations() -> None:
    """Valuations pulled towards the middle (cheap houses over-, dear ones under-valued) fail PRD and PRB."""
    rng = np.random.default_rng(0)
    sale = rng.lognormal(12, 0.4, 400)
    predicted = np.exp(12 + 0.7 * (np.log(sale) - 12)) * rng.lognormal(0, 0.03, 400)
    study = segment_study("all", "all sales", predicted, sale, COD_LIMIT_RESIDENTIAL)
    assert study.prd is not None
    assert study.prb is not None
    assert study.prd.verdict == "fail"
    assert study.prb.verdict == "fail"
    assert study.prb.value < PRB_RANGE[0]
    assert study.prb.ci_low is not None
    assert study.prb.ci_high is not None
    assert study.prb.ci_low <= study.prb.value <= study.prb.ci_high
    assert study.level.verdict == "pass"  # the level is right: only the vertical equity is off


def test_no_vertical_equity_figures_within_a_value_decile() -> None:
    predicted, sale = hand_example()
    within = segment_study("price_decile", "D3", predicted, sale, COD_LIMIT_RESIDENTIAL)
    assert within.prd is None
    assert within.prb is None
    assert within.cod.value == pytest.approx(100 * 0.4 / 3)


def sales_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "neighborhood": rng.choice(["North_Ames", "College_Creek", "Old_Town"], n),
            "year_built": rng.integers(1900, 2010, n),
            "year_sold": np.full(n, 2010),
            "sale_condition": rng.choice(["Normal", "Partial"], n, p=[0.9, 0.1]),
        }
    )


def test_segments_cover_every_dimension() -> None:
    rng = np.random.default_rng(1)
    sales = sales_frame(300, rng)
    predicted = rng.lognormal(12, 0.3, 300)
    labels = segment_labels(sales, predicted)
    assert set(labels) == {"all", "neighbourhood", "price_decile", "age_band", "new_construction"}
    assert len(set(labels["price_decile"])) == 10
    # new construction: every Partial sale, and houses sold within a year of being built
    partial = sales["sale_condition"].to_numpy() == "Partial"
    assert (labels["new_construction"][partial] == "new construction").all()


def test_live_study_matches_the_study_of_the_same_sales() -> None:
    rng = np.random.default_rng(2)
    sales = sales_frame(120, rng)
    sale = rng.lognormal(12, 0.3, 120)
    predicted = sale * rng.lognormal(0, 0.08, 120)
    lower, upper = predicted * 0.85, predicted * 1.15
    observations = [
        SaleObservation(
            model_version="3",
            predicted=float(predicted[i]),
            sale_price=float(sale[i]),
            intervals={"90%": (float(lower[i]), float(upper[i]))},
            neighborhood=str(sales["neighborhood"].iloc[i]),
            year_built=int(sales["year_built"].iloc[i]),
            year_sold=int(sales["year_sold"].iloc[i]),
            sale_condition=str(sales["sale_condition"].iloc[i]),
        )
        for i in range(120)
    ]
    live = live_study(observations)
    direct = ratio_study("feedback", sales, predicted, sale, {"90%": (lower, upper)})
    assert live == direct
    overall = next(s for s in live.errors_by_group if s.group == "all sales")
    assert overall.coverage["90%"] == pytest.approx(100 * np.mean((sale >= lower) & (sale <= upper)))
    assert {row.group for row in live.errors_by_group} >= {"lower-priced neighbourhoods", "all sales"}


def test_live_study_of_no_feedback_is_empty() -> None:
    assert live_study([]).sales == 0
