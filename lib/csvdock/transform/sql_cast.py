"""ELT: the raw records land in a staging table (all text plus line and byte positions), then one
SQL statement generated from the schema version casts them into the final table inside the target.

The SQL comes from the type registry (``csvdock.schema.types``: same patterns, same NULL tokens,
same reasons as the Polars cast), written in the target's dialect, so ETL and ELT give the same
table and the same rejects on every target.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.read.records import END, LINE, START
from csvdock.rejects.codes import RejectCode, contract_reason, type_mismatch_parts
from csvdock.rejects.format import REJECT_CODE, REJECT_COLUMN, REJECT_REASON, REJECT_STAGE
from csvdock.schema import types as t
from csvdock.schema.contract import ContractRules
from csvdock.schema.formats import only_this_sql, rewritten_sql
from csvdock.schema.optimistic import Proposal
from csvdock.schema.statistics import stat_key
from csvdock.schema.table import TableSchema
from csvdock.targets.base import SqlDialect, Warehouse
from csvdock.transform.typed import MAX_VALUE_IN_REASON, kind_of_values

STAGING_SCHEMA = "csvdock_staging"


def staging_table(table: str, sha256: str) -> tuple[str, str]:
    """Return the (schema, table) of one file's staging table."""
    return STAGING_SCHEMA, f"{table.replace('.', '__')}__{sha256[:12]}"


def create_staging(warehouse: Warehouse, staging: tuple[str, str], columns: list[str]) -> None:
    """(Re)create a staging table: the file's columns as text plus line and byte positions."""
    text = warehouse.dialect.text_type
    name = qualified_name(*staging)
    definitions = [f"{quote_identifier(c)} {text}" for c in columns]
    definitions += [f"{quote_identifier(c)} BIGINT" for c in (LINE, START, END)]
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(STAGING_SCHEMA)}")
    drop_staging(warehouse, staging)
    warehouse.execute(warehouse.dialect.create_staging_table(name, definitions))


def create_staging_view(warehouse: Warehouse, staging: tuple[str, str], records: str) -> None:
    """(Re)create a staging view: the SELECT ``records`` of a file's text records with their
    positions (a target that reads CSV itself stages a file that stays in its source so)."""
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(STAGING_SCHEMA)}")
    drop_staging(warehouse, staging)
    warehouse.execute(f"CREATE VIEW {qualified_name(*staging)} AS {records}")


def drop_staging(warehouse: Warehouse, staging: tuple[str, str]) -> None:
    """Drop a staging table or view if it exists."""
    found = warehouse.execute(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = $1 AND table_name = $2",
        list(staging),
    )
    if found:
        kind = "VIEW" if found[0][0] == "VIEW" else "TABLE"
        warehouse.execute(f"DROP {kind} {qualified_name(*staging)}")


def checked_rows_sql(
    dialect: SqlDialect,
    staged: str,
    staged_columns: list[str],
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    contract: ContractRules | None,
) -> str:
    """Return a SELECT over the ``staged`` text records (a staging table's qualified name, or a
    parenthesised query with an alias: ``staged_columns`` and the line and byte positions) with
    the typed columns and, per row, the first failing check's column, reason, stage and code
    (NULL when the row fits), as the Polars cast decides them.

    Three levels, each computed once a row: the trimmed values, then each column's checks, then
    the casts and the first failing check. (PostgreSQL repeats a repeated expression; ``OFFSET 0``
    keeps it from folding the levels back into one.)"""
    available = set(staged_columns)
    positions = [quote_identifier(c) for c in (LINE, START, END)]
    trimmed: list[str] = []  # level 1
    flags: list[str] = []  # level 2
    typed: list[str] = []  # level 3
    checks: list[Check] = []
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
            standard = rewritten_sql(dialect, dialect.trimmed(raw), column.format)
            trimmed.append(f"{standard} AS {value}")
            flags.append(f"{t.sql_valid(dialect, value, column.type)} AS {ok}")
            tokens = t.null_tokens_for(column.type, null_tokens)
            flags.append(f"{_null_check(dialect, value, tokens)} AS {null}")
            cast = t.sql_converted(dialect, value, column.type)
            typed.append(f"CASE WHEN {ok} THEN {cast} END AS {name}")
            before, after = type_mismatch_parts(column.name, kind_of_values(column))
            reason = (
                f"{dialect.literal(before)} || substr({raw}, 1, {MAX_VALUE_IN_REASON}) || "
                f"{dialect.literal(after)}"
            )
            misfit = f"(NOT {null} AND NOT {ok})"
            checks.append((misfit, column.name, reason, "cast", "type_mismatch"))
        if not column.nullable:
            reason = dialect.literal(contract_reason("not_null", column.name))
            checks.append((null, column.name, reason, "contract", "not_null"))
    if contract is not None:
        checks = [*_frozen_checks(dialect, contract), *checks]

    def first(pick: int) -> str:
        if not checks:
            return f"CAST(NULL AS {dialect.text_type})"
        whens = " ".join(
            f"WHEN {c[0]} THEN {c[pick] if pick == 2 else dialect.literal(c[pick])}" for c in checks
        )
        return f"CASE {whens} END"

    fence = dialect.fence()
    raw_columns = [quote_identifier(c) for c in staged_columns]
    level_1 = ", ".join([*positions, *raw_columns, *trimmed])
    level_2 = ", ".join(["l1.*", *flags])
    return (
        f"SELECT {', '.join(positions)}, {', '.join(typed)}, {first(1)} AS {REJECT_COLUMN}, "
        f"{first(2)} AS {REJECT_REASON}, {first(3)} AS {REJECT_STAGE}, "
        f"{first(4)} AS {REJECT_CODE} "
        f"FROM (SELECT {level_2} FROM (SELECT {level_1} FROM {staged}{fence}) "
        f"AS l1{fence}) AS l2"
    )


