"""A value that its column's type cannot hold exactly never picks that type (issue 24, items 2
and 5): long ids stay bigint, NaN and inf are doubles, and every stored value printed back
equals its source text under the type's normalisation, in the Polars cast and the SQL cast."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
from csvdock.schema import types as t
from csvdock.schema.detect import detect_schema
from csvdock.schema.evolution import widened_type
from csvdock.targets import dialect_of
from hypothesis import given, settings
from hypothesis import strategies as st

NULLS = ("", "NA")


def detected(tmp_path: Path, values: list[str], share: float = 0.01) -> str:
    path = tmp_path / "records.parquet"
    pl.DataFrame({"v": values}, schema={"v": pl.String}).write_parquet(path)
    return detect_schema(path, "t", ["v"], ["v"], NULLS, share).columns[0].type


def test_long_ids_with_a_few_e_notation_values_stay_bigint(tmp_path):
    ids = [str(765629939811020802 + 7919 * n) for n in range(445)]
    values = ids[:100] + ["7.02608E+17"] + ids[100:300] + ["7.02608E+17", "7.1E+17"] + ids[300:]
    assert detected(tmp_path, values) == t.BIGINT  # the three E-notation values are rejects


def test_long_ids_with_many_e_notation_values_are_text_not_double(tmp_path):
    ids = [str(765629939811020802 + n) for n in range(100)]
    assert detected(tmp_path, ids + ["7.02608E+17"] * 20) == t.TEXT


def test_a_double_never_holds_a_value_it_would_round():
    frame = pl.DataFrame({"v": ["765629939811020802", "0.30000000000000004", "1.5", "7.02608E+17"]})
    typed = frame.select(t.typed_expr("v", t.DOUBLE))["v"].to_list()
    assert typed == [None, 0.30000000000000004, 1.5, 7.02608e17]


def test_nan_and_infinity_are_doubles_in_any_case(tmp_path):
    words = ["NaN", "nan", "inf", "-inf", "+Infinity", "-INFINITY"]
    assert detected(tmp_path, ["0.25", "1.5e3", *words] * 10) == t.DOUBLE
    typed = pl.DataFrame({"v": words}).select(t.typed_expr("v", t.DOUBLE))["v"].to_list()
    assert math.isnan(typed[0]) and math.isnan(typed[1])
    assert typed[2:] == [math.inf, -math.inf, math.inf, -math.inf]
    assert pl.DataFrame({"v": ["1e400", "nana"]}).select(t.typed_expr("v", t.DOUBLE))[
        "v"
    ].to_list() == [None, None]


def test_bigint_and_decimal_meeting_double_become_text():
    assert widened_type(t.BIGINT, t.DOUBLE) == t.TEXT
    assert widened_type(t.DOUBLE, t.decimal_type(2)) == t.TEXT
    assert widened_type(t.INTEGER, t.DOUBLE) == t.DOUBLE


def _equal_under_normalisation(source: str, stored: object, logical: str) -> bool:
    """The stored value printed back equals the source's value (numbers compared as decimals,
    NaN as NaN)."""
    text = source.strip()
    if logical == t.DOUBLE:
        assert isinstance(stored, float)
        if math.isnan(stored):
            return text.lower().lstrip("+-") == "nan"
        if math.isinf(stored):
            return text.lower().lstrip("+-").startswith("inf")
        return Decimal(repr(stored)) == Decimal(text)
    return Decimal(str(stored)) == Decimal(text)


def _polars_cast(values: list[str], logical: str) -> list[object]:
    typed = pl.when(~t.is_null_expr("v", logical, NULLS)).then(t.typed_expr("v", logical))
    return pl.DataFrame({"v": values}).select(typed.alias("v"))["v"].to_list()


def _sql_cast(values: list[str], logical: str) -> list[object]:
    dialect = dialect_of("duckdb")
    valid = t.sql_valid(dialect, "trim(v)", logical)
    converted = t.sql_converted(dialect, "trim(v)", logical)
    with duckdb.connect() as con:
        con.register("staged", pl.DataFrame({"v": values, "n": range(len(values))}).to_arrow())
        rows = con.execute(
            f"SELECT CASE WHEN v NOT IN ('', 'NA') AND {valid} THEN {converted} END "
            "FROM staged ORDER BY n"
        ).fetchall()
    return [row[0] for row in rows]


numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(lambda d: format(d, "f")),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.builds(lambda m, e: f"{m}E{e:+d}", st.integers(-(10**18), 10**18), st.integers(-20, 20)),
    st.sampled_from(["NaN", "-inf", "Infinity", "1e400", "12.5", "00501", " 7 "]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(numbers, min_size=1, max_size=30))
def test_every_stored_number_prints_back_as_its_source_in_both_casts(values):
    for logical in (t.BIGINT, t.decimal_type(4), t.DOUBLE):
        by_polars, by_sql = _polars_cast(values, logical), _sql_cast(values, logical)
        assert [v is None for v in by_polars] == [v is None for v in by_sql], logical
        for source, stored in zip(values, by_polars, strict=True):
            if stored is not None:
                assert _equal_under_normalisation(source, stored, logical), (source, stored)


def test_the_sql_cast_admits_the_same_doubles_as_polars():
    values = ["765629939811020802", "0.30000000000000004", "NaN", "-inf", "1e400", "1.5", "7.1E+17"]
    fits = [v is not None for v in _polars_cast(values, t.DOUBLE)]
    assert fits == [v is not None for v in _sql_cast(values, t.DOUBLE)]
    assert fits == [False, True, True, True, False, True, True]
