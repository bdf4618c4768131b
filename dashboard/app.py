"""Streamlit dashboard entry point (`streamlit run dashboard/app.py`): one multipage app."""

from __future__ import annotations

import streamlit as st

from dashboard.principal import sign_in
from dashboard.views import analytics, history, jobs, live, model, value


def main() -> None:
    st.set_page_config(page_title="valuestream", page_icon=":house:", layout="wide")
    pages = [
        st.Page(value.main, title="Value a house", icon=":material/home:", url_path="value", default=True),
        st.Page(live.main, title="Live feed", icon=":material/monitoring:", url_path="live"),
        st.Page(analytics.main, title="Analytics", icon=":material/analytics:", url_path="analytics"),
        st.Page(history.main, title="History", icon=":material/history:", url_path="history"),
        st.Page(jobs.main, title="Jobs", icon=":material/upload_file:", url_path="jobs"),
        st.Page(model.main, title="Model", icon=":material/model_training:", url_path="model"),
    ]
    navigation = st.navigation(pages)
    if sign_in() is None:
        return
    navigation.run()


main()
