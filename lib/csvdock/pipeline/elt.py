"""ELT stages: LoadRaw stages the text records in the target (or, for a big file every value of
which it checked, leaves that to the load: ``staged_beside``); TransformInTarget casts them with
SQL into the final table, in ONE transaction with the ledger row (and the raw archive)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from csvdock.core.errors import CsvdockError
from csvdock.core.naming import qualified_name, quote_identifier
from csvdock.core.runs import FileResult
from csvdock.core.settings import Settings
from csvdock.core.timing import timed
from csvdock.pipeline.file_load import FileToLoad, Into, RowsCastInLoad, load_file
from csvdock.pipeline.in_source import (
    checked_everywhere,
    checked_in_source,
    in_source_note,
    is_cast_in_load,
    stage_from_source,
    stages_as_view,
    transform_in_source,
    trusted_rows,
)
from csvdock.pipeline.staged_beside import cast_while_staging, chunk_tables
from csvdock.pipeline.stages import (
    SchemaAtLoad,
    is_empty_file,
    is_quarantined,
    refuse_over_threshold,
    resolve_schema_stage,
)
from csvdock.read.extract import RECORDS_FILE, ExtractResult
from csvdock.read.extract import REJECTS_FILE as EXTRACT_REJECTS
from csvdock.read.records import END, LINE, START
from csvdock.read.source import SourcePlan, check_same_source
from csvdock.rejects.format import (
    REJECT_COLUMN,
    checked_rejects_sql,
    rejects_from_rows,
    rejects_with_raw_text,
)
from csvdock.targets import Warehouse, connect, dialect_of, parse_target
from csvdock.targets.load import LedgerEntry, LoadError, store_rejects
from csvdock.transform.sql_cast import (
    checked_rows_sql,
    create_staging,
    drop_staging,
    staging_table,
)

log = logging.getLogger("csvdock")
STAGED_FILE = "staged.json"


def load_raw_stage(
    sha256: str,
    table: str,
    settings: Settings,
    extract_dir: Path,
    out_dir: Path,
    source: Path | None = None,
) -> None:
    """Stage the text records in the target and resolve the schema (as ETL does). A file whose
    records stay in its ``source`` (the path this run reads; default: the path extracted) is
    staged from it, and its types checked on it meanwhile, in a thread (each on a core:
    ``csvdock.pipeline.in_source``). Where every value was checked, the cast finds no rejects,
    so the staged records need no positions (joining them costs more than the staging); where
    not, they are staged again with them (and from the start with ``keep_raw``: the archive
    keeps each record's line). Into a target that does not read CSV itself, the check runs
    first, alone, and a file whose every value fits is not staged here: the load stages it
    beside its cast (``csvdock.pipeline.staged_beside``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_quarantined(extract_dir) or is_empty_file(extract_dir):
        return
    extracted = ExtractResult.read(extract_dir)
    staging = staging_table(table, sha256)
    plan = SourcePlan.of(extract_dir, source or Path(extracted.path))
    positions = plan is None or settings.for_table(table).keep_raw
    note: dict[str, object] = {"staging": list(staging), "columns": extracted.columns}
    checked: bool | None = None  # whether the check (run first) found every value fits
    as_view = stages_as_view(dialect_of(parse_target(settings.target).kind))
    if plan is not None and not positions and not as_view:
        # The check alone first (both cores): where every value fits, the load stages the
        # records beside its cast (``csvdock.pipeline.staged_beside``).
        checked = transform_in_source(plan, extract_dir, table, settings, out_dir)
        if checked and checked_in_source(out_dir):
            note.update(
                rows=plan.parsed_records, positions=False, from_source=True, staged_in_load=True
            )
            (out_dir / STAGED_FILE).write_text(json.dumps(note), encoding="utf-8")
            log.info("%s: checked; staged in the load, beside its cast", extracted.path)
            return
        positions = True  # the cast may have rejects: they need their lines
    with ThreadPoolExecutor(max_workers=1) as pool:
        checking = (
            pool.submit(transform_in_source, plan, extract_dir, table, settings, out_dir)
            if plan is not None and checked is None
            else None
        )
        staged = _staged(
            settings, staging, extracted.columns, extract_dir, plan, positions, out_dir
        )
    try:
        in_source = checking.result() if checking is not None else bool(checked)
        if plan is not None and not positions and not (in_source and checked_in_source(out_dir)):
            positions = True  # the cast may have rejects: they need their lines
            staged = _staged(
                settings, staging, extracted.columns, extract_dir, plan, positions, out_dir
            )
        if plan is None:
            resolve_schema_stage(extract_dir, table, settings, out_dir)
        elif not in_source:
            with timed(out_dir, "copy_records"):
                plan.copy_records(out_dir / RECORDS_FILE, extracted.rows_read)
            resolve_schema_stage(extract_dir, table, settings, out_dir, out_dir / RECORDS_FILE)
    except BaseException:
        with connect(parse_target(settings.target)) as warehouse:
            _drop_quietly(warehouse, staging)
        raise
    note.update(rows=staged, positions=positions, from_source=plan is not None)
    (out_dir / STAGED_FILE).write_text(json.dumps(note), encoding="utf-8")
    log.info("%s: staged %d raw records in %s", extracted.path, staged, ".".join(staging))


def _staged(
    settings: Settings,
    staging: tuple[str, str],
    columns: list[str],
    extract_dir: Path,
    plan: SourcePlan | None,
    positions: bool,
    out_dir: Path,
) -> int:
    """(Re)create the staging table and stage the file's text records (its ``columns``) in it,
    from Extract's checkpoint or from the source of ``plan`` (with their ``positions`` or
    without); return how many."""
    with connect(parse_target(settings.target)) as warehouse, timed(out_dir, "stage_raw"):
        warehouse.begin()
        try:
            if plan is None or not stages_as_view(warehouse.dialect):
                create_staging(warehouse, staging, columns)
            if plan is None:
                records = [extract_dir / RECORDS_FILE]
                staged = warehouse.ingest_parquet(*staging, [*columns, LINE, START, END], records)
            else:
                staged = stage_from_source(plan, warehouse, staging, positions)
            warehouse.commit()
        except BaseException:
            warehouse.rollback()
            raise
    return staged


def transform_in_target_stage(
    path: Path,
    sha256: str,
    table: str,
    run_id: str,
    settings: Settings,
    extract_dir: Path,
    raw_dir: Path,
    before_commit: Callable[[], None] | None = None,
) -> FileResult:
    """Cast the staged records into the table with SQL, route the rows that do not fit to the
    dead letters, write the ledger row and drop the staging table, all in one transaction. On
    failure nothing stays behind: not the final rows, not the staging table."""
    file = FileToLoad(path, sha256, table, run_id, settings, extract_dir, raw_dir, "elt")
    return load_file(file, StagedRows, "transform_in_target", before_commit)


class StagedRows(RowsCastInLoad):
    """ELT's rows: the staged text records, cast with SQL inside the load's transaction."""

    def __init__(self, file: FileToLoad) -> None:
        self.file = file
        self.table_settings = file.settings.for_table(file.table)
        staged = json.loads((file.prepared_dir / STAGED_FILE).read_text(encoding="utf-8"))
        self.staging = (staged["staging"][0], staged["staging"][1])
        self.columns: list[str] = staged["columns"]
        self.positioned: bool = staged.get("positions", True)
        self.from_source: bool = staged.get("from_source", False)
        # (LoadRaw checked every value and left the staging to the load: ``staged_beside``)
        self.staged_in_load: bool = staged.get("staged_in_load", False)
        self.parse_rejects = pl.read_parquet(file.extract_dir / EXTRACT_REJECTS)

    def write(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, entry: LedgerEntry
    ) -> tuple[int, int]:
        db_schema, name = into
        null_tokens = self.table_settings.null_tokens
        checked = checked_rows_sql(
            warehouse.dialect,
            qualified_name(*self.staging),
            self.columns,
            at_load.schema,
            null_tokens,
            at_load.contract,
        )
        names = ", ".join(quote_identifier(c) for c in at_load.schema.names)
        into_sql = f"INSERT INTO {qualified_name(db_schema, name)} ({names}) "
        rows_read = self.file.extracted.rows_read
        prepared = self.file.prepared_dir
        note = in_source_note(prepared) if is_cast_in_load(prepared) else None
        trusted = checked_everywhere(note, at_load, self.columns, null_tokens)
        if not self.positioned and not (trusted and not self.table_settings.keep_raw):
            self._stage_again_with_positions(warehouse)
        elif self.from_source and stages_as_view(warehouse.dialect):
            check_same_source(self._plan())  # the view reads the file now: Extract's version
        if trusted and note is not None:
            # Every value was checked on the source (the same bytes): cast without checks.
            refuse_over_threshold(self.table_settings, rows_read, self.parse_rejects.height)

            def cast(staged: str) -> int:
                select = trusted_rows(warehouse.dialect, note, staged, at_load, null_tokens)
                return warehouse.execute_rowcount(into_sql + select)

            if self.staged_in_load:
                target = parse_target(self.file.settings.target)
                loaded = cast_while_staging(warehouse, target, self._plan(), self.staging, cast)
            else:
                loaded = cast(qualified_name(*self.staging))
            return self._finish(warehouse, db_schema, name, entry, loaded, self.parse_rejects)
        # The casts run once: into a temporary table, read twice (rejects, then good rows).
        scratch = quote_identifier(f"csvdock_checked_{self.file.sha256[:12]}")
        warehouse.execute(f"CREATE TEMPORARY TABLE {scratch} AS {checked}")
        cast_rejects = rejects_from_rows(
            warehouse.execute(checked_rejects_sql(f"SELECT * FROM {scratch}"))
        )
        rejects = pl.concat([self.parse_rejects, cast_rejects]).sort("line")
        refuse_over_threshold(self.table_settings, rows_read, rejects.height)
        loaded = warehouse.execute_rowcount(
            into_sql + f"SELECT {names} FROM {scratch} WHERE {REJECT_COLUMN} IS NULL"
        )
        warehouse.execute(f"DROP TABLE {scratch}")
        return self._finish(warehouse, db_schema, name, entry, loaded, rejects)

    def _stage_again_with_positions(self, warehouse: Warehouse) -> None:
        """Stage the records again, with their positions (staged without them, for a cast
        that would find no rejects: the table's schema moved on since)."""
        plan = self._plan()
        if self.staged_in_load:
            create_staging(warehouse, self.staging, self.columns)
        elif not stages_as_view(warehouse.dialect):
            warehouse.execute(f"DELETE FROM {qualified_name(*self.staging)}")
        stage_from_source(plan, warehouse, self.staging, positions=True)

    def _plan(self) -> SourcePlan:
        plan = SourcePlan.of(self.file.extract_dir, self.file.path)
        if plan is None:
            raise LoadError(f"{self.file.path}: Extract left no plan to read the source again")
        return plan

    def _finish(
        self,
        warehouse: Warehouse,
        db_schema: str,
        name: str,
        entry: LedgerEntry,
        loaded: int,
        rejects: pl.DataFrame,
    ) -> tuple[int, int]:
        """Archive the raw records (``keep_raw``), drop the staging table, store the rejects."""
        if self.table_settings.keep_raw:
            _archive_raw(warehouse, db_schema, name, self.staging, self.columns, self.file.sha256)
        drop_staging(warehouse, self.staging)
        rejected = store_rejects(warehouse, entry, rejects_with_raw_text(rejects, self.file.text))
        return loaded, rejected

    def discard(self, warehouse: Warehouse) -> None:
        _drop_quietly(warehouse, self.staging, self.staged_in_load)


def _archive_raw(
    warehouse: Warehouse,
    db_schema: str,
    table: str,
    staging: tuple[str, str],
    columns: list[str],
    sha256: str,
) -> None:
    """Append the staged text records to ``<table>__raw`` (keep_raw = true)."""
    archive = qualified_name(db_schema, f"{table}__raw")
    text = warehouse.dialect.text_type
    warehouse.execute(f"CREATE TABLE IF NOT EXISTS {archive} (__file_sha256 {text}, __line BIGINT)")
    existing = warehouse.table_types(db_schema, f"{table}__raw") or {}
    for column in columns:
        if column not in existing:
            warehouse.execute(f"ALTER TABLE {archive} ADD COLUMN {quote_identifier(column)} {text}")
    names = ", ".join(quote_identifier(c) for c in columns)
    warehouse.execute(
        f"INSERT INTO {archive} (__file_sha256, __line, {names}) "
        f"SELECT $1, {quote_identifier(LINE)}, {names} FROM {qualified_name(*staging)}",
        [sha256],
    )


def _drop_quietly(warehouse: Warehouse, staging: tuple[str, str], chunks: bool = False) -> None:
    """Drop a file's staging table (and, ``chunks``, the chunks staged beside its cast)."""
    try:
        warehouse.begin()
        drop_staging(warehouse, staging)
        for chunk in chunk_tables(warehouse, staging) if chunks else []:
            drop_staging(warehouse, chunk)
        warehouse.commit()
    except CsvdockError:
        warehouse.rollback()