def trusted_rows_sql(
    dialect: SqlDialect,
    staged: str,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    padded: Collection[str] | None = None,
    with_tokens: Collection[str] | None = None,
) -> str:
    """Return a SELECT of the typed columns of the ``staged`` text records, with no checks:
    only for records whose every present value was checked to convert (``checked_rows_sql``'s
    checks, on every row, by ``proposal_statistics_sql``) and a schema of those types, without
    formats or contracts. (A value that does not convert makes the statement fail: it is
    never stored altered.) Where the check counted them on every row, only the ``padded``
    columns (a value with whitespace around it) are trimmed and only the ``with_tokens``
    columns (a NULL token) compared with the tokens: in PostgreSQL the trim and the comparison
    cost more than the cast (ELT)."""
    return _typed_rows_sql(
        dialect, staged, schema, null_tokens, None, padded, with_tokens=with_tokens
    )


def optimistic_rows_sql(
    dialect: SqlDialect,
    staged: str,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    detected: dict[str, str],
    padded: Collection[str],
    samples: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Return a SELECT of the ``staged`` text records cast to ``schema``'s types that fails
    (DuckDB's ``error``: an ``InvalidInputException``) at the first present value that does not
    fit its column's ``detected`` type under the registry's checks (the first look's types:
    ``csvdock.schema.optimistic.provisional_schema``; the schema's may be wider in the same
    family: a value that fits the narrower converts exactly), or that has a
    leading zero in a number column. Only for a schema without formats or contracts, in DuckDB.
    Only the ``padded`` columns' values are trimmed: in another, a value with whitespace
    around it fits no pattern and fails it too (stricter, never laxer, than the registry).
    ``samples``: the first look's values of each column (the layout of its timestamps)."""
    return _typed_rows_sql(dialect, staged, schema, null_tokens, detected, padded, samples)


REFUTED = "csvdock: a value does not fit the first look's type of column "


def _typed_rows_sql(
    dialect: SqlDialect,
    staged: str,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    detected: dict[str, str] | None,
    padded: Collection[str] | None = None,
    samples: Mapping[str, Sequence[str]] | None = None,
    with_tokens: Collection[str] | None = None,
) -> str:
    """(``detected``: the types to check, where the values are checked; ``padded``: the
    columns to trim, ``with_tokens`` the columns that may hold a NULL token, where not every
    one.)"""
    trimmed: list[str] = []
    typed: list[str] = []
    for i, column in enumerate(schema.columns):
        name = quote_identifier(column.name)
        checked = detected[column.name] if detected is not None else column.type
        if column.type == t.TEXT:
            typed.append(f"{name} AS {name}")
            continue
        value = quote_identifier(f"__csvdock_v{i}")
        raw = padded is not None and column.name not in padded
        trimmed.append(f"{name if raw else dialect.trimmed(name)} AS {value}")
        tokens = t.null_tokens_for(column.type, null_tokens)
        cast = t.sql_converted(dialect, value, column.type)
        null = _null_check(dialect, value, tokens)
        if detected is None:
            tokenless = with_tokens is not None and column.name not in with_tokens
            converted = cast if tokenless else f"CASE WHEN NOT {null} THEN {cast} END"
            typed.append(f"{converted} AS {name}")
            continue
        fits = t.sql_valid(dialect, value, checked)
        if t.type_of(checked).family == "numeric":
            fits = f"({fits} AND NOT {_leading_zero(dialect, value)})"
        refuted = f"error({dialect.literal(REFUTED + column.name)})"
        tried = quote_identifier(f"__csvdock_t{i}")
        rendered = _rendered(dialect, value, tried, checked, (samples or {}).get(column.name, ()))
        if raw and checked == column.type and rendered is not None:
            trimmed.append(f"{dialect.try_cast(name, dialect.sql_type(column.type))} AS {tried}")
            fits = f"{rendered} THEN {tried} WHEN {fits}"
        typed.append(
            f"CASE WHEN {null} THEN NULL WHEN {fits} THEN {cast} ELSE {refuted} END AS {name}"
        )
    values = ", ".join(["*", *trimmed])
    fence = dialect.fence()  # (trimmed once a value, not once a use)
    return f"SELECT {', '.join(typed)} FROM (SELECT {values} FROM {staged}{fence}) AS trimmed"


# Timestamp layouts DuckDB's strftime renders (its format, the length of its text), each a form
# TIMESTAMP_PATTERN takes for a year from 1000 to 9999.
TIMESTAMP_LAYOUTS = {
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}": ("%Y-%m-%dT%H:%M:%S.%f", 26),
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}": ("%Y-%m-%d %H:%M:%S.%f", 26),
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d": ("%Y-%m-%dT%H:%M:%S", 19),
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d": ("%Y-%m-%d %H:%M:%S", 19),
    r"\d{4}-\d\d-\d\dT\d\d:\d\d": ("%Y-%m-%dT%H:%M", 16),
    r"\d{4}-\d\d-\d\d \d\d:\d\d": ("%Y-%m-%d %H:%M", 16),
}


