"""The worker's model input: every column holds Python objects, and the model answers it exactly as
MLflow's own pyfunc call answers the frame pandas would infer (Arrow-backed text columns)."""

from __future__ import annotations

import pandas as pd
import pytest

from consumers.model import ModelHolder, features_frame
from infra.settings import Settings
from schemas import FEATURE_NAMES, PropertyFeatures
from schemas.features import EXAMPLE_HOUSE

pytestmark = pytest.mark.integration


def houses() -> list[PropertyFeatures]:
    full = PropertyFeatures.model_validate(EXAMPLE_HOUSE)
    sparse = PropertyFeatures(gr_liv_area=1500, year_built=1990, neighborhood="North_Ames")
    variants = [
        full.model_copy(update={"gr_liv_area": 900 + 150 * i, "neighborhood": hood})
        for i, hood in enumerate(("College_Creek", "Old_Town", "Edwards", "Somerset"))
    ]
    return [full, sparse, *variants]


def test_the_object_frame_is_answered_as_mlflow_answers_the_inferred_one(settings: Settings) -> None:
    batch = houses()
    frame = features_frame(batch)
    assert list(frame.columns) == list(FEATURE_NAMES)
    assert {dtype.kind for dtype in frame.dtypes} == {"O"}
    assert frame["neighborhood"].tolist() == [h.neighborhood for h in batch]

    holder = ModelHolder(settings)
    holder.refresh()
    served = holder.current.predict(frame)
    inferred = pd.DataFrame([h.model_dump(include=set(FEATURE_NAMES)) for h in batch], columns=list(FEATURE_NAMES))
    assert inferred["neighborhood"].dtype != object  # pandas' own text dtype: the path MLflow's call is given
    reference = holder.current.pyfunc.predict(inferred)
    assert isinstance(reference, pd.DataFrame)
    pd.testing.assert_frame_equal(served, reference, check_dtype=False)
