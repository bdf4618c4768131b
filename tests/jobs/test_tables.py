"""Reading files of houses: each pass reads the file alone, odd but valid files read correctly, and
bad files fail with a reason before any job exists (no services needed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from jobs.tables import TableError, columns, file_format, inspect, iter_rows, table_format
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
