"""The stages both modes share, as plain functions over checkpoint folders: Extract, resolving
the schema, deciding the schema inside the load's transaction, the file's result and ledger entry,
thresholds and the steps after the commit. ``etl`` and ``elt`` build their loads from these.

Each stage reads the previous stage's folder and writes its own into ``out_dir`` (a temporary
path the caller renames into place, so a checkpoint is complete or absent).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from csvdock.core.errors import CsvdockError
from csvdock.core.positions import read_position
from csvdock.core.runs import LOADED, QUARANTINED, FileResult
from csvdock.core.settings import Settings, TableSettings
from csvdock.core.timing import timed
from csvdock.core.workspace import Workspace
from csvdock.read.errors import QuarantineCode
from csvdock.read.extract import META_FILE as EXTRACT_META
from csvdock.read.extract import (
    RECORDS_FILE,
    EmptyFile,
    ExtractError,
    ExtractResult,
    extract_file,
)
from csvdock.read.parquet import Records
from csvdock.rejects.deadletter import (
    header_bytes,
    stored_rejects,
    sync_dead_letters,
    write_rejects_csv,
)
from csvdock.rejects.format import dead_letters_from_stored
from csvdock.rejects.quarantine import quarantine_file
from csvdock.schema.contract import ContractRules, contract_rules
from csvdock.schema.detect import detect_schema
from csvdock.schema.registry import SchemaRegistry
from csvdock.schema.table import TableSchema
from csvdock.targets import Warehouse, max_columns_of
from csvdock.targets.load import (
    LedgerEntry,
    LoadOutcome,
    recorded_versions,
)

log = logging.getLogger("csvdock")
QUARANTINE_FILE, SCHEMA_FILE, CONTRACT_FILE = "quarantine.json", "schema.json", "contract.json"
DETECTED_FILE = "detected.json"  # the file's own schema, to resolve again at load time


def extract_stage(path: Path, sha256: str, table: str, settings: Settings, out_dir: Path) -> None:
    """Extract ``path`` into ``out_dir``; a file that is not CSV is quarantined instead."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with timed(out_dir, "extract"):
            plan_only = records_stay_in_source(path, table, settings)
            result = extract_file(path, out_dir, settings.for_table(table), sha256, plan_only)
    except EmptyFile:
        # Not a broken file (an empty daily export is normal): a load of 0 records.
        ExtractResult(str(path), sha256, 0, 0, [], []).write(out_dir)
        log.warning("%s: the file is empty: no header and no records", path)
        return
    except ExtractError as exc:
        _quarantined(path, sha256, settings, out_dir, str(exc), exc.code)
        return
    limit = max_columns_of(settings.target)
    if limit is not None and len(result.columns) > limit:
        reason = (
            f"the file has {len(result.columns)} columns; the target holds at most {limit} "
            "(PostgreSQL's 1,600 less the 3 csvdock's staging adds, in both modes)"
        )
        _quarantined(path, sha256, settings, out_dir, reason, "too_many_columns")
        return
    log.info("%s: extracted %d records, %d rejected", path, result.rows_read, result.rows_rejected)


def records_stay_in_source(path: Path, table: str, settings: Settings) -> bool:
    """Return whether ``path``'s records may stay in it rather than be copied by Extract (see
    ``csvdock.pipeline.in_source``): a file of at least ``in_source_bytes``."""
    limit = settings.in_source_bytes
    if limit is None:
        return False
    try:
        return path.stat().st_size >= limit
    except OSError:
        return False


def _quarantined(
    path: Path, sha256: str, settings: Settings, out_dir: Path, reason: str, code: QuarantineCode
) -> None:
    copy = quarantine_file(Workspace(settings.workspace), path, sha256, reason)
    log.warning("%s: quarantined: %s", path, reason)
    note = {"reason": reason, "code": code, "quarantine_path": str(copy)}
    (out_dir / QUARANTINE_FILE).write_text(json.dumps(note), encoding="utf-8")


