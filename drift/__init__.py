"""Input drift maths, shared by training (which logs the reference) and the workers (which score against it)."""
