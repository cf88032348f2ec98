"""DuckDB, the embedded default warehouse: ``duckdb:///relative.duckdb`` or
``duckdb:////absolute/path.duckdb``.

One process at a time may write a DuckDB file; csvdock's own file lock makes the others wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from csvdock.core.errors import ConfigError
from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.targets.base import (
    Capabilities,
    CastRefused,
    SqlDialect,
    Target,
    TargetSpec,
    Warehouse,
    WarehouseError,
    WarehouseLocked,
    first_line,
    insert_sql,
)
from csvdock.targets.url import masked_url

DUCKDB_MEMORY_MB = 256  # the warehouse connection's limit (a session setting, not stored)
DUCKDB_LOCK_WAIT_SECONDS = 600.0  # how long a load waits for another process's DuckDB load
LOCK_POLL_SECONDS = 0.005  # a waiting load looks this often (a small file's load takes ~20 ms)

log = logging.getLogger("csvdock")


class DuckDBDialect(SqlDialect):
    """DuckDB's SQL: its own type names, ``regexp_matches``, ``trim`` and ``TRY_CAST``."""

    type_names = {"TEXT": "VARCHAR", "DOUBLE PRECISION": "DOUBLE", "NUMERIC": "DECIMAL"}
    capabilities = Capabilities(
        transactional_ddl=True,
        try_cast=True,
        binary_copy=False,
        table_locks=False,  # one writer at a time: the database file's lock serialises loads
        unlogged_tables=False,
        folds_repeated_expressions=False,
        reads_csv=True,
        bounded_repeats=True,
    )

    trim_function = "trim"

    def trimmed(self, value: str) -> str:
        # Trimming a set of characters costs DuckDB 0.1 s a million values; most values start
        # and end with a character above the space (every one of csvdock's whitespace is at
        # or below it), and have nothing to trim: 1M x 10 columns 1.08 -> 0.36 s.
        edges = f"ascii({value}) > 32 AND ascii(({value})[-1]) > 32"
        return f"CASE WHEN {edges} THEN {value} ELSE {super().trimmed(value)} END"

    def matches(self, value: str, pattern: str) -> str:
        return f"regexp_matches({value}, {self.literal(pattern)})"


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file."""

    kind, default_schema, dialect = "duckdb", "main", DuckDBDialect()
    # DuckDB's own catalog function, which its information_schema view is built on: the same
    # rows in half the time (1.1 against 2.2 ms a load, more as the file holds more tables).
    columns_sql = (
        "SELECT column_name, data_type, numeric_scale FROM duckdb_columns() "
        "WHERE schema_name = $1 AND table_name = $2 ORDER BY column_index"
    )

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB lets one process at a time open a file for writing, and fails the others at
        # once ("Could not set lock on file"): csvdock's own lock makes them wait their turn.
        self._path = path.resolve()
        self._lock = _FileLock.acquire(path.with_name(path.name + ".csvdock-lock"))
        try:
            self._con = duckdb.connect(str(path))
            # Bounded memory whatever the file size: DuckDB spills and writes rows out early.
            self._con.execute(f"SET memory_limit = '{DUCKDB_MEMORY_MB}MB'")
        except duckdb.Error as exc:
            self._lock.release()
            # Another program (not csvdock) holding the file is a passing condition.
            kind = WarehouseLocked if isinstance(exc, duckdb.IOException) else WarehouseError
            raise kind(f"cannot open DuckDB database {path}: {first_line(exc)}") from exc

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            cursor = self._con.execute(sql, params or [])
            return cursor.fetchall() if cursor.description else []
        except duckdb.Error as exc:
            raise _duckdb_error(exc) from exc

    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        rows = self.execute(sql, params)
        return int(rows[0][0]) if rows else 0

    def ensure_ledger(self) -> None:
        # While the run holds the file open (``held_open``) no other process can change it:
        # csvdock's tables, once there, stay there for the run's other loads.
        if _held_ready.get(self._path):
            return
        super().ensure_ledger()
        if self._path in _held_ready:
            _held_ready[self._path] = True

    def insert_unless_present(self, table: str, row: dict[str, Any], key: tuple[str, ...]) -> bool:
        # ON CONFLICT costs DuckDB about 2 ms a statement (two a small file's load): a lookup
        # and a plain insert do the same here, where one process at a time holds the file.
        # A row another connection of this process committed between the two fails the
        # insert's key check: that load is tried again (transient) and then finds the row.
        where = " AND ".join(f"{name} = ${i}" for i, name in enumerate(key, start=1))
        if self.execute(f"SELECT 1 FROM {table} WHERE {where}", [row[name] for name in key]):
            return False
        try:
            self._con.execute(insert_sql(table, row), list(row.values()))
        except duckdb.ConstraintException as exc:
            raise WarehouseLocked(f"written meanwhile by another load: {first_line(exc)}") from exc
        except duckdb.Error as exc:
            raise _duckdb_error(exc) from exc
        return True

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

    def ingest_batches(self, schema: str, table: str, rows: pa.RecordBatchReader) -> int:
        names = ", ".join(quote_identifier(c) for c in rows.schema.names)
        self._con.register("__csvdock_batches", rows)
        try:
            return self.execute_rowcount(
                f"INSERT INTO {qualified_name(schema, table)} ({names}) "
                f"SELECT {names} FROM __csvdock_batches"
            )
        finally:
            self._con.unregister("__csvdock_batches")

    def insert_summarised(
        self, schema: str, table: str, columns: list[str], select: str, aggregates: list[str]
    ) -> tuple[int, tuple[Any, ...]]:
        # The rows this transaction appends follow the table's row ids.
        name, names = qualified_name(schema, table), ", ".join(map(quote_identifier, columns))
        start = self.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {name}")[0][0]
        loaded = self.execute_rowcount(f"INSERT INTO {name} ({names}) {select}")
        summary = f"SELECT {', '.join(aggregates)} FROM {name} WHERE rowid >= {int(start)}"
        return loaded, self.execute(summary)[0]

    def lock_table(self, table: str) -> None:
        pass  # one writer at a time: the connection holds the database file's lock

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self._con.execute("ROLLBACK")
        except duckdb.TransactionException:
            pass  # no transaction was open: nothing to roll back
        except duckdb.Error as exc:  # the connection failed: its transaction is gone with it
            log.debug("rollback on a failed DuckDB connection: %s", first_line(exc))

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
                time.sleep(LOCK_POLL_SECONDS)
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


def _duckdb_error(exc: duckdb.Error) -> WarehouseError:
    """Return the csvdock error for a DuckDB error: a transaction conflict is transient."""
    message = first_line(exc)
    if isinstance(exc, duckdb.TransactionException):
        return WarehouseLocked(message)
    if isinstance(exc, REFUSED_CASTS):
        return CastRefused(message)
    return WarehouseError(message)


# the errors of a cast that refuses a value: DuckDB's ``error`` and a failed conversion
REFUSED_CASTS = (duckdb.InvalidInputException, duckdb.ConversionException)


def parse_url(url: str) -> Target:
    """Parse ``duckdb:///relative.duckdb`` or ``duckdb:////absolute/path.duckdb``."""
    rest = url[len("duckdb://") :]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(
            f"target {masked_url(url)!r}: use duckdb:///relative/path.duckdb "
            "or duckdb:////absolute/path.duckdb"
        )
    return Target("duckdb", url, Path(rest[1:]))


