"""One in-memory DuckDB database per process for sniffing and parsing.

Opening a DuckDB database costs 10-20 ms; a cursor on an open one costs under 1 ms. A folder of
small files paid the first two or three times a file, so extraction takes cursors on one
database that lives as long as the process (each cursor is its own connection: its settings,
temporary tables and reject tables end with it). Before a fork the database is closed, so a
child never inherits DuckDB's threads; each process opens its own when it first needs one.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import duckdb

SCRATCH_THREADS_ENV = "CSVDOCK_SCRATCH_THREADS"  # DuckDB's threads here (default: one a core)
# DuckDB keeps memory it freed for its next queries: the vectors of a wide file's parse (2,048
# values a column: 2 x 2,000 took 115 MB) stayed in the process under its later peaks. Its
# allocator's background threads return them within half a second; the flush thresholds
# (128 MB and 512 MB by default) apply after each query.
RETURN_MEMORY: dict[str, str | bool | int | float | list[str]] = {
    "allocator_flush_threshold": "8MB",
    "allocator_bulk_deallocation_flush_threshold": "8MB",
    "allocator_background_threads": True,
}
_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None
_settings: dict[str, str] = {}  # the database-wide settings made on it, by name


@contextlib.contextmanager
def scratch_duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a fresh connection (a cursor) to this process's in-memory DuckDB database."""
    global _database
    with _lock:
        if _database is None:
            threads = os.environ.get(SCRATCH_THREADS_ENV)
            config: dict[str, str | bool | int | float | list[str]] = {**RETURN_MEMORY}
            if threads:
                config["threads"] = threads
            _database = duckdb.connect(":memory:", config=config)
        cursor = _database.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def set_globally(cursor: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    """Make the database-wide setting ``name`` (``memory_limit``, ``preserve_insertion_order``)
    ``value`` through ``cursor`` of this process's database, unless it is that already (a SET
    costs about half a millisecond: a folder of small files made two per file)."""
    with _lock:
        if _settings.get(name) == value:
            return
        cursor.execute(f"SET GLOBAL {name} = {value}")
        _settings[name] = value


def _close_before_fork() -> None:
    global _database
    with _lock:
        if _database is not None:
            _database.close()
            _database = None
            _settings.clear()


os.register_at_fork(before=_close_before_fork)
