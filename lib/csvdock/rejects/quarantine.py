"""Quarantine: a file that cannot be read as a table (or has too many rejects) is copied aside
with the reason, and nothing of it is loaded. The original stays where it was."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from csvdock.core.workspace import Workspace, safe_file_name


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
