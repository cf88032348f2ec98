"""The typed frame of text records: each schema column cast to its dtype, beside the record's
first failing check (its column, reason, stage and code), as Transform, the reports and the
tests read it. ``typed_frame`` is the cast of a narrow schema; ``grouped_typed_frame`` of a wide
and tall one; ``csvdock.transform.long_cast`` of a wide and short one, from these checks."""

from __future__ import annotations

import polars as pl

from csvdock.read.records import END, LINE, START
from csvdock.rejects.codes import RejectCode, contract_reason, type_mismatch_parts
from csvdock.rejects.format import REJECT_CODE, REJECT_COLUMN, REJECT_REASON, REJECT_STAGE
from csvdock.schema import types as t
from csvdock.schema.contract import ContractRules
from csvdock.schema.table import Column, TableSchema

MAX_VALUE_IN_REASON = 60
CHECKS = (REJECT_COLUMN, REJECT_REASON, REJECT_STAGE, REJECT_CODE)


def typed_frame(
    records: pl.LazyFrame,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    contract: ContractRules | None = None,
) -> pl.LazyFrame:
    """Return ``records`` with the schema's typed columns plus the reject column, reason and stage.

    A schema column the records lack reads NULL; a record column the schema lacks is left out.
    """
    available = set(records.collect_schema().names())
    typed: list[pl.Expr] = []
    checks: list[tuple[pl.Expr, str, pl.Expr, str, RejectCode]] = []
    for column in schema.columns:
        if column.name not in available:
            typed.append(pl.lit(None, dtype=t.polars_dtype(column.type)).alias(column.name))
            continue
        value, misfit, is_null = cast_and_checks(column, column.name, null_tokens)
        typed.append(value.alias(column.name))
        before, after = mismatch_parts(column)
        reason = mismatch_reason(pl.col(column.name), pl.lit(before), pl.lit(after))
        checks.append((misfit, column.name, reason, *MISMATCH))
        if not column.nullable:
            checks.append((is_null, column.name, pl.lit(null_reason(column)), *NOT_NULL))
    if contract is not None:
        version = contract.version
        for name in contract.missing_columns:
            reason = pl.lit(contract_reason("missing_column", name, version))
            checks.insert(0, (pl.lit(True), name, reason, "contract", "missing_column"))
        for name in contract.unknown_columns:
            present = ~t.is_null_expr(name, t.TEXT, null_tokens)
            reason = pl.lit(contract_reason("unknown_column", name, version))
            checks.insert(0, (present, name, reason, "contract", "unknown_column"))
    return records.select(
        pl.col(LINE, START, END),
        *typed,
        _first_failing([(m, pl.lit(c)) for m, c, _, _, _ in checks]).alias(REJECT_COLUMN),
        _first_failing([(m, r) for m, _, r, _, _ in checks]).alias(REJECT_REASON),
        _first_failing([(m, pl.lit(s)) for m, _, _, s, _ in checks]).alias(REJECT_STAGE),
        _first_failing([(m, pl.lit(k)) for m, _, _, _, k in checks]).alias(REJECT_CODE),
    )


MISMATCH: tuple[str, RejectCode] = ("cast", "type_mismatch")  # a check's stage and code
NOT_NULL: tuple[str, RejectCode] = ("contract", "not_null")


def cast_and_checks(
    column: Column, value: str, null_tokens: tuple[str, ...]
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """Return the raw text in frame column ``value`` cast to ``column``'s dtype, where it misfits
    (present, yet not of the type) and where it is NULL (a NULL token or no value)."""
    is_null = t.is_null_expr(value, column.type, null_tokens)
    typed = t.typed_expr(value, column.type, column.format)
    return typed.cast(t.polars_dtype(column.type)), ~is_null & typed.is_null(), is_null


def mismatch_parts(column: Column) -> tuple[str, str]:
    """Return the text before and after the value in a ``type_mismatch`` reason of ``column``."""
    return type_mismatch_parts(column.name, _kind(column))


def mismatch_reason(value: pl.Expr, before: pl.Expr, after: pl.Expr) -> pl.Expr:
    """Return the reason of a ``type_mismatch``: the raw text ``value`` (shortened) between the
    column's ``mismatch_parts``."""
    return pl.concat_str([before, value.str.slice(0, MAX_VALUE_IN_REASON), after])


def null_reason(column: Column) -> str:
    """Return the reason of a ``not_null`` reject of ``column``."""
    return contract_reason("not_null", column.name)


def kind_of_values(column: Column) -> str:
    """Return what a column's values must be, as reject reasons name it: ``date (day-first)``."""
    return f"{column.type} ({column.format})" if column.format else column.type


_kind = kind_of_values


def _first_failing(pairs: list[tuple[pl.Expr, pl.Expr]]) -> pl.Expr:
    if not pairs:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce([pl.when(misfit).then(value) for misfit, value in pairs]).cast(pl.String)


WIDE_COLUMNS = 256  # a wider schema is cast in groups of this many columns


def grouped_typed_frame(
    records: pl.LazyFrame,
    schema: TableSchema,
    null_tokens: tuple[str, ...],
    contract: ContractRules | None,
) -> pl.LazyFrame:
    """Return ``typed_frame`` of a wide schema, cast ``WIDE_COLUMNS`` columns at a time (one
    query over thousands of columns plans far beyond linear in time and memory): each group's
    typed columns side by side, and the first failing check over the groups in column order
    (the contract's checks, in the first group, come first as in ``typed_frame``)."""
    available = set(records.collect_schema().names())
    columns = schema.columns
    groups = [columns[at : at + WIDE_COLUMNS] for at in range(0, len(columns), WIDE_COLUMNS)]
    frames = []
    for number, group in enumerate(groups):
        present = [c.name for c in group if c.name in available]
        if contract is not None and number == 0:
            present += [n for n in contract.unknown_columns if n in available]
        part = TableSchema(schema.table, list(group))
        checked = typed_frame(
            records.select(LINE, START, END, *dict.fromkeys(present)),
            part,
            null_tokens,
            contract if number == 0 else None,
        )
        frames.append(checked.collect(engine="in-memory"))
    first = {name: pl.coalesce([f[name] for f in frames]).alias(name) for name in CHECKS}
    typed = [column for f in frames for column in f.drop(LINE, START, END, *CHECKS).iter_columns()]
    combined = frames[0].select(LINE, START, END).with_columns(*typed, *first.values())
    return combined.lazy()
