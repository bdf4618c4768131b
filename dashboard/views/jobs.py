"""Jobs: upload a CSV or Parquet file, follow its progress, download the results."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import api_client, principal
from dashboard.context import settings, store_down
from dashboard.job_progress import JobProgress, job_progress, recent_jobs
from state import StoreUnavailableError

FORMATS: tuple[api_client.ResultFormat, ...] = ("csv", "parquet", "json")


def upload() -> None:
    file = st.file_uploader(
        "A CSV (plain or .csv.gz) or Parquet file with PropertyFeatures columns", type=["csv", "gz", "parquet"]
    )
    if file is None or not st.button("Start the job", type="primary"):
        return
    try:
        job_id = api_client.upload_job(settings().api_url, file.name, file.getvalue(), principal.api_key())
    except api_client.ApiError as exc:
        st.error(exc.message)
        for detail in exc.details[:10]:
            st.caption(detail)
        return
    st.session_state["job_id"] = job_id


def eta_text(job: JobProgress) -> str:
    if job.finished:
        return f"finished: {job.done:,} done, {job.failed:,} failed"
    rate = f"{job.rate:,.0f} rows/s" if job.rate else "starting"
    eta = f", about {job.eta_seconds:,.0f} s left" if job.eta_seconds is not None else ""
    return f"{job.processed:,} of {job.total:,} rows · {rate}{eta}"


def downloads(job_id: str) -> None:
    fmt = st.radio("Format", FORMATS, horizontal=True, key="result_format")
    if st.button("Fetch the results", key="fetch_results"):
        try:
            content = api_client.job_results(settings().api_url, job_id, fmt, principal.api_key())
        except api_client.ApiError as exc:
            st.error(exc.message)
            return
        st.download_button(f"Download {job_id}.{fmt}", content, file_name=f"{job_id}.{fmt}", on_click="ignore")


@st.fragment(run_every=1)
def progress(job_id: str) -> None:
    try:
        job = job_progress(principal.viewer(), job_id)
    except StoreUnavailableError as exc:
        store_down(exc)
        return
    st.subheader(f"Job {job_id}")
    if job is None:
        st.info("Waiting for the job to appear…")
        return
    st.progress(job.fraction, text=eta_text(job))
    if job.finished:
        downloads(job_id)


@st.fragment(run_every=3)
def job_list() -> None:
    try:
        jobs = recent_jobs(principal.viewer())
    except StoreUnavailableError as exc:
        store_down(exc)
        return
    st.subheader("Recent jobs")
    if not jobs:
        st.info("No jobs yet.")
        return
    table = pd.DataFrame([job.model_dump(exclude={"seen_at"}) for job in jobs])
    st.dataframe(
        table[["job_id", "created_at", "source", "total", "done", "failed", "fraction", "rate", "eta_seconds"]],
        hide_index=True,
        column_config={"fraction": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
    )
    chosen = st.selectbox("Follow a job", [job.job_id for job in jobs], index=None, key="follow_job")
    if chosen and chosen != st.session_state.get("job_id"):
        st.session_state["job_id"] = chosen
        st.rerun()


def main() -> None:
    st.title("Jobs")
    upload()
    job_id = st.session_state.get("job_id")
    if job_id:
        progress(job_id)
    job_list()
