"""One file's stages as plain functions over checkpoint folders; Luigi tasks call these.

Each function reads the previous stage's folder and writes its own into ``out_dir`` (a temporary
path the caller renames into place, so a checkpoint is complete or absent).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import polars as pl

from csvdock.config import Settings, TableSettings
from csvdock.deadletter import quarantine_file, record_dead_letters, write_rejects_csv
from csvdock.detect import detect_schema
from csvdock.extract import RECORDS_FILE, ExtractError, ExtractResult, extract_file
from csvdock.extract import REJECTS_FILE as EXTRACT_REJECTS
from csvdock.load import LedgerEntry, LoadError, LoadOutcome, evolve_table, load_typed_file
from csvdock.registry import SchemaRegistry
from csvdock.runs import LOADED, QUARANTINED, FileResult
from csvdock.schema import TableSchema
from csvdock.targets import parse_target
from csvdock.timing import read_timings, timed
from csvdock.transform import REJECTS_FILE as TRANSFORM_REJECTS
from csvdock.transform import ContractRules, TransformResult, transform_records, typed_parts
from csvdock.warehouse import connect
from csvdock.workspace import Workspace

log = logging.getLogger("csvdock")
QUARANTINE_FILE, SCHEMA_FILE, CONTRACT_FILE = "quarantine.json", "schema.json", "contract.json"


def extract_stage(path: Path, sha256: str, table: str, settings: Settings, out_dir: Path) -> None:
    """Extract ``path`` into ``out_dir``; a file that is not CSV is quarantined instead."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with timed(out_dir, "extract"):
            result = extract_file(path, out_dir, settings.for_table(table), sha256)
    except ExtractError as exc:
        copy = quarantine_file(Workspace(settings.workspace), path, sha256, str(exc))
        log.warning("%s: quarantined: %s", path, exc)
        note = {"reason": str(exc), "quarantine_path": str(copy)}
        (out_dir / QUARANTINE_FILE).write_text(json.dumps(note), encoding="utf-8")
        return
    log.info("%s: extracted %d records, %d rejected", path, result.rows_read, result.rows_rejected)


