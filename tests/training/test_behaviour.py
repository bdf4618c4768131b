from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PyFuncModel

from schemas import NEIGHBORHOODS, PropertyFeatures


def _frame(rows: list[PropertyFeatures]) -> pd.DataFrame:
    return pd.DataFrame([r.model_dump() for r in rows])


def _predict(model: PyFuncModel, rows: list[PropertyFeatures]) -> pd.DataFrame:
    out = model.predict(_frame(rows))
    assert isinstance(out, pd.DataFrame)
    return out


def test_more_living_area_never_lowers_the_price_much(champion: PyFuncModel) -> None:
    areas = list(range(700, 3600, 100))
    for neighborhood, built in (("North_Ames", 1960), ("Somerset", 2004), ("Old_Town", 1920), ("Gilbert", 1995)):
        rows = [
            PropertyFeatures.model_validate({"gr_liv_area": a, "year_built": built, "neighborhood": neighborhood})
            for a in areas
        ]
        prices = _predict(champion, rows)["price"].to_numpy()
        assert np.all(prices[1:] >= 0.97 * prices[:-1]), (neighborhood, prices)
        assert prices[-1] > 1.5 * prices[0]


def test_the_same_house_twice_gets_the_same_price(champion: PyFuncModel) -> None:
    house = PropertyFeatures(gr_liv_area=1710, year_built=2003, neighborhood="College_Creek", bedrooms=3)
    other = PropertyFeatures(gr_liv_area=900, year_built=1950, neighborhood="Edwards")
    batch = _predict(champion, [house, other, house])
    alone = _predict(champion, [house])
    assert batch["price"].iloc[0] == batch["price"].iloc[2]
    assert batch["price"].iloc[0] == pytest.approx(alone["price"].iloc[0], rel=1e-9)
    assert batch["contributions"].iloc[0] == batch["contributions"].iloc[2]
    assert batch["comparables"].iloc[0] == alone["comparables"].iloc[0]


def test_every_neighbourhood_without_coordinates_is_priced(champion: PyFuncModel) -> None:
    rows = [
        PropertyFeatures.model_validate({"gr_liv_area": 1400, "year_built": 1975, "neighborhood": n})
        for n in NEIGHBORHOODS
    ]
    out = _predict(champion, rows)
    assert len(out) == len(NEIGHBORHOODS)
    assert out["price"].between(30_000, 800_000).all()


def test_a_better_grade_raises_the_price_and_no_grade_means_a_typical_one(champion: PyFuncModel) -> None:
    house = {"gr_liv_area": 1500, "year_built": 1975, "neighborhood": "North_Ames"}
    grades = ["Below_Average", "Average", "Above_Average", "Good", "Very_Good"]
    graded = [PropertyFeatures.model_validate({**house, "overall_qual": grade}) for grade in grades]
    prices = _predict(champion, graded)["price"].to_numpy()
    assert np.all(prices[1:] > prices[:-1]), dict(zip(grades, prices, strict=True))
    assert prices[-1] > 1.15 * prices[0]
    # North Ames sales average a grade between Average (5) and Above_Average (6).
    typical = _predict(champion, [PropertyFeatures.model_validate(house)])["price"].iloc[0]
    assert prices[1] * 0.99 <= typical <= prices[2] * 1.01, (typical, prices[1:3])
