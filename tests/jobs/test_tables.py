"""Reading files of houses: each pass reads the file alone, odd but valid files read correctly, and
bad files fail with a reason before any job exists (no services needed)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from jobs.tables import (
    CSV_CONVERT,
    EXPANDED_BYTES_PER_ROW,
    TableError,
    TableTooLargeError,
    columns,
    count_rows,
    file_format,
    inspect,
    iter_columns,
    table_format,
)
from schemas import FEATURE_NAMES
from schemas.checks import check_columns
from schemas.chunks import Columns, check_rows, reason_of
from tests.jobs.tables import houses_table

HEADER = "gr_liv_area,year_built,neighborhood"
PADDING = "x" * 40


def rows(blocks: Iterable[Columns]) -> list[dict[str, object]]:
    """Each row's present cells (what a row of the file says), from blocks of cells by field."""
    return [
        {name: v for name, v in zip(block, cells, strict=True) if v is not None}
        for block in blocks
        for cells in zip(*block.values(), strict=True)
    ]


def rows_of(path: Path) -> list[dict[str, object]]:
    fmt = file_format(path)
    inspect(path, fmt)
    return rows(iter_columns(path, fmt))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_pass_started_before_another_does_not_move_it(tmp_path: Path) -> None:
    """Several readers open at once on one file (one left unfinished) each see every row once, in order."""
    frame = houses_table(30_000, invalid_every=10**9).assign(gr_liv_area=lambda f: 500 + f.index % 7_000)
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    abandoned = iter_columns(path, "csv")
    next(abandoned)  # a reader with its read-ahead running, never finished
    first, second = iter_columns(path, "csv"), iter_columns(path, "csv")
    seen_first = [v for block in first for v in block["gr_liv_area"]]
    seen_second = [v for block in second for v in block["gr_liv_area"]]
    expected = frame["gr_liv_area"].tolist()
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
    assert [r["gr_liv_area"] for r in rows] == [1500, 2100]
    assert [r["year_built"] for r in rows] == [1990, 2004]
    assert rows[1]["neighborhood"] == "Somerset"
    assert rows[0]["neighborhood"] in {"Gilbert", "Gil\nbert"}


def test_line_breaks_inside_quotes_across_blocks_keep_every_row(tmp_path: Path) -> None:
    """Quoted cells with line breaks all through a file of many read blocks: no row split or merged."""
    lines = [HEADER] + [f'{1000 + i},1990,"North\nAmes {i} {PADDING}"' for i in range(60_000)]
    path = write(tmp_path, "many.csv", "\n".join(lines).encode())
    assert path.stat().st_size > 3 * (1 << 20)
    assert inspect(path, "csv") == 60_000
    read = rows(iter_columns(path, "csv"))
    assert [r["gr_liv_area"] for r in read] == [1000 + i for i in range(60_000)]
    assert read[-1]["neighborhood"] == f"North\nAmes 59999 {PADDING}"


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
        {"gr_liv_area": 1500, "neighborhood": "A", "lot_frontage": 0},
        {"gr_liv_area": 1600, "year_built": 1990, "neighborhood": "B", "central_air": "Y"},
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
        list(iter_columns(path, "csv.gz"))
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


UNCONVERTIBLE = {  # a column with one of these stays text
    "gr_liv_area": ["1500", "1500.0", "1500.5", "1e3", "100", " 1500", "big"],
    "year_remod_add": ["1990.0", "1990", "1700.0", "", "nan", "inf"],
    "central_air": ["true", "False", "1", "Y", "maybe"],
    "latitude": ["42.05", "1e1", "91", "-inf"],
    "lot_area": ["9000", "+9000", "9_000"],
    "neighborhood": ["Gilbert", "Atlantis"],
}
CONVERTIBLE = {  # odd to the eye, but every column converts: numbers, some out of bounds
    "gr_liv_area": ["1500.0", "100", "+1500", "12001"],
    "year_remod_add": ["1990.0", "1700.0", ""],
    "central_air": ["true", "False", "1", "TRUE"],
    "latitude": ["1e1", "91", "42.05"],
    "lot_area": ["+9000", "0"],
}


