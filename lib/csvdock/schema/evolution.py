"""Schema evolution: how a file's detected schema meets its table's latest version.

- ``evolve``: new columns are added (nullable), missing ones read NULL (logged), a type widens
  where no value changes: integer -> bigint -> decimal, integer -> double, date -> timestamp,
  and anything -> text as the last step (bigint or decimal meeting double: text, since a double
  cannot hold an 18-digit id or a 20-digit decimal exactly). A source format (``28/01/2018``
  day-first) seen in a file is added to its column (a format only adds readings); two different
  formats make the column text.
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
    """Return the narrowest type that holds every value of ``old`` and of ``new``: the wider of
    the two within one family (the type registry's order), else text."""
    if old == new:
        return old
    (old_family, old_rank), (new_family, new_rank) = t.widening_rank(old), t.widening_rank(new)
    if old_family != new_family or old_family in ("boolean", "text"):
        return t.TEXT
    if t.DOUBLE in (old, new) and {old, new} & {t.BIGINT, *_decimals(old, new)}:
        return t.TEXT  # a double cannot hold every bigint or decimal exactly: no value changes
    scales = [s for s in (t.decimal_scale(old), t.decimal_scale(new)) if s is not None]
    if scales and max(old_rank, new_rank) == t.widening_rank(t.decimal_type(0))[1]:
        return t.decimal_type(max(scales))
    return new if new_rank > old_rank else old


def _decimals(*types: str) -> set[str]:
    return {kind for kind in types if t.decimal_scale(kind) is not None}


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
        if seen is None or column.evidence.get("declared"):
            columns.append(column)
            continue
        wider = widened_type(column.type, seen.type)
        source_format = column.format or seen.format
        if column.format and seen.format and column.format != seen.format:
            wider = t.TEXT  # the same text reads differently in each format: keep it as text
        if wider == t.TEXT:
            source_format = None
        if wider != column.type:
            changes.append(
                {"change": "widened", "column": column.name, "from": column.type, "to": wider}
            )
            column = replace(column, type=wider, evidence=seen.evidence, format=source_format)
        elif source_format != column.format:
            changes.append({"change": "format", "column": column.name, "format": source_format})
            column = replace(column, format=source_format)
        columns.append(column)
    for name in unknown:
        added = file_columns[name]
        columns.append(replace(added, nullable=True))
        changes.append({"change": "added", "column": name, "type": added.type})
    changed = any(c["change"] != "missing" for c in changes)
    schema = replace(latest, columns=columns) if changed else latest
    return Resolution(schema, changed, changes, [], missing)
