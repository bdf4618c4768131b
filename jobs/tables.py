"""Tables in and out: stream rows from a CSV (plain or gzip) or Parquet file in chunks; encode result rows.

Both the CLI and ``POST /api/v1/jobs`` read files here, by path (the API saves an upload to a
file of its own first), so a file means the same thing on either path. Nothing holds a whole
file in memory: CSV is read block by block (``pyarrow.csv.open_csv``), a gzip CSV expanded as it
is read (never to disk), and Parquet batch by batch (``ParquetFile.iter_batches``).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from schemas import FEATURE_NAMES
from schemas.checks import EXACT_INT, RULES
from schemas.chunks import Columns
from schemas.jobs import JOB_ROW_COLUMNS, JobFormat, ResultLine

TableFormat = Literal["csv", "csv.gz", "parquet"]
CHUNK_ROWS = 5_000
REQUIRED_COLUMNS = ("gr_liv_area", "year_built", "neighborhood")
NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
# A gzip file is capped by its rows, and its expanded bytes by this many per row allowed (a house
# is about 600 bytes of CSV): a small file that expands to terabytes fails early, not after hours.
EXPANDED_BYTES_PER_ROW = 4096
RULE_KINDS = {rule.name: rule.kind for rule in RULES}
CSV_CONVERT = pacsv.ConvertOptions(
    # Every cell as text, converted block by block where it converts exactly (``batch_columns``): one
    # odd cell fails one row, not the file.
    column_types=dict.fromkeys(FEATURE_NAMES, pa.string()),
    strings_can_be_null=True,
    null_values=NULLS,
)
# One thread per pass: pyarrow then knows the line number of a bad line, and on two cores the
# serial reader is the faster one (rows go on to pydantic one by one anyway).
CSV_READ = pacsv.ReadOptions(use_threads=False)


class TableError(ValueError):
    """The file cannot be read as a table of houses (format, header, columns or compression)."""


class TableTooLargeError(TableError):
    """The file holds more rows than allowed, or a gzip file expands beyond its rows' allowance."""

    def __init__(self, code: Literal["too_many_rows", "too_large"], message: str) -> None:
        super().__init__(message)
        self.code = code


def table_format(name: str, head: bytes = b"") -> TableFormat:
    """The format from the file's name (``.csv``, ``.csv.gz``, ``.parquet``); a name without an extension
    is told by the first bytes, and gzip bytes under a ``.csv`` name are read as a gzip CSV."""
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix == ".gz":
        inner = Path(path.stem).suffix.lower()
        if inner in {".csv", ""}:
            return "csv.gz"
        if inner in {".parquet", ".pq"}:
            raise TableError("a Parquet file is compressed already: send it as .parquet, not gzipped")
        raise TableError(f"unsupported file type {inner + suffix!r}: use .csv, .csv.gz or .parquet")
    if suffix in {".csv", ""} and head.startswith(GZIP_MAGIC):
        return "csv.gz"
    if suffix == ".csv":
        return "csv"
    if suffix in {".parquet", ".pq"}:
        return "parquet"
    if not suffix:
        return "parquet" if head.startswith(PARQUET_MAGIC) else "csv"
    raise TableError(f"unsupported file type {suffix!r}: use .csv, .csv.gz or .parquet")


def file_format(path: Path, name: str | None = None) -> TableFormat:
    """``table_format`` of a file on disk that its client called ``name`` (default: its own name)."""
    with path.open("rb") as handle:
        head = handle.read(len(PARQUET_MAGIC))
    return table_format(path.name if name is None else name, head)


# Every pass over a file opens the file by its path and closes its reader before it returns.
# A reader reads ahead in background threads: two readers sharing one file object move one
# position under each other, so a block starts mid-line (a parse error) or, when the jump
# lands on a line end, rows silently repeat or vanish.


@dataclass
class _FirstBadLine:
    """pyarrow's handler of a line whose cells do not match the header: keep the first, then fail."""

    message: str | None = None

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if self.message is None:
            where = f"line {row.number}" if row.number is not None and row.number >= 0 else "a line"
            self.message = f"{where} has {row.actual_columns} cells where the header has {row.expected_columns}"
        return "error"


# A gzip file's own faults (not gzip, cut short, damaged data or checksum): gzip and zlib raise them
# while pyarrow reads the expanded stream, and pyarrow passes them on.
GZIP_ERRORS = (OSError, EOFError, zlib.error)


class _Gunzipped:
    """The expanded bytes of a gzip file as the read-only stream pyarrow reads (block by block, on its own
    thread), counting them: ``check`` fails once more than ``limit`` were read."""

    def __init__(self, path: Path, limit: int | None) -> None:
        self._handle = gzip.open(path, "rb")  # noqa: SIM115 (closed by close(), with the reader)
        self.limit = limit
        self.expanded = 0

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.expanded += len(data)
        return data

    def tell(self) -> int:
        return self.expanded

    def close(self) -> None:
        self._handle.close()

    def check(self) -> None:
        """Raise once more than ``limit`` expanded bytes were read (checked after each batch)."""
        if self.limit is not None and self.expanded > self.limit:
            raise TableTooLargeError(
                "too_large",
                f"the gzip file expands to more than {self.limit} bytes ({EXPANDED_BYTES_PER_ROW} per row allowed)",
            )


