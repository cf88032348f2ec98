"""Load: write one file's typed rows and its ledger row into the target in ONE transaction.

The ledger row is written first: its primary key (table, sha256) makes a concurrent or repeated
load of the same file wait and then find it, so a file is loaded at most once per table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from csvdock.core.errors import CsvdockError
from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.core.positions import StreamPosition
from csvdock.rejects.format import raw_reject_frame, stored_rows, with_raw_rejects
from csvdock.schema.evolution import widened_type
from csvdock.schema.table import TableSchema
from csvdock.targets.base import (
    LEDGER_TABLE,
    METADATA_SCHEMA,
    OFFSETS_TABLE,
    REJECTS_TABLE,
    VERSIONS_TABLE,
    Warehouse,
    WarehouseError,
)


class LoadError(CsvdockError):
    """The rows could not be loaded; nothing of the file was committed."""


@dataclass(frozen=True)
class LedgerEntry:
    """The proof of one file's load, stored in the target with its rows."""

    table: str
    sha256: str
    path: str
    run_id: str
    mode: str
    rows_read: int
    rows_rejected: int
    schema_version: int | None
    position: StreamPosition | None = None  # a batch of a stream: its offsets move on with it


STALE_BATCH = "loaded already; read again from the next one"  # how a stale batch's reason ends


class StaleBatch(LoadError):
    """A batch of a stream overlaps offsets the ledger has loaded already: the consumer must
    read the stream again from the ledger's offset (another consumer loaded part of it)."""


@dataclass(frozen=True)
class LoadOutcome:
    """What the load did: ``loaded`` with a row count, or ``skipped`` (already in the ledger)."""

    status: Literal["loaded", "skipped"]
    rows_loaded: int
    rows_rejected: int = 0
    commit_seconds: float = 0.0


def split_qualified(table: str, warehouse: Warehouse) -> tuple[str, str]:
    """Return (schema, table) for ``schema.table`` or ``table`` on ``warehouse``."""
    schema, _, name = table.rpartition(".")
    return (schema or warehouse.default_schema), name


RowWriter = Callable[[Warehouse, str, str], tuple[int, int]]
# Creates or alters the table inside the transaction; returns the schema version loaded with.
TablePreparer = Callable[[Warehouse, str, str], int | None]


def store_rejects(warehouse: Warehouse, entry: LedgerEntry, rejects: pl.DataFrame) -> int:
    """Write a file's rejected records (``rejects`` with their ``raw`` text) to the target's
    rejects table, in the load's transaction; return how many."""
    path, position = entry.path, entry.position
    if position is not None:
        # A stream's rejects are named by the stream and the record's offset.
        path = position.stream
        offsets = [position.offset_of_line(line) for line in rejects["line"].to_list()]
        rejects = rejects.with_columns(pl.Series("line", offsets, dtype=pl.Int64))
        if position.set_aside:
            aside = raw_reject_frame(
                [m.offset for m in position.set_aside],
                "parse",
                [m.reason for m in position.set_aside],
                [m.raw for m in position.set_aside],
                [m.code for m in position.set_aside],
            )
            rejects = with_raw_rejects(rejects, aside)
    rows = stored_rows(rejects, entry.table, entry.sha256, entry.run_id, path)
    if rows.height == 0:
        return 0
    return warehouse.ingest_arrow(METADATA_SCHEMA, REJECTS_TABLE, rows.to_arrow())


def stream_offsets(warehouse: Warehouse, table: str) -> dict[str, int]:
    """Return the last offset loaded into ``table`` of each stream, by stream."""
    warehouse.ensure_ledger()
    rows = warehouse.execute(
        f"SELECT stream, last_offset FROM {qualified_name(METADATA_SCHEMA, OFFSETS_TABLE)} "
        "WHERE table_name = $1",
        [table],
    )
    warehouse.rollback()  # a read: leave no transaction open
    return {str(stream): int(last) for stream, last in rows}


