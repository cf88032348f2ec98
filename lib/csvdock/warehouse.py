"""Connections to the targets: DuckDB (embedded) and PostgreSQL (ADBC), behind one small interface.

Both speak the same SQL for what csvdock needs, with ``$1`` placeholders.
Every identifier is quoted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from csvdock import types as t
from csvdock.batches import parquet_batches
from csvdock.errors import CsvdockError
from csvdock.naming import qualified_name, quote_identifier
from csvdock.targets import Target

LEDGER_SCHEMA, LEDGER_TABLE = "csvdock", "ledger"
INGEST_BATCH_ROWS = 65_536
DUCKDB_MEMORY_MB = 256  # the warehouse connection's limit (a session setting, not stored)

LEDGER_DDL = f"""CREATE TABLE IF NOT EXISTS {qualified_name(LEDGER_SCHEMA, LEDGER_TABLE)} (
    table_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_path TEXT,
    run_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    schema_version INTEGER,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, file_sha256)
)"""


class WarehouseError(CsvdockError):
    """The target cannot be reached or refused a statement."""


class Warehouse(ABC):
    """One open connection to a target, in an explicit transaction."""

    kind: str
    default_schema: str

    @abstractmethod
    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""

    @abstractmethod
    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        """Run one INSERT/UPDATE/DELETE and return how many rows it changed."""

    @abstractmethod
    def ingest_parquet(self, schema: str, table: str, columns: list[str], paths: list[Path]) -> int:
        """Append the rows of Parquet files, in order (columns in table order); return their
        count."""

    @abstractmethod
    def begin(self) -> None:
        """Start a transaction."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll the transaction back."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""

    def sql_type(self, logical_type: str) -> str:
        """Return the SQL type that stores ``logical_type``."""
        return sql_type(self.kind, logical_type)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def table_types(self, schema: str, table: str) -> dict[str, str] | None:
        """Return the columns of ``schema.table`` as name -> csvdock type, or None if absent."""
        rows = self.execute(
            "SELECT column_name, data_type, numeric_scale FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            [schema, table],
        )
        return {str(name): logical_type(str(kind), scale) for name, kind, scale in rows} or None

    def ensure_ledger(self) -> None:
        """Create csvdock's ledger table if it is missing (own transaction)."""
        for attempt in range(3):
            try:
                self.begin()
                self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(LEDGER_SCHEMA)}")
                self.execute(LEDGER_DDL)
                self.commit()
                return
            except WarehouseError:
                self.rollback()
                if attempt == 2:
                    raise


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file."""

    kind, default_schema = "duckdb", "main"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path))
            # Bounded memory whatever the file size: DuckDB spills and writes rows out early.
            self._con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_MB}MB'")
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB database {path}: {exc}") from None

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            cursor = self._con.execute(sql, params or [])
            return cursor.fetchall() if cursor.description else []
        except duckdb.Error as exc:
            raise WarehouseError(str(exc).strip().splitlines()[0]) from exc

    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        rows = self.execute(sql, params)
        return int(rows[0][0]) if rows else 0

    def ingest_parquet(self, schema: str, table: str, columns: list[str], paths: list[Path]) -> int:
        names = ", ".join(quote_identifier(c) for c in columns)
        rows = self.execute(
            f"INSERT INTO {qualified_name(schema, table)} ({names}) "
            f"SELECT {names} FROM read_parquet($1)",
            [[str(path) for path in paths]],
        )
        return int(rows[0][0]) if rows else 0

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self._con.execute("ROLLBACK")
        except duckdb.Error:
            pass  # no transaction was open

    def close(self) -> None:
        self._con.close()


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database, loaded through ADBC (binary COPY of Arrow batches)."""

    kind, default_schema = "postgresql", "public"

    def __init__(self, target: Target) -> None:
        import adbc_driver_postgresql.dbapi as adbc_pg

        self._errors = adbc_pg
        try:
            self._con = adbc_pg.connect(target.url)
        except adbc_pg.Error as exc:
            raise WarehouseError(
                f"cannot connect to {target.display}: {_adbc_message(exc)}"
            ) from None
        self._cur = self._con.cursor()

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            self._cur.execute(sql, params or None)
            return list(self._cur.fetchall()) if self._cur.description else []
        except self._errors.Error as exc:
            raise WarehouseError(_adbc_message(exc)) from exc

    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        self.execute(sql, params)
        return int(self._cur.rowcount)

    def ingest_parquet(self, schema: str, table: str, columns: list[str], paths: list[Path]) -> int:
        import pyarrow as pa

        stored = pq.read_schema(paths[0])
        arrow_schema = pa.schema([stored.field(c) for c in columns])
        batches = (
            batch for path in paths for batch in parquet_batches(path, INGEST_BATCH_ROWS, columns)
        )
        reader = pa.RecordBatchReader.from_batches(arrow_schema, batches)
        try:
            return int(
                self._cur.adbc_ingest(table, reader, mode="append", db_schema_name=schema) or 0
            )
        except self._errors.Error as exc:
            raise WarehouseError(_adbc_message(exc)) from exc

    def begin(self) -> None:
        pass  # ADBC's DB-API connection is never in autocommit: a transaction is always open

    def commit(self) -> None:
        try:
            self._con.commit()
        except self._errors.Error as exc:
            raise WarehouseError(_adbc_message(exc)) from exc

    def rollback(self) -> None:
        try:
            self._con.rollback()
        except self._errors.Error:
            pass  # the connection is gone; the server rolls back

    def close(self) -> None:
        try:
            self._cur.close()
            self._con.close()
        except self._errors.Error:
            pass


def sql_type(kind: str, logical_type: str) -> str:
    """Return the SQL type of ``logical_type`` on a ``kind`` target (duckdb, postgresql)."""
    scale = t.decimal_scale(logical_type)
    duckdb_target = kind == "duckdb"
    if scale is not None:
        return f"{'DECIMAL' if duckdb_target else 'NUMERIC'}({t.DECIMAL_PRECISION},{scale})"
    return {
        t.BOOLEAN: "BOOLEAN",
        t.INTEGER: "INTEGER",
        t.BIGINT: "BIGINT",
        t.DOUBLE: "DOUBLE" if duckdb_target else "DOUBLE PRECISION",
        t.DATE: "DATE",
        t.TIMESTAMP: "TIMESTAMP",
        t.TEXT: "VARCHAR" if duckdb_target else "TEXT",
    }[logical_type]


def logical_type(data_type: str, numeric_scale: int | None) -> str:
    """Return the csvdock type of an ``information_schema`` column type (DuckDB or PostgreSQL)."""
    kind = data_type.lower()
    if kind.startswith(("decimal", "numeric")):
        return t.decimal_type(int(numeric_scale or 0))
    if kind.startswith("timestamp"):
        return t.TIMESTAMP
    return {
        "boolean": t.BOOLEAN,
        "integer": t.INTEGER,
        "bigint": t.BIGINT,
        "double": t.DOUBLE,
        "double precision": t.DOUBLE,
        "date": t.DATE,
    }.get(kind, t.TEXT)


def connect(target: Target) -> Warehouse:
    """Open a connection to ``target``."""
    if target.kind == "duckdb":
        assert target.duckdb_path is not None
        return DuckDBWarehouse(target.duckdb_path)
    return PostgresWarehouse(target)


def _adbc_message(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("IO: ", "INVALID_STATE: ", "NOT_FOUND: ", "INTERNAL: ", "ALREADY_EXISTS: "):
        text = text.removeprefix(prefix)
    return text.splitlines()[0] if text else type(exc).__name__
