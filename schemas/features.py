"""The house being valued: the fields a person can know, with bounds that reject nonsense.

Field names are the model's input columns: the registered pyfunc takes a DataFrame whose
columns are exactly these names, so training and serving share one vocabulary.
Level names follow the Ames data (``modeldata::ames``) the default model is trained on.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Neighborhood = Literal[
    "North_Ames",
    "College_Creek",
    "Old_Town",
    "Edwards",
    "Somerset",
    "Northridge_Heights",
    "Gilbert",
    "Sawyer",
    "Northwest_Ames",
    "Sawyer_West",
    "Mitchell",
    "Brookside",
    "Crawford",
    "Iowa_DOT_and_Rail_Road",
    "Timberland",
    "Northridge",
    "Stone_Brook",
    "South_and_West_of_Iowa_State_University",
    "Clear_Creek",
    "Meadow_Village",
    "Briardale",
    "Bloomington_Heights",
    "Veenker",
    "Northpark_Villa",
    "Blueste",
    "Greens",
    "Green_Hills",
    "Landmark",
]
NEIGHBORHOODS: tuple[str, ...] = Neighborhood.__args__  # type: ignore[attr-defined]

Condition = Literal[
    "Very_Poor",
    "Poor",
    "Fair",
    "Below_Average",
    "Average",
    "Above_Average",
    "Good",
    "Very_Good",
    "Excellent",
    "Very_Excellent",
]
CONDITIONS: tuple[str, ...] = Condition.__args__  # type: ignore[attr-defined]
"""The 10-point scale of ``overall_cond`` and ``overall_qual``, worst first."""
Grade = Literal["Poor", "Fair", "Typical", "Good", "Excellent"]
BuildingType = Literal["OneFam", "TwoFmCon", "Duplex", "Twnhs", "TwnhsE"]
HouseStyle = Literal[
    "One_Story",
    "One_and_Half_Fin",
    "One_and_Half_Unf",
    "Two_Story",
    "Two_and_Half_Fin",
    "Two_and_Half_Unf",
    "SFoyer",
    "SLvl",
]
Zoning = Literal[
    "Residential_Low_Density",
    "Residential_Medium_Density",
    "Residential_High_Density",
    "Floating_Village_Residential",
    "C_all",
    "I_all",
    "A_agr",
]
GarageType = Literal[
    "Attchd",
    "Detchd",
    "BuiltIn",
    "Basment",
    "CarPort",
    "More_Than_Two_Types",
    "No_Garage",
]
GarageFinish = Literal["Fin", "RFn", "Unf", "No_Garage"]
Foundation = Literal["PConc", "CBlock", "BrkTil", "Slab", "Stone", "Wood"]
SaleCondition = Literal["Normal", "Partial", "Abnorml", "Family", "Alloca", "AdjLand"]
LotShape = Literal["Regular", "Slightly_Irregular", "Moderately_Irregular", "Irregular"]
BasementExposure = Literal["Gd", "Av", "Mn", "No", "No_Basement"]
BasementFinish = Literal["GLQ", "ALQ", "BLQ", "Rec", "LwQ", "Unf", "No_Basement"]
Exterior = Literal[
    "VinylSd",
    "MetalSd",
    "HdBoard",
    "Wd_Sdng",
    "Plywood",
    "CemntBd",
    "BrkFace",
    "WdShing",
    "AsbShng",
    "Stucco",
    "BrkComm",
    "AsphShn",
    "Stone",
    "CBlock",
    "ImStucc",
    "PreCast",
]
Proximity = Literal["Norm", "Feedr", "Artery", "RRNn", "RRAn", "RRNe", "RRAe", "PosN", "PosA"]
Functional = Literal["Typ", "Min1", "Min2", "Mod", "Maj1", "Maj2", "Sev", "Sal"]
LotConfig = Literal["Inside", "Corner", "CulDSac", "FR2", "FR3"]
PavedDrive = Literal["Paved", "Partial_Pavement", "Dirt_Gravel"]
VeneerType = Literal["None", "BrkFace", "BrkCmn", "Stone", "CBlock"]

MAX_YEAR = 2100

EXAMPLE_HOUSE: dict[str, Any] = {
    "gr_liv_area": 1656,
    "year_built": 1960,
    "neighborhood": "North_Ames",
    "lot_area": 31770,
    "longitude": -93.619754,
    "latitude": 42.054035,
}


class PropertyFeatures(BaseModel):
    """One house. Only living area, year built and neighborhood are required."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [EXAMPLE_HOUSE]},
    )

    gr_liv_area: int = Field(ge=200, le=12_000, description="Above-ground living area, square feet.", examples=[1656])
    year_built: int = Field(ge=1800, le=MAX_YEAR, description="Year of construction.", examples=[1960])
    neighborhood: Neighborhood = Field(description="Ames neighborhood.", examples=["North_Ames"])

    year_remod_add: int | None = Field(
        default=None,
        ge=1800,
        le=MAX_YEAR,
        description="Year of the last remodel; defaults to the year built.",
        examples=[1995],
    )
    lot_area: int = Field(default=9_436, ge=500, le=500_000, description="Lot size, square feet.", examples=[31770])
    lot_frontage: int = Field(
        default=63, ge=0, le=1_000, description="Street frontage, feet (0 if unknown).", examples=[141]
    )
    lot_shape: LotShape = Field(default="Regular", description="General shape of the lot.")
    lot_config: LotConfig = Field(
        default="Inside", description="Lot position: Inside, Corner, CulDSac, FR2/FR3 (frontage on 2 or 3 sides)."
    )
    proximity: Proximity = Field(
        default="Norm",
        description=(
            "Nearby road, railway or amenity: Norm, Feedr (feeder street), Artery (arterial road), "
            "RRNn/RRAn (near/adjacent to a north-south railway), RRNe/RRAe (east-west railway), "
            "PosN/PosA (near/adjacent to a park or greenbelt)."
        ),
    )
    total_bsmt_sf: int = Field(default=990, ge=0, le=10_000, description="Basement area, square feet.", examples=[1080])
    bsmt_exposure: BasementExposure = Field(default="No", description="Walkout or garden-level basement walls.")
    bsmt_finished_sf: int = Field(
        default=0, ge=0, le=10_000, description="Finished basement area, square feet (part of total_bsmt_sf)."
    )
    bsmt_fin_type: BasementFinish = Field(
        default="Unf",
        description=(
            "Quality of the finished basement: GLQ (good living quarters), ALQ (average), BLQ (below average), "
            "Rec (recreation room), LwQ (low quality), Unf (unfinished)."
        ),
    )
    second_flr_sf: int = Field(
        default=0, ge=0, le=6_000, description="Second-floor area, square feet (part of living area).", examples=[0]
    )
    bedrooms: int = Field(default=3, ge=0, le=12, description="Bedrooms above grade.", examples=[3])
    full_bath: int = Field(default=2, ge=0, le=8, description="Full bathrooms above grade.", examples=[1])
    half_bath: int = Field(default=0, ge=0, le=6, description="Half bathrooms above grade.", examples=[0])
    bsmt_full_bath: int = Field(default=0, ge=0, le=4, description="Full bathrooms in the basement.")
    bsmt_half_bath: int = Field(default=0, ge=0, le=4, description="Half bathrooms in the basement.")
    tot_rms_abv_grd: int = Field(default=6, ge=1, le=25, description="Rooms above grade, bathrooms excluded.")
    kitchens: int = Field(default=1, ge=0, le=4, description="Kitchens above grade.")
    fireplaces: int = Field(default=0, ge=0, le=6, description="Number of fireplaces.")
    garage_type: GarageType = Field(default="Attchd", description="Garage location.")
    garage_finish: GarageFinish = Field(default="Unf", description="Interior finish of the garage.")
    garage_cars: int = Field(default=2, ge=0, le=8, description="Garage size in car capacity.", examples=[2])
    garage_area: int = Field(default=480, ge=0, le=5_000, description="Garage area, square feet.")
    overall_qual: Condition | None = Field(
        default=None,
        description=(
            "Overall material and finish quality, the assessor's 10-point grade (Very_Poor to Very_Excellent); "
            "the neighborhood's typical grade when absent. Valuations are markedly tighter with it."
        ),
        examples=["Good"],
    )
    overall_cond: Condition = Field(default="Average", description="Overall condition of the house.")
    exter_cond: Grade = Field(default="Typical", description="Condition of the exterior material.")
    exterior: Exterior = Field(default="VinylSd", description="Main exterior covering (Ames codes).")
    mas_vnr_type: VeneerType = Field(default="None", description="Masonry veneer type.")
    functional: Functional = Field(
        default="Typ",
        description="Home functionality: Typ (typical) down to Min1/Min2, Mod, Maj1/Maj2 deductions, Sev, Sal.",
    )
    paved_drive: PavedDrive = Field(default="Paved", description="Driveway surface.")
    heating_qc: Grade = Field(default="Excellent", description="Heating quality and condition.")
    central_air: bool = Field(default=True, description="Central air conditioning.")
    bldg_type: BuildingType = Field(default="OneFam", description="Type of dwelling.")
    house_style: HouseStyle = Field(default="One_Story", description="Style of dwelling.")
    ms_zoning: Zoning = Field(default="Residential_Low_Density", description="Zoning classification.")
    foundation: Foundation = Field(default="PConc", description="Type of foundation.")
    mas_vnr_area: int = Field(default=0, ge=0, le=3_000, description="Masonry veneer area, square feet.")
    wood_deck_sf: int = Field(default=0, ge=0, le=3_000, description="Wood deck area, square feet.")
    open_porch_sf: int = Field(default=0, ge=0, le=2_000, description="Open porch area, square feet.")
    enclosed_porch: int = Field(default=0, ge=0, le=2_000, description="Enclosed porch area, square feet.")
    screen_porch: int = Field(default=0, ge=0, le=2_000, description="Screen porch area, square feet.")
    pool_area: int = Field(default=0, ge=0, le=2_000, description="Pool area, square feet.")
    sale_condition: SaleCondition = Field(
        default="Normal", description="Condition of sale; 'Partial' is a new house sold before completion."
    )
    year_sold: int = Field(
        default=2010,
        ge=1900,
        le=MAX_YEAR,
        description=(
            "Valuation year. Past the model's latest sale the intervals widen (market-drift allowance) and the "
            "answer says by how many months; far past it the model refuses."
        ),
    )
    mo_sold: int = Field(default=6, ge=1, le=12, description="Valuation month.")
    valuation_date: date | None = Field(
        default=None,
        description=(
            "The date the value is wanted for; sets year_sold and mo_sold (which then need not be given). "
            "Past the model's latest sale the intervals widen by a market-drift allowance."
        ),
        examples=["2011-03-15"],
    )
    longitude: float | None = Field(
        default=None,
        ge=-180,
        le=180,
        description="Longitude in degrees; the neighborhood's centre when absent.",
        examples=[-93.619754],
    )
    latitude: float | None = Field(
        default=None,
        ge=-90,
        le=90,
        description="Latitude in degrees; the neighborhood's centre when absent.",
        examples=[42.054035],
    )

    CONSISTENCY_FIELDS: ClassVar[tuple[str, ...]] = (
        "year_built",
        "year_remod_add",
        "total_bsmt_sf",
        "bsmt_finished_sf",
        "gr_liv_area",
        "second_flr_sf",
        "longitude",
        "latitude",
        "year_sold",
    )
    """The arguments of ``inconsistency``, in order."""

    @staticmethod
    def inconsistency(
        year_built: int,
        year_remod_add: int | None,
        total_bsmt_sf: int,
        bsmt_finished_sf: int,
        gr_liv_area: int,
        second_flr_sf: int,
        longitude: float | None,
        latitude: float | None,
        year_sold: int,
    ) -> str | None:
        """What contradicts what among a house's fields (None: nothing). Also run on bulk columns
        (``schemas.checks``) without building a model per row."""
        if year_remod_add is not None and year_remod_add < year_built:
            return "year_remod_add must not be earlier than year_built"
        if bsmt_finished_sf > total_bsmt_sf:
            return "bsmt_finished_sf must not exceed total_bsmt_sf"
        if second_flr_sf >= gr_liv_area:
            return "second_flr_sf must be smaller than gr_liv_area"
        if (longitude is None) != (latitude is None):
            return "give both longitude and latitude, or neither"
        if year_sold < year_built - 1:
            return "year_sold must not be earlier than year_built - 1"
        return None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.valuation_date is not None:
            self._take_valuation_date(self.valuation_date)
        problem = self.inconsistency(*(getattr(self, name) for name in self.CONSISTENCY_FIELDS))
        if problem is not None:
            raise ValueError(problem)
        return self

    def _take_valuation_date(self, when: date) -> None:
        for name, value in (("year_sold", when.year), ("mo_sold", when.month)):
            if name in self.model_fields_set and getattr(self, name) != value:
                raise ValueError(f"{name} {getattr(self, name)} contradicts valuation_date {when.isoformat()}")
        if not 1900 <= when.year <= MAX_YEAR:
            raise ValueError(f"valuation_date must lie in the years 1900 to {MAX_YEAR}")
        self.year_sold, self.mo_sold = when.year, when.month


REQUEST_ONLY_FIELDS = ("valuation_date",)
"""Fields the model never sees: ``valuation_date`` reaches it as ``year_sold`` and ``mo_sold``."""
FEATURE_NAMES: tuple[str, ...] = tuple(n for n in PropertyFeatures.model_fields if n not in REQUEST_ONLY_FIELDS)
