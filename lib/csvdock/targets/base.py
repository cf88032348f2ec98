"""The target interface: what every warehouse csvdock loads into provides.

A target is one module in ``csvdock.targets`` with a ``SPEC`` (``TargetSpec``): its URL schemes,
its SQL dialect (quoting, types, regular expressions, try-casts, staging tables), its
capabilities and how to connect. Everything else (the atomic load, evolution, the ELT cast, the
ledger, the dead letters) is written once against this interface; every identifier is quoted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from csvdock.core.errors import CsvdockError
from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.schema import types as t
from csvdock.targets.url import masked_url

# csvdock's own tables live in this database schema of every target.
METADATA_SCHEMA, LEDGER_TABLE = "csvdock", "ledger"
REJECTS_TABLE, VERSIONS_TABLE = "rejects", "schema_versions"
REPLAYS_TABLE = "replays"  # which replay took each rejected record (the CSV's replayed_in)
OFFSETS_TABLE = "stream_offsets"


@dataclass(frozen=True)
class Capabilities:
    """What a target can do; the shared code chooses its SQL by these, never by the name."""

    transactional_ddl: bool  # CREATE/ALTER roll back with the load's transaction
    try_cast: bool  # TRY_CAST(value AS type) gives NULL instead of raising
    binary_copy: bool  # rows go in through a bulk binary stream (ADBC COPY), not INSERTs
    table_locks: bool  # loads into one table are serialised by a lock in the transaction
    unlogged_tables: bool  # staging tables can skip the write-ahead log
    folds_repeated_expressions: bool  # needs an optimisation fence to compute a level once
    # a function tells whether text converts to a type without raising (PostgreSQL 16's
    # ``pg_input_is_valid``), where a portable check would take a pattern and arithmetic
    input_validation: bool = False
    reads_csv: bool = False  # the engine parses a CSV file itself (a load reads the source in SQL)
    bounded_repeats: bool = False  # a pattern's ``{1,36}`` is as cheap as counting apart (RE2)


@dataclass(frozen=True)
class Target:
    """A parsed target URL: which kind of target, the URL, and a file path for file targets."""

    kind: str
    url: str
    path: Path | None = None

    @property
    def display(self) -> str:
        """The URL with any password masked, safe for logs and summaries."""
        return masked_url(self.url)


class SqlDialect:
    """A target's SQL: standard SQL by default; a target overrides what its engine does
    differently. The type names come from the type registry (``csvdock.schema.types``)."""

    type_names: dict[str, str] = {}  # standard SQL type -> this target's name for it
    capabilities: Capabilities

    def bounded_repeats(self) -> bool:
        """Return whether a pattern's bounded repeat is cheap here (``Capabilities``)."""
        return self.capabilities.bounded_repeats

    def literal(self, text: str) -> str:
        """Return ``text`` as a SQL string literal."""
        return "'" + text.replace("'", "''") + "'"

    def matches(self, value: str, pattern: str) -> str:
        """Return a condition: ``value`` matches the regular expression ``pattern``."""
        raise NotImplementedError

    def replace_all(self, value: str, pattern: str, replacement: str) -> str:
        """Return ``value`` with every match of ``pattern`` replaced (``\\1``: a group)."""
        return f"regexp_replace({value}, {self.literal(pattern)}, {self.literal(replacement)}, 'g')"

    trim_function = "btrim"  # trims given characters from both ends

    def trimmed(self, value: str) -> str:
        """Return ``value`` without csvdock's whitespace at either end."""
        chars = " || ".join(f"chr({ord(c)})" for c in t.WHITESPACE)
        return f"{self.trim_function}({value}, {chars})"

    def try_cast(self, value: str, sql_type: str) -> str | None:
        """Return ``value`` cast to ``sql_type`` or NULL (None: the target has no try-cast)."""
        return f"TRY_CAST({value} AS {sql_type})" if self.capabilities.try_cast else None

    def converts(self, value: str, sql_type: str) -> str | None:
        """Return a condition: text ``value`` converts to ``sql_type`` (None: the target can
        only tell by the type's portable check)."""
        tried = self.try_cast(value, sql_type)
        return f"({tried} IS NOT NULL)" if tried else None

    def sql_type(self, logical_type: str) -> str:
        """Return this target's SQL type for ``logical_type``."""
        standard = t.standard_sql_type(logical_type)
        base, _, arguments = standard.partition("(")
        renamed = self.type_names.get(base, base)
        return f"{renamed}({arguments}" if arguments else renamed

    @property
    def text_type(self) -> str:
        """Return the SQL type of text."""
        return self.sql_type(t.TEXT)

    def logical_type(self, data_type: str, numeric_scale: int | None) -> str:
        """Return the csvdock type of an ``information_schema`` column type (text otherwise)."""
        kind = data_type.lower()
        for entry in t.TYPES:
            standard = entry.sql(0).partition("(")[0]
            for name in {standard.lower(), self.type_names.get(standard, standard).lower()}:
                if kind == name or kind.startswith((name + " ", name + "(")):
                    if entry.name == t.DECIMAL:
                        return t.decimal_type(int(numeric_scale or 0))
                    return entry.name
        return t.TEXT

    def fence(self) -> str:
        """Return what keeps a subquery from being folded into its parent (may be empty)."""
        return " OFFSET 0" if self.capabilities.folds_repeated_expressions else ""

    def create_staging_table(self, name: str, definitions: list[str]) -> str:
        """Return the CREATE TABLE of a staging table (unlogged where the target can)."""
        unlogged = "UNLOGGED " if self.capabilities.unlogged_tables else ""
        return f"CREATE {unlogged}TABLE {name} ({', '.join(definitions)})"

    def alter_column_type(self, table: str, column: str, sql_type: str) -> str:
        """Return the ALTER TABLE that widens ``column`` to ``sql_type`` (values converted)."""
        return (
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {sql_type} "
            f"USING CAST({column} AS {sql_type})"
        )

    def metadata_ddl(self) -> list[str]:
        """Return the statements that create csvdock's own tables (ledger, rejects, versions)."""
        text, ledger = self.text_type, qualified_name(METADATA_SCHEMA, LEDGER_TABLE)
        return [
            f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(METADATA_SCHEMA)}",
            # One row per loaded file: the proof of its load, with its rows.
            f"""CREATE TABLE IF NOT EXISTS {ledger} (
    table_name {text} NOT NULL,
    file_sha256 {text} NOT NULL,
    file_path {text},
    run_id {text} NOT NULL,
    mode {text} NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    schema_version INTEGER,
    loaded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, file_sha256)
)""",
            # Every rejected record of a loaded file, in the same transaction as its rows and
            # ledger row: the dead-letter CSV in the workspace is derived from it.
            f"""CREATE TABLE IF NOT EXISTS {qualified_name(METADATA_SCHEMA, REJECTS_TABLE)} (
    table_name {text} NOT NULL,
    file_sha256 {text} NOT NULL,
    run_id {text} NOT NULL,
    file_path {text},
    line BIGINT NOT NULL,
    stage {text} NOT NULL,
    column_name {text},
    reason {text} NOT NULL,
    raw {text},
    code {text}
)""",
            # The replay that took each rejected record: the dead-letter CSV's replayed_in.
            f"""CREATE TABLE IF NOT EXISTS {qualified_name(METADATA_SCHEMA, REPLAYS_TABLE)} (
    table_name {text} NOT NULL,
    file_sha256 {text} NOT NULL,
    line BIGINT NOT NULL,
    replayed_in {text} NOT NULL,
    PRIMARY KEY (table_name, file_sha256, line)
)""",
            # Every schema version a load committed, in the same transaction as the table
            # change: the registry's files (schemas/<table>/vN.json) are written from it.
            f"""CREATE TABLE IF NOT EXISTS {qualified_name(METADATA_SCHEMA, VERSIONS_TABLE)} (
    table_name {text} NOT NULL,
    version INTEGER NOT NULL,
    schema_json {text} NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, version)
)""",
            # Per table and stream (``kafka://TOPIC/PARTITION``), the last offset loaded, moved
            # on in the same transaction as the batch's rows: the consumer's only truth.
            f"""CREATE TABLE IF NOT EXISTS {qualified_name(METADATA_SCHEMA, OFFSETS_TABLE)} (
    table_name {text} NOT NULL,
    stream {text} NOT NULL,
    last_offset BIGINT NOT NULL,
    run_id {text} NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, stream)
)""",
        ]


