"""Why a record was rejected, as a typed code: the reports group, count and advise by the code,
never by a reason's text. The text beside each reject (``reason``) says the same for a person,
with the details (the value, the field counts, DuckDB's words); where a report needs a detail
back (the offending value, to mark it in the record), this module reads it, since it alone
writes that text.
"""

from __future__ import annotations

from typing import Literal, get_args

RejectCode = Literal[
    "field_count",  # the record's fields do not line up with the header
    "unterminated_quote",  # a quoted field never closes
    "quoting",  # the record's quoting cannot be read (a quote inside an unquoted value...)
    "not_utf8",  # bytes that are not UTF-8
    "nul_character",  # a NUL character in a value (no database text holds it)
    "too_long",  # the record is longer than the longest line the parser reads
    "type_mismatch",  # a value is not of its column's type
    "not_null",  # an empty value in a NOT NULL column
    "missing_column",  # a column of the frozen schema is missing from the file
    "unknown_column",  # a value in a column the frozen schema lacks
    "not_one_record",  # a stream message that is not exactly one CSV record
]
REJECT_CODES: tuple[RejectCode, ...] = get_args(RejectCode)

REJECT_KINDS: dict[RejectCode, str] = {
    "field_count": "fields do not line up with the header",
    "unterminated_quote": "a quoted field never closes",
    "quoting": "quoting that cannot be read",
    "not_utf8": "bytes that are not UTF-8",
    "nul_character": "a NUL character",
    "too_long": "a record over the longest line",
    "type_mismatch": "a value not of the column's type",
    "not_null": "empty, but the column is NOT NULL",
    "missing_column": "a column of the schema is missing",
    "unknown_column": "a column the frozen schema lacks",
    "not_one_record": "a message that is not one record",
}

# DuckDB's reject error types (reject_errors.error_type) and the code each is.
DUCKDB_ERROR_CODES: dict[str, RejectCode] = {
    "MISSING COLUMNS": "field_count",
    "TOO MANY COLUMNS": "field_count",
    "UNQUOTED VALUE": "quoting",
    "LINE SIZE OVER MAXIMUM": "too_long",
    "INVALID UNICODE": "not_utf8",
    "INVALID ENCODING": "not_utf8",
}


def duckdb_error_code(error_type: str) -> RejectCode:
    """Return the code of a DuckDB reject's ``error_type`` (an unknown one: ``quoting``)."""
    return DUCKDB_ERROR_CODES.get(error_type.upper().replace("_", " "), "quoting")


# The reasons of the contract's rejects, written by both casts (Polars and SQL) from here.
CONTRACT_REASONS: dict[RejectCode, str] = {
    "not_null": "column {column!r} is empty but the schema says NOT NULL",
    "missing_column": "column {column!r} of schema v{version} is missing from the file",
    "unknown_column": "column {column!r} is not in schema v{version} (frozen)",
}


def contract_reason(code: RejectCode, column: str, version: int | None = None) -> str:
    """Return the reason of a contract reject of ``column`` (``version``: the frozen schema's)."""
    return CONTRACT_REASONS[code].format(column=column, version=version)


TYPE_MISMATCH_MIDDLE = "' is not "


def type_mismatch_parts(column: str, expected: str) -> tuple[str, str]:
    """Return the text before and after the (shortened) value in a ``type_mismatch`` reason:
    ``column 'age': 'abc' is not integer``. Both casts, Polars and SQL, build it from these."""
    return f"column {column!r}: '", f"{TYPE_MISMATCH_MIDDLE}{expected}"


def offending_value(code: str | None, column: str | None, reason: str) -> str | None:
    """Return the value a ``type_mismatch`` reason of ``column`` names (None otherwise)."""
    if code != "type_mismatch" or column is None:
        return None
    before, _ = type_mismatch_parts(column, "")
    if not reason.startswith(before) or TYPE_MISMATCH_MIDDLE not in reason:
        return None
    return reason[len(before) : reason.rindex(TYPE_MISMATCH_MIDDLE)]
