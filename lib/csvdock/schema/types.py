"""csvdock's logical column types: ONE registry, read by detection, the Polars cast (ETL), the
SQL cast (ELT), schema evolution, the targets' DDL and the reports.

Each type is one ``LogicalType`` entry in ``TYPES``: the pattern a (stripped) text value must
match, the Polars dtype and conversion, the standard SQL type (a target renames it in its
dialect), the SQL check that a text value converts (portable, or the target's try-cast where it
has one), and its family. Within a family the entries stand in widening order: a column widens
to a later member of its family, and to ``text`` across families. Adding a type, or changing one
(a new date format, say), is an edit of its entry here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import polars as pl

from csvdock.schema.formats import rewritten_expr

BOOLEAN, INTEGER, BIGINT, DOUBLE, DATE, TIMESTAMP, TIME, TEXT = (
    "boolean",
    "integer",
    "bigint",
    "double",
    "date",
    "timestamp",
    "time",
    "text",
)
DECIMAL = "decimal"  # the family member; a column's type names its scale: decimal(38,2)
DECIMAL_PRECISION = 38
MAX_DECIMAL_SCALE = 9
TRUE_WORDS = ("true", "t", "yes", "y")
FALSE_WORDS = ("false", "f", "no", "n")

WHITESPACE = " \t\n\r\x0b\x0c"  # stripped around non-text values
INTEGER_PATTERN = r"^[+-]?[0-9]+$"
DECIMAL_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"
NON_FINITE_PATTERN = (
    r"^[+-]?([nN][aA][nN]|[iI][nN][fF]([iI][nN][iI][tT][yY])?)$"  # NaN, inf, -Infinity
)
DOUBLE_PATTERN = (
    r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?"
    r"|[nN][aA][nN]|[iI][nN][fF]([iI][nN][iI][tT][yY])?)$"
)
# A double holds a decimal value exactly when its significant digits survive the round trip
# (value -> double -> shortest text): up to 15 always do; 16 and 17 digits are checked, and an
# 18-digit id never fits (765629939811020802 would be stored as 765629939811020800).
DOUBLE_EXACT_DIGITS = 15
# Past these magnitudes engines disagree (overflow, underflow), so such values are not doubles.
DOUBLE_MIN_MAGNITUDE, DOUBLE_MAX_MAGNITUDE = 1e-300, 1e300
DATE_PATTERN = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PATTERN = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?$"
)
TIME_PATTERN = r"^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"  # a time of day
LEADING_ZERO_PATTERN = r"^[+-]?0[0-9]"

Family = Literal["boolean", "numeric", "temporal", "time", "text"]
_DECIMAL_RE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


class SqlChecks(Protocol):
    """What a type's SQL check needs from a target's SQL dialect."""

    def literal(self, text: str) -> str:
        """Return ``text`` as a SQL string literal."""
        ...

    def matches(self, value: str, pattern: str) -> str:
        """Return a condition: ``value`` matches the regular expression ``pattern``."""
        ...

    def try_cast(self, value: str, sql_type: str) -> str | None:
        """Return ``value`` cast to ``sql_type``, NULL where it does not convert, or None when
        the target cannot try a cast (the type's portable check is used instead)."""
        ...

    def converts(self, value: str, sql_type: str) -> str | None:
        """Return a condition: ``value`` converts to ``sql_type``, or None when the target
        cannot tell (the type's portable check is used instead)."""
        ...

    def sql_type(self, logical_type: str) -> str:
        """Return the target's SQL type of ``logical_type``."""
        ...

    def bounded_repeats(self) -> bool:
        """Return whether a pattern's bounded repeat (``[0-9]{1,36}``) costs no more than
        counting the digits apart (DuckDB's engine; PostgreSQL's is several times slower)."""
        ...


@dataclass(frozen=True)
class LogicalType:
    """One logical type and everything csvdock does with it."""

    name: str
    family: Family
    pattern: str | None  # what a stripped text value of this type looks like (None: anything)
    polars: Callable[[int | None], pl.DataType]  # the dtype (the argument: a decimal's scale)
    convert: Callable[[pl.Expr, int | None], pl.Expr]  # stripped text -> value, NULL if unfit
    sql: Callable[[int | None], str]  # the standard SQL type; a target's dialect may rename it
    sql_check: Callable[[SqlChecks, str, int | None], str]  # trimmed text converts (condition)
    sql_convert: Callable[[SqlChecks, str, str], str] | None = None  # default: CAST(v AS type)


def decimal_type(scale: int) -> str:
    """Return the logical name of an exact decimal with ``scale`` digits after the point."""
    return f"decimal({DECIMAL_PRECISION},{scale})"


def decimal_scale(logical_type: str) -> int | None:
    """Return the scale of a ``decimal(p,s)`` type, or None for any other type."""
    match = _DECIMAL_RE.match(logical_type)
    return int(match.group(2)) if match else None


def type_of(logical_type: str) -> LogicalType:
    """Return the registry entry of ``logical_type`` (``decimal(38,2)`` gives ``decimal``)."""
    key = DECIMAL if decimal_scale(logical_type) is not None else logical_type
    try:
        return _BY_NAME[key]
    except KeyError:
        raise ValueError(f"unknown type {logical_type!r}") from None


def is_known_type(logical_type: str) -> bool:
    """Return whether ``logical_type`` is one csvdock knows."""
    if decimal_scale(logical_type) is not None:
        return True
    return logical_type in _BY_NAME and logical_type != DECIMAL  # a decimal names its scale


def family_members(family: Family) -> tuple[str, ...]:
    """Return the names of ``family``'s types, narrowest first (the widening order)."""
    return tuple(entry.name for entry in TYPES if entry.family == family)


def families() -> tuple[tuple[str, ...], ...]:
    """Return the families a detected column may take, in the order detection tries them."""
    return tuple(family_members(f) for f in ("boolean", "numeric", "temporal", "time"))


def widening_rank(logical_type: str) -> tuple[Family, int]:
    """Return ``logical_type``'s family and its place in that family's widening order."""
    entry = type_of(logical_type)
    return entry.family, family_members(entry.family).index(entry.name)


def polars_dtype(logical_type: str) -> pl.DataType:
    """Return the Polars dtype that holds ``logical_type``."""
    return type_of(logical_type).polars(decimal_scale(logical_type))


def standard_sql_type(logical_type: str) -> str:
    """Return the standard SQL type of ``logical_type`` (targets rename it in their dialect)."""
    return type_of(logical_type).sql(decimal_scale(logical_type))


def null_tokens_for(logical_type: str, null_tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Return the tokens that read as NULL in a column of ``logical_type``: text keeps ``NA``."""
    return ("",) if logical_type == TEXT else tuple(set(null_tokens) | {""})


def is_null_expr(column: str, logical_type: str, null_tokens: tuple[str, ...]) -> pl.Expr:
    """Return an expression true where the raw text of ``column`` counts as NULL."""
    value = pl.col(column)
    if logical_type != TEXT:
        value = value.str.strip_chars(WHITESPACE)
    return value.is_null() | value.is_in(list(null_tokens_for(logical_type, null_tokens)))


def typed_expr(column: str, logical_type: str, source_format: str | None = None) -> pl.Expr:
    """Return ``column``'s raw text converted to ``logical_type`` (written in ``source_format``,
    see ``csvdock.schema.formats``); NULL where it does not fit."""
    entry = type_of(logical_type)
    raw = pl.col(column)
    if entry.family == "text":
        return raw  # an unquoted empty field is already NULL; a quoted "" stays ""
    value = rewritten_expr(raw.str.strip_chars(WHITESPACE), source_format)
    return entry.convert(value, decimal_scale(logical_type))


def sql_valid(dialect: SqlChecks, value: str, logical_type: str) -> str:
    """Return a SQL condition: the trimmed text ``value`` converts to ``logical_type``."""
    return type_of(logical_type).sql_check(dialect, value, decimal_scale(logical_type))


def sql_converted(dialect: SqlChecks, value: str, logical_type: str) -> str:
    """Return the SQL that converts the trimmed text ``value`` (already checked valid)."""
    entry, target_type = type_of(logical_type), dialect.sql_type(logical_type)
    if entry.sql_convert is not None:
        return entry.sql_convert(dialect, value, target_type)
    return f"CAST({value} AS {target_type})"


# -- the conversions, one per type ----------------------------------------------------------


def _when_matches(value: pl.Expr, pattern: str, converted: pl.Expr) -> pl.Expr:
    return pl.when(value.str.contains(pattern)).then(converted).otherwise(None)


def _decimal_pattern(scale: int) -> str:
    whole = DECIMAL_PRECISION - scale
    fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
    return rf"^[+-]?[0-9]{{1,{whole}}}{fraction}$"


def _to_decimal(value: pl.Expr, scale: int | None) -> pl.Expr:
    assert scale is not None
    dtype = pl.Decimal(DECIMAL_PRECISION, scale)
    return _when_matches(value, _decimal_pattern(scale), value.cast(dtype, strict=False))


def _to_integer(dtype: pl.DataType) -> Callable[[pl.Expr, int | None], pl.Expr]:
    # Polars' string-to-integer cast accepts exactly INTEGER_PATTERN (sign, ASCII digits) and
    # checks the range: no regular expression needed here (SQL still needs the pattern).
    return lambda value, _: value.cast(dtype, strict=False)


def _significant_digits(text: pl.Expr) -> pl.Expr:
    """Return the significant digits of a number's text (``-0.0120e5`` -> ``12``)."""
    mantissa = text.str.replace(r"[eE].*$", "").str.replace_all(r"[^0-9]", "")
    return mantissa.str.strip_chars_start("0").str.strip_chars_end("0")


def _to_double(value: pl.Expr, _: int | None) -> pl.Expr:
    number = value.cast(pl.Float64, strict=False)
    magnitude = number.abs()
    in_range = (magnitude == 0) | magnitude.is_between(DOUBLE_MIN_MAGNITUDE, DOUBLE_MAX_MAGNITUDE)
    non_finite = value.str.contains(NON_FINITE_PATTERN)
    digits = _significant_digits(value)
    exact = (digits.str.len_chars() <= DOUBLE_EXACT_DIGITS) | (
        digits == _significant_digits(number.cast(pl.String))
    )
    fits = non_finite | (in_range & exact)
    return _when_matches(value, DOUBLE_PATTERN, pl.when(fits).then(number))


def _to_boolean(value: pl.Expr, _: int | None) -> pl.Expr:
    lowered = value.str.to_lowercase()
    return (
        pl.when(lowered.is_in(list(TRUE_WORDS)))
        .then(True)
        .when(lowered.is_in(list(FALSE_WORDS)))
        .then(False)
        .otherwise(None)
    )


def _to_date(value: pl.Expr, _: int | None) -> pl.Expr:
    return _when_matches(value, DATE_PATTERN, value.str.to_date("%Y-%m-%d", strict=False))


def _to_timestamp(value: pl.Expr, _: int | None) -> pl.Expr:
    """Convert text matching ``TIMESTAMP_PATTERN``: its parts stand at fixed places, so the date
    is parsed and the time added from slices (twice as fast as a padded ``to_datetime``; the
    same values)."""
    day = value.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)

    def number(start: int, length: int) -> pl.Expr:
        return value.str.slice(start, length).cast(pl.Int64, strict=False).fill_null(0)

    micros = value.str.slice(20, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    time_of_day = pl.duration(
        hours=number(11, 2), minutes=number(14, 2), seconds=number(17, 2), microseconds=micros
    )
    return _when_matches(value, TIMESTAMP_PATTERN, day.cast(pl.Datetime("us")) + time_of_day)


def _to_time(value: pl.Expr, _: int | None) -> pl.Expr:
    """Convert text matching ``TIME_PATTERN`` (``7:05``, ``23:59:59.5``): the hour padded to
    two digits and the seconds added where absent, then parsed."""
    padded = value.str.replace(r"^([0-9]):", "0${1}:")
    full = pl.when(padded.str.len_chars() == 5).then(padded + ":00").otherwise(padded)
    return _when_matches(value, TIME_PATTERN, full.str.to_time("%H:%M:%S%.f", strict=False))


def _unchanged(value: pl.Expr, _: int | None) -> pl.Expr:
    return value


# -- the SQL checks, one per type (PostgreSQL 15 has no pg_input_is_valid: each cast is guarded
# by the type's pattern and set-based arithmetic inside CASE, so no value that would raise is
# ever cast; a target with a try-cast uses it instead of the arithmetic) ---------------------


def _guarded(dialect: SqlChecks, value: str, pattern: str, checked: str) -> str:
    return f"(CASE WHEN {dialect.matches(value, pattern)} THEN {checked} ELSE false END)"


def _magnitude_ok(number: str) -> str:
    low, high = DOUBLE_MIN_MAGNITUDE, DOUBLE_MAX_MAGNITUDE
    return f"(abs({number}) = 0 OR abs({number}) BETWEEN {low!r} AND {high!r})"


def _calendar_ok(value: str) -> str:
    """A set-based date check for a value already matching the date pattern."""
    year = f"CAST(substr({value}, 1, 4) AS INTEGER)"
    month = f"CAST(substr({value}, 6, 2) AS INTEGER)"
    day = f"CAST(substr({value}, 9, 2) AS INTEGER)"
    leap = f"(({year} % 4 = 0 AND {year} % 100 <> 0) OR {year} % 400 = 0)"
    days = (
        f"(CASE WHEN {month} IN (1, 3, 5, 7, 8, 10, 12) THEN 31 WHEN {month} IN (4, 6, 9, 11) "
        f"THEN 30 WHEN {leap} THEN 29 ELSE 28 END)"
    )
    return f"({month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {days})"


def _integer_check(bits: int) -> Callable[[SqlChecks, str, int | None], str]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(dialect: SqlChecks, value: str, _: int | None) -> str:
        converts = dialect.converts(value, dialect.sql_type(BIGINT if bits == 64 else INTEGER))
        in_range = converts or f"(CAST({value} AS NUMERIC) BETWEEN {low} AND {high})"
        return _guarded(dialect, value, INTEGER_PATTERN, in_range)

    return check


def _decimal_check(dialect: SqlChecks, value: str, scale: int | None) -> str:
    # The type's pattern with its digits counted in it where bounded repeats are cheap (one
    # match: 2M values in 0.92 s against 1.26 s into DuckDB), else a plain pattern plus digit
    # counts (bounded repeats are slow in PostgreSQL's regular expressions). The same values.
    assert scale is not None
    whole = DECIMAL_PRECISION - scale
    if dialect.bounded_repeats():
        fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
        return dialect.matches(value, rf"^[+-]?[0-9]{{1,{whole}}}{fraction}$")
    pattern = DECIMAL_PATTERN if scale else INTEGER_PATTERN
    digits = f"length(ltrim(split_part({value}, '.', 1), '+-')) <= {whole}"
    if scale:
        digits += f" AND length(split_part({value}, '.', 2)) <= {scale}"
    return _guarded(dialect, value, pattern, digits)


def _sql_significant_digits(text: str) -> str:
    """The SQL twin of ``_significant_digits`` (PostgreSQL and DuckDB alike)."""
    mantissa = f"regexp_replace(regexp_replace({text}, '[eE].*$', ''), '[^0-9]', '', 'g')"
    return f"rtrim(ltrim({mantissa}, '0'), '0')"


def _double_check(dialect: SqlChecks, value: str, _: int | None) -> str:
    double = dialect.sql_type(DOUBLE)
    number = dialect.try_cast(value, double) or f"CAST({value} AS NUMERIC)"
    digits = _sql_significant_digits(value)
    printed = _sql_significant_digits(
        f"CAST(CAST({value} AS {double}) AS {dialect.sql_type(TEXT)})"
    )
    exact = f"(length({digits}) <= {DOUBLE_EXACT_DIGITS} OR {digits} = {printed})"
    checked = (
        f"(CASE WHEN {dialect.matches(value, NON_FINITE_PATTERN)} THEN true "
        f"WHEN {_magnitude_ok(number)} THEN {exact} ELSE false END)"
    )
    return _guarded(dialect, value, DOUBLE_PATTERN, checked)


def _temporal_check(logical_type: str, pattern: str) -> Callable[[SqlChecks, str, int | None], str]:
    def check(dialect: SqlChecks, value: str, _: int | None) -> str:
        converts = dialect.converts(value, dialect.sql_type(logical_type))
        return _guarded(dialect, value, pattern, converts or _calendar_ok(value))

    return check


def _time_check(dialect: SqlChecks, value: str, _: int | None) -> str:
    return f"({dialect.matches(value, TIME_PATTERN)})"  # the pattern admits only real times


def _boolean_check(dialect: SqlChecks, value: str, _: int | None) -> str:
    words = ", ".join(dialect.literal(w) for w in TRUE_WORDS + FALSE_WORDS)
    return f"(lower({value}) IN ({words}))"


def _boolean_convert(dialect: SqlChecks, value: str, _: str) -> str:
    return f"(lower({value}) IN ({', '.join(dialect.literal(w) for w in TRUE_WORDS)}))"


def _text_check(dialect: SqlChecks, value: str, _: int | None) -> str:
    return "true"


TYPES: tuple[LogicalType, ...] = (
    LogicalType(
        BOOLEAN,
        "boolean",
        None,
        lambda _: pl.Boolean(),
        _to_boolean,
        lambda _: "BOOLEAN",
        _boolean_check,
        _boolean_convert,
    ),
    LogicalType(
        INTEGER,
        "numeric",
        INTEGER_PATTERN,
        lambda _: pl.Int32(),
        _to_integer(pl.Int32()),
        lambda _: "INTEGER",
        _integer_check(32),
    ),
    LogicalType(
        BIGINT,
        "numeric",
        INTEGER_PATTERN,
        lambda _: pl.Int64(),
        _to_integer(pl.Int64()),
        lambda _: "BIGINT",
        _integer_check(64),
    ),
    LogicalType(
        DECIMAL,
        "numeric",
        DECIMAL_PATTERN,
        lambda s: pl.Decimal(DECIMAL_PRECISION, s or 0),
        _to_decimal,
        lambda s: f"NUMERIC({DECIMAL_PRECISION},{s or 0})",
        _decimal_check,
    ),
    LogicalType(
        DOUBLE,
        "numeric",
        DOUBLE_PATTERN,
        lambda _: pl.Float64(),
        _to_double,
        lambda _: "DOUBLE PRECISION",
        _double_check,
    ),
    LogicalType(
        DATE,
        "temporal",
        DATE_PATTERN,
        lambda _: pl.Date(),
        _to_date,
        lambda _: "DATE",
        _temporal_check(DATE, DATE_PATTERN),
    ),
    LogicalType(
        TIMESTAMP,
        "temporal",
        TIMESTAMP_PATTERN,
        lambda _: pl.Datetime("us"),
        _to_timestamp,
        lambda _: "TIMESTAMP",
        _temporal_check(TIMESTAMP, TIMESTAMP_PATTERN),
    ),
    LogicalType(
        TIME,
        "time",
        TIME_PATTERN,
        lambda _: pl.Time(),
        _to_time,
        lambda _: "TIME",
        _time_check,
    ),
    LogicalType(
        TEXT, "text", None, lambda _: pl.String(), _unchanged, lambda _: "TEXT", _text_check
    ),
)
_BY_NAME = {entry.name: entry for entry in TYPES}
