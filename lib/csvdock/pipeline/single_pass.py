"""The load's single pass for a file whose records stay in its source (ETL): the rows cast to
the table's types and inserted (into DuckDB) or streamed to COPY (into PostgreSQL) while the
first look's types are checked on every value, and the statistics of the values stored, from
which the schema gets its evidence (``csvdock.pipeline.in_source.SourceRows``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from csvdock.core.errors import CsvdockError
from csvdock.core.naming import quote_identifier
from csvdock.pipeline.file_load import Into
from csvdock.schema import types as t
from csvdock.schema.contract import ContractRules
from csvdock.schema.formats import only_this_count, only_this_sql
from csvdock.schema.table import Column, TableSchema
from csvdock.targets import Warehouse
from csvdock.targets.base import CastRefused

Statistics = dict[str, dict[str, Any]]  # per column: present, min, max, formats


class ProposalRefuted(CsvdockError):
    """A value of a file loaded from its source does not fit the first look's type of its
    column (or the schema cannot take the first look's types): the load rolled back, and the
    file goes the usual way (its records copied, ``detect_schema``, the Polars cast)."""


def takes_the_file_as_it_is(
    schema: TableSchema, contract: ContractRules | None, detected: TableSchema
) -> bool:
    """Return whether ``schema`` takes a file whose schema is ``detected`` without a contract
    to enforce, a column the file lacks, a NOT NULL or a source format, each column of the
    file's type or one whose values give the same evidence (a bigint for an integer, a decimal
    of a larger scale): the load checks the file's types and casts to the table's."""
    types = types_of(detected)
    return (
        contract is None
        and sorted(schema.names) == sorted(types)
        and all(
            c.nullable and c.format is None and _holds_as(types[c.name], c.type)
            for c in schema.columns
        )
    )


def _holds_as(detected: str, stored: str) -> bool:
    scales = (t.decimal_scale(detected), t.decimal_scale(stored))
    wider_decimal = scales[0] is not None and scales[1] is not None and scales[1] >= scales[0]
    return detected == stored or wider_decimal or (detected, stored) == (t.INTEGER, t.BIGINT)


def types_of(schema: TableSchema) -> dict[str, str]:
    return {c.name: c.type for c in schema.columns}


def too_long(column: Column) -> bool:
    """Return whether a decimal column's values are too long for its evidence's exact extremes
    (``detect_schema`` reads them in another pass)."""
    return t.decimal_scale(column.type) is not None and "min" not in column.evidence


def inserted_summarised(
    warehouse: Warehouse,
    into: Into,
    schema: TableSchema,
    select: str,
    formats: dict[str, list[str]],
) -> tuple[int, Statistics]:
    """Insert ``select``'s rows into a table of a target that reads CSV itself and return how
    many, with the statistics of the values stored (``Warehouse.insert_summarised``): per
    column, the values present (text: non-empty), the extremes (not of a boolean), and for a
    text column the values only each of its ``formats`` reads."""
    aggregates: list[str] = []
    for column in schema.columns:
        name = quote_identifier(column.name)
        if column.type == t.TEXT:
            aggregates.append(f"count(CASE WHEN {name} <> '' THEN 1 END)")
            value = warehouse.dialect.trimmed(name)
            for format_name in formats.get(column.name, []):
                only = only_this_sql(warehouse.dialect, value, format_name)
                aggregates.append(f"count(CASE WHEN {only} THEN 1 END)")
        else:
            aggregates.append(f"count({name})")
            if column.type != t.BOOLEAN:
                aggregates += [f"min({name})", f"max({name})"]
    try:
        loaded, summary = warehouse.insert_summarised(*into, schema.names, select, aggregates)
    except CastRefused as exc:
        raise ProposalRefuted(str(exc)) from exc
    values = iter(summary)
    found: Statistics = {}
    for column in schema.columns:
        found[column.name] = {"present": next(values), "min": None, "max": None}
        if column.type == t.TEXT:
            found[column.name]["formats"] = {f: next(values) for f in formats.get(column.name, [])}
        elif column.type != t.BOOLEAN:
            found[column.name].update(min=next(values), max=next(values))
    return loaded, found


class WatchedBatches:
    """A stream of typed Arrow batches passed on as read, with the statistics of their values
    (per column: the values present, or a text column's non-empty ones, and the extremes)
    and the error that refuted the first look's types, if any."""

    def __init__(
        self, batches: pa.RecordBatchReader, schema: TableSchema, formats: dict[str, list[str]]
    ) -> None:
        self.batches, self.schema = batches, schema
        self.refuted: Exception | None = None
        self.formats = formats
        self.found: Statistics = {
            c.name: {
                "present": 0,
                "min": None,
                "max": None,
                "formats": dict.fromkeys(formats.get(c.name, []), 0),
            }
            for c in schema.columns
        }

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.batches.schema, self._watched())

    def _watched(self) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = self.batches.read_next_batch()
            except StopIteration:
                return
            except Exception as exc:  # (DuckDB's ``error`` arrives as pyarrow's OSError)
                self.refuted = exc  # the usual way decides: it reads the source again
                raise
            self._add(batch)
            yield batch

    def _add(self, batch: pa.RecordBatch) -> None:
        for column in self.schema.columns:
            values, found = batch.column(column.name), self.found[column.name]
            if column.type == t.TEXT:
                found["present"] += pc.sum(pc.not_equal(values, "")).as_py() or 0
                names = self.formats.get(column.name, [])
                trimmed = pc.utf8_trim(values, t.WHITESPACE) if names else values
                for format_name in names:
                    found["formats"][format_name] += only_this_count(trimmed, format_name)
                continue
            found["present"] += pc.count(values).as_py()
            if column.type == t.BOOLEAN:
                continue
            ends = pc.min_max(values).as_py()
            for end, pick in (("min", min), ("max", max)):
                if ends[end] is not None:
                    known = found[end]
                    found[end] = ends[end] if known is None else pick(known, ends[end])

    def statistics(self) -> Statistics:
        return self.found
