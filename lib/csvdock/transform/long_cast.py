"""The cast of a wide schema at a cost linear in cells (issue 26): ``typed_frame``'s result, with
the columns of one type, format and nullability cast together as one long column of their values.

A query with an expression per column plans thousands of expressions for a 2,000-column file
(1.3 s for two records); here a 2,000-column file is a handful of expressions over 4,000 cells.
The checks are ``polars_cast``'s own (``cast_and_checks``, ``mismatch_reason``), so both casts
give the same frame; ``typed_frame`` stays the cast of a narrow schema.
"""

from __future__ import annotations

import polars as pl

from csvdock.read.records import END, LINE, START
from csvdock.rejects.format import REJECT_CODE, REJECT_COLUMN, REJECT_REASON, REJECT_STAGE
from csvdock.schema import types as t
from csvdock.schema.contract import ContractRules
from csvdock.schema.table import Column, TableSchema
from csvdock.transform.typed import (
    CHECKS,
    MISMATCH,
    NOT_NULL,
    cast_and_checks,
    mismatch_parts,
    mismatch_reason,
    null_reason,
    typed_frame,
)

VALUE, ROW, ORDER = "__value", "__row", "__order"  # the long frame's own columns
AT, MISFIT, MISSING = "__at", "__misfit", "__missing"
BEFORE, AFTER, NAME, NULL_REASON = "__before", "__after", "__name", "__null_reason"


def long_typed_frame(
    records: pl.LazyFrame,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    contract: ContractRules | None = None,
) -> pl.LazyFrame:
    """Return ``typed_frame(records, schema, null_tokens, contract)``, cast by groups of columns
    that share their checks: the first failing check of a record is the one of its first failing
    column, in schema order (a column's type before its NOT NULL), the contract's before both."""
    frame = records.collect(engine="in-memory")
    rows = frame.height
    typed: dict[int, pl.Series] = {}
    failures: list[pl.DataFrame] = []
    for group in _columns_sharing_checks(schema, set(frame.columns)):
        cast, failed = _cast_group(frame, [schema.columns[at] for at in group], null_tokens)
        for offset, at in enumerate(group):
            typed[at] = cast.slice(offset * rows, rows).alias(schema.columns[at].name)
        failures.append(_placed(failed, group, rows))
    columns = [
        typed[at] if at in typed else _nulls(column, rows)
        for at, column in enumerate(schema.columns)
    ]
    checks = _first_failures(failures, schema, rows)
    if contract is not None:
        broken = typed_frame(
            records.select(LINE, START, END, *[n for n in contract.unknown_columns if n in frame]),
            TableSchema(schema.table, []),
            null_tokens,
            contract,
        ).collect(engine="in-memory")
        checks = checks.select(
            pl.coalesce(broken[name], pl.col(name)).alias(name) for name in CHECKS
        )
    return frame.select(LINE, START, END).hstack([*columns, *checks.iter_columns()]).lazy()


def _nulls(column: Column, rows: int) -> pl.Series:
    """Return ``rows`` NULLs of ``column``'s dtype (a column the records lack)."""
    return pl.Series(column.name, [None] * rows, dtype=t.polars_dtype(column.type))


def _columns_sharing_checks(schema: TableSchema, available: set[str]) -> list[list[int]]:
    """Return the positions of the schema's columns the records have, grouped by type, format
    and nullability (the columns of a group are cast and checked by the same expressions)."""
    groups: dict[tuple[str, str | None, bool], list[int]] = {}
    for at, column in enumerate(schema.columns):
        if column.name in available:
            groups.setdefault((column.type, column.format, column.nullable), []).append(at)
    return list(groups.values())


def _cast_group(
    frame: pl.DataFrame, columns: list[Column], null_tokens: tuple[str, ...]
) -> tuple[pl.Series, pl.DataFrame]:
    """Return the group's values cast (column after column, each ``frame.height`` long) and its
    failing cells: their place in the long column, raw text and whether the value is missing."""
    values = pl.concat([frame.get_column(c.name) for c in columns], rechunk=False)
    typed, misfit, is_null = cast_and_checks(columns[0], VALUE, null_tokens)
    missing = pl.lit(False) if columns[0].nullable else is_null
    cast = (
        values.alias(VALUE)
        .to_frame()
        .select(typed.alias("typed"), pl.col(VALUE), misfit.alias(MISFIT), missing.alias(MISSING))
    )
    failed = cast.with_row_index(ORDER).filter(pl.col(MISFIT) | pl.col(MISSING))
    return cast.get_column("typed"), failed.select(ORDER, VALUE, MISSING)


def _placed(failed: pl.DataFrame, group: list[int], rows: int) -> pl.DataFrame:
    """Return a group's failing cells with their record (``ROW``), column (``AT``, its place in
    the schema) and the order of their check among the record's (``ORDER``)."""
    at = pl.lit(pl.Series(group, dtype=pl.Int64)).gather(pl.col(ORDER) // rows)
    return failed.select(
        (pl.col(ORDER) % rows).cast(pl.Int64).alias(ROW),
        at.alias(AT),
        (at * 2 + pl.col(MISSING).cast(pl.Int64)).alias(ORDER),
        VALUE,
        MISSING,
    )


def _first_failures(failures: list[pl.DataFrame], schema: TableSchema, rows: int) -> pl.DataFrame:
    """Return, for every record, its first failing check as ``typed_frame`` names it: column,
    reason, stage and code (NULL where every check holds)."""
    records = pl.DataFrame({ROW: pl.int_range(0, rows, dtype=pl.Int64, eager=True)})
    first = (
        pl.concat(failures, how="vertical")
        .sort(ROW, ORDER)
        .unique(ROW, keep="first", maintain_order=True)
        if failures
        else pl.DataFrame(
            schema={ROW: pl.Int64, AT: pl.Int64, VALUE: pl.String, MISSING: pl.Boolean}
        )
    )
    ats = first.get_column(AT).unique().sort().to_list()
    failing = [schema.columns[at] for at in ats]
    parts = [mismatch_parts(column) for column in failing]
    columns = pl.DataFrame(
        {
            AT: ats,
            NAME: [column.name for column in failing],
            BEFORE: [before for before, _ in parts],
            AFTER: [after for _, after in parts],
            NULL_REASON: [null_reason(column) for column in failing],
        },
        schema={
            AT: pl.Int64,
            NAME: pl.String,
            BEFORE: pl.String,
            AFTER: pl.String,
            NULL_REASON: pl.String,
        },
    )
    missing = pl.col(MISSING)
    named = first.join(columns, on=AT, how="left").select(
        ROW,
        pl.col(NAME).alias(REJECT_COLUMN),
        pl.when(missing)
        .then(pl.col(NULL_REASON))
        .otherwise(mismatch_reason(pl.col(VALUE), pl.col(BEFORE), pl.col(AFTER)))
        .alias(REJECT_REASON),
        pl.when(missing)
        .then(pl.lit(NOT_NULL[0]))
        .otherwise(pl.lit(MISMATCH[0]))
        .alias(REJECT_STAGE),
        pl.when(missing)
        .then(pl.lit(NOT_NULL[1]))
        .otherwise(pl.lit(MISMATCH[1]))
        .alias(REJECT_CODE),
    )
    return records.join(named, on=ROW, how="left", maintain_order="left").select(CHECKS)