def _rendered(
    dialect: SqlDialect, value: str, tried: str, checked: str, samples: Sequence[str]
) -> str | None:
    """Return a condition cheaper than the registry's check that implies it: ``value``'s text
    is the rendering of ``tried`` (its try-cast to ``checked``), in the layout of the first
    look's ``samples`` for a timestamp. None where there is none (a pattern of DuckDB's
    rendering: another target, another type, samples of no one layout). A value it does not
    hold for is checked by the registry as before (a regular expression cost more than the
    cast: 2.5x for a timestamp)."""
    if not dialect.capabilities.try_cast:
        return None
    text = f"CAST({tried} AS VARCHAR) = {value}"
    if checked in (t.INTEGER, t.BIGINT):
        return text  # (no sign but a minus, no leading zero: a form the pattern takes)
    from_1000 = f"{value} >= '1'"  # (a year below 1000 renders with a leading zero)
    if checked == t.DATE:
        return f"{text} AND length({value}) = 10 AND {from_1000}"
    layout = _timestamp_layout(samples) if checked == t.TIMESTAMP else None
    if layout is None:
        return None
    form, length = layout
    return f"strftime({tried}, '{form}') = {value} AND length({value}) = {length} AND {from_1000}"


def _timestamp_layout(samples: Sequence[str]) -> tuple[str, int] | None:
    """Return the layout most of ``samples`` are in (of ``TIMESTAMP_LAYOUTS``), if any."""
    counts = Counter(
        next(
            (layout for shape, layout in TIMESTAMP_LAYOUTS.items() if re.fullmatch(shape, s)), None
        )
        for s in samples
        if s
    )
    counts.pop(None, None)
    if not counts:
        return None
    layout, found = counts.most_common(1)[0]
    return layout if found * 2 > len(samples) else None


def _leading_zero(dialect: SqlDialect, value: str) -> str:
    """Return whether ``value`` has a leading zero (the pattern only where the first character
    can start one: a tenth of the cost)."""
    zeros = dialect.matches(value, t.LEADING_ZERO_PATTERN)
    return f"CASE WHEN left({value}, 1) IN ('0', '+', '-') THEN {zeros} ELSE false END"


