"""Plotly figures built from plain tables; no Streamlit or Redis in here."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from schemas.messages import PredictionResult

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
BUCKET = "10s"


def _layout(fig: go.Figure, title: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=MARGIN)
    return fig


def throughput(frame: pd.DataFrame, bucket: str = BUCKET) -> go.Figure:
    """Results per second by status, in time buckets of the write time."""
    seconds = pd.Timedelta(bucket).total_seconds()
    counts = frame.groupby([pd.Grouper(key="written_at", freq=bucket), "status"]).size().rename("count").reset_index()
    counts["per_second"] = counts["count"] / seconds
    fig = px.bar(
        counts,
        x="written_at",
        y="per_second",
        color="status",
        color_discrete_map={"done": "#2e7d32", "failed": "#c62828"},
        labels={"written_at": "", "per_second": "results / s"},
    )
    return _layout(fig, "Throughput")


def latency(frame: pd.DataFrame, bucket: str = BUCKET) -> go.Figure:
    """p50 and p95 of submit-to-scored latency per time bucket."""
    grouped = frame.dropna(subset=["latency_ms"]).groupby(pd.Grouper(key="written_at", freq=bucket))["latency_ms"]
    quantiles = pd.DataFrame({"p50": grouped.quantile(0.5), "p95": grouped.quantile(0.95)}).dropna().reset_index()
    long = quantiles.melt(id_vars="written_at", var_name="quantile", value_name="ms")
    fig = px.line(long, x="written_at", y="ms", color="quantile", markers=True, labels={"written_at": ""})
    return _layout(fig, "Latency, submit to scored (ms)")


def price_distribution(frame: pd.DataFrame) -> go.Figure:
    fig = px.histogram(frame.dropna(subset=["price"]), x="price", nbins=60, labels={"price": "predicted price ($)"})
    return _layout(fig, "Predicted prices")


def ppsf_by_neighbourhood(frame: pd.DataFrame) -> go.Figure:
    data = frame.dropna(subset=["ppsf", "neighborhood"])
    order = data.groupby("neighborhood")["ppsf"].median().sort_values().index.tolist()
    fig = px.box(
        data,
        x="ppsf",
        y="neighborhood",
        category_orders={"neighborhood": order},
        points=False,
        labels={"ppsf": "$ / sq ft", "neighborhood": ""},
    )
    return _layout(fig, "Predicted price per sq ft, by neighbourhood", height=max(300, 22 * len(order)))


def counts(frame: pd.DataFrame, column: str, title: str) -> go.Figure:
    data = frame[column].fillna("unknown").astype(str).value_counts().rename_axis(column).reset_index()
    fig = px.bar(data, x=column, y="count", labels={column: ""})
    return _layout(fig, title)


def interval_range(result: PredictionResult) -> go.Figure:
    """The 90 % and 80 % intervals as nested bars with the price as a marker."""
    fig = go.Figure()
    for interval, colour in zip(
        sorted(result.intervals, key=lambda i: -i.level), ("#bbdefb", "#64b5f6", "#1e88e5"), strict=False
    ):
        fig.add_trace(
            go.Bar(
                x=[interval.upper - interval.lower],
                base=[interval.lower],
                y=["price"],
                orientation="h",
                marker_color=colour,
                name=f"{interval.level:.0%} interval",
                hovertemplate="$%{base:,.0f} - $%{x:,.0f} wide<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[result.price],
            y=["price"],
            mode="markers",
            marker={"color": "black", "size": 14, "symbol": "diamond"},
            name="prediction",
        )
    )
    fig.update_layout(barmode="overlay", xaxis_tickformat="$,.0f", yaxis_visible=False)
    return _layout(fig, "Price and its intervals", height=200)


def contributions(result: PredictionResult) -> go.Figure:
    """Waterfall from the base price (the average training house) to the price, one step per contribution."""
    price = result.price or 0.0
    steps = result.contributions
    base = result.base_price if result.base_price is not None else price - sum(c.value for c in steps)
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=[
                "average house" if result.base_price is not None else "everything else",
                *[c.feature for c in steps],
                "price",
            ],
            x=[base, *[c.value for c in steps], price],
            measure=["absolute", *["relative"] * len(steps), "total"],
            texttemplate="%{x:$,.0f}",
            increasing={"marker": {"color": "#2e7d32"}},
            decreasing={"marker": {"color": "#c62828"}},
        )
    )
    fig.update_layout(yaxis_autorange="reversed", xaxis_tickformat="$,.0f")
    return _layout(fig, "What moved the price (dollars)", height=120 + 28 * len(steps))


def recalibration(table: pd.DataFrame) -> go.Figure:
    """Realised coverage of the served intervals per band (bars), against each level's target (dotted)."""
    shown = table.dropna(subset=["coverage"]).assign(
        segment=lambda t: t["grouping"] + ": " + t["band"], level=lambda t: (t["level"] * 100).round().astype(int)
    )
    fig = px.bar(
        shown,
        x="segment",
        y="coverage",
        color=shown["level"].astype(str) + " %",
        barmode="group",
        hover_data=["sales", "factor"],
        labels={"segment": "", "coverage": "realised coverage", "color": "level"},
    )
    for level in sorted(shown["level"].unique()):
        fig.add_hline(y=level / 100, line_dash="dot", annotation_text=f"{level} % target")
    fig.update_yaxes(range=[0.5, 1.0], tickformat=".0%")
    return _layout(fig, "Intervals recalibrated from sale prices: realised coverage by segment", height=360)
