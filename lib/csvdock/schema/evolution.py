"""Schema evolution: how a file's detected schema meets its table's latest version.

- ``evolve``: new columns are added (nullable), missing ones read NULL (logged), a type widens
  where no value changes: integer -> bigint -> decimal -> double, date -> timestamp, and anything
  -> text as the last step.
  Declared columns (written by hand) never widen: values that do not fit are rejected.
- ``freeze``: the latest version is a contract; the table never changes; rows that do not fit
  are rejected (``csvdock.transform.ContractRules``).
- ``discard_columns``: unknown columns are dropped (logged), missing ones read NULL, types hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from csvdock.schema import types as t
from csvdock.schema.table import Column, TableSchema

log = logging.getLogger("csvdock")
NUMERIC_ORDER = (t.INTEGER, t.BIGINT, "decimal", t.DOUBLE)
TEMPORAL_ORDER = (t.DATE, t.TIMESTAMP)


@dataclass
class Resolution:
    """The schema a file is loaded with, and how the file differs from it."""

    schema: TableSchema
    changed: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    base_version: int | None = None  # the version resolved against (None: a new table)


def widened_type(old: str, new: str) -> str:
    """Return the narrowest type that holds every value of ``old`` and of ``new``."""
    if old == new:
        return old
    old_rank, new_rank = _rank(old, NUMERIC_ORDER), _rank(new, NUMERIC_ORDER)
    if old_rank is not None and new_rank is not None:
        scales = [s for s in (t.decimal_scale(old), t.decimal_scale(new)) if s is not None]
        top = NUMERIC_ORDER[max(old_rank, new_rank)]
        if top == "decimal":
            return t.decimal_type(max(scales))
        return top
    if old in TEMPORAL_ORDER and new in TEMPORAL_ORDER:
        return t.TIMESTAMP
    return t.TEXT


def resolve(latest: TableSchema | None, detected: TableSchema, policy: str) -> Resolution:
    """Return the schema to load a file with under ``policy``, given the table's ``latest``."""
    if latest is None:
        return Resolution(detected, changed=True)
    file_columns = {c.name: c for c in detected.columns}
    missing = [c.name for c in latest.columns if c.name not in file_columns]
    unknown = [c.name for c in detected.columns if latest.column(c.name) is None]
    if missing:
        log.warning("%s: the file lacks column(s) %s; they read NULL", latest.table, missing)
    changes: list[dict[str, Any]] = [{"change": "missing", "column": name} for name in missing]
    if policy != "evolve":
        if unknown and policy == "discard_columns":
            log.warning("%s: dropping unknown column(s) %s", latest.table, unknown)
        return Resolution(latest, False, changes, unknown, missing)
    columns: list[Column] = []
    for column in latest.columns:
        seen = file_columns.get(column.name)
        if seen is None or column.evidence.get("declared") or seen.type == column.type:
            columns.append(column)
            continue
        wider = widened_type(column.type, seen.type)
        if wider != column.type:
            changes.append(
                {"change": "widened", "column": column.name, "from": column.type, "to": wider}
            )
            column = replace(column, type=wider, evidence=seen.evidence)
        columns.append(column)
    for name in unknown:
        added = file_columns[name]
        columns.append(replace(added, nullable=True))
        changes.append({"change": "added", "column": name, "type": added.type})
    changed = any(c["change"] != "missing" for c in changes)
    schema = replace(latest, columns=columns) if changed else latest
    return Resolution(schema, changed, changes, [], missing)


def _rank(logical_type: str, order: tuple[str, ...]) -> int | None:
    key = "decimal" if t.decimal_scale(logical_type) is not None else logical_type
    return order.index(key) if key in order else None
