"""A file whose records stay in its source (``csvdock.read.source``), the way a big clean file
goes: no text copy, no typed copy, every value still checked.

- Transform (ELT: LoadRaw, before it stages the records from the source) reads the first records for
  the first look and checks its proposal on every record with one aggregate query over the
  source (``csvdock.schema.optimistic``). Where the proposal does not hold, it copies the records
  and the file goes the usual way (``detect_schema``, the Polars or SQL cast).
- ETL's Transform, where the first look's types can be checked by the cast itself, reads nothing
  more: the load checks them as it casts (``csvdock.pipeline.single_pass``), and a misfit sends
  the file the usual way (``ProposalRefuted``).
- ETL's load casts the source's records with the type registry's SQL and inserts them in one
  statement, inside the load's transaction with the ledger row. Where every value was checked
  against the schema the load uses, the cast runs without checks (``trusted_rows_sql``), also in
  ELT's TransformInTarget; otherwise it is ELT's checked cast (the same table and the same
  rejects as the Polars cast), the rejects from the same query, with their lines. The source is
  checked to be the version Extract read, before and after.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.core.settings import Settings
from csvdock.core.timing import timed
from csvdock.pipeline.file_load import FileToLoad, Into, RowsCastInLoad
from csvdock.pipeline.single_pass import (
    ProposalRefuted,
    Statistics,
    WatchedBatches,
    inserted_summarised,
    takes_the_file_as_it_is,
    too_long,
    types_of,
)
from csvdock.pipeline.stages import (
    DETECTED_FILE,
    SchemaAtLoad,
    refuse_over_threshold,
    resolve_schema_stage,
)
from csvdock.read.errors import SourceChanged, source_identity
from csvdock.read.extract import REJECTS_FILE as EXTRACT_REJECTS
from csvdock.read.extract import ExtractResult
from csvdock.read.parse import limit_memory
from csvdock.read.scratch import scratch_duckdb
from csvdock.read.source import SourcePlan, check_same_source
from csvdock.rejects.format import (
    REJECT_COLUMN,
    checked_rejects_sql,
    no_rejects,
    rejects_from_rows,
    rejects_with_raw_text,
)
from csvdock.schema import types as t
from csvdock.schema.detect import first_look_rows
from csvdock.schema.optimistic import (
    Proposal,
    confirmed_schema,
    first_look_samples,
    format_checks,
    may_have_format,
    proposal_from_head,
    provisional_schema,
    schema_with_evidence,
)
from csvdock.schema.registry import SchemaRegistry
from csvdock.schema.statistics import stat_key
from csvdock.schema.table import TableSchema
from csvdock.targets import Warehouse, dialect_of
from csvdock.targets.base import SqlDialect, first_line
from csvdock.targets.load import LedgerEntry, LoadError, record_version, store_rejects
from csvdock.transform.sql_cast import (
    PADDED,
    TOKENS,
    checked_rows_sql,
    create_staging_view,
    optimistic_rows_sql,
    proposal_statistics_sql,
    trusted_rows_sql,
)

log = logging.getLogger("csvdock")
IN_SOURCE_FILE = "in_source.json"  # in Transform's folder: the load casts from the source
BATCH_ROWS = 122_880  # the rows of one Arrow batch sent to a target other than DuckDB


def in_source_note(transform_dir: Path) -> dict[str, Any]:
    """Return what Transform (ELT: LoadRaw) noted of a file whose records stay in its source."""
    note: dict[str, Any] = json.loads((transform_dir / IN_SOURCE_FILE).read_text(encoding="utf-8"))
    return note


def is_cast_in_load(transform_dir: Path) -> bool:
    """Return whether Transform left the cast to the load (the records stay in the source)."""
    return (transform_dir / IN_SOURCE_FILE).exists()


def transform_in_source(
    plan: SourcePlan,
    extract_dir: Path,
    table: str,
    settings: Settings,
    out_dir: Path,
    optimistic: bool = False,
) -> bool:
    """Resolve the schema of a file whose records stay in its source into ``out_dir``, leaving
    the cast to the load; return False (nothing written) when the first look's proposal does
    not hold on every record.

    ``optimistic`` (ETL): where the first look's types can be checked by the cast itself
    (``provisional_schema``), nothing is read past the first look here: the load checks them
    as it casts and inserts, and gives the schema its evidence from what it stored; where a
    value does not fit, the load rolls back and the file goes the usual way
    (``ProposalRefuted``)."""
    extracted = ExtractResult.read(extract_dir)
    table_settings = settings.for_table(table)
    rows = extracted.rows_read - extracted.rows_rejected
    with timed(out_dir, "first_look"):
        head = plan.head(first_look_rows(rows, table_settings.outlier_share))
    checked: dict[str, str] = {}  # the types every present value was checked to convert to
    padded: list[str] = extracted.columns  # the columns that may hold padded values
    with_tokens: list[str] | None = None  # the columns that may hold NULL tokens (None: all)
    samples = None  # the first look's samples, where the load checks its types
    if len(head) >= rows:  # the first look is the whole file: detect as usual, from it
        resolve_schema_stage(extract_dir, table, settings, out_dir, records=head)
    else:
        proposal = _proposal(plan, head, rows, table, settings)
        schema = None
        if proposal is not None and optimistic:
            schema = provisional_schema(
                table, extracted.columns, extracted.source_columns, proposal
            )
        if schema is not None:
            assert proposal is not None
            resolved, contract = resolve_schema_stage(
                extract_dir, table, settings, out_dir, detected=schema
            )
            if takes_the_file_as_it_is(resolved, contract, schema):
                samples = first_look_samples(proposal)
            else:  # a contract, a column the file lacks: the load needs the checked cast
                schema = None
        if schema is None:
            with timed(out_dir, "check_proposal"):
                schema, found = _detected_in_one_pass(plan, proposal, extracted, table, settings)
            if schema is None:
                return False
            checked = {c.name: c.type for c in schema.columns}
            padded = _counted(found, schema, PADDED)
            with_tokens = _counted(found, schema, TOKENS)
            resolve_schema_stage(extract_dir, table, settings, out_dir, detected=schema)
    note = {
        "rows": rows,
        "checked": checked,
        "null_tokens": list(table_settings.null_tokens),
        "first_look_samples": samples,
        "formats": proposal.formats if samples is not None and proposal else {},
        "known_formats": proposal.known_formats if samples is not None and proposal else {},
        "padded": padded_columns(head) if samples is not None else padded,
        "with_tokens": with_tokens,
    }
    (out_dir / IN_SOURCE_FILE).write_text(json.dumps(note), encoding="utf-8")
    return True


def padded_columns(head: pl.DataFrame) -> list[str]:
    """Return the columns of the first look holding a value with whitespace around it: only
    their values are trimmed by the load's single pass (elsewhere such a value, unseen in the
    first look, refutes it: trimming every value cost a fifth of the cast)."""
    return [
        name
        for name in head.columns
        if head.schema[name] == pl.String
        and (head[name] != head[name].str.strip_chars(t.WHITESPACE)).any()
    ]


def checked_everywhere(
    note: dict[str, Any] | None,
    at_load: SchemaAtLoad,
    columns: list[str],
    null_tokens: tuple[str, ...],
) -> bool:
    """Return whether every present value of the file was checked (by Transform, on every
    record, as its ``note`` says: ``in_source_note``; None where it left none) to convert to
    its column's type in ``at_load``'s schema, so the load may cast without checking again: the
    same types and NULL tokens, every column the file's, nullable and without a source format,
    no contract to enforce."""
    if note is None:
        return False
    checked: dict[str, str] = note.get("checked") or {}
    if not checked or note.get("null_tokens") != list(null_tokens):
        return False
    contract = at_load.contract
    if contract is not None and (contract.unknown_columns or contract.missing_columns):
        return False
    schema = at_load.schema
    if sorted(schema.names) != sorted(columns):
        return False
    return all(
        c.nullable and c.format is None and checked.get(c.name) == c.type for c in schema.columns
    )


def _proposal(
    plan: SourcePlan, head: pl.DataFrame, rows: int, table: str, settings: Settings
) -> Proposal | None:
    table_settings = settings.for_table(table)
    latest = SchemaRegistry(settings.schemas_dir).latest(table)
    known = {c.name: c.format for c in latest.columns if c.format} if latest else None
    return proposal_from_head(
        head, rows, plan.columns, table_settings.null_tokens, table_settings.outlier_share, known
    )


def _detected_in_one_pass(
    plan: SourcePlan,
    proposal: Proposal | None,
    extracted: ExtractResult,
    table: str,
    settings: Settings,
) -> tuple[TableSchema | None, dict[str, Any]]:
    """Return the schema the proposal's check on every record confirms (None where it does not
    hold) and the statistics it found."""
    if proposal is None:
        return None, {}
    tokens = settings.for_table(table).null_tokens
    sql, keys = proposal_statistics_sql(dialect_of("duckdb"), plan.records_sql(), proposal, tokens)
    with scratch_duckdb() as con:
        limit_memory(con, len(plan.columns))
        found = dict(zip(keys, con.execute(sql).fetchall()[0], strict=True))
    columns, source_columns = extracted.columns, extracted.source_columns
    return confirmed_schema(table, columns, source_columns, proposal, found), found


def _counted(found: dict[str, Any], schema: TableSchema, statistic: str) -> list[str]:
    """Return the columns of ``schema`` not of text with a ``statistic`` above zero in
    ``found`` (where it was not counted, every one)."""
    return [
        c.name
        for c in schema.columns
        if c.type != t.TEXT and found.get(stat_key(c.name, statistic), 1) > 0
    ]


def trusted_rows(
    dialect: SqlDialect,
    note: dict[str, Any],
    records: str,
    at_load: SchemaAtLoad,
    null_tokens: tuple[str, ...],
) -> str:
    """Return the SELECT of the typed ``records`` of a file whose every value was checked
    (``checked_everywhere``): trimmed and compared with the NULL tokens only in the columns
    where Transform's check on every record found values that need it (its ``note``)."""
    return trusted_rows_sql(
        dialect,
        records,
        at_load.schema,
        null_tokens,
        note.get("padded"),
        note.get("with_tokens"),
    )