def resolve_schema_stage(
    extract_dir: Path,
    table: str,
    settings: Settings,
    out_dir: Path,
    records: Records | None = None,
    detected: TableSchema | None = None,
) -> tuple[TableSchema, ContractRules | None]:
    """Detect the file's schema and resolve it against the registry's latest version under the
    table's evolution policy; write detected.json, schema.json and contract.json to ``out_dir``.

    Nothing is recorded here: a new version is recorded by the load that commits it (in the
    target, in its transaction), and the load resolves the file again when the table moved on
    to a newer version meanwhile (``schema_at_load``). ``records``: the text records, when the
    caller holds them already (else Extract's checkpoint); ``detected``: the file's schema,
    when the caller detected it already."""
    extracted = ExtractResult.read(extract_dir)
    table_settings = settings.for_table(table)
    registry = SchemaRegistry(settings.schemas_dir)
    with timed(out_dir, "detect_schema"):
        latest = registry.latest(table)
        detected = detected or detect_schema(
            extract_dir / RECORDS_FILE if records is None else records,
            table,
            extracted.columns,
            extracted.source_columns,
            table_settings.null_tokens,
            table_settings.outlier_share,
            {c.name: c.format for c in latest.columns if c.format} if latest else None,
        )
        resolution = registry.propose(detected, table_settings.evolution)
    contract = contract_rules(resolution, table_settings.evolution)
    (out_dir / DETECTED_FILE).write_text(detected.to_json(), encoding="utf-8")
    write_resolution(out_dir, resolution.schema, contract, resolution.base_version)
    return resolution.schema, contract


def write_resolution(
    folder: Path, schema: TableSchema, contract: ContractRules | None, base: int | None
) -> None:
    (folder / SCHEMA_FILE).write_text(schema.to_json(), encoding="utf-8")
    note = {"contract": asdict(contract) if contract else None, "base_version": base}
    (folder / CONTRACT_FILE).write_text(json.dumps(note), encoding="utf-8")


def read_resolved_schema(folder: Path) -> tuple[TableSchema, ContractRules | None]:
    """Read what ``resolve_schema_stage`` wrote."""
    contract = json.loads((folder / CONTRACT_FILE).read_text(encoding="utf-8"))["contract"]
    rules = None
    if contract:
        rules = ContractRules(
            tuple(contract["unknown_columns"]),
            tuple(contract["missing_columns"]),
            contract["version"],
        )
    return TableSchema.read(folder / SCHEMA_FILE), rules


def _base_version(folder: Path) -> int | None:
    note = json.loads((folder / CONTRACT_FILE).read_text(encoding="utf-8"))
    return note["base_version"]


@dataclass
class SchemaAtLoad:
    """The schema a file is loaded with, decided inside the load's transaction."""

    schema: TableSchema
    contract: ContractRules | None
    as_prepared: bool  # the schema the file was cast (or staged) with still holds
    recorded: bool = False  # the target has this version already (no need to record it)
    # the version is recorded by the rows' ``write``, which gives its columns their evidence
    recorded_by_write: bool = False


def schema_at_load(
    warehouse: Warehouse, settings: Settings, table: str, prepared_dir: Path
) -> SchemaAtLoad:
    """Return the schema to load a file with, the table's lock held. The versions the target
    committed are written to the registry first (a crash after a commit cannot lose one); when
    the table has a newer version than the one the file was resolved against, the file's
    detected schema is resolved again against it, so an old checkpoint never narrows a column."""
    registry = SchemaRegistry(settings.schemas_dir)
    in_target = recorded_versions(warehouse, table)
    for recorded in in_target:
        registry.record(recorded)
    prepared, contract = read_resolved_schema(prepared_dir)
    latest = registry.latest(table)
    if (latest.version if latest else None) == _base_version(prepared_dir):
        known = any(v.version == prepared.version for v in in_target)
        return SchemaAtLoad(prepared, contract, True, known)
    policy = settings.for_table(table).evolution
    resolution = registry.propose(TableSchema.read(prepared_dir / DETECTED_FILE), policy)
    again = contract_rules(resolution, policy)
    log.info(
        "%s: schema v%s is newer than the file's v%s: resolved again as v%s",
        table,
        latest.version if latest else None,
        prepared.version,
        resolution.schema.version,
    )
    same = _shape(resolution.schema) == _shape(prepared) and _contract_shape(
        again
    ) == _contract_shape(contract)
    return SchemaAtLoad(resolution.schema, again, same)