def resolve_schema_stage(
    extract_dir: Path, table: str, settings: Settings, out_dir: Path
) -> tuple[TableSchema, ContractRules | None]:
    """Detect the file's schema and resolve it against the registry under the table's evolution
    policy (recording a new version when the table changes); write schema.json to ``out_dir``."""
    extracted = ExtractResult.read(extract_dir)
    table_settings = settings.for_table(table)
    with timed(out_dir, "detect_schema"):
        detected = detect_schema(
            extract_dir / RECORDS_FILE,
            table,
            extracted.columns,
            extracted.source_columns,
            table_settings.null_tokens,
            table_settings.outlier_share,
        )
        resolution = SchemaRegistry(settings.schemas_dir).resolve_and_record(
            detected, table_settings.evolution
        )
    schema = resolution.schema
    contract = None
    if table_settings.evolution == "freeze":
        contract = ContractRules(
            tuple(resolution.unknown_columns), tuple(resolution.missing_columns), schema.version
        )
    (out_dir / SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")
    (out_dir / CONTRACT_FILE).write_text(json.dumps(asdict(contract) if contract else None))
    return schema, contract


def read_resolved_schema(folder: Path) -> tuple[TableSchema, ContractRules | None]:
    """Read what ``resolve_schema_stage`` wrote."""
    contract = json.loads((folder / CONTRACT_FILE).read_text(encoding="utf-8"))
    rules = None
    if contract:
        rules = ContractRules(
            tuple(contract["unknown_columns"]),
            tuple(contract["missing_columns"]),
            contract["version"],
        )
    return TableSchema.read(folder / SCHEMA_FILE), rules


def transform_stage(extract_dir: Path, table: str, settings: Settings, out_dir: Path) -> None:
    """Resolve the schema and cast the records with Polars (ETL)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_quarantined(extract_dir):
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


def is_quarantined(extract_dir: Path) -> bool:
    """Return whether Extract quarantined the file."""
    return (extract_dir / QUARANTINE_FILE).exists()


def quarantined_result(
    path: Path, sha256: str, table: str, extract_dir: Path, mode: str
) -> FileResult:
    """Return the result of a file Extract quarantined."""
    note = json.loads((extract_dir / QUARANTINE_FILE).read_text(encoding="utf-8"))
    return FileResult(
        str(path),
        sha256,
        table,
        QUARANTINED,
        mode=mode,
        quarantine_path=note["quarantine_path"],
        reason=note["reason"],
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

    After the commit, the file's rejects go to the table's dead-letter ledger (also when the file
    was already loaded, so a crash between the two cannot lose them).
    """
    if is_quarantined(extract_dir):
        return quarantined_result(path, sha256, table, extract_dir, "etl")
    extracted = ExtractResult.read(extract_dir)
    transformed = TransformResult.read(transform_dir)
    schema = TableSchema.read(transform_dir / SCHEMA_FILE)
    rejects = pl.concat(
        [
            pl.read_parquet(extract_dir / EXTRACT_REJECTS),
            pl.read_parquet(transform_dir / TRANSFORM_REJECTS),
        ]
    )
    result = new_result(path, sha256, table, "etl", extracted, schema, settings)
    if extracted.rows_read != transformed.rows_out + rejects.height:
        raise LoadError(
            f"{path}: {extracted.rows_read} records read but {transformed.rows_out} typed and "
            f"{rejects.height} rejected; refusing to load"
        )
    over = over_threshold(settings.for_table(table), extracted.rows_read, rejects.height)
    if over:
        return quarantine_over_threshold(result, settings, over)
    entry = ledger_entry(result, run_id)
    started = time.perf_counter()
    with connect(parse_target(settings.target)) as warehouse:
        outcome = load_typed_file(
            warehouse,
            schema,
            typed_parts(transform_dir),
            replace(entry, rows_rejected=rejects.height),
            prepare_table=evolve_table(schema),
            before_commit=before_commit,
        )
    result.timings = {
        **read_timings(extract_dir, transform_dir),
        **load_timings("load", started, outcome),
    }
    return finish_load(result, outcome, rejects, settings, run_id, extracted.text_path(extract_dir))


def load_timings(step: str, started: float, outcome: LoadOutcome) -> dict[str, float]:
    """Return the seconds of a load's ``step`` (since ``started``, the commit left out) and of
    its commit."""
    elapsed = time.perf_counter() - started
    return {step: round(elapsed - outcome.commit_seconds, 4), "commit": outcome.commit_seconds}


def new_result(
    path: Path,
    sha256: str,
    table: str,
    mode: str,
    extracted: ExtractResult,
    schema: TableSchema,
    settings: Settings,
) -> FileResult:
    """Return a file's result before its load: what was read and the schema it is loaded with."""
    return FileResult(
        path=str(path),
        sha256=sha256,
        table=table,
        status=LOADED,
        mode=mode,
        rows_read=extracted.rows_read,
        schema_version=schema.version,
        schema_path=_schema_path(settings, schema),
        dialect=extracted.dialect,
    )


def ledger_entry(result: FileResult, run_id: str) -> LedgerEntry:
    """Return the ledger row for a file about to be loaded."""
    return LedgerEntry(
        table=result.table,
        sha256=result.sha256,
        path=result.path,
        run_id=run_id,
        mode=result.mode,
        rows_read=result.rows_read,
        rows_rejected=result.rows_rejected,
        schema_version=result.schema_version,
    )


def quarantine_over_threshold(result: FileResult, settings: Settings, reason: str) -> FileResult:
    """Quarantine a file whose rejects exceed the table's threshold; nothing of it is loaded."""
    copy = quarantine_file(Workspace(settings.workspace), Path(result.path), result.sha256, reason)
    log.warning("%s: quarantined: %s", result.path, reason)
    result.status, result.reason, result.quarantine_path = QUARANTINED, reason, str(copy)
    result.rows_loaded = 0
    return result


def finish_load(
    result: FileResult,
    outcome: LoadOutcome,
    rejects: pl.DataFrame,
    settings: Settings,
    run_id: str,
    text: Path,
) -> FileResult:
    """Record the rejects (dead-letter ledger, per-run CSV) and the outcome in ``result``."""
    workspace = Workspace(settings.workspace)
    path, table, sha256 = Path(result.path), result.table, result.sha256
    record_dead_letters(workspace, table, run_id, path, text, sha256, rejects)
    result.status, result.rows_loaded = outcome.status, outcome.rows_loaded
    result.rows_rejected = rejects.height if outcome.status == LOADED else 0
    if outcome.status == LOADED:
        rejects_csv = workspace.rejects_csv(run_id, table, sha256)
        written = write_rejects_csv(rejects, path, text, rejects_csv)
        result.rejects_path = str(written) if written else None
    log.info("%s: %s, %d rows into %s", path, outcome.status, outcome.rows_loaded, table)
    return result


def over_threshold(table_settings: TableSettings, rows_read: int, rejected: int) -> str | None:
    """Return why a file with ``rejected`` of ``rows_read`` records rejected must be quarantined
    under the table's ``max_rejects`` / ``max_reject_ratio``, or None when it may load."""
    limit, ratio = table_settings.max_rejects, table_settings.max_reject_ratio
    share = rejected / rows_read if rows_read else 0.0
    if limit is not None and rejected > limit:
        return f"{rejected} of {rows_read} records rejected, over max_rejects = {limit}"
    if ratio is not None and share > ratio:
        return (
            f"{rejected} of {rows_read} records rejected ({share:.1%}), "
            f"over max_reject_ratio = {ratio:g}"
        )
    return None


def _schema_path(settings: Settings, schema: TableSchema) -> str | None:
    if schema.version is None:
        return None
    return str(SchemaRegistry(settings.schemas_dir).path(schema.table, schema.version))