def _csv_error(exc: Exception, bad_line: _FirstBadLine, what: str) -> TableError:
    if bad_line.message is None and isinstance(exc, GZIP_ERRORS) and not isinstance(exc, pa.ArrowInvalid):
        return TableError(f"not a readable gzip file: {exc}")
    return TableError(f"{what}: {bad_line.message or exc}")


def _read_errors(fmt: TableFormat) -> tuple[type[Exception], ...]:
    return (pa.ArrowInvalid, *GZIP_ERRORS) if fmt == "csv.gz" else (pa.ArrowInvalid,)


@contextmanager
def _csv_reader(
    path: Path, fmt: TableFormat = "csv", expanded_limit: int | None = None
) -> Iterator[tuple[pacsv.CSVStreamingReader, _FirstBadLine, _Gunzipped | None]]:
    bad_line = _FirstBadLine()
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=bad_line)
    gunzipped = _Gunzipped(path, expanded_limit) if fmt == "csv.gz" else None
    try:
        source = str(path) if gunzipped is None else gunzipped
        try:
            reader = pacsv.open_csv(source, read_options=CSV_READ, parse_options=parse, convert_options=CSV_CONVERT)
        except _read_errors(fmt) as exc:
            raise _csv_error(exc, bad_line, "not a readable CSV file") from exc
        try:
            yield reader, bad_line, gunzipped
        finally:
            reader.close()
    finally:
        if gunzipped is not None:
            gunzipped.close()


@contextmanager
def _parquet_file(path: Path) -> Iterator[pq.ParquetFile]:
    try:
        table = pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise TableError(f"not a readable Parquet file: {exc}") from exc
    try:
        yield table
    finally:
        table.close()


def _feature_type(kind: pa.DataType) -> bool:
    """Cells a ``PropertyFeatures`` field can take: numbers, text, booleans, or nothing."""
    if pa.types.is_dictionary(kind):
        return _feature_type(kind.value_type)
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def columns(path: Path, fmt: TableFormat) -> list[str]:
    """The header, checked: only ``PropertyFeatures`` names of usable types, the required ones present."""
    if fmt != "parquet":
        with _csv_reader(path, fmt) as (reader, _, _):
            schema = reader.schema
    else:
        with _parquet_file(path) as table:
            schema = table.schema_arrow
    names = list(schema.names)
    unknown = sorted(set(names) - set(FEATURE_NAMES))
    if unknown:
        raise TableError(f"unknown column(s): {', '.join(unknown[:10])}; columns are PropertyFeatures field names")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise TableError(f"missing required column(s): {', '.join(missing)}")
    wrong = [f"{f.name} ({f.type})" for f in schema if not _feature_type(f.type)]
    if wrong:
        raise TableError(f"column(s) of a type no house field takes: {', '.join(wrong[:10])}; use numbers or text")
    return names


def _batches(path: Path, fmt: TableFormat, expanded_limit: int | None = None) -> Generator[pa.RecordBatch]:
    """The file's record batches in order, from a reader of this pass alone (closed when done)."""
    if fmt == "parquet":
        with _parquet_file(path) as table:
            try:
                yield from table.iter_batches(batch_size=CHUNK_ROWS)
            except (pa.ArrowException, OSError) as exc:
                raise TableError(f"unreadable Parquet content: {exc}") from exc
        return
    with _csv_reader(path, fmt, expanded_limit) as (reader, bad_line, gunzipped):
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except _read_errors(fmt) as exc:
                raise _csv_error(exc, bad_line, "unreadable CSV content") from exc
            yield batch
            if gunzipped is not None:  # after the batch's rows are counted: the row cap speaks first
                gunzipped.check()


def count_rows(path: Path, fmt: TableFormat, max_rows: int | None = None) -> int:
    """Rows in the file, found by reading all of it: a file that fails part way fails here, before any job.

    With ``max_rows``, reading stops as soon as the file is known to hold more (``TableTooLargeError``),
    and a gzip file may expand to at most ``EXPANDED_BYTES_PER_ROW`` bytes per row allowed."""
    limit = None if max_rows is None else max(max_rows, 1) * EXPANDED_BYTES_PER_ROW
    total = 0
    with closing(_batches(path, fmt, limit)) as batches:
        for batch in batches:
            total += batch.num_rows
            if max_rows is not None and total > max_rows:
                raise TableTooLargeError("too_many_rows", f"more than {max_rows} rows; at most {max_rows} per file")
    return total


