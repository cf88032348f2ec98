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

from csvdock.core.naming import qualified_name
from csvdock.core.workspace import Workspace, safe_file_name
from csvdock.read.records import record_text
from csvdock.targets.base import LEDGER_SCHEMA, REJECTS_TABLE, Warehouse

LEDGER_FILE = "DeadLetterQueue.csv"
LEDGER_COLUMNS = pl.Schema(
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


def write_rejects_csv(ledger_rows: pl.DataFrame, source: Path, out: Path) -> Path | None:
    """Write one file's dead letters (rows of the ledger) to the CSV ``out``; return None when
    there are none."""
    if ledger_rows.is_empty():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    full = ledger_rows.sort("line").select(
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
        return pl.DataFrame(schema=LEDGER_COLUMNS)
    return pl.read_csv(path, schema=LEDGER_COLUMNS, infer_schema=False)


def stored_rejects(warehouse: Warehouse, table: str, sha256: str) -> pl.DataFrame:
    """Return the rejected records of one loaded file as the target stores them (ledger rows)."""
    rows = warehouse.execute(
        "SELECT run_id, file_path, file_sha256, line, stage, column_name, reason, raw "
        f"FROM {qualified_name(LEDGER_SCHEMA, REJECTS_TABLE)} "
        "WHERE table_name = $1 AND file_sha256 = $2 ORDER BY line",
        [table, sha256],
    )
    names = [n for n in LEDGER_COLUMNS.names() if n != "replayed_in"]
    frame = pl.DataFrame(rows, schema=names, orient="row")
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias("replayed_in")).cast(
        LEDGER_COLUMNS
    )


def sync_dead_letters(
    workspace: Workspace, table: str, sha256: str, stored: pl.DataFrame, header: bytes | None
) -> int:
    """Make the table's dead-letter CSV hold exactly the ``stored`` records of one file (the
    target's, written with its rows): rows missing after a crash are added, and a file's rows
    already there are kept as they stand (edits and ``replayed_in`` marks included) when their
    count agrees. Idempotent; return how many rows the CSV holds for the file."""
    folder = ledger_dir(workspace, table)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        if header is not None and not stored.is_empty():
            headers = folder / "headers"
            headers.mkdir(exist_ok=True)
            if not (headers / f"{sha256}.txt").exists():
                (headers / f"{sha256}.txt").write_bytes(header)
        ledger = read_ledger(workspace, table)
        mine = ledger.filter(pl.col("file_sha256") == sha256)
        if mine.height == stored.height:
            return mine.height
        others = ledger.filter(pl.col("file_sha256") != sha256)
        _write_ledger(folder, pl.concat([others, stored.cast(LEDGER_COLUMNS)]))
        return stored.height


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


def header_bytes(text: Path) -> bytes:
    """Return the first line of ``text`` (the header a replay file starts with)."""
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
