"""The cheaper checks (``sql_cast._rendered``) of the single pass and of the check of the first
look's proposal on every record (ELT): where a value's text is DuckDB's rendering of its
try-cast, the value is taken without the registry's pattern. They take exactly the values the
registry's checks take, with the same typed value, and refuse the same others (the check: the
same statistics): compared value by value, on tricky values and on generated ones."""

from __future__ import annotations

import duckdb
import pytest
from csvdock.schema import types as t
from csvdock.schema.optimistic import Proposal
from csvdock.schema.statistics import stat_key
from csvdock.schema.table import Column, TableSchema
from csvdock.targets import dialect_of
from csvdock.transform import sql_cast
from csvdock.transform.sql_cast import optimistic_rows_sql, proposal_statistics_sql
from hypothesis import given, settings
from hypothesis import strategies as st

TRICKY = {
    t.INTEGER: [
        "0",
        "-0",
        "+5",
        "007",
        "5",
        "-5",
        "2147483647",
        "2147483648",
        "-2147483648",
        "12.5",
        "1e3",
        " 5",
        "5 ",
        "1_000",
        "0x10",
        "",
        "NA",
        "-",
        "٣",
    ],
    t.BIGINT: [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "00",
        "+0",
        "1",
        "10",
    ],
    t.DATE: [
        "2024-02-29",
        "2023-02-29",
        "0999-01-01",
        "999-01-01",
        "10000-01-01",
        "2024-1-5",
        "2024-01-05 ",
        "2024-01-05T00:00",
        "20240105",
        "1000-01-01",
        "9999-12-31",
        "2024-01-05 (BC)",
        "-2024-01-05",
    ],
    t.TIMESTAMP: [
        "2015-12-09T22:17:51.000000",
        "2015-12-09 22:17:51",
        "2015-12-09T22:17:51.5",
        "2015-12-09T24:00:00",
        "0999-12-09T22:17:51.000000",
        "2015-12-09T22:17:51.0",
        "2015-12-09T22:17:51.0000000",
        "2015-12-09T22:17:51.000000Z",
        "2015-12-09",
        "2015-12-09T22:17:51.000000+01",
        "2015-12-09T22:17",
        "2015-13-09T22:17:51",
        "2015-12-09T22:17:60.000000",
        "10000-12-09T22:17:51.000000",
        "2015-12-09t22:17:51.000000",
        "2015-12-09T2:17:51.000000",
    ],
}
# The first look's samples of a timestamp column: each layout the cheaper check knows, and none.
LAYOUTS = [
    ["2015-12-09T22:17:51.000000"],
    ["2015-12-09 22:17:51.000000"],
    ["2015-12-09T22:17:51"],
    ["2015-12-09 22:17:51"],
    ["2015-12-09T22:17"],
    ["2015-12-09 22:17"],
    ["not a timestamp"],
]


CON = duckdb.connect()


def _outcome(kind: str, value: str, samples: list[str], rendered: bool) -> object:
    """Return what the single pass makes of ``value`` in a column of type ``kind``: the typed
    value, or "refused"."""
    schema = TableSchema("s", [Column("c", "c", kind)])
    with pytest.MonkeyPatch.context() as patch:
        if not rendered:
            patch.setattr(sql_cast, "_rendered", lambda *_: None)
        select = optimistic_rows_sql(
            dialect_of("duckdb"),
            "(SELECT $value AS c)",
            schema,
            ("", "NA"),
            {"c": kind},
            [],
            {"c": samples},
        )
    try:
        return CON.execute(select, {"value": value}).fetchall()
    except duckdb.InvalidInputException:
        return "refused"


def _statistics(kind: str, values: list[str], samples: list[str], rendered: bool) -> dict:
    """Return the statistics the check of a proposal of ``kind`` finds on ``values``."""
    proposal = Proposal({"c": kind}, {stat_key("c", "samples"): samples}, len(values), {}, {})
    with pytest.MonkeyPatch.context() as patch:
        if not rendered:
            patch.setattr(sql_cast, "_rendered", lambda *_: None)
        sql, keys = proposal_statistics_sql(
            dialect_of("duckdb"), "SELECT unnest($values::VARCHAR[]) AS c", proposal, ("", "NA")
        )
    assert ('"__csvdock_t0"' in sql) == (rendered and (kind != t.TIMESTAMP or "strftime" in sql))
    return dict(zip(keys, CON.execute(sql, {"values": values}).fetchall()[0], strict=True))


def _same(kind: str, value: str, samples: list[str]) -> None:
    assert _outcome(kind, value, samples, True) == _outcome(kind, value, samples, False), value
    found = _statistics(kind, [value], samples, True)
    assert found == _statistics(kind, [value], samples, False), value


@pytest.mark.parametrize("kind", TRICKY)
def test_the_cheaper_checks_take_and_refuse_what_the_registry_does(kind: str):
    layouts = LAYOUTS if kind == t.TIMESTAMP else [[]]
    for samples in layouts:
        for value in [v for values in TRICKY.values() for v in values]:
            _same(kind, value, samples)


@pytest.mark.parametrize("kind", TRICKY)
def test_the_check_of_a_proposal_finds_the_same_statistics_on_many_values(kind: str):
    values = [v for values in TRICKY.values() for v in values]
    for samples in LAYOUTS if kind == t.TIMESTAMP else [[]]:
        found = _statistics(kind, values, samples, True)
        assert found == _statistics(kind, values, samples, False)
        assert found[stat_key("c", "present")] > 0 and found[stat_key("c", kind)] > 0


def test_the_cheaper_checks_are_in_the_single_pass():
    schema = TableSchema("s", [Column(k, k, k) for k in TRICKY])
    samples = {t.TIMESTAMP: ["2015-12-09T22:17:51.000000"]}
    select = optimistic_rows_sql(
        dialect_of("duckdb"), "staged", schema, (), {k: k for k in TRICKY}, [], samples
    )
    assert select.count('CAST("__csvdock_t') == 3 and "strftime" in select
    padded = optimistic_rows_sql(
        dialect_of("duckdb"), "staged", schema, (), {k: k for k in TRICKY}, list(TRICKY), samples
    )
    assert "__csvdock_t" not in padded  # (a trimmed value is checked by the registry)


TEXT = st.text(alphabet="0123456789-+:. Te", min_size=1, max_size=27)


@settings(max_examples=300, deadline=None)
@given(value=TEXT, kind=st.sampled_from(list(TRICKY)), layout=st.sampled_from(LAYOUTS))
def test_generated_values_are_taken_and_refused_as_the_registry_does(
    value: str, kind: str, layout: list[str]
):
    _same(kind, value, layout)


DATES = st.datetimes().map(lambda d: d.isoformat(sep=" "))


@settings(max_examples=200, deadline=None)
@given(value=DATES, layout=st.sampled_from(LAYOUTS))
def test_generated_timestamps_are_taken_as_the_registry_takes_them(value: str, layout: list[str]):
    _same(t.TIMESTAMP, value, layout)
    _same(t.TIMESTAMP, value.replace(" ", "T"), layout)
    _same(t.DATE, value[:10], layout)
