"""Connections to the targets: DuckDB (embedded) and PostgreSQL (ADBC), behind one small interface.

Both speak the same SQL for what csvdock needs, with ``$1`` placeholders.
Every identifier is quoted.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from csvdock.core.errors import CsvdockError
from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.read.parquet import parquet_batches
from csvdock.schema import types as t
from csvdock.targets.url import Target

LEDGER_SCHEMA, LEDGER_TABLE = "csvdock", "ledger"
REJECTS_TABLE, VERSIONS_TABLE = "rejects", "schema_versions"
INGEST_BATCH_ROWS = 65_536
DUCKDB_MEMORY_MB = 256  # the warehouse connection's limit (a session setting, not stored)
DUCKDB_LOCK_WAIT_SECONDS = 600.0  # how long a load waits for another process's DuckDB load

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


# Every rejected record of a loaded file, written in the same transaction as its rows and ledger
# row: the dead-letter CSV in the workspace is derived from it.
REJECTS_DDL = f"""CREATE TABLE IF NOT EXISTS {qualified_name(LEDGER_SCHEMA, REJECTS_TABLE)} (
    table_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    run_id TEXT NOT NULL,
    file_path TEXT,
    line BIGINT NOT NULL,
    stage TEXT NOT NULL,
    column_name TEXT,
    reason TEXT NOT NULL,
    raw TEXT
)"""

# Every schema version a load committed, in the same transaction as the table change: the
# registry's files (schemas/<table>/vN.json) are written from it.
VERSIONS_DDL = f"""CREATE TABLE IF NOT EXISTS {qualified_name(LEDGER_SCHEMA, VERSIONS_TABLE)} (
    table_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema_json TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, version)
)"""


class WarehouseError(CsvdockError):
    """The target refused a statement: permanent unless ``transient`` says otherwise."""

    transient = False

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class WarehouseUnavailable(WarehouseError):
    """The target cannot be reached (connection refused, reset or closed): transient."""

    transient = True


class WarehouseLocked(WarehouseError):
    """The target is busy (a lock, a serialization failure, a deadlock): transient."""

    transient = True


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
    def ingest_arrow(self, schema: str, table: str, rows: pa.Table) -> int:
        """Append the rows of an Arrow table (columns named as the table's); return their count."""

    @abstractmethod
    def lock_table(self, table: str) -> None:
        """Serialise loads into ``table`` until the transaction ends."""

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
                for ddl in (LEDGER_DDL, REJECTS_DDL, VERSIONS_DDL):
                    self.execute(ddl)
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
        # DuckDB lets one process at a time open a file for writing, and fails the others at
        # once ("Could not set lock on file"): csvdock's own lock makes them wait their turn.
        self._lock = _FileLock.acquire(path.with_name(path.name + ".csvdock-lock"))
        try:
            self._con = duckdb.connect(str(path))
            # Bounded memory whatever the file size: DuckDB spills and writes rows out early.
            self._con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_MB}MB'")
        except duckdb.Error as exc:
            self._lock.release()
            # Another program (not csvdock) holding the file is a passing condition.
            kind = WarehouseLocked if isinstance(exc, duckdb.IOException) else WarehouseError
            raise kind(f"cannot open DuckDB database {path}: {_first_line(exc)}") from exc

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            cursor = self._con.execute(sql, params or [])
            return cursor.fetchall() if cursor.description else []
        except duckdb.Error as exc:
            raise _duckdb_error(exc) from exc

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

    def ingest_arrow(self, schema: str, table: str, rows: pa.Table) -> int:
        if rows.num_rows == 0:
            return 0
        names = ", ".join(quote_identifier(c) for c in rows.column_names)
        self._con.register("__csvdock_rows", rows)
        try:
            self.execute(
                f"INSERT INTO {qualified_name(schema, table)} ({names}) "
                f"SELECT {names} FROM __csvdock_rows"
            )
        finally:
            self._con.unregister("__csvdock_rows")
        return rows.num_rows

    def lock_table(self, table: str) -> None:
        pass  # one writer at a time: the connection holds the database file's lock

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
        try:
            self._con.close()
        finally:
            self._lock.release()