@pytest.mark.parametrize("odd_text", [UNCONVERTIBLE, CONVERTIBLE], ids=["text-stays", "numbers"])
def test_typed_cells_get_the_answers_their_text_gets(tmp_path: Path, odd_text: dict[str, list[str]]) -> None:
    """Cells converted block by block (``batch_columns``) are checked as the file's text would be, row by
    row: the same houses with the same values, the same rows refused with the same reasons."""
    frame = houses_table(600, invalid_every=10**9).astype(str).replace({"nan": ""})
    frame = frame.drop(columns=["year_remod_add"]).assign(year_remod_add="")
    odd = frame.sample(frac=0.5, random_state=3).index
    for k, i in enumerate(odd):
        name = list(odd_text)[k % len(odd_text)]
        frame.loc[i, name] = odd_text[name][(k // len(odd_text)) % len(odd_text[name])]
    path = tmp_path / "odd.csv"
    frame.to_csv(path, index=False)
    text = pacsv.read_csv(path, convert_options=CSV_CONVERT).to_pylist()
    alone = check_rows([{k: v for k, v in r.items() if v is not None} for r in text])
    blocks = list(iter_columns(path, "csv"))
    joined = {name: [v for block in blocks for v in block[name]] for name in blocks[0]}
    assert {type(v) for v in joined["year_built"]} == {int}  # no odd cell: numbers for the fast checks
    number = odd_text is CONVERTIBLE
    assert ({type(v) for v in joined["gr_liv_area"]} == {str}) is not number  # else the text, for pydantic
    checks = check_columns(joined)
    assert checks.valid == [p for p, _ in alone.valid]
    assert {p: reason_of(e) for p, e in checks.errors.items()} == {p: reason_of(e) for p, e in alone.errors.items()}
    assert 20 < len(checks.errors) < 300
    for name in FEATURE_NAMES:
        assert checks.values[name] == [house.__dict__[name] for _, house in alone.valid], name


def test_clean_text_columns_become_numbers_for_the_fast_checks(tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    houses_table(50, invalid_every=10**9).to_csv(path, index=False)
    (block,) = iter_columns(path, "csv")
    assert {type(v) for v in block["gr_liv_area"]} == {int}
    assert {type(v) for v in block["year_remod_add"]} <= {int, type(None)}  # 1960.0, as pandas wrote it
    assert {type(v) for v in block["central_air"]} == {bool}
    assert {type(v) for v in block["latitude"]} == {float}


@pytest.mark.parametrize(
    ("odd", "integers"),
    [(None, True), (1990.5, False), (1e20, False), (float("inf"), False)],
    ids=["integral", "fraction", "beyond-2**53", "infinity"],
)
def test_an_integer_fields_float_column_gets_the_answers_its_numbers_get(
    tmp_path: Path, odd: float | None, integers: bool
) -> None:
    """A float column of an integer field (a Parquet file's ``1960.0``: pandas makes a column with gaps
    float) travels as integers only when every number is one; either way each row gets what pydantic
    makes of its number, and a gap (NaN) is a missing cell."""
    frame = houses_table(300, invalid_every=10**9)
    frame["year_remod_add"] = frame["year_remod_add"].astype(float)
    frame.loc[7, "year_remod_add"] = float("nan")
    if odd is not None:
        frame.loc[11, "year_remod_add"] = odd
    path = tmp_path / "floats.parquet"
    frame.to_parquet(path, index=False)
    (block,) = iter_columns(path, "parquet")
    kinds = {type(v) for v in block["year_remod_add"]} - {type(None)}
    assert kinds == ({int} if integers else {float})
    assert block["year_remod_add"][7] is None
    given = pq.read_table(path).to_pylist()
    alone = check_rows([{k: v for k, v in r.items() if v is not None and v == v} for r in given])  # NaN: missing
    checks = check_columns(block)
    assert checks.valid == [p for p, _ in alone.valid]
    assert {p: reason_of(e) for p, e in checks.errors.items()} == {p: reason_of(e) for p, e in alone.errors.items()}
    assert (11 in checks.errors) is (odd is not None)
    assert checks.values["year_remod_add"] == [house.year_remod_add for _, house in alone.valid]