Check = tuple[str, str, str, str, RejectCode]  # condition, column, reason SQL, stage, code


def _frozen_checks(dialect: SqlDialect, contract: ContractRules) -> list[Check]:
    """Return the checks of a frozen schema, first in a row's order of checks: a value in a
    column the schema lacks, then a column of the schema the file lacks (each list last to
    first, as the Polars cast orders them)."""
    version = contract.version
    unknown: list[Check] = [
        (
            f"NOT ({quote_identifier(name)} IS NULL OR {quote_identifier(name)} = '')",
            name,
            dialect.literal(contract_reason("unknown_column", name, version)),
            "contract",
            "unknown_column",
        )
        for name in reversed(contract.unknown_columns)
    ]
    missing: list[Check] = [
        (
            "true",
            name,
            dialect.literal(contract_reason("missing_column", name, version)),
            "contract",
            "missing_column",
        )
        for name in reversed(contract.missing_columns)
    ]
    return [*unknown, *missing]


def _null_check(dialect: SqlDialect, value: str, tokens: tuple[str, ...]) -> str:
    """Return whether ``value`` is NULL or one of the NULL ``tokens`` (the list compared only
    with a value no longer than the longest: most are, and PostgreSQL compares one by one)."""
    if not tokens:
        return f"({value} IS NULL)"
    listed = ", ".join(dialect.literal(token) for token in sorted(tokens))
    longest = max(len(token) for token in tokens)
    return f"({value} IS NULL OR (length({value}) <= {longest} AND {value} IN ({listed})))"


# Statistics of a checked column that say how to cast it without checks (``trusted_rows_sql``):
# how many of its values have whitespace around them, how many are NULL tokens.
PADDED, TOKENS = "padded", "null_tokens"


def proposal_statistics_sql(
    dialect: SqlDialect,
    records_sql: str,
    proposal: Proposal,
    null_tokens: tuple[str, ...],
) -> tuple[str, list[str]]:
    """Return one aggregate query over the text records of ``records_sql`` that checks
    ``proposal`` on every row (see ``csvdock.schema.optimistic``), and the statistic key of
    each of its result's columns, in order: each column's present values, and each checked
    column's misfits of its type, leading zeros, a decimal's digits and its extremes (the
    decimal family's at the evidence's scale, as ``detect_schema`` gathers them).

    Four levels, each computed once a row (as in ``checked_rows_sql``): the trimmed values
    (and their try-casts, where a value's rendering can stand for the registry's check:
    ``_rendered``), each value's checks, the typed values, then the aggregates. A column not
    of text also counts its values with whitespace around them (``PADDED``) and its NULL
    tokens (``TOKENS``)."""
    trimmed: list[str] = []  # level 1
    tried: list[str] = []  # level 1b
    checked: list[str] = []  # level 2
    typed_values: list[str] = []  # level 3
    aggregates: list[str] = []  # level 4
    keys: list[str] = []
    null_values = ", ".join(
        dialect.literal(s) for s in sorted(t.null_tokens_for(t.BIGINT, null_tokens))
    )
    format_checks = proposal.format_checks()
    for i, (name, kind) in enumerate(proposal.types.items()):
        raw = quote_identifier(name)
        value, present, fits, typed = (
            quote_identifier(f"__csvdock_{k}{i}") for k in ("v", "present", "ok", "typed")
        )
        formats = format_checks.get(name, [])
        if kind != t.TEXT or formats:
            trimmed.append(f"{dialect.trimmed(raw)} AS {value}")
        found: dict[str, str] = {}
        if kind == t.TEXT:  # (its evidence counts the text present)
            found["text_present"] = f"count(CASE WHEN {raw} <> '' THEN 1 END)"
        else:
            checked.append(f"NOT ({value} IS NULL OR {value} IN ({null_values})) AS {present}")
            found["present"] = f"count(CASE WHEN {present} THEN 1 END)"
            found[PADDED] = f"count(CASE WHEN length({raw}) <> length({value}) THEN 1 END)"
            found[TOKENS] = f"count(CASE WHEN {value} IS NOT NULL AND NOT {present} THEN 1 END)"
        if kind == t.DECIMAL:
            exact = f"DECIMAL({t.DECIMAL_PRECISION},{t.MAX_DECIMAL_SCALE})"
            checked.append(f"{dialect.matches(value, t.DECIMAL_PATTERN)} AS {fits}")
            found["scale"], found["whole"] = _decimal_digits(value, fits)
            converted = f"TRY_CAST({value} AS {exact})"
        elif kind != t.TEXT:
            cast = quote_identifier(f"__csvdock_t{i}")
            samples = proposal.first_look.get(stat_key(name, "samples"), ())
            check, converted, tries = _check_and_conversion(dialect, value, cast, kind, samples)
            tried += [tries] if tries else []
            checked.append(f"{check} AS {fits}")
        if kind != t.TEXT:
            found[kind] = f"count(CASE WHEN {present} AND NOT {fits} THEN 1 END)"
        if t.type_of(kind).family == "numeric":
            zeros = _leading_zero(dialect, value)
            found["zeros"] = f"count(CASE WHEN {present} AND {zeros} THEN 1 END)"
        if kind not in (t.TEXT, t.BOOLEAN):
            typed_values.append(f"CASE WHEN {fits} THEN {converted} END AS {typed}")
            found[f"{kind}|min"], found[f"{kind}|max"] = f"min({typed})", f"max({typed})"
        for name_of_format in formats:
            only = only_this_sql(dialect, value, name_of_format)
            found[name_of_format] = f"count(CASE WHEN {only} THEN 1 END)"
        for key, sql in found.items():
            aggregates.append(f"{sql} AS s{len(keys)}")
            keys.append(stat_key(name, key))
    fence = dialect.fence()
    raw_columns = ", ".join(quote_identifier(name) for name in proposal.types)
    level_1 = f"SELECT {', '.join([raw_columns, *trimmed])} FROM ({records_sql}) AS records{fence}"
    if tried:
        level_1 = f"SELECT {', '.join(['l1.*', *tried])} FROM ({level_1}) AS l1{fence}"
    level_2 = f"SELECT {', '.join(['l1.*', *checked])} FROM ({level_1}) AS l1{fence}"
    level_3 = f"SELECT {', '.join(['l2.*', *typed_values])} FROM ({level_2}) AS l2{fence}"
    return f"SELECT {', '.join(aggregates)} FROM ({level_3}) AS l3", keys


