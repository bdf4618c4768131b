"""Streamlit dashboard entry point (`streamlit run dashboard/app.py`)."""

from __future__ import annotations

from dashboard.pages_live import main

main()
