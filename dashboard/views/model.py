"""Model: the champion and the candidates from the MLflow registry, side by side, with report plots; the
challenger beside the champion with its live figures, promotions and rollbacks."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import api_client, charts, principal
from dashboard.accuracy import feedback_figures
from dashboard.context import settings, store_down
from dashboard.model_versions import SHOWN_METRICS, ratio_study, report_plots, versions
from dashboard.serving import latest_training, served_versions, training_line
from registry.errors import RegistryError
from schemas.calibration import CalibrationPublic
from schemas.ratio_study import Figure, RatioStudy
from schemas.registry import ModelPublic, VersionInfo
from schemas.rollout import LiveAccuracy, PairedAccuracy, RolloutPublic
from state import StoreUnavailableError


def comparison(infos: list[VersionInfo], alias: str) -> pd.DataFrame:
    """One column per version, metrics as rows (the usual ones first)."""
    names = [m for m in SHOWN_METRICS if any(m in i.metrics for i in infos)]
    names += sorted({m for i in infos for m in i.metrics} - set(names))
    columns = {
        f"v{i.version}{' (' + alias + ')' if alias in i.aliases else ''}": [i.metrics.get(m) for m in names]
        for i in infos
    }
    return pd.DataFrame(columns, index=names)


def versions_table(infos: list[VersionInfo]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": i.version,
                "aliases": ", ".join(i.aliases),
                "registered": i.registered_at,
                "promoted": i.promoted_at or "",
                "trained": "quick" if i.params.get("quick") == "True" else "full",
                "selected": i.params.get("selected", ""),
                "cv_rmse": i.metrics.get("cv_rmse"),
                "run_id": i.run_id,
            }
            for i in infos
        ]
    )


def plots(tracking_uri: str, info: VersionInfo) -> None:
    if info.run_id is None:
        return
    try:
        images = report_plots(tracking_uri, info.run_id)
    except Exception as exc:  # MLflow's own error types vary by store
        st.warning(f"Report plots unavailable ({type(exc).__name__}).")
        return
    if not images:
        st.info("This run logged no report plots.")
        return
    for column, (name, image) in zip(st.columns(len(images)), images.items(), strict=True):
        column.image(image, caption=name)


def _figure(figure: Figure | None, digits: int) -> str:
    return "n/a" if figure is None else figure.text(f".{digits}f")


def ratio_table(study: RatioStudy) -> pd.DataFrame:
    """One row per segment: level, COD, PRD and PRB with their intervals and IAAO verdicts."""
    return pd.DataFrame(
        [
            {
                "dimension": s.dimension.replace("_", " "),
                "segment": s.segment,
                "sales": s.sales,
                "median ratio": _figure(s.level, 3),
                "COD": _figure(s.cod, 1),
                "COD verdict": f"{s.cod.verdict.replace('_', ' ')} (≤ {s.cod_limit:g})",
                "PRD": _figure(s.prd, 3),
                "PRD verdict": s.prd.verdict.replace("_", " ") if s.prd else "",
                "PRB": _figure(s.prb, 3),
                "PRB verdict": s.prb.verdict.replace("_", " ") if s.prb else "",
            }
            for s in study.segments
        ]
    )


def errors_table(study: RatioStudy) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "group": row.group,
                "sales": row.sales,
                "median abs % error": round(row.median_abs_pct_error, 2),
                "RMSE ln(price)": round(row.rmse_log, 4),
                **{f"{level} coverage": round(value, 1) for level, value in row.coverage.items()},
            }
            for row in study.errors_by_group
        ]
    )


def ratio_study_section(tracking_uri: str, info: VersionInfo) -> None:
    """The version's ratio study by segment (IAAO COD, PRD, PRB) and its error by neighbourhood group."""
    st.subheader("Ratio study and fairness by segment")
    if info.run_id is None:
        return
    try:
        study, plot = ratio_study(tracking_uri, info.run_id)
    except RegistryError as exc:
        st.warning(str(exc))
        return
    if study is None:
        st.info("This version's training logged no ratio study (trained before it was added).")
        return
    st.caption(
        f"{study.source}, {study.sales} sales. IAAO Standard on Ratio Studies: COD ≤ 15 (≤ 10 for newer, "
        "homogeneous segments), PRD 0.98-1.03, PRB -0.05 to 0.05; 95 % bootstrap intervals."
    )
    if plot is not None:
        st.image(plot)
    dimension = st.selectbox("Segments by", list(dict.fromkeys(s.dimension for s in study.segments)))
    table = ratio_table(study)
    st.dataframe(table.loc[table["dimension"] == dimension.replace("_", " ")], hide_index=True)
    st.markdown("**Error and interval coverage by neighbourhood group**")
    st.dataframe(errors_table(study), hide_index=True)