def _shape(schema: TableSchema) -> list[tuple[str, str, bool]]:
    return [(c.name, c.type, c.nullable) for c in schema.columns]


def _contract_shape(contract: ContractRules | None) -> object:
    return (contract.unknown_columns, contract.missing_columns) if contract else None


def records_read(extract_dir: Path) -> int:
    """Return how many data records Extract read from the file (0 when it could not read it)."""
    if is_quarantined(extract_dir) or not (extract_dir / EXTRACT_META).exists():
        return 0
    return ExtractResult.read(extract_dir).rows_read


def column_decisions(folder: Path) -> list[dict[str, Any]] | None:
    """Return the file's columns whose type was decided with misfits (values rejected, or a
    column made text by them), from the schema detected in ``folder``; None when none was."""
    path = folder / DETECTED_FILE
    if not path.exists():
        return None
    found = [
        {
            "name": column.name,
            "type": column.type,
            "misfits": column.evidence["misfits"],
            "examples": column.evidence.get("misfit_examples", []),
            "decision": column.evidence["decision"],
        }
        for column in TableSchema.read(path).columns
        if "decision" in column.evidence
    ]
    return found or None


def has_no_records(extract_dir: Path) -> bool:
    """Return whether Extract read the file and found no record (empty, or a header alone):
    such a file never changes an existing table (``file_load.load_without_records``)."""
    return not is_quarantined(extract_dir) and records_read(extract_dir) == 0


def is_empty_file(extract_dir: Path) -> bool:
    """Return whether Extract found neither a header nor a record (0 bytes, blank lines)."""
    return has_no_records(extract_dir) and not ExtractResult.read(extract_dir).columns


NO_TABLE_YET = "the file is empty, and its table does not exist yet: nothing to create it from"
NO_RECORDS = "no records: 0 rows loaded, the table and its schema unchanged"


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
        code=note.get("code", "unreadable"),
    )


class ThresholdExceeded(CsvdockError):
    """The file's rejects exceed the table's threshold (found inside the transaction)."""


def after_load(
    warehouse: Warehouse,
    settings: Settings,
    result: FileResult,
    outcome: LoadOutcome,
    schema: TableSchema,
    text: Path,
) -> pl.DataFrame:
    """After the commit: write the version the file was loaded with to the registry, and derive
    the file's dead letters in the workspace from the target (also for a file loaded before, so
    a crash between the commit and this step loses nothing). Return the file's stored rejects."""
    registry = SchemaRegistry(settings.schemas_dir)
    if outcome.status == LOADED:
        # The target's other versions were written to the registry before the load
        # (``schema_at_load``); this load committed only its own.
        registry.record(schema)
        result.schema_version = schema.version
        result.schema_path = _schema_path(settings, schema)
    else:
        for recorded in recorded_versions(warehouse, result.table):
            registry.record(recorded)
    if outcome.status == LOADED and outcome.rows_rejected == 0:
        stored = dead_letters_from_stored([])  # what the load just committed: no rejects
    else:
        stored = stored_rejects(warehouse, result.table, result.sha256)
    workspace = Workspace(settings.workspace)
    try:
        sync_dead_letters(
            workspace, result.table, settings.target, result.sha256, stored, header_bytes(text)
        )
    except OSError as exc:  # disk full, a read-only workspace: the rows are committed
        _not_written(result, "the dead-letter CSV", exc)
    return stored