def inspect(path: Path, fmt: TableFormat, max_rows: int | None = None) -> int:
    """Check the header, then read the whole file once (at most ``max_rows`` rows): its row count."""
    columns(path, fmt)
    return count_rows(path, fmt, max_rows)


def _as_numbers(cells: pa.Array, kind: str | None) -> pa.Array:
    """A text column as the numbers or booleans its field takes, when every cell converts to exactly what
    pydantic makes of it (``1960.0`` in an integer field is 1960, as for pydantic); otherwise the text,
    for pydantic to check row by row (an odd cell then costs its block the fast checks, never a row)."""
    try:
        if kind == "bool":
            return pc.cast(cells, pa.bool_())  # true/false/1/0 in any case: pydantic's words too
        if kind == "float":
            return pc.cast(cells, pa.float64())
        if kind == "int":
            try:
                return pc.cast(cells, pa.int64())
            except pa.ArrowInvalid:
                if pc.any(pc.match_substring_regex(cells, "[eE]")).as_py():
                    return cells  # pydantic refuses 1e3 for an integer
                integers = _integral(pc.cast(cells, pa.float64()))
                return cells if integers is None else integers
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return cells


def _integral(numbers: pa.Array) -> pa.Array | None:
    """A float column of an integer field as integers (``1960.0`` is 1960 for pydantic too), when every
    number is integral and exactly a float; None otherwise (NaN, a fraction, an infinity, or beyond 2**53)."""
    usable = pc.and_(pc.is_finite(numbers), pc.less_equal(pc.abs(numbers), float(EXACT_INT)))
    integral = pc.and_(usable, pc.equal(pc.trunc(numbers), numbers))
    if pc.all(integral).as_py() is False:
        return None
    return pc.cast(numbers, pa.int64())


def batch_columns(batch: pa.RecordBatch) -> Columns:
    """A batch's cells by field (``RowChunk.columns``): text converted to numbers where it converts
    exactly (``_as_numbers``), an integer field's integral floats as integers (``_integral``: the worker's
    checks then take the column whole), a missing cell (null, or NaN in a number column) as ``None``."""
    columns: Columns = {}
    for name, cells in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type):
            cells = _as_numbers(cells, RULE_KINDS.get(name))
        if pa.types.is_floating(cells.type):
            cells = pc.if_else(pc.is_nan(cells), None, cells)
            integers = _integral(cells) if RULE_KINDS.get(name) == "int" else None
            cells = cells if integers is None else integers
        columns[name] = cells.to_pylist()
    return columns


def iter_columns(path: Path, fmt: TableFormat) -> Generator[Columns]:
    """The file's cells block by block, in file order, field by field (``batch_columns``)."""
    for batch in _batches(path, fmt):
        if batch.num_rows:
            yield batch_columns(batch)


# ---- results out -----------------------------------------------------------------------------

PARQUET_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("request_id", pa.string()),
        ("status", pa.string()),
        *((name, pa.float64()) for name in ("price", "lower_80", "upper_80", "lower_90", "upper_90")),
        ("fsd", pa.float64()),
        ("confidence", pa.float64()),
        ("confidence_band", pa.string()),
        ("in_domain", pa.bool_()),
        ("flags", pa.string()),
        ("months_beyond_data", pa.int64()),
        ("model_version", pa.string()),
        ("model_variant", pa.string()),
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


def _lines_table(lines: Sequence[ResultLine]) -> pa.Table:
    columns = [list(column) for column in zip(*lines, strict=True)] or [[] for _ in PARQUET_SCHEMA]
    return pa.Table.from_arrays(columns, schema=PARQUET_SCHEMA)


def _csv_text(table: pa.Table, header: bool) -> bytes:
    """Result lines as CSV, written by Arrow (about three times the csv module's speed on a bulk job's
    lines): text quoted, booleans as ``True``/``False``, an empty cell for a missing value."""
    at = table.schema.get_field_index("in_domain")
    table = table.set_column(at, "in_domain", pc.if_else(table.column(at), "True", "False"))
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header))
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


class RowEncoder:
    """Encodes result lines into one file, a batch at a time (``encode`` then ``finish``)."""

    def __init__(self, fmt: JobFormat) -> None:
        self.fmt = fmt
        self.started = False
        self._sink = _Sink()
        self._writer: pq.ParquetWriter | None = None

    def encode(self, lines: Sequence[ResultLine]) -> bytes:
        first, self.started = not self.started, True
        if self.fmt == "csv":
            return _csv_text(_lines_table(lines), header=first)
        if self.fmt == "json":
            items = (dict(zip(JOB_ROW_COLUMNS, line, strict=True)) for line in lines)
            body = ",".join(json.dumps(item, allow_nan=False) for item in items)
            return ("[" if first else ("," if body else "")).encode() + body.encode()
        if self._writer is None:
            self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), PARQUET_SCHEMA)
        if lines:
            self._writer.write_table(_lines_table(lines))
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