def insert_sql(table: str, row: dict[str, Any]) -> str:
    """Return ``INSERT INTO table (...) VALUES ($1, ...)`` for one ``row`` of csvdock's own
    columns (its values are the parameters)."""
    marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})"


class WarehouseError(CsvdockError):
    """The target refused a statement: permanent unless ``transient`` says otherwise."""

    transient = False

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class WarehouseUnavailable(WarehouseError):
    """The target cannot be reached (connection refused, reset or closed): transient."""

    transient = True


class CastRefused(WarehouseError):
    """A statement's cast refused a value: the value does not hold the type it was checked
    against (DuckDB's ``error`` in a guarded cast, or a failed conversion)."""


class WarehouseLocked(WarehouseError):
    """The target is busy (a lock, a serialization failure, a deadlock): transient."""

    transient = True


class Warehouse(ABC):
    """One open connection to a target, in an explicit transaction. Statements use ``$1``
    placeholders."""

    kind: str
    default_schema: str
    dialect: SqlDialect
    _ledger_ready = False  # csvdock's tables exist (made or seen once by this connection)

    @property
    def capabilities(self) -> Capabilities:
        """Return what this target can do."""
        return self.dialect.capabilities

    @abstractmethod
    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""

    @abstractmethod
    def execute_rowcount(self, sql: str, params: list[Any] | None = None) -> int:
        """Run one INSERT/UPDATE/DELETE and return how many rows it changed."""

    def insert_unless_present(self, table: str, row: dict[str, Any], key: tuple[str, ...]) -> bool:
        """Insert ``row`` into the (qualified, quoted) ``table`` unless a row with the same
        ``key`` columns is there; return whether it inserted. ``row``'s names are csvdock's own
        columns (not from a file)."""
        inserted = self.execute(
            f"{insert_sql(table, row)} ON CONFLICT DO NOTHING RETURNING 1", list(row.values())
        )
        return bool(inserted)

    @abstractmethod
    def ingest_parquet(self, schema: str, table: str, columns: list[str], paths: list[Path]) -> int:
        """Append the rows of Parquet files, in order (columns in table order); return their
        count."""

    @abstractmethod
    def ingest_arrow(self, schema: str, table: str, rows: pa.Table) -> int:
        """Append the rows of an Arrow table (columns named as the table's); return their count."""

    @abstractmethod
    def ingest_batches(self, schema: str, table: str, rows: pa.RecordBatchReader) -> int:
        """Append the rows of a stream of Arrow batches (columns named as the table's), read to
        its end; return their count."""

    def insert_summarised(
        self, schema: str, table: str, columns: list[str], select: str, aggregates: list[str]
    ) -> tuple[int, tuple[Any, ...]]:
        """Append ``select``'s rows (``columns`` in order) and return how many, with the
        ``aggregates`` over exactly the rows appended; a refused cast raises ``CastRefused``.
        Only a target that reads CSV itself (``capabilities.reads_csv``) has it."""
        raise NotImplementedError(f"{self.kind} cannot summarise the rows it appends")

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
        return self.dialect.sql_type(logical_type)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # A table's columns in order: name, SQL type and scale, by $1 schema and $2 table.
    columns_sql = (
        "SELECT column_name, data_type, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position"
    )

    def table_types(self, schema: str, table: str) -> dict[str, str] | None:
        """Return the columns of ``schema.table`` as name -> csvdock type, or None if absent."""
        rows = self.execute(self.columns_sql, [schema, table])
        return {
            str(name): self.dialect.logical_type(str(kind), scale) for name, kind, scale in rows
        } or None

    def ensure_ledger(self) -> None:
        """Create csvdock's own tables if they are missing, in their own transaction, once per
        connection (a DuckDB file held open for a run: once per run, see ``DuckDBWarehouse``)."""
        if self._ledger_ready:
            return
        for attempt in range(3):
            try:
                self.begin()
                for ddl in self.dialect.metadata_ddl():
                    self.execute(ddl)
                self._add_reject_codes()
                self.commit()
                self._ledger_ready = True
                return
            except WarehouseError:
                self.rollback()
                if attempt == 2:
                    raise

    def _add_reject_codes(self) -> None:
        """Give a target made before rejects had codes the ``code`` column (NULL for its rows);
        looked up first, so a target that has it takes no lock on the rejects table."""
        rejects = self.table_types(METADATA_SCHEMA, REJECTS_TABLE) or {}
        if rejects and "code" not in rejects:
            table = qualified_name(METADATA_SCHEMA, REJECTS_TABLE)
            self.execute(f"ALTER TABLE {table} ADD COLUMN code {self.dialect.text_type}")


@dataclass(frozen=True)
class TargetSpec:
    """A kind of target, as registered in ``csvdock.targets.TARGETS``."""

    kind: str
    schemes: tuple[str, ...]  # URL prefixes, e.g. ("postgresql://", "postgres://")
    dialect: SqlDialect
    parse: Callable[[str], Target]  # raises ConfigError on a malformed URL
    connect: Callable[[Target], Warehouse]
    url_help: str  # how a URL of this kind looks, for error messages
    default_schema: str  # where an unqualified table lives (``x`` and ``SCHEMA.x`` are one)
    max_columns: int | None = None  # the most columns a file may have (both modes alike)
    # keeps the target open for a run of loads in this process, where reconnecting is dear
    hold: Callable[[Target, bool], AbstractContextManager[None]] | None = None
    example_urls: tuple[str, ...] = field(default_factory=tuple)


def first_line(exc: BaseException) -> str:
    """Return the first line of an error's message (its type name when it has none)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
