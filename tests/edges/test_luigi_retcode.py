"""The ``luigi`` command exits non-zero when a load fails (issue 25, item 12): luigi.cfg's
``[retcode]``, tested through the real command, as cron runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.edges.test_operations import BIN, env

ROOT = Path(__file__).resolve().parents[2]


def luigi(workdir: Path, path: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "luigi"), "--module", "luigi_tasks", "IngestFile", "--path", path]
    return subprocess.run(
        [*command, "--local-scheduler"],
        cwd=workdir,
        env=env(CSVDOCK_TARGET="duckdb:///wh.duckdb"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_luigi_command_exits_non_zero_when_a_load_fails(workdir: Path):
    shutil.copy(ROOT / "luigi.cfg", workdir / "luigi.cfg")
    (workdir / "a.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    (workdir / "wh.duckdb").mkdir()  # the target cannot be opened: the load fails
    failed = luigi(workdir, "a.csv")
    assert failed.returncode == 30, failed.stderr[-2000:]
    (workdir / "wh.duckdb").rmdir()
    done = luigi(workdir, "a.csv")
    assert done.returncode == 0, done.stderr[-2000:]
