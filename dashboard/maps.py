"""pydeck maps: points coloured by price, with a tooltip."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pydeck as pdk

AMES = {"latitude": 42.03, "longitude": -93.64, "zoom": 11.5}
SUBJECT_COLOUR = [20, 20, 20, 230]


def _view(frame: pd.DataFrame, lon: str, lat: str) -> pdk.ViewState:
    if frame.empty:
        return pdk.ViewState(**AMES)
    return pdk.ViewState(longitude=float(frame[lon].mean()), latitude=float(frame[lat].mean()), zoom=AMES["zoom"])


def price_colours(prices: pd.Series) -> list[list[int]]:
    """Blue (cheapest) to red (dearest) by rank, so outliers do not wash the scale out."""
    ranks = prices.rank(pct=True).fillna(0.5)
    return [[int(255 * r), 80, int(255 * (1 - r)), 180] for r in ranks]


def points(
    frame: pd.DataFrame,
    lon: str,
    lat: str,
    tooltip: str,
    layer_id: str = "points",
    radius: int = 60,
    subject: tuple[float, float] | None = None,
) -> pdk.Deck:
    shown = [lon, lat, *(c for c in re.findall(r"{(\w+)}", tooltip) if c in frame and c not in (lon, lat))]
    if "price" in frame:
        shown.append("price")
    # Only the columns drawn or shown travel to the browser: pydeck serialises every cell.
    data = frame.dropna(subset=[lon, lat]).loc[:, list(dict.fromkeys(shown))]
    if "price" in data:
        data["colour"] = price_colours(data["price"])
        data["price_text"] = data["price"].map("${:,.0f}".format)
    else:
        data["colour"] = [[30, 136, 229, 180]] * len(data)
    layers: list[Any] = [
        pdk.Layer(
            "ScatterplotLayer",
            id=layer_id,
            data=data,
            get_position=[lon, lat],
            get_fill_color="colour",
            get_radius=radius,
            pickable=True,
        )
    ]
    if subject is not None:
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                id="subject",
                data=pd.DataFrame({"lon": [subject[0]], "lat": [subject[1]]}),
                get_position=["lon", "lat"],
                get_fill_color=SUBJECT_COLOUR,
                get_radius=radius * 1.6,
            )
        )
    return pdk.Deck(layers=layers, initial_view_state=_view(data, lon, lat), tooltip={"text": tooltip})
