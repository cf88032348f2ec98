"""ELT: the raw records land in a staging table (all text plus line and byte positions), then one
SQL statement generated from the schema version casts them into the final table inside the target.

The SQL follows ``csvdock.types`` rule for rule (same patterns, same NULL tokens, same reasons), so
ETL and ELT give the same table and the same rejects. PostgreSQL 15 has no ``pg_input_is_valid``:
each cast is guarded by its pattern and by set-based arithmetic (calendar and range checks), inside
CASE so that no value that would raise is ever cast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.read.extract import END, LINE, START
from csvdock.schema import types as t
from csvdock.schema.table import TableSchema
from csvdock.targets.base import Warehouse, sql_type
from csvdock.transform.polars_cast import MAX_VALUE_IN_REASON, ContractRules

STAGING_SCHEMA = "csvdock_staging"


@dataclass(frozen=True)
class SqlDialect:
    """The few places where DuckDB's and PostgreSQL's SQL differ."""

    kind: str

    def literal(self, text: str) -> str:
        """Return ``text`` as a SQL string literal."""
        return "'" + text.replace("'", "''") + "'"

    def matches(self, value: str, pattern: str) -> str:
        """Return a condition: ``value`` matches the regular expression ``pattern``."""
        if self.kind == "duckdb":
            return f"regexp_matches({value}, {self.literal(pattern)})"
        return f"({value} ~ {self.literal(without_bounded_repeats(pattern))})"

    def trimmed(self, value: str) -> str:
        """Return ``value`` without csvdock's whitespace at either end."""
        chars = " || ".join(f"chr({ord(c)})" for c in t.WHITESPACE)
        function = "trim" if self.kind == "duckdb" else "btrim"
        return f"{function}({value}, {chars})"

    def valid(self, value: str, logical_type: str) -> str:
        """Return a condition: the trimmed ``value`` converts to ``logical_type``."""
        scale = t.decimal_scale(logical_type)
        if scale is not None:
            # The type's pattern, ^[+-]?[0-9]{1,whole}(\.[0-9]{1,scale})?$, as a plain pattern
            # plus digit counts: bounded repeats are slow in PostgreSQL's regular expressions.
            whole = t.DECIMAL_PRECISION - scale
            pattern = t.DECIMAL_PATTERN if scale else t.INTEGER_PATTERN
            digits = f"length(ltrim(split_part({value}, '.', 1), '+-')) <= {whole}"
            if scale:
                digits += f" AND length(split_part({value}, '.', 2)) <= {scale}"
            return f"(CASE WHEN {self.matches(value, pattern)} THEN {digits} ELSE false END)"
        if logical_type == t.BOOLEAN:
            words = ", ".join(self.literal(w) for w in t.TRUE_WORDS + t.FALSE_WORDS)
            return f"(lower({value}) IN ({words}))"
        pattern = {
            t.INTEGER: t.INTEGER_PATTERN,
            t.BIGINT: t.INTEGER_PATTERN,
            t.DOUBLE: t.DOUBLE_PATTERN,
            t.DATE: t.DATE_PATTERN,
            t.TIMESTAMP: t.TIMESTAMP_PATTERN,
        }[logical_type]
        checked = self._value_check(value, logical_type)
        return f"(CASE WHEN {self.matches(value, pattern)} THEN {checked} ELSE false END)"

    def _value_check(self, value: str, logical_type: str) -> str:
        if self.kind == "duckdb":
            cast = f"TRY_CAST({value} AS {self.sql_type(logical_type)})"
            if logical_type == t.DOUBLE:
                return _magnitude_ok(cast)
            return f"({cast} IS NOT NULL)"
        if logical_type in (t.INTEGER, t.BIGINT):
            low, high = (
                (-(2**31), 2**31 - 1) if logical_type == t.INTEGER else (-(2**63), 2**63 - 1)
            )
            return f"(CAST({value} AS NUMERIC) BETWEEN {low} AND {high})"
        if logical_type == t.DOUBLE:
            return _magnitude_ok(f"CAST({value} AS NUMERIC)")
        return _calendar_ok(value)

    def sql_type(self, logical_type: str) -> str:
        """Return the SQL type of ``logical_type`` in this dialect."""
        return sql_type(self.kind, logical_type)