class _FileLock:
    """An exclusive lock on a file shared by the processes of a machine (``flock``), re-entrant
    within a process (a process's connections to one database share it)."""

    _held: dict[Path, tuple[int, int]] = {}  # path -> (file descriptor, holders)
    _guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def acquire(cls, path: Path, timeout: float = DUCKDB_LOCK_WAIT_SECONDS) -> _FileLock:
        key = path.resolve()
        with cls._guard:
            if key in cls._held:
                fd, holders = cls._held[key]
                cls._held[key] = (fd, holders + 1)
                return cls(key)
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise WarehouseLocked(
                        f"the DuckDB database is in use by another process for over {timeout:.0f} s"
                        f" (lock file {key})"
                    ) from None
                time.sleep(0.05)
        with cls._guard:
            cls._held[key] = (fd, 1)
        return cls(key)

    def release(self) -> None:
        with self._guard:
            fd, holders = self._held[self.path]
            if holders > 1:
                self._held[self.path] = (fd, holders - 1)
                return
            del self._held[self.path]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database, loaded through ADBC (binary COPY of Arrow batches)."""

    kind, default_schema = "postgresql", "public"

    def __init__(self, target: Target) -> None:
        import adbc_driver_postgresql.dbapi as adbc_pg

        self._errors = adbc_pg
        try:
            self._con = adbc_pg.connect(target.url)
        except adbc_pg.Error as exc:
            raise _adbc_error(exc, f"cannot connect to {target.display}: ") from exc
        self._cur = self._con.cursor()

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            self._cur.execute(sql, params or None)
            return list(self._cur.fetchall()) if self._cur.description else []
        except self._errors.Error as exc:
            raise _adbc_error(exc) from exc

    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        self.execute(sql, params)
        return int(self._cur.rowcount)

    def ingest_parquet(self, schema: str, table: str, columns: list[str], paths: list[Path]) -> int:
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
            raise _adbc_error(exc) from exc

    def ingest_arrow(self, schema: str, table: str, rows: pa.Table) -> int:
        if rows.num_rows == 0:
            return 0
        try:
            self._cur.adbc_ingest(table, rows, mode="append", db_schema_name=schema)
        except self._errors.Error as exc:
            raise _adbc_error(exc) from exc
        return rows.num_rows

    def lock_table(self, table: str) -> None:
        self.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [f"csvdock:{table}"])

    def begin(self) -> None:
        pass  # ADBC's DB-API connection is never in autocommit: a transaction is always open

    def commit(self) -> None:
        try:
            self._con.commit()
        except self._errors.Error as exc:
            raise _adbc_error(exc) from exc

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


# SQLSTATEs of passing conditions: connection exceptions (08), serialization failure, deadlock,
# lock not available, the server shutting down or not yet accepting connections, too many
# connections and other insufficient resources (53).
TRANSIENT_SQLSTATE_CLASSES = ("08", "53")
TRANSIENT_SQLSTATES = ("40001", "40P01", "55P03", "57P01", "57P02", "57P03")


def _adbc_error(exc: Exception, prefix: str = "") -> WarehouseError:
    """Return the csvdock error for an ADBC error, typed by its SQLSTATE: a connection-level
    failure (no SQLSTATE, an operational I/O error) or a transient SQLSTATE is retried."""
    import adbc_driver_manager

    sqlstate = getattr(exc, "sqlstate", None) or None
    message = prefix + _adbc_message(exc)
    if sqlstate is None:
        if isinstance(exc, adbc_driver_manager.OperationalError):
            return WarehouseUnavailable(message)
        return WarehouseError(message)
    if sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES:
        return WarehouseUnavailable(message, sqlstate)
    if sqlstate in TRANSIENT_SQLSTATES:
        return WarehouseLocked(message, sqlstate)
    return WarehouseError(message, sqlstate)


def _duckdb_error(exc: duckdb.Error) -> WarehouseError:
    """Return the csvdock error for a DuckDB error: a transaction conflict is transient."""
    message = _first_line(exc)
    if isinstance(exc, duckdb.TransactionException):
        return WarehouseLocked(message)
    return WarehouseError(message)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _adbc_message(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("IO: ", "INVALID_STATE: ", "NOT_FOUND: ", "INTERNAL: ", "ALREADY_EXISTS: "):
        text = text.removeprefix(prefix)
    return text.splitlines()[0] if text else type(exc).__name__
