"""PostgreSQL through ADBC (binary COPY of Arrow batches): ``postgresql://user@host/db``.

PostgreSQL 15 has no ``pg_input_is_valid``: the ELT cast is guarded by patterns and set-based
checks (see the type registry); errors are typed by SQLSTATE (transient or not).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from csvdock.core.errors import ConfigError
from csvdock.read.parquet import parquet_batches
from csvdock.targets.base import (
    Capabilities,
    SqlDialect,
    Target,
    TargetSpec,
    Warehouse,
    WarehouseError,
    WarehouseLocked,
    WarehouseUnavailable,
)
from csvdock.targets.pg_probe import refusal_sqlstate
from csvdock.targets.url import ambiguous_password, masked_url, without_secret

log = logging.getLogger("csvdock")
INGEST_BATCH_ROWS = 65_536


class PostgresDialect(SqlDialect):
    """PostgreSQL's SQL: ``~`` with bounded repeats written out, no try-cast, unlogged staging,
    ``OFFSET 0`` to compute a level of a query once."""

    capabilities = Capabilities(
        transactional_ddl=True,
        try_cast=False,
        binary_copy=True,
        table_locks=True,
        unlogged_tables=True,
        folds_repeated_expressions=True,
    )

    def matches(self, value: str, pattern: str) -> str:
        return f"({value} ~ {self.literal(without_bounded_repeats(pattern))})"


class Postgres16Dialect(PostgresDialect):
    """PostgreSQL 16 and later: ``pg_input_is_valid`` tells whether text converts to a type,
    where PostgreSQL 15 needs the range or calendar checked by arithmetic (ELT's cast)."""

    capabilities = replace(PostgresDialect.capabilities, input_validation=True)

    def converts(self, value: str, sql_type: str) -> str | None:
        return f"pg_input_is_valid({value}, {self.literal(sql_type)})"


INPUT_VALIDATION_VERSION = 160000  # server_version_num of the first with pg_input_is_valid


def without_bounded_repeats(pattern: str) -> str:
    """Return ``pattern`` with each small bounded repeat written out (``[0-9]{2}`` becomes
    ``[0-9][0-9]``, ``[0-9]{1,3}`` becomes ``[0-9][0-9]?[0-9]?``): the same language, several
    times faster in PostgreSQL."""

    def written_out(match: re.Match[str]) -> str:
        atom, low, high = match.group(1), int(match.group(2)), match.group(3)
        optional = (int(high) - low) if high else 0
        return atom * low + f"{atom}?" * optional

    return re.sub(r"(\[[^\]]+\]|\\.|[^\\()\[\]{}|^$?*+])\{(\d+)(?:,(\d+))?\}", written_out, pattern)


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database, loaded through ADBC (binary COPY of Arrow batches)."""

    kind, default_schema, dialect = "postgresql", "public", PostgresDialect()

    def __init__(self, target: Target) -> None:
        import adbc_driver_postgresql.dbapi as adbc_pg

        self._errors = adbc_pg
        try:
            self._con = adbc_pg.connect(connect_url(target.url))
        except adbc_pg.Error as exc:
            raise _connect_error(exc, target) from exc
        self._cur = self._con.cursor()
        self.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        if self.server_version() >= INPUT_VALIDATION_VERSION:
            self.dialect = Postgres16Dialect()

    def server_version(self) -> int:
        """Return the server's ``server_version_num`` (150004 for 15.4)."""
        return int(self.execute("SELECT current_setting('server_version_num')")[0][0])

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

    def ingest_batches(self, schema: str, table: str, rows: pa.RecordBatchReader) -> int:
        try:
            return int(
                self._cur.adbc_ingest(table, rows, mode="append", db_schema_name=schema) or 0
            )
        except self._errors.Error as exc:
            raise _adbc_error(exc) from exc

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
        except self._errors.Error as exc:  # the connection is gone; the server rolls back
            log.debug("rollback on a lost PostgreSQL connection: %s", _adbc_message(exc))

    def close(self) -> None:
        try:
            self._cur.close()
            self._con.close()
        except self._errors.Error as exc:  # a connection already gone: nothing left to close
            log.debug("closing the PostgreSQL connection: %s", _adbc_message(exc))


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


# libpq options added to a URL that does not set them: a server that accepts TCP and never
# answers fails the connect after CONNECT_TIMEOUT seconds, and a connection that dies in the
# middle of a load is noticed by TCP keepalives (then a transient failure, retried later).
CONNECT_OPTIONS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
LOCK_TIMEOUT = "10min"  # the longest a load waits for another load of the same table
# A server that answered a connection with one of these refused it for good: a wrong password,
# no such role or database, no pg_hba entry (retrying cannot help).
PERMANENT_CONNECT_CLASSES = ("28", "3D", "42")


def connect_url(url: str) -> str:
    """Return ``url`` with ``CONNECT_OPTIONS`` added where it does not set them; ``ConfigError``
    when its password holds a raw ``#``, ``?``, ``/`` or ``@`` (libpq would read part of it as the
    host or the database, and print it)."""
    if ambiguous_password(url):
        raise ConfigError(
            f"target {masked_url(url)!r}: the password holds #, ?, / or @; percent-encode the "
            "password (%23, %3F, %2F, %40)"
        )
    query = urlsplit(url).query
    present = {key for key, _ in parse_qsl(query)}
    extra = "&".join(f"{k}={v}" for k, v in CONNECT_OPTIONS.items() if k not in present)
    if not extra:
        return url
    return f"{url}{'&' if query else '?'}{extra}"


def _connect_error(exc: Exception, target: Target) -> WarehouseError:
    """Return the error of a failed connect, the password masked, typed by the server's own
    SQLSTATE (asked of it: libpq does not give it): permanent when it refused the role, the
    password or the database, transient when it could not be reached or is starting or
    stopping."""
    error = _adbc_error(exc, f"cannot connect to {target.display}: ")
    message = without_secret(str(error), target.url)
    sqlstate = error.sqlstate or refusal_sqlstate(target.url)
    if sqlstate and sqlstate[:2] in PERMANENT_CONNECT_CLASSES:
        return WarehouseError(message, sqlstate)
    if isinstance(error, WarehouseUnavailable) or sqlstate is None:
        return WarehouseUnavailable(message, sqlstate)
    return type(error)(message, sqlstate)


def _adbc_message(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("IO: ", "INVALID_STATE: ", "NOT_FOUND: ", "INTERNAL: ", "ALREADY_EXISTS: "):
        text = text.removeprefix(prefix)
    return text.splitlines()[0] if text else type(exc).__name__


def parse_url(url: str) -> Target:
    """Parse a libpq URL (``postgresql://`` or ``postgres://``); ``ConfigError`` when libpq
    would misread it (see ``connect_url``)."""
    connect_url(url)
    return Target("postgresql", url)


def connect(target: Target) -> PostgresWarehouse:
    """Connect to the PostgreSQL database of ``target``."""
    return PostgresWarehouse(target)


SPEC = TargetSpec(
    kind="postgresql",
    schemes=("postgresql://", "postgres://"),
    dialect=PostgresDialect(),
    parse=parse_url,
    connect=connect,
    url_help="postgresql://...",
    default_schema="public",
    # 1,600 columns in a table, less the 3 that ELT's staging table adds (line, start, end).
    max_columns=1597,
)
