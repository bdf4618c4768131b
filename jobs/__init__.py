"""Jobs: many houses as one unit of work (a JSON batch or a CSV/Parquet file), from table to results."""
