"""Value a house: the form, then the price with its intervals, what moved it and the comparable sales."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from dashboard import api_client, charts, maps, principal
from dashboard.context import settings
from dashboard.reference import neighbourhoods
from schemas.api import PredictionAccepted
from schemas.features import CONDITIONS, NEIGHBORHOODS, PropertyFeatures
from schemas.messages import PredictionResult
from schemas.valuation import BAND_DESCRIPTION

WAIT_SECONDS = 5.0
POLL_LIMIT_SECONDS = 60.0
DEFAULTS = {name: field.default for name, field in PropertyFeatures.model_fields.items()}
STYLES = PropertyFeatures.model_fields["house_style"].annotation.__args__  # type: ignore[union-attr]
BUILDINGS = PropertyFeatures.model_fields["bldg_type"].annotation.__args__  # type: ignore[union-attr]
BASEMENT_FINISHES = {
    "Unf": "Unfinished",
    "GLQ": "Good living quarters",
    "ALQ": "Average living quarters",
    "BLQ": "Below-average living quarters",
    "Rec": "Recreation room",
    "LwQ": "Low quality",
    "No_Basement": "No basement",
}


def pick_on_map() -> None:
    """A clickable map of neighbourhood centres; a click selects that neighbourhood in the form."""
    table = neighbourhoods()
    deck = maps.points(
        table, "longitude", "latitude", "{label}: median {price_text} ({sales} sales)", layer_id="centres", radius=180
    )
    event = st.pydeck_chart(deck, on_select="rerun", selection_mode="single-object", key="centre_map", height=300)
    picked = (event.selection.get("objects") or {}).get("centres") if event else None
    if picked and picked[0]["neighborhood"] != st.session_state.get("picked"):
        st.session_state["picked"] = picked[0]["neighborhood"]
        st.session_state["neighborhood"] = picked[0]["neighborhood"]


def label(name: str) -> str:
    return name.replace("_", " ")


def house_form() -> dict[str, Any] | None:
    """The fields a person knows about their house; the rest keeps the model's defaults."""
    with st.form("house"):
        left, middle, right = st.columns(3)
        fields: dict[str, Any] = {
            "neighborhood": left.selectbox("Neighbourhood", NEIGHBORHOODS, format_func=label, key="neighborhood"),
            "gr_liv_area": left.number_input("Living area (sq ft)", 200, 12_000, 1_500, step=50),
            "lot_area": left.number_input("Lot area (sq ft)", 500, 500_000, DEFAULTS["lot_area"], step=100),
            "total_bsmt_sf": left.number_input("Basement (sq ft)", 0, 10_000, DEFAULTS["total_bsmt_sf"], step=50),
            "bsmt_finished_sf": left.number_input("Finished basement (sq ft)", 0, 10_000, 0, step=50),
            "bsmt_fin_type": left.selectbox(
                "Basement finish", list(BASEMENT_FINISHES), format_func=BASEMENT_FINISHES.__getitem__
            ),
            "year_built": middle.number_input("Year built", 1800, 2100, 1975),
            "year_remod_add": middle.number_input("Last remodel (0 = never)", 0, 2100, 0),
            "overall_qual": middle.selectbox(
                "Quality (material and finish)",
                [None, *CONDITIONS],
                format_func=lambda grade: "Not known" if grade is None else label(grade),
                help="The assessor's overall grade; without it the model assumes the neighbourhood's typical one.",
            ),
            "overall_cond": middle.selectbox(
                "Condition", CONDITIONS, index=CONDITIONS.index("Average"), format_func=label
            ),
            "house_style": middle.selectbox("Style", STYLES, format_func=label),
            "bedrooms": right.number_input("Bedrooms", 0, 12, DEFAULTS["bedrooms"]),
            "full_bath": right.number_input("Full bathrooms", 0, 8, DEFAULTS["full_bath"]),
            "half_bath": right.number_input("Half bathrooms", 0, 6, DEFAULTS["half_bath"]),
            "garage_cars": right.number_input("Garage (cars)", 0, 8, DEFAULTS["garage_cars"]),
            "fireplaces": right.number_input("Fireplaces", 0, 6, DEFAULTS["fireplaces"]),
            "bldg_type": left.selectbox("Building type", BUILDINGS, format_func=label),
            "central_air": middle.checkbox("Central air", value=True),
        }
        if not st.form_submit_button("Value this house", type="primary"):
            return None
    if not fields["year_remod_add"]:
        fields["year_remod_add"] = None
    return fields