def production_accuracy() -> None:
    """Rolling figures from the sale prices clients sent back, by neighbourhood and model version."""
    st.subheader("Accuracy on observed sales")
    try:
        frame = feedback_figures()
    except StoreUnavailableError as exc:
        store_down(exc)
        return
    if frame.empty:
        st.info("No sale prices received yet: clients send them with `POST /api/v1/feedback`.")
        return
    st.dataframe(
        frame.rename(
            columns={
                "mape": "median abs % error",
                "within_10pct": "within 10 %",
                "interval_coverage": "90 % interval coverage",
                "count": "in window",
            }
        ),
        hide_index=True,
    )


def recalibration_table(state: CalibrationPublic) -> pd.DataFrame:
    """One row per level and band: the factor its term started from at training, the factor it contributes
    now (start and live together), the sales fed back and their coverage."""
    return pd.DataFrame(
        [
            {
                "level": s.level,
                "grouping": s.grouping,
                "band": s.band,
                "start factor": round(math.exp(s.start_log_factor), 3),
                "factor": round(math.exp(s.start_log_factor + s.log_factor), 3),
                "sales": s.sales,
                "coverage": s.coverage,
            }
            for s in state.segments
        ],
        columns=["level", "grouping", "band", "start factor", "factor", "sales", "coverage"],
    )


def live_ratio_study(served: ModelPublic) -> None:
    """The champion's ratio study from the sale prices fed back."""
    st.subheader("Ratio study on observed sales")
    study = served.live_ratio_study
    if study is None or study.sales == 0:
        st.info("No sale prices fed back for the champion's valuations yet (`POST /api/v1/feedback`).")
        return
    st.caption(f"{study.sales} sales fed back for the champion's valuations; IAAO verdicts need 20 or more sales.")
    st.dataframe(ratio_table(study), hide_index=True)


ACCURACY_COLUMNS = ["sales", "median abs % error", "within 10 %", "90 % interval coverage"]


def accuracy_row(accuracy: LiveAccuracy) -> dict[str, object]:
    return dict(
        zip(
            ACCURACY_COLUMNS,
            [accuracy.sales, accuracy.median_abs_pct_error, accuracy.within_10pct, accuracy.interval_coverage],
            strict=True,
        )
    )


def variants_table(rollout: RolloutPublic) -> pd.DataFrame:
    """One row per variant: its version, model time per batch and accuracy on the sales fed back."""
    return pd.DataFrame(
        [
            {
                "variant": v.variant,
                "version": v.version,
                "batch p50 ms": v.latency.p50_ms,
                "batch p95 ms": v.latency.p95_ms,
                **accuracy_row(v.accuracy),
            }
            for v in rollout.variants
        ],
        columns=["variant", "version", "batch p50 ms", "batch p95 ms", *ACCURACY_COLUMNS],
    )


def paired_table(paired: PairedAccuracy) -> pd.DataFrame:
    """Champion and challenger on the same sales: what the promotion guard compares."""
    sides = (("champion", paired.champion), ("challenger", paired.challenger))
    return pd.DataFrame(
        [{"variant": variant, "version": a.version, **accuracy_row(a)} for variant, a in sides],
        columns=["variant", "version", *ACCURACY_COLUMNS],
    )


def events_table(rollout: RolloutPublic) -> pd.DataFrame:
    """Promotions and rollbacks, newest first."""
    return pd.DataFrame(
        [
            {
                "when": e.at,
                "action": e.action + (" (forced)" if e.forced else ""),
                "from": e.from_version or "",
                "to": e.to_version,
                "reason": e.reason,
            }
            for e in rollout.events
        ],
        columns=["when", "action", "from", "to", "reason"],
    )


