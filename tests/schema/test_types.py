"""The logical type registry, unit by unit (no database, no subprocess: runs in a second)."""

from __future__ import annotations

import polars as pl
import pytest
from csvdock.schema import types as t
from csvdock.schema.evolution import widened_type
from csvdock.targets import TARGETS


def test_every_type_has_one_entry_with_everything_the_pipeline_needs():
    names = [entry.name for entry in t.TYPES]
    assert len(names) == len(set(names))
    for entry in t.TYPES:
        logical = t.decimal_type(2) if entry.name == t.DECIMAL else entry.name
        assert isinstance(t.polars_dtype(logical), pl.DataType)
        for spec in TARGETS.values():
            sql = spec.dialect.sql_type(logical)
            assert sql and spec.dialect.logical_type(sql.lower(), 2) == logical, (spec.kind, sql)


def test_detection_families_come_from_the_registry():
    assert t.families() == (
        (t.BOOLEAN,),
        (t.INTEGER, t.BIGINT, t.DECIMAL, t.DOUBLE),
        (t.DATE, t.TIMESTAMP),
        (t.TIME,),
    )


@pytest.mark.parametrize(
    ("old", "new", "wider"),
    [
        (t.INTEGER, t.BIGINT, t.BIGINT),
        (t.BIGINT, t.INTEGER, t.BIGINT),
        (t.INTEGER, t.decimal_type(2), t.decimal_type(2)),
        (t.decimal_type(4), t.decimal_type(2), t.decimal_type(4)),
        (t.decimal_type(2), t.DOUBLE, t.TEXT),
        (t.INTEGER, t.DOUBLE, t.DOUBLE),
        (t.DATE, t.TIMESTAMP, t.TIMESTAMP),
        (t.DATE, t.INTEGER, t.TEXT),
        (t.BOOLEAN, t.INTEGER, t.TEXT),
        (t.TEXT, t.BOOLEAN, t.TEXT),
    ],
)
def test_widening_follows_the_registry_order(old: str, new: str, wider: str):
    assert widened_type(old, new) == wider


def test_widening_never_narrows_any_pair():
    kinds = [e.name if e.name != t.DECIMAL else t.decimal_type(3) for e in t.TYPES]
    for old in kinds:
        for new in kinds:
            wider = widened_type(old, new)
            assert widened_type(wider, old) == wider and widened_type(wider, new) == wider


def test_known_types():
    assert t.is_known_type("decimal(38,2)") and t.is_known_type(t.TIMESTAMP)
    assert not t.is_known_type("decimal") and not t.is_known_type("money")
    with pytest.raises(ValueError):
        t.type_of("money")


def test_the_boolean_look_is_the_registrys_words_of_more_than_one_letter():
    """``read.value_shapes`` spells the boolean words (reading does not depend on the schema):
    they must stay the registry's."""
    import re

    from csvdock.read.value_shapes import BOOLEAN_SHAPE
    from csvdock.schema.types import FALSE_WORDS, TRUE_WORDS

    words = {w for w in (*TRUE_WORDS, *FALSE_WORDS) if len(w) > 1}
    assert set(re.findall(r"[a-z]+", BOOLEAN_SHAPE.removeprefix("(?i:"))) == words
