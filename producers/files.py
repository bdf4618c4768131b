"""Tables in and out: stream rows from a CSV or Parquet file in chunks; encode result rows.

Both the CLI and ``POST /api/v1/jobs`` read files here, so a file means the same thing on
either path. Nothing holds a whole file in memory: CSV is read block by block
(``pyarrow.csv.open_csv``) and Parquet batch by batch (``ParquetFile.iter_batches``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from schemas import FEATURE_NAMES
from schemas.jobs import JOB_ROW_COLUMNS, JobFormat, JobRow

TableFormat = Literal["csv", "parquet"]
Source = Path | BinaryIO
CHUNK_ROWS = 5_000
REQUIRED_COLUMNS = ("gr_liv_area", "year_built", "neighborhood")
NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


class TableError(ValueError):
    """The file cannot be read as a table of houses (format, header or columns)."""


def table_format(name: str) -> TableFormat:
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    raise TableError(f"unsupported file type {suffix or name!r}: use .csv or .parquet")


def _rewind(source: Source) -> Source:
    if not isinstance(source, Path):
        source.seek(0)
    return source


def _open_csv(source: Source) -> pacsv.CSVStreamingReader:
    convert = pacsv.ConvertOptions(
        # Every cell as text: pydantic coerces per row, so one odd cell fails one row, not the file.
        column_types=dict.fromkeys(FEATURE_NAMES, pa.string()),
        strings_can_be_null=True,
        null_values=NULLS,
    )
    try:
        return pacsv.open_csv(_rewind(source), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise TableError(f"not a readable CSV file: {exc}") from exc


def _parquet(source: Source) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(_rewind(source))
    except (pa.ArrowInvalid, OSError) as exc:
        raise TableError(f"not a readable Parquet file: {exc}") from exc


def columns(source: Source, fmt: TableFormat) -> list[str]:
    """The header, checked: only ``PropertyFeatures`` names, and the required ones present."""
    names = _open_csv(source).schema.names if fmt == "csv" else _parquet(source).schema_arrow.names
    unknown = sorted(set(names) - set(FEATURE_NAMES))
    if unknown:
        raise TableError(f"unknown column(s): {', '.join(unknown[:10])}; columns are PropertyFeatures field names")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise TableError(f"missing required column(s): {', '.join(missing)}")
    return list(names)


def _batches(source: Source, fmt: TableFormat) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        yield from _parquet(source).iter_batches(batch_size=CHUNK_ROWS)
        return
    reader = _open_csv(source)
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise TableError(f"unreadable CSV content: {exc}") from exc


def count_rows(source: Source, fmt: TableFormat) -> int:
    if fmt == "parquet":
        return int(_parquet(source).metadata.num_rows)
    return sum(batch.num_rows for batch in _batches(source, fmt))


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """Missing cells take the field's default: drop nulls and NaNs."""
    return {k: v for k, v in raw.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


def iter_rows(source: Source, fmt: TableFormat) -> Iterator[list[dict[str, Any]]]:
    """Chunks of raw rows (dicts of the file's cells), in file order."""
    for batch in _batches(source, fmt):
        if batch.num_rows:
            yield [_clean(raw) for raw in batch.to_pylist()]


# ---- results out -----------------------------------------------------------------------------

PARQUET_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("request_id", pa.string()),
        ("status", pa.string()),
        *((name, pa.float64()) for name in ("price", "lower_80", "upper_80", "lower_90", "upper_90")),
        ("model_version", pa.string()),
        ("error_code", pa.string()),
        ("error", pa.string()),
    ]
)
MEDIA_TYPES: dict[JobFormat, str] = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


class _Sink:
    """A write-only file for ``ParquetWriter`` whose bytes are taken away after each row group."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class RowEncoder:
    """Encodes chunks of ``JobRow`` into one file, chunk by chunk (``encode`` then ``finish``)."""

    def __init__(self, fmt: JobFormat) -> None:
        self.fmt = fmt
        self.started = False
        self._sink = _Sink()
        self._writer: pq.ParquetWriter | None = None

    def encode(self, rows: Iterable[JobRow]) -> bytes:
        items = [row.model_dump() for row in rows]
        first, self.started = not self.started, True
        if self.fmt == "csv":
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=JOB_ROW_COLUMNS, lineterminator="\n")
            if first:
                writer.writeheader()
            writer.writerows(items)
            return text.getvalue().encode()
        if self.fmt == "json":
            body = ",".join(json.dumps(item, allow_nan=False) for item in items)
            return ("[" if first else ("," if body else "")).encode() + body.encode()
        if self._writer is None:
            self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), PARQUET_SCHEMA)
        if items:
            self._writer.write_table(pa.Table.from_pylist(items, schema=PARQUET_SCHEMA))
        return self._sink.take()

    def finish(self) -> bytes:
        head = b"" if self.started else self.encode([])
        if self.fmt == "csv":
            return head
        if self.fmt == "json":
            return head + b"]"
        assert self._writer is not None
        self._writer.close()
        return head + self._sink.take()