def without_bounded_repeats(pattern: str) -> str:
    """Return ``pattern`` with each small bounded repeat written out (``[0-9]{2}`` becomes
    ``[0-9][0-9]``, ``[0-9]{1,3}`` becomes ``[0-9][0-9]?[0-9]?``): the same language, several
    times faster in PostgreSQL."""

    def written_out(match: re.Match[str]) -> str:
        atom, low, high = match.group(1), int(match.group(2)), match.group(3)
        optional = (int(high) - low) if high else 0
        return atom * low + f"{atom}?" * optional

    return re.sub(r"(\[[^\]]+\]|\\.|[^\\()\[\]{}|^$?*+])\{(\d+)(?:,(\d+))?\}", written_out, pattern)


def _magnitude_ok(number: str) -> str:
    low, high = t.DOUBLE_MIN_MAGNITUDE, t.DOUBLE_MAX_MAGNITUDE
    return f"(abs({number}) = 0 OR abs({number}) BETWEEN {low!r} AND {high!r})"


def _calendar_ok(value: str) -> str:
    """A set-based date check for a value already matching the date pattern (PostgreSQL)."""
    year = f"CAST(substr({value}, 1, 4) AS INTEGER)"
    month = f"CAST(substr({value}, 6, 2) AS INTEGER)"
    day = f"CAST(substr({value}, 9, 2) AS INTEGER)"
    leap = f"(({year} % 4 = 0 AND {year} % 100 <> 0) OR {year} % 400 = 0)"
    days = (
        f"(CASE WHEN {month} IN (1, 3, 5, 7, 8, 10, 12) THEN 31 WHEN {month} IN (4, 6, 9, 11) "
        f"THEN 30 WHEN {leap} THEN 29 ELSE 28 END)"
    )
    return f"({month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {days})"


def staging_table(table: str, sha256: str) -> tuple[str, str]:
    """Return the (schema, table) of one file's staging table."""
    return STAGING_SCHEMA, f"{table.replace('.', '__')}__{sha256[:12]}"


def create_staging(warehouse: Warehouse, staging: tuple[str, str], columns: list[str]) -> None:
    """(Re)create a staging table: the file's columns as text plus line and byte positions."""
    unlogged = "UNLOGGED " if warehouse.kind == "postgresql" else ""
    text = "VARCHAR" if warehouse.kind == "duckdb" else "TEXT"
    name = qualified_name(*staging)
    definitions = [f"{quote_identifier(c)} {text}" for c in columns]
    definitions += [f"{quote_identifier(c)} BIGINT" for c in (LINE, START, END)]
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(STAGING_SCHEMA)}")
    warehouse.execute(f"DROP TABLE IF EXISTS {name}")
    warehouse.execute(f"CREATE {unlogged}TABLE {name} ({', '.join(definitions)})")


def drop_staging(warehouse: Warehouse, staging: tuple[str, str]) -> None:
    """Drop a staging table if it exists."""
    warehouse.execute(f"DROP TABLE IF EXISTS {qualified_name(*staging)}")


