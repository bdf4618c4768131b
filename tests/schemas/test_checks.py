"""Bulk columns are checked without a model per row, yet every row gets what pydantic gives it alone."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from dataset.sales import load
from schemas import FEATURE_NAMES, PropertyFeatures
from schemas import checks as checks_module
from schemas.checks import check_columns
from schemas.chunks import check_rows, columns_of, reason_of

ODD_CELLS: list[tuple[str, Any]] = [
    ("gr_liv_area", "1500"),  # text pydantic turns into a number: a house
    ("gr_liv_area", 1500.5),
    ("gr_liv_area", 100),
    ("gr_liv_area", True),
    ("year_built", 3000),
    ("year_remod_add", 1700.0),
    ("lot_area", float("nan")),
    ("neighborhood", "Atlantis"),
    ("neighborhood", 7),
    ("neighborhood", ["Gilbert"]),  # a cell no set holds
    ("year_remod_add", float("nan")),
    ("year_remod_add", 1990.5),
    ("central_air", "Y"),  # a yes pydantic understands: a house
    ("central_air", 2),
    ("latitude", float("inf")),
    ("latitude", 91),
    ("latitude", 10**400),  # no float holds it
    ("latitude", 2**53 + 1),  # an int no float holds exactly
    ("longitude", 1.5e308),  # two of them overflow a sum
    ("lot_area", 10**30),
    ("longitude", None),  # latitude without longitude
    ("overall_qual", "Good"),
    ("colour", "red"),
    ("valuation_date", "2011-03-15"),
    ("valuation_date", "yesterday"),
    ("second_flr_sf", 5000),  # not smaller than the living area
    ("bsmt_finished_sf", 9000),  # more than the basement
    ("year_sold", 1900),  # sold before it was built
]


@pytest.fixture(scope="module")
def houses() -> list[dict[str, Any]]:
    """Real Ames rows, with every field the model reads (missing years as gaps)."""
    records = load().features.sample(400, random_state=7).to_dict("records")
    return [{str(k): v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))} for r in records]


def spoiled(houses: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Houses, some with odd cells, some short of fields (defaults, or a required one missing)."""
    rng = random.Random(seed)
    rows = []
    for house in houses:
        row = dict(house)
        for _ in range(rng.choice([0, 0, 1, 2])):
            name, value = rng.choice(ODD_CELLS)
            row[name] = value
        if rng.random() < 0.2:
            row.pop(rng.choice(list(row)), None)
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_columns_get_the_answers_each_row_gets_from_pydantic(houses: list[dict[str, Any]], seed: int) -> None:
    rows = spoiled(houses, seed)
    alone = check_rows(rows, first_row=1000)
    checks = check_columns(columns_of(rows), first_row=1000)
    assert checks.valid == [p for p, _ in alone.valid]
    assert {p: reason_of(e) for p, e in checks.errors.items()} == {p: reason_of(e) for p, e in alone.errors.items()}
    assert checks.errors == alone.errors  # each error names its own row (1000 + its position)
    assert 0 < len(checks.errors) < len(rows)
    for name in FEATURE_NAMES:
        expected = [house.__dict__[name] for _, house in alone.valid]
        got = checks.values[name]
        assert got == expected, name
        assert [type(v) for v in got] == [type(v) for v in expected], name


def test_plain_columns_never_reach_pydantic(houses: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> None:
        raise AssertionError("a plain row went through pydantic")

    monkeypatch.setattr(checks_module, "check_rows", refuse)
    columns = columns_of(houses)
    checks = check_columns(columns)
    assert checks.valid == list(range(len(houses)))
    assert checks.values["year_remod_add"][:5] == [PropertyFeatures(**h).year_remod_add for h in houses[:5]]


def test_a_missing_required_field_fails_every_row_with_its_reason(houses: list[dict[str, Any]]) -> None:
    rows = [{k: v for k, v in h.items() if k != "neighborhood"} for h in houses[:3]]
    checks = check_columns(columns_of(rows), first_row=10)
    assert checks.valid == []
    assert [e.row for p in sorted(checks.errors) for e in checks.errors[p]] == [10, 11, 12]
    assert all(e.field == "neighborhood" for errors in checks.errors.values() for e in errors)
