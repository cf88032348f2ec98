"""The dead-letter ledger: every rejected record of a table, and the quarantined files.

``deadletter/<table>/DeadLetterQueue.csv`` (one per table, a CSV a person can open and edit)
holds ``run_id, file, file_sha256, line, stage, column, reason, raw, replayed_in``; ``raw`` is the
record's original text. ``headers/<sha256>.txt`` keeps each file's header, so that rejected
records can be replayed.
Writes are idempotent per file and serialised with a lock file, so parallel loads can share it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from csvdock.records import record_text
from csvdock.rejects import rejects_with_raw_text
from csvdock.workspace import Workspace, safe_file_name

LEDGER_FILE = "DeadLetterQueue.csv"
LEDGER_SCHEMA = pl.Schema(
    {
        "run_id": pl.String,
        "file": pl.String,
        "file_sha256": pl.String,
        "line": pl.Int64,
        "stage": pl.String,
        "column": pl.String,
        "reason": pl.String,
        "raw": pl.String,
        "replayed_in": pl.String,
    }
)


def quarantine_file(workspace: Workspace, source: Path, sha256: str, reason: str) -> Path:
    """Copy ``source`` into the quarantine folder with a ``.REASON.json`` beside it; return the
    copy's path. The original stays where it was (an inbox watcher moves it)."""
    folder = workspace.quarantine_dir()
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{sha256[:12]}-{safe_file_name(source.name)}"
    if source.is_file() and not copy.exists():
        partial = copy.with_name(copy.name + ".partial")
        shutil.copyfile(source, partial)
        partial.replace(copy)
    note = {
        "source": str(source),
        "sha256": sha256,
        "reason": reason,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    copy.with_name(copy.name + ".REASON.json").write_text(json.dumps(note, indent=2), "utf-8")
    return copy


def write_rejects_csv(rejects: pl.DataFrame, source: Path, text: Path, out: Path) -> Path | None:
    """Write ``rejects`` with each record's raw text (read from ``text``) to the CSV ``out``;
    return None when there are none."""
    if rejects.is_empty():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    full = rejects_with_raw_text(rejects, text).select(
        pl.lit(str(source)).alias("file"), "line", "stage", "column", "reason", "raw"
    )
    partial = out.with_name(out.name + ".partial")
    full.write_csv(partial)
    partial.replace(out)
    return out


def ledger_dir(workspace: Workspace, table: str) -> Path:
    """Return the dead-letter folder of ``table``."""
    return workspace.root / "deadletter" / table


def read_ledger(workspace: Workspace, table: str) -> pl.DataFrame:
    """Return every dead letter of ``table`` (an empty frame when there are none)."""
    path = ledger_dir(workspace, table) / LEDGER_FILE
    if not path.exists():
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    return pl.read_csv(path, schema=LEDGER_SCHEMA, infer_schema=False)


def record_dead_letters(
    workspace: Workspace,
    table: str,
    run_id: str,
    source: Path,
    text: Path,
    sha256: str,
    rejects: pl.DataFrame,
) -> int:
    """Append one file's rejects to the table's ledger unless they are there already; return how
    many rows the ledger holds for the file."""
    folder = ledger_dir(workspace, table)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        ledger = read_ledger(workspace, table)
        existing = ledger.filter(pl.col("file_sha256") == sha256).height
        if existing or rejects.is_empty():
            return existing
        headers = folder / "headers"
        headers.mkdir(exist_ok=True)
        (headers / f"{sha256}.txt").write_bytes(_header_bytes(text))
        new = rejects_with_raw_text(rejects, text).select(
            pl.lit(run_id).alias("run_id"),
            pl.lit(str(source)).alias("file"),
            pl.lit(sha256).alias("file_sha256"),
            "line",
            "stage",
            "column",
            "reason",
            "raw",
            pl.lit(None, dtype=pl.String).alias("replayed_in"),
        )
        _write_ledger(folder, pl.concat([ledger, new.cast(LEDGER_SCHEMA)]))
        return new.height


def replay_files(workspace: Workspace, table: str, replay_id: str, run: str | None) -> list[Path]:
    """Write the not-yet-replayed dead letters of ``table`` (of one ``run`` if given) as CSV files,
    one per original file (its header, then the raw records as they stand in the ledger, edits
    included). Return their paths."""
    folder = ledger_dir(workspace, table)
    pending = _pending(read_ledger(workspace, table), run)
    out_dir = folder / "replay" / replay_id
    paths: list[Path] = []
    for (sha256,), group in pending.group_by(["file_sha256"], maintain_order=True):
        header = (folder / "headers" / f"{sha256}.txt").read_bytes()
        body = b"\n".join(str(raw).encode("utf-8") for raw in group["raw"])
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{str(sha256)[:12]}.csv"
        path.write_bytes(header + b"\n" + body + b"\n")
        paths.append(path)
    return paths


def mark_replayed(
    workspace: Workspace, table: str, replay_id: str, run: str | None, shas: set[str]
) -> int:
    """Mark the pending dead letters of the original files ``shas`` as replayed in ``replay_id``;
    return how many were marked."""
    folder = ledger_dir(workspace, table)
    with _locked(folder):
        ledger = read_ledger(workspace, table)
        pending = pl.col("replayed_in").is_null() & pl.col("file_sha256").is_in(list(shas))
        if run:
            pending &= pl.col("run_id") == run
        marked = ledger.filter(pending).height
        ledger = ledger.with_columns(
            pl.when(pending)
            .then(pl.lit(replay_id))
            .otherwise(pl.col("replayed_in"))
            .alias("replayed_in")
        )
        _write_ledger(folder, ledger)
    return marked


def _pending(ledger: pl.DataFrame, run: str | None) -> pl.DataFrame:
    pending = ledger.filter(pl.col("replayed_in").is_null())
    return pending.filter(pl.col("run_id") == run) if run else pending


def _header_bytes(text: Path) -> bytes:
    with text.open("rb") as handle:
        first = handle.readline()
    return record_text(text, 0, len(first)) if first else b""


def _write_ledger(folder: Path, ledger: pl.DataFrame) -> None:
    partial = folder / (LEDGER_FILE + ".partial")
    ledger.write_csv(partial)
    partial.replace(folder / LEDGER_FILE)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