def _check_and_conversion(
    dialect: SqlDialect, value: str, cast: str, kind: str, samples: Sequence[str]
) -> tuple[str, str, str | None]:
    """Return the check that ``value`` is of ``kind``, its conversion, and the try-cast to
    compute first as ``cast`` (None: none). Where DuckDB's rendering of the try-cast stands for
    the registry's check (``_rendered``), the check asks it first and the registry's only where
    it does not hold, and the conversion is that try-cast (the same value, cast once)."""
    check = t.sql_valid(dialect, value, kind)
    converted = t.sql_converted(dialect, value, kind)
    rendered = _rendered(dialect, value, cast, kind, samples)
    if rendered is None:
        return check, converted, None
    if t.type_of(kind).sql_convert is None:  # (the registry's conversion is that cast)
        converted = cast
    tries = f"{dialect.try_cast(value, dialect.sql_type(kind))} AS {cast}"
    return f"CASE WHEN {rendered} THEN true ELSE {check} END", converted, tries


def _decimal_digits(value: str, fits: str) -> tuple[str, str]:
    """Return the aggregates of the longest fraction and the longest whole part of ``value``'s
    numbers (as ``detect_schema`` takes them with two patterns): counted from the point's
    place where the value fits the decimal pattern, with the patterns elsewhere."""
    point = f"strpos({value}, '.')"
    fraction = f"CASE WHEN {point} > 0 THEN length({value}) - {point} ELSE 0 END"
    sign = f"CASE WHEN left({value}, 1) IN ('+', '-') THEN 1 ELSE 0 END"
    whole = f"CASE WHEN {point} > 0 THEN {point} - 1 ELSE length({value}) END - {sign}"
    by_pattern = (
        f"length(regexp_extract({value}, '\\.([0-9]+)$', 1))",
        f"length(regexp_extract({value}, '^[+-]?([0-9]+)', 1))",
    )
    return (
        f"max(CASE WHEN {fits} THEN {fraction} ELSE {by_pattern[0]} END)",
        f"max(CASE WHEN {fits} THEN {whole} ELSE {by_pattern[1]} END)",
    )