def record_stream_offset(
    warehouse: Warehouse, table: str, stream: str, last: int, run_id: str
) -> None:
    """Move ``stream``'s offset in ``table`` on to ``last`` (never back), in its own
    transaction: for a batch that was quarantined (nothing of it is loaded)."""
    warehouse.ensure_ledger()
    warehouse.begin()
    try:
        warehouse.lock_table(table)
        _advance_offset(warehouse, table, stream, last, run_id)
        warehouse.commit()
    except BaseException:
        warehouse.rollback()
        raise


def _offset_loaded(warehouse: Warehouse, table: str, position: StreamPosition) -> bool:
    """Return whether the batch at ``position`` is loaded already; raise ``StaleBatch`` when it
    overlaps what is loaded (the table's lock held)."""
    rows = warehouse.execute(
        f"SELECT last_offset FROM {qualified_name(METADATA_SCHEMA, OFFSETS_TABLE)} "
        "WHERE table_name = $1 AND stream = $2",
        [table, position.stream],
    )
    if not rows:
        return False
    last = int(rows[0][0])
    if position.last <= last:
        return True
    if position.first <= last:
        raise StaleBatch(
            f"{position.name}: offsets up to {last} of {position.stream} are {STALE_BATCH}"
        )
    return False


def _advance_offset(warehouse: Warehouse, table: str, stream: str, last: int, run_id: str) -> None:
    warehouse.execute(
        f"INSERT INTO {qualified_name(METADATA_SCHEMA, OFFSETS_TABLE)} "
        "(table_name, stream, last_offset, run_id, updated_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (table_name, stream) DO UPDATE SET last_offset = excluded.last_offset, "
        "run_id = excluded.run_id, updated_at = excluded.updated_at "
        "WHERE excluded.last_offset > "
        f"{qualified_name(METADATA_SCHEMA, OFFSETS_TABLE)}.last_offset",
        [table, stream, last, run_id, _utc_now()],
    )


def load_atomically(
    warehouse: Warehouse,
    entry: LedgerEntry,
    prepare_table: TablePreparer,
    write_rows: RowWriter,
    before_commit: Callable[[], None] | None = None,
) -> LoadOutcome:
    """Run one file's load in ONE transaction: take the table's lock (loads into one table are
    serialised), claim the ledger row (or report ``skipped``), prepare the table, write the rows
    (``write_rows`` returns rows loaded and rejected), record the counts, check that nothing was
    lost, commit. Any failure rolls everything back."""
    warehouse.ensure_ledger()
    db_schema, table = split_qualified(entry.table, warehouse)
    warehouse.begin()
    try:
        warehouse.lock_table(entry.table)
        position = entry.position
        if position is not None and _offset_loaded(warehouse, entry.table, position):
            warehouse.rollback()
            return LoadOutcome("skipped", 0)
        if not _claim_ledger_row(warehouse, entry):
            warehouse.rollback()
            return LoadOutcome("skipped", 0)
        version = prepare_table(warehouse, db_schema, table)
        loaded, rejected = write_rows(warehouse, db_schema, table)
        warehouse.execute(
            f"UPDATE {qualified_name(METADATA_SCHEMA, LEDGER_TABLE)} "
            "SET rows_loaded = $1, rows_rejected = $2, schema_version = $3 "
            "WHERE table_name = $4 AND file_sha256 = $5",
            [loaded, rejected, version, entry.table, entry.sha256],
        )
        if loaded + rejected != entry.rows_read:
            raise LoadError(
                f"{loaded} rows loaded and {rejected} rejected do not add up to the "
                f"{entry.rows_read} records read; nothing was committed"
            )
        if position is not None:
            _advance_offset(warehouse, entry.table, position.stream, position.last, entry.run_id)
        if before_commit is not None:
            before_commit()
        committing = time.perf_counter()
        warehouse.commit()
        commit_seconds = time.perf_counter() - committing
    except WarehouseError as exc:
        warehouse.rollback()
        raise LoadError(f"load into {entry.table} failed, nothing was committed: {exc}") from exc
    except BaseException:
        warehouse.rollback()
        raise
    return LoadOutcome("loaded", loaded, rejected, round(commit_seconds, 4))


