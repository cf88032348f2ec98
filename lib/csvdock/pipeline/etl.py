"""ETL: Transform casts the records with Polars into typed Parquet parts; Load writes them with
the ledger row in one transaction (casting again when the table's schema moved on)."""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from csvdock.core.runs import FileResult
from csvdock.core.settings import Settings
from csvdock.core.timing import read_timings, timed
from csvdock.pipeline.stages import (
    SCHEMA_FILE,
    SchemaAtLoad,
    ThresholdExceeded,
    after_load,
    column_decisions,
    finish_load,
    has_no_records,
    is_empty_file,
    is_quarantined,
    ledger_entry,
    load_timings,
    load_without_records,
    new_result,
    over_threshold,
    quarantine_over_threshold,
    quarantined_result,
    resolve_schema_stage,
    schema_at_load,
    write_resolution,
)
from csvdock.read.errors import check_unchanged
from csvdock.read.extract import RECORDS_FILE, ExtractResult
from csvdock.read.extract import REJECTS_FILE as EXTRACT_REJECTS
from csvdock.rejects.format import rejects_with_raw_text
from csvdock.schema.table import TableSchema
from csvdock.targets import Warehouse, connect, parse_target
from csvdock.targets.load import (
    LoadError,
    evolve_table,
    load_atomically,
    record_version,
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


def transform_stage(extract_dir: Path, table: str, settings: Settings, out_dir: Path) -> None:
    """Resolve the schema and cast the records with Polars (ETL)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_quarantined(extract_dir) or is_empty_file(extract_dir):
        return
    schema, contract = resolve_schema_stage(extract_dir, table, settings, out_dir)
    null_tokens = settings.for_table(table).null_tokens
    with timed(out_dir, "cast"):
        result = transform_records(
            extract_dir / RECORDS_FILE, schema, null_tokens, out_dir, contract
        )
    log.info(
        "%s: schema v%s, %d rows typed, %d rejected",
        ExtractResult.read(extract_dir).path,
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
    if is_quarantined(extract_dir):
        return quarantined_result(path, sha256, table, extract_dir, "etl")
    if has_no_records(extract_dir):
        done = load_without_records(path, sha256, table, run_id, settings, extract_dir, "etl")
        if done is not None:
            return done
    extracted = ExtractResult.read(extract_dir)
    transformed = TransformResult.read(transform_dir)
    schema = TableSchema.read(transform_dir / SCHEMA_FILE)
    parse_rejects = pl.read_parquet(extract_dir / EXTRACT_REJECTS)
    rejects = pl.concat([parse_rejects, pl.read_parquet(transform_dir / TRANSFORM_REJECTS)])
    result = new_result(path, sha256, table, "etl", extracted, schema, settings)
    result.columns = column_decisions(transform_dir)
    if extracted.rows_read != transformed.rows_out + rejects.height:
        raise LoadError(
            f"{path}: {extracted.rows_read} records read but {transformed.rows_out} typed and "
            f"{rejects.height} rejected; refusing to load"
        )
    table_settings = settings.for_table(table)
    over = over_threshold(table_settings, extracted.rows_read, rejects.height)
    if over:
        return quarantine_over_threshold(result, settings, over)
    text = extracted.text_path(extract_dir, path)
    entry = ledger_entry(result, run_id)
    chosen = TypedForLoad(schema, transform_dir, rejects)

    def prepare(warehouse: Warehouse, db_schema: str, name: str) -> int | None:
        check_unchanged(path, extracted.size)  # the bytes extracted are the bytes committed
        at_load = schema_at_load(warehouse, settings, table, transform_dir)
        folder = transform_dir
        if not at_load.as_prepared:
            folder = retyped(extract_dir, transform_dir, at_load, table_settings.null_tokens)
        found = pl.concat([parse_rejects, pl.read_parquet(folder / TRANSFORM_REJECTS)])
        over = over_threshold(table_settings, extracted.rows_read, found.height)
        if over:
            raise ThresholdExceeded(over)
        if not at_load.recorded:
            record_version(warehouse, at_load.schema)
        evolve_table(warehouse, db_schema, name, at_load.schema)
        chosen.schema, chosen.folder, chosen.rejects = at_load.schema, folder, found
        return at_load.schema.version

    def write_rows(warehouse: Warehouse, db_schema: str, name: str) -> tuple[int, int]:
        parts = typed_parts(chosen.folder)
        loaded = warehouse.ingest_parquet(db_schema, name, chosen.schema.names, parts)
        rejected = store_rejects(warehouse, entry, rejects_with_raw_text(chosen.rejects, text))
        return loaded, rejected

    started = time.perf_counter()
    with connect(parse_target(settings.target)) as warehouse:
        try:
            outcome = load_atomically(warehouse, entry, prepare, write_rows, before_commit)
        except ThresholdExceeded as exc:
            return quarantine_over_threshold(result, settings, str(exc))
        stored = after_load(warehouse, settings, result, outcome, chosen.schema, text)
    result.timings = {
        **read_timings(extract_dir, transform_dir),
        **load_timings("load", started, outcome),
    }
    return finish_load(result, outcome, settings, run_id, stored)


@dataclass
class TypedForLoad:
    """What an ETL load writes: the schema, the folder of typed parts cast with it, the rejects
    (those of Transform, or of the cast again inside the load's transaction)."""

    schema: TableSchema
    folder: Path
    rejects: pl.DataFrame


def retyped(
    extract_dir: Path, transform_dir: Path, at_load: SchemaAtLoad, null_tokens: tuple[str, ...]
) -> Path:
    """Cast the file's records again with ``at_load``'s schema into a checkpoint keyed by its
    version (beside ``transform_dir``; reused when it is there already); return the folder."""
    version = at_load.schema.version
    folder = transform_dir.with_name(f"{transform_dir.name}-v{version}")
    if (folder / TRANSFORM_META).exists():
        return folder
    partial = transform_dir.with_name(f"{folder.name}.partial-{secrets.token_hex(4)}")
    try:
        transform_records(
            extract_dir / RECORDS_FILE, at_load.schema, null_tokens, partial, at_load.contract
        )
        write_resolution(partial, at_load.schema, at_load.contract, version)
        partial.rename(folder)
    except OSError:
        if not (folder / TRANSFORM_META).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