def features_or_errors(fields: dict[str, Any]) -> PropertyFeatures | None:
    try:
        return PropertyFeatures.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "house"
            st.error(f"{where}: {error['msg']}")
        return None


def value(features: PropertyFeatures) -> None:
    """Submit, wait briefly, then poll until the worker answers; keep the result in the session."""
    base = settings().api_url
    try:
        with st.spinner("Valuing…"):
            answer = api_client.submit(base, features, WAIT_SECONDS, principal.api_key())
            deadline = time.monotonic() + POLL_LIMIT_SECONDS
            while isinstance(answer, PredictionAccepted) or answer.status == "queued":
                if time.monotonic() > deadline:
                    st.warning(f"Still queued after {POLL_LIMIT_SECONDS:.0f} s: are the workers running?")
                    return
                time.sleep(0.25)
                answer = api_client.prediction(base, answer.request_id, principal.api_key())
    except api_client.ApiError as exc:
        st.error(exc.message)
        for detail in exc.details:
            st.caption(detail)
        return
    st.session_state["valuation"] = answer
    st.session_state["valued_house"] = features


CONFIDENCE_HELP = (
    f"1 - FSD (forecast standard deviation). {BAND_DESCRIPTION} The intervals are wider for houses outside "
    "the model's experience and for valuation dates past its data."
)


def show_price(result: PredictionResult) -> None:
    if result.status == "failed" or result.price is None:
        reason = result.error.message if result.error else "no price"
        st.error(f"The valuation failed: {reason}")
        return
    price, confidence = st.columns(2)
    price.metric("Estimated price", f"${result.price:,.0f}")
    if result.confidence is not None and result.fsd is not None:
        confidence.metric("Confidence", f"{result.confidence_band} ({result.confidence:.2f})", help=CONFIDENCE_HELP)
        confidence.caption(f"FSD {result.fsd:.1%}: about 2 sales in 3 land within ±{result.fsd:.1%} of the price")
    if result.applicability is not None and not result.applicability.in_domain:
        st.warning("Outside the model's experience: " + "; ".join(result.applicability.flags))
    if result.months_beyond_data:
        st.info(f"The valuation date is {result.months_beyond_data} months past the model's latest sale.")
    bands = "  ·  ".join(f"{i.level:.0%}: ${i.lower:,.0f} to ${i.upper:,.0f}" for i in result.intervals)
    model = f"model {result.model.name} v{result.model.version}" if result.model else ""
    st.caption(f"{bands}  ·  {model}  ·  request {result.request_id}")
    st.plotly_chart(charts.interval_range(result))


def show_comparables(result: PredictionResult, house: PropertyFeatures) -> None:
    if not result.comparables:
        return
    table = pd.DataFrame([c.model_dump() for c in result.comparables])
    centre = neighbourhoods().set_index("neighborhood")
    subject = (
        (house.longitude, house.latitude)
        if house.longitude is not None and house.latitude is not None
        else tuple(centre.loc[house.neighborhood, ["longitude", "latitude"]])
        if house.neighborhood in centre.index
        else None
    )
    st.subheader("Comparable sales")
    st.pydeck_chart(
        maps.points(table, "longitude", "latitude", "{price_text} · {gr_liv_area} sq ft · {sold}", subject=subject),
        height=320,
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={"price": st.column_config.NumberColumn(format="dollar")},
    )


def main() -> None:
    st.title("Value a house")
    st.caption("Pick the neighbourhood from the list or click its centre on the map.")
    pick_on_map()
    fields = house_form()
    if fields is not None:
        features = features_or_errors(fields)
        if features is not None:
            value(features)
    result: PredictionResult | None = st.session_state.get("valuation")
    if result is None:
        return
    show_price(result)
    if result.price is not None:
        left, right = st.columns(2)
        with left:
            st.plotly_chart(charts.contributions(result))
        with right:
            show_comparables(result, st.session_state["valued_house"])
