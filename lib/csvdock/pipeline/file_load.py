"""One file's load, the outline both modes share: a quarantined file passes through, a file
without records loads its ledger row alone; otherwise one transaction takes the table's lock,
claims the ledger row, decides the schema (``schema_at_load``), records its version, evolves the
table, writes the rows and the rejects (the mode's own part: ``FileRows``), and commits; then
the registry and the dead letters follow the target (``after_load``).

ETL's rows are Transform's typed Parquet parts; ELT's are cast with SQL from the staging table.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

from csvdock.core.runs import SKIPPED, FileResult
from csvdock.core.settings import Settings
from csvdock.core.timing import read_timings
from csvdock.pipeline.stages import (
    NO_RECORDS,
    NO_TABLE_YET,
    SCHEMA_FILE,
    SchemaAtLoad,
    ThresholdExceeded,
    after_load,
    column_decisions,
    finish_load,
    has_no_records,
    is_quarantined,
    ledger_entry,
    load_timings,
    new_result,
    quarantine_over_threshold,
    quarantined_result,
    schema_at_load,
)
from csvdock.read.errors import check_unchanged
from csvdock.read.extract import ExtractResult
from csvdock.schema.registry import SchemaRegistry
from csvdock.schema.table import TableSchema
from csvdock.targets import Warehouse, connect, parse_target
from csvdock.targets.load import (
    LedgerEntry,
    evolve_table,
    load_atomically,
    record_version,
    recorded_versions,
)

log = logging.getLogger("csvdock")
Mode = Literal["etl", "elt"]
Into = tuple[str, str]  # the table rows go into: its database schema and name


@dataclass
class FileToLoad:
    """A file on its way into the target: its Extract folder and the folder its schema was
    resolved in (ETL's Transform, ELT's LoadRaw)."""

    path: Path
    sha256: str
    table: str
    run_id: str
    settings: Settings
    extract_dir: Path
    prepared_dir: Path
    mode: Mode

    @cached_property
    def extracted(self) -> ExtractResult:
        """What Extract found (read once Extract is known not to have quarantined the file)."""
        return ExtractResult.read(self.extract_dir)

    @property
    def text(self) -> Path:
        """The text the raw text of rejects is read from."""
        return self.extracted.text_path(self.extract_dir, self.path)


class FileRows(Protocol):
    """What a mode adds to the outline."""

    def refused(self, result: FileResult) -> FileResult | None:
        """Return the file's result when it must not be loaded at all (checked before the
        target is opened), else None."""

    def prepare(self, at_load: SchemaAtLoad) -> None:
        """Make the rows ready for ``at_load``'s schema inside the transaction (raise
        ``ThresholdExceeded`` when its rejects are over the table's threshold)."""

    def write(
        self, warehouse: Warehouse, into: Into, at_load: SchemaAtLoad, entry: LedgerEntry
    ) -> tuple[int, int]:
        """Write the rows and the rejects; return how many of each."""

    def discard(self, warehouse: Warehouse) -> None:
        """Remove what the mode left in the target for a load that did not commit."""


class RowsCastInLoad:
    """The rows of a load that casts them in ``write``, the schema decided (ELT's, and those of a
    file read from its source): nothing to refuse before the target is opened (the threshold
    is checked once the casts ran, inside the transaction), nothing to prepare."""

    def refused(self, result: FileResult) -> FileResult | None:
        return None

    def prepare(self, at_load: SchemaAtLoad) -> None:
        pass


def load_file(
    file: FileToLoad,
    rows_of: Callable[[FileToLoad], FileRows],
    step: str,
    before_commit: Callable[[], None] | None = None,
) -> FileResult:
    """Load ``file`` with the rows ``rows_of`` makes for it in ONE transaction (see the module
    docstring); return its result. ``step`` names the load in the file's timings."""
    if is_quarantined(file.extract_dir):
        return quarantined_result(file.path, file.sha256, file.table, file.extract_dir, file.mode)
    if has_no_records(file.extract_dir):
        done = load_without_records(file)
        if done is not None:
            return done
    schema = TableSchema.read(file.prepared_dir / SCHEMA_FILE)
    result = new_result(
        file.path, file.sha256, file.table, file.mode, file.extracted, schema, file.settings
    )
    result.columns = column_decisions(file.prepared_dir)
    rows = rows_of(file)
    refused = rows.refused(result)
    if refused is not None:
        return refused
    entry = ledger_entry(result, file.run_id)
    chosen: list[SchemaAtLoad] = []

    def prepare(warehouse: Warehouse, db_schema: str, name: str) -> int | None:
        check_unchanged(file.path, file.extracted.size)  # the bytes extracted are the bytes loaded
        at_load = schema_at_load(warehouse, file.settings, file.table, file.prepared_dir)
        rows.prepare(at_load)
        if not (at_load.recorded or at_load.recorded_by_write):
            record_version(warehouse, at_load.schema)
        evolve_table(warehouse, db_schema, name, at_load.schema)
        chosen.append(at_load)
        return at_load.schema.version

    def write_rows(warehouse: Warehouse, db_schema: str, name: str) -> tuple[int, int]:
        return rows.write(warehouse, (db_schema, name), chosen[-1], entry)

    started = time.perf_counter()
    with connect(parse_target(file.settings.target)) as warehouse:
        try:
            outcome = load_atomically(warehouse, entry, prepare, write_rows, before_commit)
        except ThresholdExceeded as exc:
            rows.discard(warehouse)
            return quarantine_over_threshold(result, file.settings, str(exc))
        except BaseException:
            rows.discard(warehouse)
            raise
        if outcome.status != "loaded":
            rows.discard(warehouse)
        loaded_with = chosen[-1].schema if chosen else schema
        stored = after_load(warehouse, file.settings, result, outcome, loaded_with, file.text)
    result.timings = {
        **read_timings(file.extract_dir, file.prepared_dir),
        **load_timings(step, started, outcome),
    }
    return finish_load(result, outcome, file.settings, file.run_id, stored)


def load_without_records(file: FileToLoad) -> FileResult | None:
    """Load a file that holds no record (empty, or a header alone) into an existing table: its
    ledger row and nothing else; no schema version, no ALTER. Where the table does not exist
    yet, an empty file is ``skipped`` with the reason, and a header alone creates the table
    (None: the usual load does)."""
    with connect(parse_target(file.settings.target)) as warehouse:
        warehouse.ensure_ledger()
        registry = SchemaRegistry(file.settings.schemas_dir)
        for recorded in recorded_versions(warehouse, file.table):
            registry.record(recorded)
        latest = registry.latest(file.table)
        if latest is None and file.extracted.columns:
            return None
        if latest is None:
            log.warning("%s: skipped: %s", file.path, NO_TABLE_YET)
            return FileResult(
                str(file.path),
                file.sha256,
                file.table,
                SKIPPED,
                mode=file.mode,
                reason=NO_TABLE_YET,
            )
        result = new_result(
            file.path, file.sha256, file.table, file.mode, file.extracted, latest, file.settings
        )
        version = latest.version
        outcome = load_atomically(
            warehouse, ledger_entry(result, file.run_id), lambda *_: version, lambda *_: (0, 0)
        )
    log.warning("%s: %s (%s)", file.path, NO_RECORDS, outcome.status)
    result.status, result.reason = outcome.status, NO_RECORDS
    return result
