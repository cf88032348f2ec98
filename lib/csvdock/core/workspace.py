"""Where csvdock keeps its files. The target's ledger is the truth; the workspace is the record.

```
runs/<run_id>/summary.json, files/<table>--<sha12>.json, rejects/<table>--<sha12>.csv
runs/<run_id>/failed/<table>--<sha12>.json           (the result of a file whose task failed)
checkpoints/<table>/<sha256>/extract/, transform/     (reused across runs for the same bytes)
deadletter/files/<sha12>-<name> + .REASON.json
failures/<task id>.txt                               (why a Luigi task failed)
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """The workspace folder and the paths inside it."""

    root: Path

    def checkpoint(self, table: str, sha256: str, stage: str) -> Path:
        """Return the checkpoint folder of ``stage`` for one file of ``table``."""
        return self.root / "checkpoints" / table / sha256 / stage

    def run_dir(self, run_id: str) -> Path:
        """Return the folder of one run."""
        return self.root / "runs" / run_id

    def file_result(self, run_id: str, table: str, sha256: str) -> Path:
        """Return the path of one file's result JSON in a run."""
        return self.run_dir(run_id) / "files" / f"{table}--{sha256[:12]}.json"

    def failed_result(self, run_id: str, table: str, sha256: str) -> Path:
        """Return where a failed file's result is kept (its task failed, so it has no output)."""
        return self.run_dir(run_id) / "failed" / f"{table}--{sha256[:12]}.json"

    def rejects_csv(self, run_id: str, table: str, sha256: str) -> Path:
        """Return the path of one file's rejects CSV in a run."""
        return self.run_dir(run_id) / "rejects" / f"{table}--{sha256[:12]}.csv"

    def quarantine_dir(self) -> Path:
        """Return the folder of quarantined files."""
        return self.root / "deadletter" / "files"

    def failure_note(self, task_id: str) -> Path:
        """Return the file where a failed task's reason is written."""
        return self.root / "failures" / f"{safe_file_name(task_id)}.txt"


def safe_file_name(name: str, limit: int = 120) -> str:
    """Return ``name`` reduced to a harmless file name (no separators, no leading dots)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")
    return cleaned[:limit] or "file"