def checked_in_source(transform_dir: Path) -> bool:
    """Return whether Transform (ELT: LoadRaw) checked every value of the file on its source
    against the types of the schema it resolved."""
    note = in_source_note(transform_dir)
    return bool(note.get("checked"))


def stage_from_source(
    plan: SourcePlan, warehouse: Warehouse, staging: tuple[str, str], positions: bool = True
) -> int:
    """Stage a file's text records (ELT), with their positions or NULL, read from its source;
    return how many. A target that reads CSV itself stages them as a view over the source
    (``stages_as_view``; the cast reads the file then, checked to be the version Extract
    read): copying 5M records of text into a DuckDB file cost more than the cast. Another
    target appends them to the ``staging`` table as Arrow batches read by DuckDB."""
    check_same_source(plan)
    records = plan.records_sql(positions)
    if stages_as_view(warehouse.dialect):
        create_staging_view(warehouse, staging, records)
        return plan.parsed_records
    with scratch_duckdb() as con:
        limit_memory(con, len(plan.columns))
        return warehouse.ingest_batches(*staging, con.sql(records).to_arrow_reader(BATCH_ROWS))


def stages_as_view(dialect: SqlDialect) -> bool:
    """Return whether a target of ``dialect`` stages a file that stays in its source as a view
    over it (it reads CSV itself)."""
    return dialect.capabilities.reads_csv