WORKSPACE_WRITE_FAILED = (
    "{what} could not be written ({why}); the data is loaded: ingest the file again to rebuild"
    " it from the target (the file is skipped and its dead letters written)"
)


def _not_written(result: FileResult, what: str, exc: OSError) -> None:
    """Note in ``result`` (and the log) that a file derived from the target was not written."""
    why = f"{exc.strerror or type(exc).__name__}: {exc.filename}" if exc.filename else str(exc)
    note = WORKSPACE_WRITE_FAILED.format(what=what, why=why)
    log.warning("%s: %s", result.path, note)
    result.reason = note


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
    """Return a file's result before its load: what was read and the schema it is loaded with
    (a batch of a stream also counts the messages set aside before its file was written)."""
    position = read_position(path)
    return FileResult(
        path=str(path),
        sha256=sha256,
        table=table,
        status=LOADED,
        mode=mode,
        rows_read=extracted.rows_read + (len(position.set_aside) if position else 0),
        schema_version=schema.version,
        schema_path=_schema_path(settings, schema),
        dialect=extracted.dialect,
        lines_outside_table=extracted.lines_outside_table,
        outside_table=extracted.outside,
    )


def ledger_entry(result: FileResult, run_id: str) -> LedgerEntry:
    """Return the ledger row for a file about to be loaded (a batch of a stream is named
    ``kafka://TOPIC/PARTITION/FIRST-LAST`` and carries its position)."""
    position = read_position(result.path)
    return LedgerEntry(
        table=result.table,
        sha256=result.sha256,
        path=position.name if position else result.path,
        run_id=run_id,
        mode=result.mode,
        rows_read=result.rows_read,
        rows_rejected=result.rows_rejected,
        schema_version=result.schema_version,
        position=position,
    )


def quarantine_over_threshold(result: FileResult, settings: Settings, reason: str) -> FileResult:
    """Quarantine a file whose rejects exceed the table's threshold; nothing of it is loaded."""
    copy = quarantine_file(Workspace(settings.workspace), Path(result.path), result.sha256, reason)
    log.warning("%s: quarantined: %s", result.path, reason)
    result.status, result.reason, result.quarantine_path = QUARANTINED, reason, str(copy)
    result.code = "over_threshold"
    result.rows_loaded = 0
    return result


def finish_load(
    result: FileResult,
    outcome: LoadOutcome,
    settings: Settings,
    run_id: str,
    stored_rejects: pl.DataFrame,
) -> FileResult:
    """Record the outcome in ``result`` and write the run's rejects CSV of a loaded file (from
    its rejects as the target stored them)."""
    workspace = Workspace(settings.workspace)
    path, table, sha256 = Path(result.path), result.table, result.sha256
    result.status, result.rows_loaded = outcome.status, outcome.rows_loaded
    result.rows_rejected = outcome.rows_rejected if outcome.status == LOADED else 0
    if outcome.status == LOADED and outcome.rows_rejected:
        try:
            rejects_csv = workspace.rejects_csv(run_id, table, sha256)
            written = write_rejects_csv(stored_rejects, path, rejects_csv)
            result.rejects_path = str(written) if written else None
        except OSError as exc:
            _not_written(result, "the run's rejects CSV", exc)
    log.info("%s: %s, %d rows into %s", path, outcome.status, outcome.rows_loaded, table)
    return result


def refuse_over_threshold(table_settings: TableSettings, rows_read: int, rejected: int) -> None:
    """Raise ``ThresholdExceeded`` (inside a load's transaction) when ``over_threshold`` says
    why the file must be quarantined."""
    over = over_threshold(table_settings, rows_read, rejected)
    if over:
        raise ThresholdExceeded(over)


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