def connect(target: Target) -> DuckDBWarehouse:
    """Open the DuckDB database file of ``target``."""
    assert target.path is not None
    return DuckDBWarehouse(target.path)


_held_ready: dict[Path, bool] = {}  # files held open by this process: csvdock's tables made?


@contextlib.contextmanager
def held_open(target: Target, wait: bool = False) -> Iterator[None]:
    """Keep the database file open while a run's loads happen in this process. DuckDB's Python
    API then hands each load's connection the open database (0.1 ms) instead of opening the
    file (15-20 ms) and checkpointing it on close: what a folder of small files paid per file.
    Other processes wait for the file until the block ends, so a run whose tasks fork must not
    hold it. When the file is busy now, nothing is held (each load waits its turn as before),
    unless ``wait``: then the block waits for the file like a load."""
    assert target.path is not None
    target.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = _FileLock.acquire(
            target.path.with_name(target.path.name + ".csvdock-lock"),
            DUCKDB_LOCK_WAIT_SECONDS if wait else 0.0,
        )
    except WarehouseLocked:
        yield
        return
    try:
        keeper = duckdb.connect(str(target.path))
    except duckdb.Error as exc:
        lock.release()
        log.debug("%s is not held open: %s", target.path, first_line(exc))
        yield
        return
    key = target.path.resolve()
    _held_ready[key] = False
    try:
        yield
    finally:
        _held_ready.pop(key, None)
        try:
            keeper.close()
        finally:
            lock.release()


SPEC = TargetSpec(
    kind="duckdb",
    schemes=("duckdb://",),
    dialect=DuckDBDialect(),
    parse=parse_url,
    connect=connect,
    hold=held_open,
    url_help="duckdb:///PATH",
    default_schema="main",
)
