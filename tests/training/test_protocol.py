"""The Kaggle-protocol data filter, the protocol fingerprint, and the promotion rule built on it."""

from __future__ import annotations

import pandas as pd

from dataset.sales import ARMS_LENGTH, KAGGLE, MAX_LIVING_AREA, Dataset, clean, read_raw
from infra.settings import Settings
from registry.protocol import Rescored, decide_promotion
from training.pipeline import TrainingOutcome, champion_rescorer
from training.protocol import fingerprint


def test_kaggle_filter_keeps_every_sale_condition_and_drops_only_large_houses() -> None:
    raw = read_raw()
    kaggle = clean(raw, KAGGLE)
    arms_length = clean(raw, ARMS_LENGTH)
    small = raw["Gr_Liv_Area"] <= MAX_LIVING_AREA
    assert len(kaggle) == int(small.sum()) == len(raw) - 5
    assert set(kaggle.features["sale_condition"]) == set(raw["Sale_Condition"].astype(str).str.strip())
    assert set(arms_length.features["sale_condition"]) == {"Normal", "Partial"}
    assert len(arms_length) < len(kaggle)


def test_fingerprint_tells_protocols_and_rows_apart(dataset: Dataset) -> None:
    same = fingerprint(dataset, ARMS_LENGTH, 5, 2, 42)
    assert same == fingerprint(dataset, ARMS_LENGTH, 5, 2, 42)
    assert same.startswith("arms_length:")
    assert same != fingerprint(dataset, KAGGLE, 5, 2, 42)
    assert same != fingerprint(dataset, ARMS_LENGTH, 5, 1, 42)
    fewer = dataset.subset(pd.Series(range(len(dataset))).to_numpy() > 0)
    assert same != fingerprint(fewer, ARMS_LENGTH, 5, 2, 42)
    repriced = Dataset(dataset.features, dataset.price * 1.01, dataset.sold)
    assert same != fingerprint(repriced, ARMS_LENGTH, 5, 2, 42)


def test_same_protocol_compares_figures_at_the_tagged_precision() -> None:
    assert decide_promotion(0.2, "a:1", None, None).promote
    assert not decide_promotion(0.08439987, "a:1", 0.0844, "a:1").promote  # a retrain of the same model
    assert not decide_promotion(0.0844001, "a:1", 0.0844, "a:1").promote
    decision = decide_promotion(0.0843949, "a:1", 0.0844, "a:1")
    assert decision.promote
    assert decision.basis == "same_protocol"


def test_figures_of_different_protocols_are_never_compared() -> None:
    """A far lower CV RMSE from another filter does not win: the figures are of different rows."""
    refused = decide_promotion(0.05, "kaggle:1", 0.09, "arms_length:1")
    assert not refused.promote
    assert refused.basis == "protocols_differ"
    untagged = decide_promotion(0.05, "kaggle:1", 0.09, None)
    assert not untagged.promote


def test_different_protocols_are_compared_on_the_same_rows_when_rescored() -> None:
    better = decide_promotion(0.2, "kaggle:1", 0.09, "arms_length:1", Rescored(0.090, 0.095, 314))
    assert better.promote
    assert better.basis == "rescored_on_same_rows"
    worse = decide_promotion(0.05, "kaggle:1", 0.09, "arms_length:1", Rescored(0.100, 0.095, 314))
    assert not worse.promote


def test_rescoring_scores_both_models_on_the_same_sales(
    settings: Settings, trained: TrainingOutcome, dataset: Dataset
) -> None:
    rows = dataset.subset(dataset.features["year_sold"].to_numpy() == 2010)
    perfect = champion_rescorer(rows.features, rows.price, rows.price)(settings.champion_uri)
    assert perfect.rows == len(rows)
    assert perfect.challenger_rmse == 0.0
    assert 0.0 < perfect.champion_rmse < 0.3
    assert decide_promotion(0.5, "kaggle:1", 0.09, "arms_length:1", perfect).promote
