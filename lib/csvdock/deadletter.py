"""Where rejected records and unreadable files go, with their reasons."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl

from csvdock.rejects import rejects_with_raw_text
from csvdock.workspace import Workspace, safe_file_name


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


def write_rejects_csv(rejects: pl.DataFrame, source: Path, out: Path) -> Path | None:
    """Write ``rejects`` with each record's raw text to the CSV ``out`` (None if there are none)."""
    if rejects.is_empty():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    full = rejects_with_raw_text(rejects, source).select(
        pl.lit(str(source)).alias("file"), "line", "stage", "column", "reason", "raw"
    )
    partial = out.with_name(out.name + ".partial")
    full.write_csv(partial)
    partial.replace(out)
    return out