def checked_rows_sql(
    dialect: SqlDialect,
    staging: tuple[str, str],
    staged_columns: list[str],
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    contract: ContractRules | None,
) -> str:
    """Return a SELECT over the staging table with the typed columns and, per row, the first
    failing check's column, reason and stage (NULL when the row fits), as ETL decides them.

    Three levels, each computed once a row: the trimmed values, then each column's checks, then
    the casts and the first failing check. (PostgreSQL repeats a repeated expression; ``OFFSET 0``
    keeps it from folding the levels back into one.)"""
    available = set(staged_columns)
    positions = [quote_identifier(c) for c in (LINE, START, END)]
    trimmed: list[str] = []  # level 1
    flags: list[str] = []  # level 2
    typed: list[str] = []  # level 3
    checks: list[tuple[str, str, str, str]] = []  # (condition, column, reason SQL, stage)
    for i, column in enumerate(schema.columns):
        column_type = dialect.sql_type(column.type)
        name = quote_identifier(column.name)
        if column.name not in available:
            typed.append(f"CAST(NULL AS {column_type}) AS {name}")
            continue
        raw = name
        value, ok, null = (quote_identifier(f"__csvdock_{k}{i}") for k in ("v", "ok", "null"))
        if column.type == t.TEXT:
            typed.append(f"{raw} AS {name}")
            flags.append(f"({raw} IS NULL OR {raw} = '') AS {null}")
        else:
            trimmed.append(f"{dialect.trimmed(raw)} AS {value}")
            flags.append(f"{dialect.valid(value, column.type)} AS {ok}")
            tokens = t.null_tokens_for(column.type, null_tokens)
            flags.append(f"{_null_check(dialect, value, tokens)} AS {null}")
            cast = _converted(dialect, value, column.type, column_type)
            typed.append(f"CASE WHEN {ok} THEN {cast} END AS {name}")
            reason = (
                f"{dialect.literal(f'column {column.name!r}: ' + chr(39))} || "
                f"substr({raw}, 1, {MAX_VALUE_IN_REASON}) || "
                f"{dialect.literal(chr(39) + f' is not {column.type}')}"
            )
            checks.append((f"(NOT {null} AND NOT {ok})", column.name, reason, "cast"))
        if not column.nullable:
            reason = dialect.literal(
                f"column {column.name!r} is empty but the schema says NOT NULL"
            )
            checks.append((null, column.name, reason, "contract"))
    if contract is not None:
        for missing in contract.missing_columns:
            reason = f"column {missing!r} of schema v{contract.version} is missing from the file"
            checks.insert(0, ("true", missing, dialect.literal(reason), "contract"))
        for unknown in contract.unknown_columns:
            raw = quote_identifier(unknown)
            reason = f"column {unknown!r} is not in schema v{contract.version} (frozen)"
            present = f"NOT ({raw} IS NULL OR {raw} = '')"
            checks.insert(0, (present, unknown, dialect.literal(reason), "contract"))

    def first(pick: int) -> str:
        if not checks:
            return "CAST(NULL AS VARCHAR)" if dialect.kind == "duckdb" else "CAST(NULL AS TEXT)"
        whens = " ".join(
            f"WHEN {c[0]} THEN {c[pick] if pick == 2 else dialect.literal(c[pick])}" for c in checks
        )
        return f"CASE {whens} END"

    fence = " OFFSET 0" if dialect.kind == "postgresql" else ""
    raw_columns = [quote_identifier(c) for c in staged_columns]
    level_1 = ", ".join([*positions, *raw_columns, *trimmed])
    level_2 = ", ".join(["l1.*", *flags])
    return (
        f"SELECT {', '.join(positions)}, {', '.join(typed)}, {first(1)} AS __reject_column, "
        f"{first(2)} AS __reject_reason, {first(3)} AS __reject_stage "
        f"FROM (SELECT {level_2} FROM (SELECT {level_1} FROM {qualified_name(*staging)}{fence}) "
        f"AS l1{fence}) AS l2"
    )


def _null_check(dialect: SqlDialect, value: str, tokens: tuple[str, ...]) -> str:
    listed = ", ".join(dialect.literal(token) for token in sorted(tokens))
    return f"({value} IS NULL OR {value} IN ({listed}))"


def _converted(dialect: SqlDialect, value: str, logical_type: str, target_type: str) -> str:
    if logical_type == t.BOOLEAN:
        true_words = ", ".join(dialect.literal(w) for w in t.TRUE_WORDS)
        return f"(lower({value}) IN ({true_words}))"
    return f"CAST({value} AS {target_type})"
