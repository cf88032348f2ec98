"""ETL: Transform casts the records with Polars into typed Parquet parts; Load writes them with
the ledger row in one transaction (casting again when the table's schema moved on)."""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl

from csvdock.core.runs import FileResult
from csvdock.core.settings import Settings
from csvdock.core.timing import timed
from csvdock.pipeline.file_load import FileToLoad, Into, load_file
from csvdock.pipeline.in_source import (
    SourceRows,
    is_cast_in_load,
    transform_in_source,
)
from csvdock.pipeline.single_pass import ProposalRefuted
from csvdock.pipeline.stages import (
    SchemaAtLoad,
    is_empty_file,
    is_quarantined,
    over_threshold,
    quarantine_over_threshold,
    refuse_over_threshold,
    resolve_schema_stage,
    write_resolution,
)
from csvdock.read.extract import RECORDS_FILE, ExtractResult
from csvdock.read.extract import REJECTS_FILE as EXTRACT_REJECTS
from csvdock.read.parquet import small_records
from csvdock.read.source import SourcePlan
from csvdock.rejects.format import rejects_with_raw_text
from csvdock.targets import Warehouse
from csvdock.targets.load import (
    LedgerEntry,
    LoadError,
    store_rejects,
)
from csvdock.transform.polars_cast import META_FILE as TRANSFORM_META
from csvdock.transform.polars_cast import REJECTS_FILE as TRANSFORM_REJECTS
from csvdock.transform.polars_cast import (
    TransformResult,
    transform_records,
    typed_parts,
)

log = logging.getLogger("csvdock")