class SourceRows(RowsCastInLoad):
    """ETL's rows of a file Transform left in its source: cast with SQL from the source inside
    the load's transaction (into DuckDB natively; into another target as Arrow batches)."""

    def __init__(self, file: FileToLoad) -> None:
        plan = SourcePlan.of(file.extract_dir, file.path)
        if plan is None:
            raise LoadError(f"{file.path}: Extract left no plan to read the source again")
        self.file, self.plan = file, plan
        self.table_settings = file.settings.for_table(file.table)
        self.parse_rejects = pl.read_parquet(file.extract_dir / EXTRACT_REJECTS)
        self.note = in_source_note(file.prepared_dir)
        self.detected: TableSchema | None = None  # the file's provisional schema (``prepare``)

    def prepare(self, at_load: SchemaAtLoad) -> None:
        """Where Transform left the first look's types to check (``provisional``), refuse a
        schema other than the one it resolved (the table moved on: the file goes the usual way),
        else leave its version to ``write``, which gives it its evidence."""
        if not self._provisional:
            return
        tokens = self.table_settings.null_tokens
        self.detected = TableSchema.read(self.file.prepared_dir / DETECTED_FILE)
        if not (
            at_load.as_prepared
            and list(tokens) == self.note["null_tokens"]
            and takes_the_file_as_it_is(at_load.schema, at_load.contract, self.detected)
        ):
            raise ProposalRefuted(f"{self.file.path}: the table's schema moved on")
        at_load.recorded_by_write = True

    @property
    def _provisional(self) -> bool:
        return self.note.get("first_look_samples") is not None

    def write(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, entry: LedgerEntry
    ) -> tuple[int, int]:
        identity = check_same_source(self.plan)
        rows = self.file.extracted.rows_read - self.parse_rejects.height
        if self._provisional:
            loaded, cast_rejects = self._insert_checking_types(warehouse, into, at_load)
        elif warehouse.dialect.capabilities.reads_csv:
            loaded, cast_rejects = self._insert_in_target(warehouse, into, at_load, rows)
        else:
            loaded, cast_rejects = self._send_batches(warehouse, into, at_load, rows)
        if loaded + cast_rejects.height != rows:
            raise LoadError(
                f"{self.file.path}: {rows} records parsed but {loaded} loaded and "
                f"{cast_rejects.height} rejected; refusing to load"
            )
        if source_identity(self.plan.path) != identity:
            raise SourceChanged(f"{self.plan.path} changed while it was loaded; it is read again")
        rejects = pl.concat([self.parse_rejects, cast_rejects]).sort("line")
        refuse_over_threshold(self.table_settings, self.file.extracted.rows_read, rejects.height)
        with_raw = rejects_with_raw_text(rejects, self.file.text)
        return loaded, store_rejects(warehouse, entry, with_raw)

    def _checked(self, at_load: SchemaAtLoad, positions: bool) -> str:
        records = f"({self.plan.records_sql(positions)}) AS staged"
        return checked_rows_sql(
            dialect_of("duckdb"),
            records,
            self.plan.columns,
            at_load.schema,
            self.table_settings.null_tokens,
            at_load.contract,
        )

    def _good_rows(self, at_load: SchemaAtLoad) -> str:
        """Return the SELECT of the rows to load (typed, named as the table's columns)."""
        tokens = self.table_settings.null_tokens
        names = ", ".join(quote_identifier(c) for c in at_load.schema.names)
        dialect = dialect_of("duckdb")  # the source is read by DuckDB, whatever the target
        if checked_everywhere(self.note, at_load, self.plan.columns, tokens):
            records = f"({self.plan.text_records_sql()}) AS staged"
            return trusted_rows(dialect, self.note, records, at_load, tokens)
        checked = self._checked(at_load, positions=False)
        return f"SELECT {names} FROM ({checked}) AS checked WHERE {REJECT_COLUMN} IS NULL"

    def _insert_in_target(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, rows: int
    ) -> tuple[int, pl.DataFrame]:
        names = ", ".join(quote_identifier(c) for c in at_load.schema.names)
        loaded = warehouse.execute_rowcount(
            f"INSERT INTO {qualified_name(*into)} ({names}) {self._good_rows(at_load)}"
        )
        if loaded == rows:
            return loaded, no_rejects()
        positioned = self._checked(at_load, positions=True)
        return loaded, rejects_from_rows(warehouse.execute(checked_rejects_sql(positioned)))

    def _send_batches(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, rows: int
    ) -> tuple[int, pl.DataFrame]:
        with scratch_duckdb() as con:
            limit_memory(con, len(self.plan.columns))
            reader = con.sql(self._good_rows(at_load)).to_arrow_reader(BATCH_ROWS)
            loaded = warehouse.ingest_batches(*into, reader)
            if loaded == rows:
                return loaded, no_rejects()
            positioned = self._checked(at_load, positions=True)
            found = con.execute(checked_rejects_sql(positioned)).fetchall()
        return loaded, rejects_from_rows(found)

    def _insert_checking_types(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad
    ) -> tuple[int, pl.DataFrame]:
        """Cast and insert the rows, checking the first look's types on every value as they go
        (a misfit fails the statement: ``ProposalRefuted``), then give the schema its evidence
        from the values stored and record its version."""
        records = f"({self.plan.text_records_sql()}) AS staged"
        tokens = self.table_settings.null_tokens
        prepared = self.detected  # (read by ``prepare``)
        assert prepared is not None
        padded = self.note.get("padded", at_load.schema.names)  # (a note of an older run)
        samples = {n: found["samples"] for n, found in self.note["first_look_samples"].items()}
        select = optimistic_rows_sql(
            dialect_of("duckdb"),
            records,
            at_load.schema,
            tokens,
            types_of(prepared),
            padded,
            samples,
        )
        formats = format_checks(self.note["formats"])
        if warehouse.dialect.capabilities.reads_csv:
            loaded, found = inserted_summarised(warehouse, into, at_load.schema, select, formats)
        else:
            loaded, found = self._stream_checking_types(
                warehouse, into, at_load.schema, select, formats
            )
        for name, pairs in self.note["formats"].items():
            known = self.note["known_formats"].get(name)
            if may_have_format(pairs, known, found[name]["formats"]):
                raise ProposalRefuted(f"{self.file.path}: column {name} may hold formatted values")
        samples, rows = self.note["first_look_samples"], int(self.note["rows"])
        detected = schema_with_evidence(prepared, samples, rows, found)
        if any(too_long(c) for c in detected.columns):
            raise ProposalRefuted(f"{self.file.path}: a decimal too long for exact extremes")
        policy = self.table_settings.evolution
        resolved = SchemaRegistry(self.file.settings.schemas_dir).propose(detected, policy).schema
        if resolved.version != at_load.schema.version or types_of(resolved) != types_of(
            at_load.schema
        ):
            raise ProposalRefuted(f"{self.file.path}: the schema resolved otherwise")
        at_load.schema = resolved
        if not at_load.recorded:
            record_version(warehouse, resolved)
        return loaded, no_rejects()

    def _stream_checking_types(
        self,
        warehouse: Warehouse,
        into: Into,
        schema: TableSchema,
        select: str,
        formats: dict[str, list[str]],
    ) -> tuple[int, Statistics]:
        with scratch_duckdb() as con:
            limit_memory(con, len(self.plan.columns))
            try:  # (a small result is computed here already, a misfit with it)
                reader = con.sql(select).to_arrow_reader(BATCH_ROWS)
            except duckdb.Error as exc:  # the usual way reads the source again and decides
                raise ProposalRefuted(f"{self.file.path}: {first_line(exc)}") from exc
            watched = WatchedBatches(reader, schema, formats)
            try:
                loaded = warehouse.ingest_batches(*into, watched.reader())
            except Exception as exc:
                if watched.refuted is not None:
                    raise ProposalRefuted(f"{self.file.path}: {watched.refuted}") from exc
                raise
        return loaded, watched.statistics()

    def discard(self, warehouse: Warehouse) -> None:
        pass  # nothing stays in the target before the commit