def table_ddl(warehouse: Warehouse, db_schema: str, table: str, schema: TableSchema) -> str:
    """Return the CREATE TABLE statement for ``schema`` on ``warehouse``."""
    columns = ", ".join(
        f"{quote_identifier(c.name)} {warehouse.sql_type(c.type)}"
        + ("" if c.nullable else " NOT NULL")
        for c in schema.columns
    )
    key = ""
    if schema.primary_key:
        key = ", PRIMARY KEY (" + ", ".join(quote_identifier(k) for k in schema.primary_key) + ")"
    return f"CREATE TABLE IF NOT EXISTS {qualified_name(db_schema, table)} ({columns}{key})"


def create_table(warehouse: Warehouse, db_schema: str, table: str, schema: TableSchema) -> None:
    """Create the table (and its database schema) from ``schema`` when it is missing."""
    warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(db_schema)}")
    warehouse.execute(table_ddl(warehouse, db_schema, table, schema))


def evolve_table(warehouse: Warehouse, db_schema: str, table: str, schema: TableSchema) -> None:
    """Create the table, or bring an existing one up to ``schema``: ``ADD COLUMN`` for new
    columns, ``ALTER COLUMN ... TYPE`` for widened ones. A column is never narrowed: a table
    column wider than ``schema``'s is an error (the schema is stale), and nothing changes."""
    existing = warehouse.table_types(db_schema, table)
    if existing is None:
        create_table(warehouse, db_schema, table, schema)
        return
    target = qualified_name(db_schema, table)
    for column in schema.columns:
        name, sql_type = quote_identifier(column.name), warehouse.sql_type(column.type)
        stored = existing.get(column.name)
        if stored is None:
            warehouse.execute(f"ALTER TABLE {target} ADD COLUMN {name} {sql_type}")
        elif stored != column.type:
            if widened_type(stored, column.type) != column.type:
                raise NarrowingRefused(
                    f"column {column.name!r} of {table} is {stored}, and schema version "
                    f"{schema.version} says {column.type}: csvdock never narrows a column"
                )
            warehouse.execute(warehouse.dialect.alter_column_type(target, name, sql_type))


class NarrowingRefused(LoadError):
    """Loading would narrow a column of the table (and change stored values)."""


def _claim_ledger_row(warehouse: Warehouse, entry: LedgerEntry) -> bool:
    """Claim the file's ledger row (False: it is there already). A ledger row written under the
    table's alias with the default schema (``main.x`` for ``x``, before names were made one)
    counts as the file's too."""
    if "." not in entry.table:
        alias = f"{warehouse.default_schema}.{entry.table}"
        found = warehouse.execute(
            f"SELECT 1 FROM {qualified_name(METADATA_SCHEMA, LEDGER_TABLE)} "
            "WHERE table_name = $1 AND file_sha256 = $2",
            [alias, entry.sha256],
        )
        if found:
            return False
    row = {
        "table_name": entry.table,
        "file_sha256": entry.sha256,
        "file_path": entry.path,
        "run_id": entry.run_id,
        "mode": entry.mode,
        "rows_read": entry.rows_read,
        "rows_loaded": 0,
        "rows_rejected": entry.rows_rejected,
        "schema_version": entry.schema_version,
        "loaded_at": _utc_now(),
    }
    ledger = qualified_name(METADATA_SCHEMA, LEDGER_TABLE)
    return warehouse.insert_unless_present(ledger, row, ("table_name", "file_sha256"))


def recorded_versions(warehouse: Warehouse, table: str) -> list[TableSchema]:
    """Return the schema versions of ``table`` that loads committed in the target."""
    rows = warehouse.execute(
        f"SELECT schema_json FROM {qualified_name(METADATA_SCHEMA, VERSIONS_TABLE)} "
        "WHERE table_name = $1 ORDER BY version",
        [table],
    )
    return [TableSchema.from_dict(json.loads(str(text))) for (text,) in rows]


def record_version(warehouse: Warehouse, schema: TableSchema) -> None:
    """Record ``schema`` in the target, in the load's transaction (once per version)."""
    row = {
        "table_name": schema.table,
        "version": schema.version,
        "schema_json": schema.to_json(),
        "recorded_at": _utc_now(),
    }
    versions = qualified_name(METADATA_SCHEMA, VERSIONS_TABLE)
    warehouse.insert_unless_present(versions, row, ("table_name", "version"))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
