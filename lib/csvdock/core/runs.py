"""The run summary: the contract scripts and later stages read (see README, "Run summary")."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    import polars as pl

    from csvdock.schema.table import TableSchema

FileStatus = Literal["loaded", "skipped", "quarantined", "failed"]
LOADED: Final = "loaded"  # this run stored the file's rows (and its rejects)
SKIPPED: Final = "skipped"  # the same bytes were loaded into the table before
QUARANTINED: Final = "quarantined"  # not a table, or over a reject threshold: nothing loaded
FAILED: Final = "failed"  # could not be loaded now (see reason, retryable); nothing committed
OK_STATUSES = (LOADED, SKIPPED)


@dataclass
class FileResult:
    """What happened to one file: its ``status``, the counts (``rows_read = rows_loaded +
    rows_rejected`` for a loaded file), the schema version it was loaded with, where its rejects
    are, and why when it was not loaded."""

    path: str
    sha256: str
    table: str
    status: FileStatus
    mode: str = "etl"
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects_path: str | None = None
    quarantine_path: str | None = None
    reason: str | None = None
    schema_version: int | None = None
    schema_path: str | None = None
    dialect: dict[str, Any] | None = None
    timings: dict[str, float] | None = None  # seconds per stage (see README, "Benchmarks")
    retryable: bool = False  # failed for a transient reason (target down, busy): try again later
    lines_outside_table: int = 0  # lines that are not the table: preamble, footer, second table
    outside_table: list[dict[str, Any]] | None = None  # their spans: first/last line, reason
    # Columns whose type was decided with misfits: {name, type, misfits, examples, decision}.
    columns: list[dict[str, Any]] | None = None
    # Why a file was quarantined, as a code (see csvdock.read.errors.QuarantineCode).
    code: str | None = None

    def write(self, path: Path) -> None:
        """Write the result as JSON to ``path`` (the caller makes the write atomic)."""
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> FileResult:
        """Read a result written by ``write``."""
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    @property
    def schema(self) -> TableSchema | None:
        """Return the schema version the file was loaded with (None when it was not loaded)."""
        from csvdock.schema.table import TableSchema

        if self.schema_path is None or not Path(self.schema_path).exists():
            return None
        return TableSchema.read(Path(self.schema_path))

    def rejects(self) -> pl.DataFrame:
        """Return the records of this file the run set aside: file, line, stage, column,
        reason and raw text (an empty frame when there are none)."""
        import polars as pl

        from csvdock.rejects.format import RUN_REJECTS_SCHEMA, read_rejects_csv

        if not self.rejects_path or not Path(self.rejects_path).exists():
            return pl.DataFrame(schema=RUN_REJECTS_SCHEMA)
        return read_rejects_csv(Path(self.rejects_path), RUN_REJECTS_SCHEMA)


def rows_not_loaded(result: FileResult) -> int:
    """Return the records of a file that this run neither loaded nor set aside: all of them
    for a file ``skipped`` (loaded before), ``quarantined`` or ``failed``, none for a loaded one.

    The counts, defined once: ``rows_read`` is the file's data records (header and blank lines
    excluded; 0 when it could not be read); ``rows_loaded`` and ``rows_rejected`` are the records
    this run stored in the table and in the dead letters. So for every file
    ``rows_read = rows_loaded + rows_rejected + rows_not_loaded``.
    """
    return result.rows_read - result.rows_loaded - result.rows_rejected


def run_totals(files: list[FileResult]) -> dict[str, int]:
    """Return a run's record counts: read, loaded, rejected and not loaded (they balance)."""
    return {
        "read": sum(f.rows_read for f in files),
        "loaded": sum(f.rows_loaded for f in files),
        "rejected": sum(f.rows_rejected for f in files),
        "not_loaded": sum(rows_not_loaded(f) for f in files),
    }


@dataclass
class RunSummary:
    """What happened in one run."""

    run_id: str
    mode: str
    target: str
    files: list[FileResult] = field(default_factory=list)
    reports: dict[str, str] | None = None
    finished_at: str | None = None  # UTC, ISO 8601: when the summary was first written
    started_at: str | None = None  # UTC, ISO 8601: when the run started (see ``mark_started``)

    @classmethod
    def read(cls, path: Path) -> RunSummary:
        """Read a ``summary.json``."""
        data = json.loads(path.read_text(encoding="utf-8"))
        files = [FileResult(**f) for f in data.pop("files")]
        return cls(files=files, **data)

    def rejects(self) -> pl.DataFrame:
        """Return every record the run set aside, file by file (see ``FileResult.rejects``)."""
        import polars as pl

        return pl.concat([f.rejects() for f in self.files], how="vertical")

    def counts(self) -> dict[str, int]:
        """Return the run's record counts: read, loaded, rejected and not loaded."""
        return run_totals(self.files)

    @property
    def ok(self) -> bool:
        """Return whether every file ended loaded or skipped."""
        return all(f.status in OK_STATUSES for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as a JSON-ready dict."""
        return asdict(self)

    def write(self, run_dir: Path) -> Path:
        """Write ``summary.json`` into ``run_dir`` atomically and return its path."""
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.finished_at is None:
            self.finished_at = _now()
        if self.started_at is None:
            self.started_at = started_at(run_dir, self.run_id) or self.finished_at
        path = run_dir / "summary.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.as_dict(), indent=2), encoding="utf-8")
        partial.replace(path)
        return path


def run_mode(files: list[FileResult]) -> str:
    """Return the mode of a run: ``etl`` or ``elt``, or ``mixed`` when tables differ."""
    modes = {f.mode for f in files if f.status != QUARANTINED} or {f.mode for f in files}
    return modes.pop() if len(modes) == 1 else ("mixed" if modes else "etl")


def valid_run_id(run_id: str) -> bool:
    """Return whether ``run_id`` is safe as a folder name (letters, digits, ``-``, ``_``)."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}", run_id))


STARTED_FILE = "started_at"  # in a run's folder: when it started (UTC, ISO 8601)
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime(_ISO)


def mark_started(run_dir: Path) -> None:
    """Note in ``run_dir`` when its run started (kept from the first call: a run resumed keeps
    its first start)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / STARTED_FILE
    if not marker.exists():
        marker.write_text(_now(), encoding="utf-8")


def started_at(run_dir: Path, run_id: str) -> str | None:
    """Return when a run started: its folder's note, else the time in a csvdock run id, else
    None (a run id given by the caller, from the ``luigi`` command)."""
    marker = run_dir / STARTED_FILE
    if marker.exists():
        return marker.read_text(encoding="utf-8").strip()
    return _started_by_id(run_id)


def _started_by_id(run_id: str) -> str | None:
    """Return the start time a csvdock run id (``new_run_id``) holds, or None."""
    found = re.match(r"(\d{8}T\d{6}Z)-", run_id)
    if not found:
        return None
    begin = dt.datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return begin.strftime(_ISO)


def run_seconds(summary: dict[str, Any]) -> float | None:
    """Return how long a run took, from its summary's ``started_at`` (or the time in its id)
    to its ``finished_at``; None when either is unknown."""
    finished = summary.get("finished_at")
    started = summary.get("started_at") or _started_by_id(summary["run_id"])
    if not started or not finished:
        return None
    begin = dt.datetime.strptime(started, _ISO).replace(tzinfo=dt.UTC)
    end = dt.datetime.strptime(finished, _ISO).replace(tzinfo=dt.UTC)
    return max((end - begin).total_seconds(), 0.0)


def new_run_id() -> str:
    """Return a new run id: UTC time then a random suffix, so ids sort by start time."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{secrets.token_hex(3)}"