def rollout_section(served: ModelPublic) -> None:
    """The challenger beside the champion: per-variant figures, price differences, promotions and rollbacks."""
    st.subheader("Champion and challenger")
    rollout = served.rollout
    if rollout is None:
        return
    if rollout.challenger is None:
        st.info("No challenger: `make train` registers the next winner as one (`python -m training promote` moves it).")
    else:
        st.caption(
            f"Challenger version {rollout.challenger} in {rollout.mode} mode "
            f"({rollout.share:.0%} of requests {'scored beside' if rollout.mode == 'shadow' else 'answered'})."
        )
        st.dataframe(variants_table(rollout), hide_index=True)
        diff = rollout.differences
        if diff is not None and diff.requests:
            left, right, count = st.columns(3)
            left.metric("median abs % price difference", f"{diff.median_abs_pct_diff or 0:.2f} %")
            right.metric("share over 10 %", f"{diff.share_over_10pct or 0:.1%}")
            count.metric("requests scored by both", f"{diff.requests:,}")
        if rollout.paired is not None:
            st.markdown("**On the same sales** (fed back for requests both valued: what `promote` compares)")
            st.dataframe(paired_table(rollout.paired), hide_index=True)
    if rollout.events:
        st.markdown("**Promotions and rollbacks**")
        st.dataframe(events_table(rollout), hide_index=True)


def recalibration(served: ModelPublic) -> None:
    """The champion's intervals as corrected by the sale prices fed back."""
    st.subheader("Intervals that correct themselves")
    state = served.calibration
    if state is None:
        return
    table = recalibration_table(state)
    st.caption(
        f"Version {state.model_version}: each served interval's log-radius is multiplied by the product of its "
        f"bands' factors (learning rate {state.learning_rate:g}; price bands split at "
        f"${state.price_edges[0]:,.0f} and ${state.price_edges[1]:,.0f} predicted)."
    )
    if table["sales"].sum() == 0:
        st.info("No sale prices fed back for this version yet: every factor is 1.")
    else:
        st.plotly_chart(charts.recalibration(table), key="recalibration")
    st.dataframe(table, hide_index=True)


@st.fragment(run_every=5)
def serving_and_training() -> None:
    """The version(s) the workers serve now, and the latest training's progress (it may run in the background)."""
    conf = settings()
    try:
        served = served_versions()
    except StoreUnavailableError as exc:
        store_down(exc)
        served = {}
    if served:
        st.caption(
            "Serving now: "
            + "; ".join(f"version {version} ({len(names)} worker(s))" for version, names in sorted(served.items()))
        )
    status = latest_training(conf)
    if status is None:
        return
    if status.state == "running":
        st.progress(status.fraction, text=training_line(status))
    elif status.state == "failed":
        st.warning(training_line(status))
    else:
        st.caption(training_line(status))


def main() -> None:
    st.title("Model")
    serving_and_training()
    conf = settings()
    try:
        infos = versions(conf.tracking_uri, conf.model_name)
    except RegistryError as exc:
        st.warning(f"{exc}. The page will work again as soon as it is back.")
        return
    if not infos:
        st.info(f"No version of {conf.model_name!r} is registered yet: run `make train`.")
        return
    champion = next((i for i in infos if conf.model_alias in i.aliases), None)
    if champion:
        st.metric(
            f"{conf.model_alias}",
            f"version {champion.version}",
            help=f"registered {champion.registered_at:%Y-%m-%d %H:%M} UTC",
        )
    else:
        st.warning(f"No version holds the alias {conf.model_alias!r}: the workers have nothing to serve.")
    st.subheader("Versions")
    st.dataframe(versions_table(infos), hide_index=True)
    st.subheader("Metrics side by side")
    st.dataframe(comparison(infos, conf.model_alias))
    shown = st.selectbox(
        "Training report of version",
        [i.version for i in infos],
        index=[i.version for i in infos].index(champion.version) if champion else 0,
    )
    shown_info = next(i for i in infos if i.version == shown)
    plots(conf.tracking_uri, shown_info)
    ratio_study_section(conf.tracking_uri, shown_info)
    observed_sales()
    production_accuracy()


def observed_sales() -> None:
    """What the sale prices fed back say about the champion, from one ``GET /api/v1/model``."""
    try:
        served = api_client.model(settings().api_url, principal.api_key())
    except api_client.ApiError as exc:
        st.info(f"The champion's figures from observed sales are unavailable: {exc.message}")
        return
    rollout_section(served)
    live_ratio_study(served)
    recalibration(served)
