"""csvdock's logical column types and how a text value becomes one.

Every type is a pattern a (stripped) text value must match plus a Polars conversion. The patterns
are plain regular expressions so the same rules can be written as SQL for ELT mode.
"""

from __future__ import annotations

import re

import polars as pl

BOOLEAN, INTEGER, BIGINT, DOUBLE, DATE, TIMESTAMP, TEXT = (
    "boolean",
    "integer",
    "bigint",
    "double",
    "date",
    "timestamp",
    "text",
)
DECIMAL_PRECISION = 38
MAX_DECIMAL_SCALE = 9
TRUE_WORDS = ("true", "t", "yes", "y")
FALSE_WORDS = ("false", "f", "no", "n")

WHITESPACE = " \t\n\r\x0b\x0c"  # stripped around non-text values
INTEGER_PATTERN = r"^[+-]?[0-9]+$"
DECIMAL_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"
DOUBLE_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"
# Past these magnitudes engines disagree (overflow, underflow), so such values are not doubles.
DOUBLE_MIN_MAGNITUDE, DOUBLE_MAX_MAGNITUDE = 1e-300, 1e300
DATE_PATTERN = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PATTERN = (
    r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?)?$"
)
LEADING_ZERO_PATTERN = r"^[+-]?0[0-9]"

_DECIMAL_RE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def decimal_type(scale: int) -> str:
    """Return the logical name of an exact decimal with ``scale`` digits after the point."""
    return f"decimal({DECIMAL_PRECISION},{scale})"


def decimal_scale(logical_type: str) -> int | None:
    """Return the scale of a ``decimal(p,s)`` type, or None for any other type."""
    match = _DECIMAL_RE.match(logical_type)
    return int(match.group(2)) if match else None


def is_known_type(logical_type: str) -> bool:
    """Return whether ``logical_type`` is one csvdock knows."""
    simple = (BOOLEAN, INTEGER, BIGINT, DOUBLE, DATE, TIMESTAMP, TEXT)
    return logical_type in simple or decimal_scale(logical_type) is not None


def polars_dtype(logical_type: str) -> pl.DataType:
    """Return the Polars dtype that holds ``logical_type``."""
    scale = decimal_scale(logical_type)
    if scale is not None:
        return pl.Decimal(DECIMAL_PRECISION, scale)
    return {
        BOOLEAN: pl.Boolean(),
        INTEGER: pl.Int32(),
        BIGINT: pl.Int64(),
        DOUBLE: pl.Float64(),
        DATE: pl.Date(),
        TIMESTAMP: pl.Datetime("us"),
        TEXT: pl.String(),
    }[logical_type]


def null_tokens_for(logical_type: str, null_tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Return the tokens that read as NULL in a column of ``logical_type``: text keeps ``NA``."""
    return ("",) if logical_type == TEXT else tuple(set(null_tokens) | {""})


def is_null_expr(column: str, logical_type: str, null_tokens: tuple[str, ...]) -> pl.Expr:
    """Return an expression true where the raw text of ``column`` counts as NULL."""
    value = pl.col(column)
    if logical_type != TEXT:
        value = value.str.strip_chars(WHITESPACE)
    return value.is_null() | value.is_in(list(null_tokens_for(logical_type, null_tokens)))


def typed_expr(column: str, logical_type: str) -> pl.Expr:
    """Return ``column``'s raw text converted to ``logical_type``; NULL where it does not fit."""
    raw = pl.col(column)
    if logical_type == TEXT:
        return raw  # an unquoted empty field is already NULL; a quoted "" stays ""
    value = raw.str.strip_chars(WHITESPACE)
    scale = decimal_scale(logical_type)
    if scale is not None:
        whole = DECIMAL_PRECISION - scale
        fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
        pattern = rf"^[+-]?[0-9]{{1,{whole}}}{fraction}$"
        return _when_matches(value, pattern, value.cast(polars_dtype(logical_type), strict=False))
    if logical_type in (INTEGER, BIGINT):
        # Polars' string-to-integer cast accepts exactly INTEGER_PATTERN (sign, ASCII digits) and
        # checks the range: no regular expression needed here (SQL still needs the pattern).
        return value.cast(polars_dtype(logical_type), strict=False)
    if logical_type == DOUBLE:
        number = value.cast(pl.Float64, strict=False)
        magnitude = number.abs()
        in_range = (magnitude == 0) | magnitude.is_between(
            DOUBLE_MIN_MAGNITUDE, DOUBLE_MAX_MAGNITUDE
        )
        return _when_matches(value, DOUBLE_PATTERN, pl.when(in_range).then(number))
    if logical_type == BOOLEAN:
        lowered = value.str.to_lowercase()
        return (
            pl.when(lowered.is_in(list(TRUE_WORDS)))
            .then(True)
            .when(lowered.is_in(list(FALSE_WORDS)))
            .then(False)
            .otherwise(None)
        )
    if logical_type == DATE:
        return _when_matches(value, DATE_PATTERN, value.str.to_date("%Y-%m-%d", strict=False))
    if logical_type == TIMESTAMP:
        return _when_matches(value, TIMESTAMP_PATTERN, _to_timestamp(value))
    raise ValueError(f"unknown type {logical_type!r}")


def _to_timestamp(value: pl.Expr) -> pl.Expr:
    """Convert text already matching ``TIMESTAMP_PATTERN``: its parts stand at fixed places, so
    the date is parsed and the time added from slices (twice as fast as a padded
    ``to_datetime``; the same values)."""
    day = value.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)

    def number(start: int, length: int) -> pl.Expr:
        return value.str.slice(start, length).cast(pl.Int64, strict=False).fill_null(0)

    micros = value.str.slice(20, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False).fill_null(0)
    time_of_day = pl.duration(
        hours=number(11, 2), minutes=number(14, 2), seconds=number(17, 2), microseconds=micros
    )
    return day.cast(pl.Datetime("us")) + time_of_day


def _when_matches(value: pl.Expr, pattern: str, converted: pl.Expr) -> pl.Expr:
    return pl.when(value.str.contains(pattern)).then(converted).otherwise(None)
