"""Reading files of houses: each pass reads the file alone, odd but valid files read correctly, and
bad files fail with a reason before any job exists (no services needed)."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from jobs.tables import (
    EXPANDED_BYTES_PER_ROW,
    TableError,
    TableTooLargeError,
    columns,
    count_rows,
    file_format,
    inspect,
    iter_rows,
    table_format,
)
from tests.jobs.tables import houses_table

HEADER = "gr_liv_area,year_built,neighborhood"
PADDING = "x" * 40


def rows_of(path: Path) -> list[dict[str, object]]:
    fmt = file_format(path)
    inspect(path, fmt)
    return [row for chunk in iter_rows(path, fmt) for row in chunk]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_pass_started_before_another_does_not_move_it(tmp_path: Path) -> None:
    """Several readers open at once on one file (one left unfinished) each see every row once, in order."""
    frame = houses_table(30_000, invalid_every=10**9).assign(gr_liv_area=lambda f: 500 + f.index % 7_000)
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    abandoned = iter_rows(path, "csv")
    next(abandoned)  # a reader with its read-ahead running, never finished
    first, second = iter_rows(path, "csv"), iter_rows(path, "csv")
    seen_first = [r["gr_liv_area"] for chunk in first for r in chunk]
    seen_second = [r["gr_liv_area"] for chunk in second for r in chunk]
    expected = [str(v) for v in frame["gr_liv_area"]]
    assert seen_first == expected
    assert seen_second == expected
    abandoned.close()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bom.csv", b"\xef\xbb\xbf" + f"{HEADER}\n1500,1990,Gilbert\n2100,2004,Somerset\n".encode()),
        ("crlf.csv", f"{HEADER}\r\n1500,1990,Gilbert\r\n2100,2004,Somerset\r\n".encode()),
        ("no-final-newline.csv", f"{HEADER}\n1500,1990,Gilbert\n2100,2004,Somerset".encode()),
        ("quoted.csv", f'{HEADER}\n1500,1990,"Gil\nbert"\n2100,2004,Somerset\n'.encode()),
    ],
)
def test_odd_but_valid_csv_files_read_correctly(tmp_path: Path, name: str, data: bytes) -> None:
    rows = rows_of(write(tmp_path, name, data))
    assert [r["gr_liv_area"] for r in rows] == ["1500", "2100"]
    assert [r["year_built"] for r in rows] == ["1990", "2004"]
    assert rows[1]["neighborhood"] == "Somerset"
    assert rows[0]["neighborhood"] in {"Gilbert", "Gil\nbert"}


def test_line_breaks_inside_quotes_across_blocks_keep_every_row(tmp_path: Path) -> None:
    """Quoted cells with line breaks all through a file of many read blocks: no row split or merged."""
    lines = [HEADER] + [f'{1000 + i},1990,"North\nAmes {i} {PADDING}"' for i in range(60_000)]
    path = write(tmp_path, "many.csv", "\n".join(lines).encode())
    assert path.stat().st_size > 3 * (1 << 20)
    assert inspect(path, "csv") == 60_000
    rows = [row for chunk in iter_rows(path, "csv") for row in chunk]
    assert [r["gr_liv_area"] for r in rows] == [str(1000 + i) for i in range(60_000)]
    assert rows[-1]["neighborhood"] == f"North\nAmes 59999 {PADDING}"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (f"{HEADER}\n1500,1990,Gilbert\n2100,20".encode(), "line 3 has 2 cells where the header has 3"),
        (f"{HEADER},colour\n1500,1990,Gilbert,red\n".encode(), "unknown column(s): colour"),
        (b"gr_liv_area,year_built\n1500,1990\n", "missing required column(s): neighborhood"),
        (b"", "not a readable CSV file"),
    ],
    ids=["truncated-last-line", "unknown-column", "missing-column", "empty"],
)
def test_bad_csv_files_fail_with_a_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = write(tmp_path, "bad.csv", data)
    with pytest.raises(TableError) as caught:
        inspect(path, "csv")
    assert reason in str(caught.value)


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    assert inspect(write(tmp_path, "h.csv", f"{HEADER}\n".encode()), "csv") == 0


def test_parquet_columns_of_a_type_no_field_takes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    table = pa.table(
        {"gr_liv_area": pa.array([[1500], [2100]]), "year_built": [1990, 2004], "neighborhood": ["A", "B"]}
    )
    pq.write_table(table, path)
    with pytest.raises(TableError, match=r"gr_liv_area \(list<"):
        columns(path, "parquet")


def test_parquet_text_in_a_number_column_is_read_for_per_row_checks(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    pd.DataFrame({"gr_liv_area": ["1500", "big"], "year_built": [1990, 2004], "neighborhood": ["A", "B"]}).to_parquet(
        path, index=False
    )
    assert [r["gr_liv_area"] for r in rows_of(path)] == ["1500", "big"]


def test_missing_cells_are_left_out_so_fields_take_their_defaults(tmp_path: Path) -> None:
    """Empty CSV cells, the CSV null words, Parquet nulls and NaNs: the row simply lacks that field; zeros stay."""
    data = f"{HEADER},lot_frontage,central_air\n1500,,A,0,\n1600,1990,B,NA,Y\n"
    csv_path = write(tmp_path, "gaps.csv", data.encode())
    assert rows_of(csv_path) == [
        {"gr_liv_area": "1500", "neighborhood": "A", "lot_frontage": "0"},
        {"gr_liv_area": "1600", "year_built": "1990", "neighborhood": "B", "central_air": "Y"},
    ]
    parquet_path = tmp_path / "gaps.parquet"
    pq.write_table(
        pa.table(
            {
                "gr_liv_area": [1500.0, float("nan")],
                "year_built": pa.array([None, 2004], pa.int64()),
                "neighborhood": ["A", None],
                "lot_frontage": [0.0, 60.0],
            }
        ),
        parquet_path,
    )
    assert rows_of(parquet_path) == [
        {"gr_liv_area": 1500.0, "neighborhood": "A", "lot_frontage": 0.0},
        {"year_built": 2004, "lot_frontage": 60.0},
    ]


def test_a_truncated_parquet_file_fails_before_any_row_is_used(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    houses_table(20_000).to_parquet(whole, index=False, row_group_size=2_000)
    cut = write(tmp_path, "cut.parquet", whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(TableError, match="Parquet"):
        inspect(cut, "parquet")


def test_a_name_without_extension_is_told_by_its_bytes(tmp_path: Path) -> None:
    parquet = tmp_path / "houses"
    houses_table(10).to_parquet(parquet, index=False)
    assert file_format(parquet) == "parquet"
    assert file_format(write(tmp_path, "plain", f"{HEADER}\n1500,1990,Gilbert\n".encode())) == "csv"
    assert file_format(parquet, name="upload.csv") == "csv"
    with pytest.raises(TableError, match=r"'\.txt'"):
        table_format("houses.txt")


def test_gzip_files_are_told_by_name_or_bytes(tmp_path: Path) -> None:
    squeezed = gzip.compress(f"{HEADER}\n1500,1990,Gilbert\n".encode())
    assert table_format("houses.csv.gz") == "csv.gz"
    assert table_format("houses.gz") == "csv.gz"
    assert file_format(write(tmp_path, "named.csv", squeezed)) == "csv.gz"
    assert file_format(write(tmp_path, "unnamed", squeezed)) == "csv.gz"
    with pytest.raises(TableError, match="compressed already"):
        table_format("houses.parquet.gz")
    with pytest.raises(TableError, match=r"'\.txt\.gz'"):
        table_format("houses.txt.gz")


def test_a_gzip_csv_reads_as_the_plain_file(tmp_path: Path) -> None:
    """Many read blocks, quoted line breaks across them: the same rows, in order, as the file itself."""
    lines = [HEADER] + [f'{1000 + i},1990,"North\nAmes {i} {PADDING}"' for i in range(60_000)]
    data = "\n".join(lines).encode()
    plain = write(tmp_path, "many.csv", data)
    squeezed = write(tmp_path, "many.csv.gz", gzip.compress(data))
    assert inspect(squeezed, "csv.gz", max_rows=60_000) == 60_000
    assert rows_of(squeezed) == rows_of(plain)


GZIP_CSV = gzip.compress(f"{HEADER}\n".encode() + b"1500,1990,Gilbert\n2100,2004,Somerset\n" * 2_000)


@pytest.mark.parametrize(
    "data",
    [
        f"{HEADER}\n1500,1990,Gilbert\n".encode(),
        GZIP_CSV[: len(GZIP_CSV) // 2],
        GZIP_CSV[:-8] + b"\0\0\0\0" + GZIP_CSV[-4:],
        GZIP_CSV[:40] + bytes(b ^ 0xFF for b in GZIP_CSV[40:60]) + GZIP_CSV[60:],
    ],
    ids=["not-gzip", "cut-short", "bad-checksum", "damaged-data"],
)
def test_a_damaged_gzip_file_fails_with_a_reason(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "bad.csv.gz", data)
    with pytest.raises(TableError, match="not a readable gzip file: "):
        inspect(path, "csv.gz")
    with pytest.raises(TableError) as caught:
        list(iter_rows(path, "csv.gz"))
    assert str(caught.value)


def test_rows_over_the_cap_stop_the_count_early(tmp_path: Path) -> None:
    """A gzip file of three million short rows (a few hundred KB on the wire) is refused at the cap, without
    expanding the rest."""
    body = f"{HEADER}\n".encode() + b"1500,1990,Gilbert\n" * 3_000_000
    path = write(tmp_path, "bomb.csv.gz", gzip.compress(body, compresslevel=9))
    assert path.stat().st_size < len(body) // 300
    started = time.perf_counter()
    with pytest.raises(TableTooLargeError, match="more than 1000 rows") as caught:
        count_rows(path, "csv.gz", max_rows=1_000)
    assert caught.value.code == "too_many_rows"
    assert time.perf_counter() - started < 2.0
    assert count_rows(write(tmp_path, "few.csv", f"{HEADER}\n1,2,3\n".encode()), "csv", max_rows=1) == 1


def test_a_gzip_file_expanding_beyond_its_rows_allowance_is_refused(tmp_path: Path) -> None:
    cell = "x" * (EXPANDED_BYTES_PER_ROW * 4)
    body = f"{HEADER}\n" + "".join(f'1500,1990,"{cell}"\n' for _ in range(8))
    path = write(tmp_path, "wide.csv.gz", gzip.compress(body.encode()))
    with pytest.raises(TableTooLargeError, match="expands to more than") as caught:
        count_rows(path, "csv.gz", max_rows=10)
    assert caught.value.code == "too_large"
    assert count_rows(path, "csv.gz") == 8