def transform_stage(
    extract_dir: Path, table: str, settings: Settings, out_dir: Path, source: Path | None = None
) -> None:
    """Resolve the schema and cast the records with Polars (ETL). A file whose records stay in
    its ``source`` (the path this run reads; default: the path extracted) has its schema
    checked there and its cast left to the load, or else its records copied here first
    (``csvdock.pipeline.in_source``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_quarantined(extract_dir) or is_empty_file(extract_dir):
        return
    extracted = ExtractResult.read(extract_dir)
    plan = SourcePlan.of(extract_dir, source or Path(extracted.path))
    if plan is not None:
        if transform_in_source(plan, extract_dir, table, settings, out_dir, optimistic=True):
            return
        log.info(
            "%s: the first look's types do not hold everywhere: copying the records", plan.path
        )
    cast_records(extract_dir, table, settings, out_dir, plan)


def cast_records(
    extract_dir: Path, table: str, settings: Settings, out_dir: Path, plan: SourcePlan | None
) -> None:
    """Resolve the schema of the file's text records and cast them with Polars into
    ``out_dir`` (the records copied there first from the source of ``plan``, if any)."""
    extracted = ExtractResult.read(extract_dir)
    if plan is not None:
        with timed(out_dir, "copy_records"):
            plan.copy_records(out_dir / RECORDS_FILE, extracted.rows_read)
    records = small_records(text_records(extract_dir, out_dir))
    schema, contract = resolve_schema_stage(extract_dir, table, settings, out_dir, records)
    null_tokens = settings.for_table(table).null_tokens
    with timed(out_dir, "cast"):
        result = transform_records(records, schema, null_tokens, out_dir, contract)
    log.info(
        "%s: schema v%s, %d rows typed, %d rejected",
        extracted.path,
        schema.version,
        result.rows_out,
        result.rows_rejected,
    )


def load_stage(
    path: Path,
    sha256: str,
    table: str,
    run_id: str,
    settings: Settings,
    extract_dir: Path,
    transform_dir: Path,
    before_commit: Callable[[], None] | None = None,
) -> FileResult:
    """Load the transformed rows and return the file's result (quarantined files pass through).

    One transaction holds the table change, the schema version, the rows, the rejected records
    and the ledger row. A file cast against an older schema version than the table's latest is
    cast again (into a checkpoint keyed by the version) inside the load."""
    file = FileToLoad(path, sha256, table, run_id, settings, extract_dir, transform_dir, "etl")
    if not is_cast_in_load(transform_dir):
        return load_file(file, TypedRows, "load", before_commit)
    try:
        return load_file(file, SourceRows, "load", before_commit)
    except ProposalRefuted as refuted:
        log.info("%s: %s: its records are copied and cast as usual", path, refuted)
    plan = SourcePlan.of(extract_dir, path)
    file.prepared_dir = cast_usually(extract_dir, transform_dir, table, settings, plan)
    return load_file(file, TypedRows, "load", before_commit)


def cast_usually(
    extract_dir: Path,
    transform_dir: Path,
    table: str,
    settings: Settings,
    plan: SourcePlan | None,
) -> Path:
    """Copy and cast the records of a file whose first look's types the load refuted, the
    usual way, into a folder beside ``transform_dir`` (reused when it is there already: a
    rerun after a crash); return the folder."""

    def cast_into(partial: Path) -> None:
        partial.mkdir(parents=True)
        cast_records(extract_dir, table, settings, partial, plan)

    return checkpoint_beside(transform_dir, "copied", cast_into)


def checkpoint_beside(transform_dir: Path, suffix: str, write: Callable[[Path], None]) -> Path:
    """Return the checkpoint folder ``<transform_dir>-<suffix>``, written by ``write`` into a
    partial folder renamed into place once complete (reused when it is there already: a
    rerun after a crash, or another worker's)."""
    folder = transform_dir.with_name(f"{transform_dir.name}-{suffix}")
    if (folder / TRANSFORM_META).exists():
        return folder
    partial = transform_dir.with_name(f"{folder.name}.partial-{secrets.token_hex(4)}")
    try:
        write(partial)
        partial.rename(folder)
    except OSError:
        if not (folder / TRANSFORM_META).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def text_records(extract_dir: Path, transform_dir: Path) -> Path:
    """Return the file's text records: Extract's checkpoint, or Transform's copy of them (the
    records stayed in the source and the first look's types did not hold)."""
    copied = transform_dir / RECORDS_FILE
    return copied if copied.exists() else extract_dir / RECORDS_FILE


class TypedRows:
    """ETL's rows: Transform's typed Parquet parts and rejects (or those of the cast again
    inside the load's transaction, when the table's schema moved on)."""

    def __init__(self, file: FileToLoad) -> None:
        self.file = file
        self.table_settings = file.settings.for_table(file.table)
        self.parse_rejects = pl.read_parquet(file.extract_dir / EXTRACT_REJECTS)
        self.folder = file.prepared_dir
        self.rejects = self._rejects_in(self.folder)

    def _rejects_in(self, folder: Path) -> pl.DataFrame:
        return pl.concat([self.parse_rejects, pl.read_parquet(folder / TRANSFORM_REJECTS)])

    def refused(self, result: FileResult) -> FileResult | None:
        rows_read = self.file.extracted.rows_read
        typed = TransformResult.read(self.folder).rows_out
        if rows_read != typed + self.rejects.height:
            raise LoadError(
                f"{self.file.path}: {rows_read} records read but {typed} typed and "
                f"{self.rejects.height} rejected; refusing to load"
            )
        over = over_threshold(self.table_settings, rows_read, self.rejects.height)
        return quarantine_over_threshold(result, self.file.settings, over) if over else None

    def prepare(self, at_load: SchemaAtLoad) -> None:
        if at_load.as_prepared:
            return  # Transform's parts and rejects stand (``refused`` checked them)
        null_tokens, file = self.table_settings.null_tokens, self.file
        self.folder = retyped(file.extract_dir, file.prepared_dir, at_load, null_tokens)
        self.rejects = self._rejects_in(self.folder)
        refuse_over_threshold(self.table_settings, file.extracted.rows_read, self.rejects.height)

    def write(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, entry: LedgerEntry
    ) -> tuple[int, int]:
        db_schema, name = into
        parts = typed_parts(self.folder)
        loaded = warehouse.ingest_parquet(db_schema, name, at_load.schema.names, parts)
        with_raw = rejects_with_raw_text(self.rejects, self.file.text)
        return loaded, store_rejects(warehouse, entry, with_raw)

    def discard(self, warehouse: Warehouse) -> None:
        pass  # ETL leaves nothing in the target before its commit


def retyped(
    extract_dir: Path, transform_dir: Path, at_load: SchemaAtLoad, null_tokens: tuple[str, ...]
) -> Path:
    """Cast the file's records again with ``at_load``'s schema into a checkpoint keyed by its
    version (beside ``transform_dir``; reused when it is there already); return the folder."""
    version = at_load.schema.version

    def cast_into(partial: Path) -> None:
        records = text_records(extract_dir, transform_dir)
        transform_records(records, at_load.schema, null_tokens, partial, at_load.contract)
        write_resolution(partial, at_load.schema, at_load.contract, version)

    return checkpoint_beside(transform_dir, f"v{version}", cast_into)
