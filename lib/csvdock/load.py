"""Load: write one file's typed rows and its ledger row into the target in ONE transaction.

The ledger row is written first: its primary key (table, sha256) makes a concurrent or repeated
load of the same file wait and then find it, so a file is loaded at most once per table.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from csvdock.errors import CsvdockError
from csvdock.naming import qualified_name, quote_identifier
from csvdock.schema import TableSchema
from csvdock.warehouse import LEDGER_SCHEMA, LEDGER_TABLE, Warehouse, WarehouseError


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


@dataclass(frozen=True)
class LoadOutcome:
    """What the load did: ``loaded`` with a row count, or ``skipped`` (already in the ledger)."""

    status: str
    rows_loaded: int
    rows_rejected: int = 0
    commit_seconds: float = 0.0


def split_qualified(table: str, warehouse: Warehouse) -> tuple[str, str]:
    """Return (schema, table) for ``schema.table`` or ``table`` on ``warehouse``."""
    schema, _, name = table.rpartition(".")
    return (schema or warehouse.default_schema), name


RowWriter = Callable[[Warehouse, str, str], tuple[int, int]]
TablePreparer = Callable[[Warehouse, str, str], None]


def load_typed_file(
    warehouse: Warehouse,
    schema: TableSchema,
    typed: list[Path],
    entry: LedgerEntry,
    prepare_table: TablePreparer | None = None,
    before_commit: Callable[[], None] | None = None,
) -> LoadOutcome:
    """Load the typed Parquet files ``typed`` into ``entry.table`` with its ledger row, atomically.

    ``prepare_table(warehouse, schema, table)`` runs inside the transaction to create or alter
    the table (default: create it from ``schema`` when missing). ``before_commit`` runs just
    before COMMIT (tests use it to inject a failure).
    """

    def write_rows(w: Warehouse, db_schema: str, table: str) -> tuple[int, int]:
        return w.ingest_parquet(db_schema, table, schema.names, typed), entry.rows_rejected

    prepare = prepare_table or create_table_if_missing(schema)
    return load_atomically(warehouse, entry, prepare, write_rows, before_commit)


def load_atomically(
    warehouse: Warehouse,
    entry: LedgerEntry,
    prepare_table: TablePreparer,
    write_rows: RowWriter,
    before_commit: Callable[[], None] | None = None,
) -> LoadOutcome:
    """Run one file's load in ONE transaction: claim the ledger row (or report ``skipped``),
    prepare the table, write the rows (``write_rows`` returns rows loaded and rejected), record
    the counts, check that nothing was lost, commit. Any failure rolls everything back."""
    warehouse.ensure_ledger()
    db_schema, table = split_qualified(entry.table, warehouse)
    warehouse.begin()
    try:
        if not _claim_ledger_row(warehouse, entry):
            warehouse.rollback()
            return LoadOutcome("skipped", 0)
        prepare_table(warehouse, db_schema, table)
        loaded, rejected = write_rows(warehouse, db_schema, table)
        warehouse.execute(
            f"UPDATE {qualified_name(LEDGER_SCHEMA, LEDGER_TABLE)} "
            "SET rows_loaded = $1, rows_rejected = $2 WHERE table_name = $3 AND file_sha256 = $4",
            [loaded, rejected, entry.table, entry.sha256],
        )
        if loaded + rejected != entry.rows_read:
            raise LoadError(
                f"{loaded} rows loaded and {rejected} rejected do not add up to the "
                f"{entry.rows_read} records read; nothing was committed"
            )
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


def create_table_if_missing(schema: TableSchema) -> Callable[[Warehouse, str, str], None]:
    """Return a ``prepare_table`` that creates the table (and its schema) from ``schema``."""

    def prepare(warehouse: Warehouse, db_schema: str, table: str) -> None:
        warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(db_schema)}")
        warehouse.execute(table_ddl(warehouse, db_schema, table, schema))

    return prepare


def evolve_table(schema: TableSchema) -> Callable[[Warehouse, str, str], None]:
    """Return a ``prepare_table`` that creates the table, or brings an existing one up to
    ``schema``: ``ADD COLUMN`` for new columns, ``ALTER COLUMN ... TYPE`` for widened ones."""

    def prepare(warehouse: Warehouse, db_schema: str, table: str) -> None:
        existing = warehouse.table_types(db_schema, table)
        if existing is None:
            create_table_if_missing(schema)(warehouse, db_schema, table)
            return
        target = qualified_name(db_schema, table)
        for column in schema.columns:
            name, sql_type = quote_identifier(column.name), warehouse.sql_type(column.type)
            if column.name not in existing:
                warehouse.execute(f"ALTER TABLE {target} ADD COLUMN {name} {sql_type}")
            elif existing[column.name] != column.type:
                warehouse.execute(
                    f"ALTER TABLE {target} ALTER COLUMN {name} TYPE {sql_type} "
                    f"USING CAST({name} AS {sql_type})"
                )

    return prepare


def _claim_ledger_row(warehouse: Warehouse, entry: LedgerEntry) -> bool:
    rows = warehouse.execute(
        f"INSERT INTO {qualified_name(LEDGER_SCHEMA, LEDGER_TABLE)} "
        "(table_name, file_sha256, file_path, run_id, mode, rows_read, rows_loaded, "
        "rows_rejected, schema_version, loaded_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        [
            entry.table,
            entry.sha256,
            entry.path,
            entry.run_id,
            entry.mode,
            entry.rows_read,
            entry.rows_rejected,
            entry.schema_version,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        ],
    )
    return bool(rows)
