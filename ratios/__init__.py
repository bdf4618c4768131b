"""Ratio-study maths (IAAO): COD, PRD, PRB and level with bootstrap intervals, by segment; shared by
training (the report) and the API (the live study from sale prices fed back)."""
