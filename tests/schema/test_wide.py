"""A wide file is checked as one long (column, value) frame (issue 25, item 17): the same
schema as column by column, at a cost linear in cells."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from csvdock.schema import detect
from csvdock.schema.detect import detect_schema

KINDS = {
    "int": lambda r, i: str(r.randint(-50, 50)),
    "big": lambda r, i: str(r.randint(2**40, 2**50)),
    "money": lambda r, i: f"{r.randint(0, 9999)}.{r.randint(0, 99):02d}",
    "double": lambda r, i: f"{r.random():.3e}",
    "date": lambda r, i: f"2024-0{r.randint(1, 9)}-1{r.randint(0, 9)}",
    "flag": lambda r, i: r.choice(["yes", "no", ""]),
    "text": lambda r, i: r.choice(["a", "b c", "NA", ""]),
    "zip": lambda r, i: f"0{r.randint(1000, 9999)}",
    "odd": lambda r, i: "oops" if i == 3 else str(i),
}


def schema_of(tmp_path: Path, rows: int, wide: bool, monkeypatch: pytest.MonkeyPatch):
    rng = random.Random(5)
    names = [f"{kind}_{n}" for n in range(7) for kind in KINDS]
    values = {name: [KINDS[name.split("_")[0]](rng, i) for i in range(rows)] for name in names}
    path = tmp_path / f"records-{rows}.parquet"
    pl.DataFrame(values, schema=dict.fromkeys(names, pl.String)).write_parquet(path)
    monkeypatch.setattr(detect, "WIDE_COLUMNS", 0 if wide else 10_000)
    monkeypatch.setattr(detect, "SMALL_ROWS", 10**9 if wide else 0)
    schema = detect_schema(path, "t", names, names, ("", "NA"), 0.01)
    return [(c.name, c.type, c.evidence) for c in schema.columns]


@pytest.mark.parametrize("rows", [2, 300, 25_000])
def test_the_long_frame_gives_the_same_schema(tmp_path, monkeypatch, rows):
    narrow = schema_of(tmp_path, rows, False, monkeypatch)
    wide = schema_of(tmp_path, rows, True, monkeypatch)
    assert wide == narrow
    assert {kind for _, kind, _ in narrow} >= {"integer", "bigint", "date", "text"}


def test_a_wide_cast_in_groups_equals_the_cast_in_one_query(tmp_path):
    from csvdock.read.records import END, LINE, START
    from csvdock.schema import types as t
    from csvdock.schema.table import Column, TableSchema
    from csvdock.transform import long_cast, typed

    names = [f"c{i}" for i in range(600)]
    rows = 50
    values = {name: [str(i * 7 + n) for i in range(rows)] for n, name in enumerate(names)}
    values["c5"][3] = "bad"  # rows 3 and 9 fail in two groups: the first column names them
    values["c590"][3] = "bad"
    values["c400"][9] = "worse"
    records = pl.DataFrame(values).with_columns(
        pl.int_range(2, rows + 2, dtype=pl.Int64).alias(LINE),
        pl.int_range(0, rows, dtype=pl.Int64).alias(START),
        pl.int_range(1, rows + 1, dtype=pl.Int64).alias(END),
    )
    schema = TableSchema("w", [Column(n, n, t.INTEGER) for n in names])
    nulls = ("",)
    one = typed.typed_frame(records.lazy(), schema, nulls).collect()
    grouped = typed.grouped_typed_frame(records.lazy(), schema, nulls, None).collect()
    assert grouped.equals(one)
    assert long_cast.long_typed_frame(records.lazy(), schema, nulls).collect().equals(one)
    failing = one.filter(pl.col(typed.REJECT_COLUMN).is_not_null())
    assert failing[typed.REJECT_COLUMN].to_list() == ["c5", "c400"]


def test_columns_named_like_the_long_frames_own(tmp_path):
    """A file with columns named value and column (the long frame's names are its own)."""
    path = tmp_path / "records.parquet"
    pl.DataFrame({"column": ["a", "b"], "value": ["1", "2"]}).write_parquet(path)
    schema = detect_schema(path, "t", ["column", "value"], ["column", "value"], ("",), 0.01)
    assert [c.type for c in schema.columns] == ["text", "integer"]


CAST_KINDS = [
    ("integer", ["7", " 5 ", "x", "", "NA", "99999999999"]),
    ("decimal(6,2)", ["1.25", "3", "abc", "", "12345.1"]),
    ("date", ["2024-01-02", "2024-13-01", ""]),
    ("boolean", ["yes", "no", "maybe", ""]),
    ("text", ["a", "", None, "NA"]),
    ("double", ["1e3", "nan?", "2.5"]),
    ("timestamp", ["2024-01-02 10:11:12", "2024-01-02", ""]),
]


@pytest.mark.parametrize("contract", [None, ("extra",), ("extra", "absent")])
def test_the_long_cast_gives_the_narrow_casts_frame(contract):
    """Mixed types, misfits, NOT NULL columns, a column the records lack and a frozen contract's
    checks: the long cast names the same first failing check of every record."""
    from csvdock.read.records import END, LINE, START
    from csvdock.schema.contract import ContractRules
    from csvdock.schema.table import Column, TableSchema
    from csvdock.transform import long_cast, typed

    rng = random.Random(3)
    rows = 40
    kinds = [CAST_KINDS[i % len(CAST_KINDS)] for i in range(300)]
    values = {f"c{i}": [rng.choice(v) for _ in range(rows)] for i, (_, v) in enumerate(kinds)}
    values["extra"] = [rng.choice(["", "z"]) for _ in range(rows)]
    records = pl.DataFrame(values, schema=dict.fromkeys(values, pl.String)).with_columns(
        pl.int_range(2, rows + 2, dtype=pl.Int64).alias(LINE),
        pl.int_range(0, rows, dtype=pl.Int64).alias(START),
        pl.int_range(1, rows + 1, dtype=pl.Int64).alias(END),
    )
    columns = [Column(f"c{i}", f"c{i}", k, nullable=i % 7 != 0) for i, (k, _) in enumerate(kinds)]
    schema = TableSchema("w", [*columns, Column("absent", "absent", "integer")])
    rules = None if contract is None else ContractRules(("extra",), contract[1:], 3)
    nulls = ("", "NA")
    narrow = typed.typed_frame(records.lazy(), schema, nulls, rules).collect()
    long = long_cast.long_typed_frame(records.lazy(), schema, nulls, rules).collect()
    assert long.equals(narrow)
    codes = set(narrow[typed.REJECT_CODE].drop_nulls())
    assert codes >= ({"type_mismatch", "not_null"} if rules is None else {"unknown_column"})
