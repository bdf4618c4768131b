"""Explanations that add up, FSD and confidence calibrated, comparables that never return the subject."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PyFuncModel
from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]

from dataset.sales import Dataset
from schemas import FEATURE_NAMES
from schemas.chunks import Detail
from schemas.valuation import HIGH_CONFIDENCE_FSD, MEDIUM_CONFIDENCE_FSD, OTHER_FEATURES
from training.candidates import candidates
from training.features import PARALLEL_ROWS
from training.models import MLPModel, XGBoostModel
from training.recipe import build
from training.serving import DETAILS, FSD_LEVEL, Valuer


def predict(model: PyFuncModel, houses: pd.DataFrame) -> pd.DataFrame:
    out = model.predict(houses)
    assert isinstance(out, pd.DataFrame)
    return out


def adds_up(out: pd.DataFrame) -> np.ndarray:
    """|base + contributions - price| / price, per row."""
    total = out["base_price"] + out["contributions"].map(lambda items: sum(item["value"] for item in items))
    return np.asarray((total - out["price"]).abs() / out["price"])


def sample(dataset: Dataset, n: int, seed: int) -> pd.DataFrame:
    return dataset.features.sample(n, random_state=seed).loc[:, list(FEATURE_NAMES)]


def test_base_plus_contributions_is_the_price_for_hundreds_of_houses(champion: PyFuncModel, dataset: Dataset) -> None:
    out = predict(champion, sample(dataset, 600, 3))
    assert adds_up(out).max() <= 0.005
    assert all(items[-1]["feature"] == OTHER_FEATURES for items in out["contributions"])
    assert len(set(out["base_price"])) == 1  # one base: the average training house


def test_a_summary_answer_is_the_full_answer_without_explanations(champion: PyFuncModel, dataset: Dataset) -> None:
    """Through the registered pyfunc, as a bulk worker or a user scoring a file calls it."""
    houses = sample(dataset, 300, 4)
    full = predict(champion, houses)
    summary = champion.predict(houses, params={"detail": "summary"})
    assert isinstance(summary, pd.DataFrame)
    assert list(summary.columns) == list(full.columns)
    numeric = ["price", "lower_80", "upper_80", "lower_90", "upper_90", "base_price"]
    assert summary[numeric].equals(full[numeric])
    assert summary[["fsd", "confidence", "confidence_band", "applicability", "refusal"]].equals(
        full[["fsd", "confidence", "confidence_band", "applicability", "refusal"]]
    )
    assert all(items == [] for items in summary["contributions"])
    assert all(items == [] for items in summary["comparables"])
    assert all(len(items) > 1 for items in full["contributions"])
    with pytest.raises(Exception, match="detail"):
        champion.predict(houses, params={"detail": "everything"})


@pytest.fixture(scope="module")
def quick_valuer(dataset: Dataset) -> Valuer:
    """The quick recipe's served model, fitted on every sale: its encoder gives the members' matrix."""
    built = build(dataset, candidates(quick=True, use_tf=False), n_folds=2, n_repeats=1, progress=False)
    return built.valuer(dataset)


def test_the_keras_member_is_explained_and_the_blend_still_adds_up(dataset: Dataset, quick_valuer: Valuer) -> None:
    valuer = quick_valuer
    Z = valuer.encoder.transform(dataset.features)
    network = MLPModel(hidden=(32, 16), epochs=40).fit(Z, np.log(dataset.price))
    effects = network.contributions(Z)
    explained = effects.sum(axis=1) - network.predict(Z)
    assert np.median(np.abs(explained)) < 0.25 * np.median(np.abs(network.predict(Z) - effects[:, -1]))
    members = [*valuer.members, ("keras_mlp", 0.3, network)]
    members = [(name, weight / 1.3, model) for name, weight, model in members]
    blend = Valuer(valuer.encoder, members, valuer.intervals, valuer.comparables, valuer.guard)
    houses = sample(dataset, 400, 5)
    out = blend.predict_frame(houses)
    assert adds_up(out).max() <= 0.005
    alone = valuer.predict_frame(houses)
    assert not np.allclose(out["base_price"], alone["base_price"])  # the network's bias is in the base


def test_tabulated_path_attributions_are_xgboosts_own(dataset: Dataset, quick_valuer: Valuer) -> None:
    """Per-leaf tables (``PathAttributions``) give what ``approx_contribs`` gives, missing values included,
    for many rows, one and none, before and after the model is pickled as the pyfunc stores it."""
    import xgboost as xgb

    Z = quick_valuer.encoder.transform(dataset.features)
    model = XGBoostModel(n_estimators=80, max_depth=5, colsample_bytree=0.5).fit(Z, np.log(dataset.price))
    rows = Z[:500].copy()
    rows[::3, np.random.default_rng(6).integers(0, Z.shape[1], size=20)] = np.nan  # default directions taken
    own = model.booster_.predict(xgb.DMatrix(rows), pred_contribs=True, approx_contribs=True)
    for candidate in (model, pickle.loads(pickle.dumps(model))):
        tabulated = candidate.contributions(rows)
        assert tabulated.shape == own.shape
        assert np.abs(tabulated - own).max() < 1e-5
        assert np.abs(candidate.contributions(rows[:1]) - own[:1]).max() < 1e-5
        assert candidate.contributions(rows[:0]).shape == (0, own.shape[1])
        assert np.abs(tabulated.sum(axis=1) - candidate.predict(rows)).max() < 1e-4
    assert np.count_nonzero(own[:, :-1]) > 0
    model.fit(Z[::2], np.log(dataset.price)[::2])  # a refit tabulates its own forest
    refit = model.booster_.predict(xgb.DMatrix(rows), pred_contribs=True, approx_contribs=True)
    assert np.abs(model.contributions(rows) - refit).max() < 1e-5
    assert np.abs(refit - own).max() > 1e-3


def test_fsd_covers_about_68_percent_of_held_out_sales_and_sets_the_confidence(dataset: Dataset) -> None:
    held_out = np.random.default_rng(11).random(len(dataset)) < 0.25
    train, test = dataset.subset(~held_out), dataset.subset(held_out)
    built = build(train, candidates(quick=True, use_tf=False), n_folds=2, n_repeats=1, progress=False)
    out = built.valuer(train).predict_frame(test.features)
    calibrated = out["fsd"] / built.intervals.widened_by_[FSD_LEVEL]  # as in test_intervals: the conformal band
    within = np.abs(np.log(test.price / out["price"])) <= calibrated
    assert 0.62 <= within.mean() <= 0.75, within.mean()
    assert np.allclose(out["confidence"], 1 - out["fsd"], atol=1e-4)
    expected = np.where(
        out["fsd"] <= HIGH_CONFIDENCE_FSD, "High", np.where(out["fsd"] <= MEDIUM_CONFIDENCE_FSD, "Medium", "Low")
    )
    in_domain = np.array([a["in_domain"] for a in out["applicability"]])
    assert (out["confidence_band"].to_numpy()[in_domain] == expected[in_domain]).all()
    assert (out["confidence_band"].to_numpy()[~in_domain] == "Low").all()


def test_a_training_house_never_gets_its_own_sale_back(champion: PyFuncModel, dataset: Dataset) -> None:
    houses = dataset.features.dropna(subset=["longitude"]).sample(300, random_state=9)
    out = predict(champion, houses.loc[:, list(FEATURE_NAMES)])
    for house, comparables in zip(houses.itertuples(index=False), out["comparables"], strict=True):
        assert len(comparables) == 5
        for sale in comparables:
            same_place = (
                abs(sale["longitude"] - house.longitude) < 1e-5 and abs(sale["latitude"] - house.latitude) < 1e-5
            )
            assert not (
                same_place and sale["gr_liv_area"] == house.gr_liv_area and sale["year_built"] == house.year_built
            )


def test_each_comparable_is_a_dict_of_its_own_and_a_stored_index_keeps_only_its_records(
    dataset: Dataset, quick_valuer: Valuer
) -> None:
    index = quick_valuer.comparables
    house = dataset.features.dropna(subset=["longitude"]).head(1)
    twice = [
        np.repeat(house[name].to_numpy(float), 2) for name in ("longitude", "latitude", "gr_liv_area", "year_built")
    ]
    first, second = index.query(*twice)
    assert first == second
    first[0]["distance_km"] = -1.0  # a caller may change its answer
    assert second[0]["distance_km"] >= 0
    assert index.query(*twice)[0][0]["distance_km"] >= 0
    stored = pickle.loads(pickle.dumps(index))
    assert "_shown" not in stored.__dict__  # the answer templates are derived again, not stored
    assert stored.query(*twice) == [second, second]


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_a_batch_split_between_threads_answers_every_house_as_small_batches_do(
    dataset: Dataset, quick_valuer: Valuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From ``PARALLEL_ROWS`` rows a full-detail batch is answered in parts side by side (a summary one
    whole); each house keeps its place and its answer (to BLAS rounding: a matrix product may sum in
    another order for other shapes)."""
    import training.features

    monkeypatch.setattr(training.features, "SERVING_THREADS", 2)  # split even where the machine has one core
    parts: list[int] = []
    blas_in_parts: list[set[int]] = []
    orders: list[bool] = []  # whether a part found its comparables before its attributions
    answer_part = Valuer._predict_part

    def counted(self: Valuer, frame: pd.DataFrame, detail: Detail, comparables_first: bool) -> pd.DataFrame:
        parts.append(len(frame))
        orders.append(comparables_first)
        blas_in_parts.append(blas_threads())
        return answer_part(self, frame, detail, comparables_first)

    monkeypatch.setattr(Valuer, "_predict_part", counted)
    houses = dataset.features.sample(PARALLEL_ROWS + 301, replace=True, random_state=12).loc[:, list(FEATURE_NAMES)]
    houses = houses.reset_index(drop=True)
    for detail in DETAILS:
        parts.clear()
        orders.clear()
        with threadpool_limits(limits=2, user_api="blas"):  # as a user's process may have it
            whole = quick_valuer.predict_frame(houses, detail)
            assert blas_threads() == {2}  # given back after the call
        assert all(seen == {1} for seen in blas_in_parts)  # the parts' BLAS calls do not queue for its threads
        small = pd.concat(
            [
                quick_valuer.predict_frame(houses.iloc[start : start + 500], detail)
                for start in range(0, len(houses), 500)
            ],
            ignore_index=True,
        )
        halves = [len(houses) // 2, len(houses) - len(houses) // 2]
        assert sorted(parts) == (halves if detail == "full" else [])
        assert sorted(orders) == ([False, True] if detail == "full" else [])  # both orders answer as small batches
        assert list(whole.index) == list(range(len(houses)))
        numeric = ["price", "lower_80", "upper_80", "lower_90", "upper_90", "fsd", "base_price"]
        np.testing.assert_allclose(whole[numeric].to_numpy(float), small[numeric].to_numpy(float), rtol=1e-9)
        assert whole["comparables"].equals(small["comparables"])
        assert whole[["confidence_band", "refusal"]].equals(small[["confidence_band", "refusal"]])
        for mine, theirs in zip(whole["applicability"], small["applicability"], strict=True):
            assert (mine["in_domain"], mine["flags"]) == (theirs["in_domain"], theirs["flags"])
            # a training house's distance ties its own sale's: rounding may move it one rank of ~2,500
            assert abs(mine["novelty"] - theirs["novelty"]) <= 0.0011
        for mine, theirs in zip(whole["contributions"], small["contributions"], strict=True):
            assert [c["feature"] for c in mine] == [c["feature"] for c in theirs]
            np.testing.assert_allclose([c["value"] for c in mine], [c["value"] for c in theirs], atol=0.011)
