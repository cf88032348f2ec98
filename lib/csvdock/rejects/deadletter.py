"""The dead letters: every rejected record of a table, and the quarantined files.

``deadletter/<target>/<table>/DeadLetterQueue.csv`` (one per target and table, a CSV a person
can open and edit; ``<target>`` is ``KIND-HASH`` of the target's masked URL, written in the
folder's ``TARGET.txt``) holds ``run_id, file, file_sha256, line, stage, column, reason, raw,
replayed_in``; ``raw`` is the record's original text. It is derived from the target's
``csvdock.rejects`` (and ``csvdock.replays``, the replay marks), so a lost CSV is rebuilt on the
next load. ``headers/<sha256>.txt`` keeps each file's header, so that rejected records can be
replayed.
Writes are idempotent per file and serialised with a lock file, so parallel loads can share it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from csvdock.core.naming import qualified_name
from csvdock.core.workspace import Workspace
from csvdock.read.records import record_text
from csvdock.rejects.format import (
    DEAD_LETTER_SCHEMA,
    STORED_AS_DEAD_LETTER,
    dead_letters_from_stored,
    read_rejects_csv,
    run_rejects_csv_frame,
)
from csvdock.targets.base import METADATA_SCHEMA, REJECTS_TABLE, REPLAYS_TABLE, Warehouse

DEAD_LETTER_FILE = "DeadLetterQueue.csv"


def write_rejects_csv(letters: pl.DataFrame, source: Path, out: Path) -> Path | None:
    """Write one file's dead letters to the CSV ``out``; return None when there are none."""
    if letters.is_empty():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    full = run_rejects_csv_frame(letters, source)
    partial = out.with_name(out.name + ".partial")
    full.write_csv(partial)
    partial.replace(out)
    return out


def target_key(target: str) -> str:
    """Return the folder name of ``target``'s dead letters: its kind and a hash of its masked
    URL (the same from the URL and from a summary's masked one)."""
    from csvdock.targets import masked_url

    masked = masked_url(target)
    kind = masked.partition("://")[0] or "target"
    return f"{kind}-{hashlib.sha256(masked.encode()).hexdigest()[:10]}"


def dead_letter_dir(workspace: Workspace, table: str, target: str) -> Path:
    """Return the dead-letter folder of ``table`` on ``target``."""
    return workspace.root / "deadletter" / target_key(target) / table


def tables_with_dead_letters(workspace: Workspace, table: str) -> list[str]:
    """Return the target keys that hold dead letters of ``table`` (any target)."""
    root = workspace.root / "deadletter"
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{table}/{DEAD_LETTER_FILE}"))


def read_dead_letters(workspace: Workspace, table: str, target: str) -> pl.DataFrame:
    """Return every dead letter of ``table`` on ``target`` (an empty frame when none)."""
    path = dead_letter_dir(workspace, table, target) / DEAD_LETTER_FILE
    if not path.exists():
        return pl.DataFrame(schema=DEAD_LETTER_SCHEMA)
    return read_rejects_csv(path, DEAD_LETTER_SCHEMA)


def stored_rejects(warehouse: Warehouse, table: str, sha256: str) -> pl.DataFrame:
    """Return the rejected records of one loaded file as the target stores them, with their
    replay marks."""
    rejects = qualified_name(METADATA_SCHEMA, REJECTS_TABLE)
    replays = qualified_name(METADATA_SCHEMA, REPLAYS_TABLE)
    columns = ", ".join(f"r.{c}" for c in STORED_AS_DEAD_LETTER.values())
    rows = warehouse.execute(
        f"SELECT {columns}, p.replayed_in FROM {rejects} r LEFT JOIN {replays} p "
        "ON p.table_name = r.table_name AND p.file_sha256 = r.file_sha256 AND p.line = r.line "
        "WHERE r.table_name = $1 AND r.file_sha256 = $2 ORDER BY r.line",
        [table, sha256],
    )
    return dead_letters_from_stored(rows)


def sync_dead_letters(
    workspace: Workspace,
    table: str,
    target: str,
    sha256: str,
    stored: pl.DataFrame,
    header: bytes | None,
) -> int:
    """Make the dead-letter CSV of ``table`` on ``target`` hold exactly the ``stored`` records
    of one file (the target's, written with its rows): rows missing after a crash are added,
    and a file's rows already there are kept as they stand (edits and ``replayed_in`` marks
    included) when their count agrees. Idempotent; return how many rows the CSV holds for
    the file."""
    folder = dead_letter_dir(workspace, table, target)
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder):
        note = folder.parent / "TARGET.txt"
        if not note.exists():
            from csvdock.targets import masked_url

            note.write_text(masked_url(target) + "\n", encoding="utf-8")
        if header is not None and not stored.is_empty():
            headers = folder / "headers"
            headers.mkdir(exist_ok=True)
            if not (headers / f"{sha256}.txt").exists():
                (headers / f"{sha256}.txt").write_bytes(header)
        letters = read_dead_letters(workspace, table, target)
        mine = letters.filter(pl.col("file_sha256") == sha256)
        if mine.height == stored.height:
            return mine.height
        others = letters.filter(pl.col("file_sha256") != sha256)
        write_dead_letters(folder, pl.concat([others, stored.cast(DEAD_LETTER_SCHEMA)]))
        return stored.height


def header_bytes(text: Path) -> bytes:
    """Return the first line of ``text`` (the header a replay file starts with)."""
    with text.open("rb") as handle:
        first = handle.readline()
    return record_text(text, 0, len(first)) if first else b""


def write_dead_letters(folder: Path, letters: pl.DataFrame) -> None:
    """Write the dead-letter CSV whole (a partial file never stays behind)."""
    partial = folder / (DEAD_LETTER_FILE + ".partial")
    try:
        letters.write_csv(partial)
        partial.replace(folder / DEAD_LETTER_FILE)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
