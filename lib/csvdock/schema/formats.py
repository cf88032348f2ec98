"""Source formats: how a column's values are written when not in the standard form the type
registry reads (ISO dates, ``1234.56``). A column's format is part of its schema version, so
ETL (Polars) and ELT (SQL) rewrite the same values the same way before the same cast:

- ``day-first`` and ``month-first`` dates (``28/01/2018``, ``01/28/2018``, also with ``.`` or
  ``-`` and an optional time): chosen only from values that can be read one way alone (a day
  over 12); a column whose values read either way throughout stays text;
- ``thousands-comma`` (``1,234,567.89``) and ``decimal-comma`` (``1.234,56``, ``12,5``): chosen
  only from values the other reading cannot give (``1,234`` alone is either, so text).

A value that is not written in the column's format is left as it is (an ISO date in a
day-first column still reads), so a format only ever adds readings. Each rewrite is a few
regular-expression replacements that Polars, DuckDB and PostgreSQL run alike.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

FormatName = Literal["day-first", "month-first", "thousands-comma", "decimal-comma"]


class SqlRewrites(Protocol):
    """What a format's SQL needs from a target's SQL dialect."""

    def matches(self, value: str, pattern: str) -> str:
        """Return a condition: ``value`` matches the regular expression ``pattern``."""
        ...

    def replace_all(self, value: str, pattern: str, replacement: str) -> str:
        """Return ``value`` with every match of ``pattern`` replaced (``\\1`` refers to a group)."""
        ...

    def literal(self, text: str) -> str:
        """Return ``text`` as a SQL string literal."""
        ...


@dataclass(frozen=True)
class SourceFormat:
    """One way of writing a family's values, and how to rewrite them in the standard form."""

    name: FormatName
    family: Literal["numeric", "temporal"]
    pattern: str  # the values written this way (only those are rewritten)
    steps: tuple[tuple[str, str], ...]  # (regular expression, replacement with \1 groups)
    only_this: str  # values only this format reads (its evidence against its rival)
    rival: FormatName
    # Each value ``only_this`` matches holds one of these characters: a test far cheaper than
    # the pattern, made first (2M digit-only values: 0.23 s of patterns, 0.06 s of tests).
    marks: str


_SEP = "[/.-]"
_DATE_REST = "([T ].*)?$"
_DAY_BIG = "(1[3-9]|2[0-9]|3[01])"
_SMALL = "(0?[1-9]|1[0-2])"


def _date_format(name: FormatName, order: str, only_this: str, rival: FormatName) -> SourceFormat:
    """A date format ``D1/D2/YYYY``: both numbers padded to two digits, then ordered as ISO by
    ``order`` (groups 1 and 2 are the numbers, 3 the year)."""
    return SourceFormat(
        name,
        "temporal",
        f"^[0-9]{{1,2}}{_SEP}[0-9]{{1,2}}{_SEP}[0-9]{{4}}{_DATE_REST}",
        (
            (f"^([0-9]){_SEP}", r"0\1-"),
            (f"^([0-9]{{2}})({_SEP})([0-9]){_SEP}", r"\1-0\3-"),
            (f"^([0-9]{{2}}){_SEP}([0-9]{{2}}){_SEP}([0-9]{{4}})", order),
        ),
        f"{only_this}[0-9]{{4}}",
        rival,
        "/.-",
    )


FORMATS: dict[str, SourceFormat] = {
    f.name: f
    for f in (
        _date_format("day-first", r"\3-\2-\1", f"^{_DAY_BIG}{_SEP}{_SMALL}{_SEP}", "month-first"),
        _date_format("month-first", r"\3-\1-\2", f"^{_SMALL}{_SEP}{_DAY_BIG}{_SEP}", "day-first"),
        SourceFormat(
            "thousands-comma",
            "numeric",
            r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$",
            ((",", ""),),
            r"^[+-]?[0-9]{1,3}(,[0-9]{3}){2,}(\.[0-9]+)?$|^[+-]?[0-9]{1,3}(,[0-9]{3})+\.[0-9]+$",
            "decimal-comma",
            ",",
        ),
        SourceFormat(
            "decimal-comma",
            "numeric",
            r"^[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]+)(,[0-9]+)?$",
            ((r"\.", ""), (",", ".")),
            r"^[+-]?[0-9]+,([0-9]{1,2}|[0-9]{4,})$|^[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?$",
            "thousands-comma",
            ",.",
        ),
    )
}


def source_format(name: str) -> SourceFormat:
    """Return the format called ``name``."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown source format {name!r}") from None


def only_this_expr(value: pl.Expr, name: str) -> pl.Expr:
    """Return how many of the (stripped) texts ``value`` only format ``name`` reads."""
    found = source_format(name)
    marked = value.filter(value.str.contains_any(list(found.marks)))
    return marked.str.contains(found.only_this).sum()


def only_this_sql(dialect: SqlRewrites, value: str, name: str) -> str:
    """Return a condition: only format ``name`` reads the (trimmed) text ``value``."""
    found = source_format(name)
    marked = " OR ".join(f"strpos({value}, {dialect.literal(c)}) > 0" for c in found.marks)
    return f"(({marked}) AND {dialect.matches(value, found.only_this)})"


def only_this_count(values: pa.Array | pa.ChunkedArray, name: str) -> int:
    """Return how many of the (stripped) texts ``values`` only format ``name`` reads."""
    found = source_format(name)
    marked = functools.reduce(pc.or_, (pc.match_substring(values, c) for c in found.marks))
    candidates = pc.filter(values, marked)
    if len(candidates) == 0:
        return 0
    return int(pc.sum(pc.match_substring_regex(candidates, found.only_this)).as_py() or 0)


def rewritten_expr(value: pl.Expr, name: str | None) -> pl.Expr:
    """Return the (stripped) text ``value`` in the standard form, per format ``name``."""
    if name is None:
        return value
    found = source_format(name)
    out = value
    for pattern, replacement in found.steps:
        out = out.str.replace_all(pattern, _polars_replacement(replacement))
    return pl.when(value.str.contains(found.pattern)).then(out).otherwise(value)


def rewritten_sql(dialect: SqlRewrites, value: str, name: str | None) -> str:
    """Return SQL giving the (trimmed) text ``value`` in the standard form, per format ``name``."""
    if name is None:
        return value
    found = source_format(name)
    out = value
    for pattern, replacement in found.steps:
        out = dialect.replace_all(out, pattern, replacement)
    return f"(CASE WHEN {dialect.matches(value, found.pattern)} THEN {out} ELSE {value} END)"


def _polars_replacement(replacement: str) -> str:
    return re.sub(r"\\([0-9])", r"${\1}", replacement)


def plausible_formats(samples: list[str]) -> list[SourceFormat]:
    """Return the formats some of ``samples`` (a column's first values) are written in."""
    return [f for f in FORMATS.values() if any(re.search(f.pattern, s.strip()) for s in samples)]
