"""The ``luigi`` command exits non-zero when a load fails (issue 25, item 12): luigi.cfg's
``[retcode]``, tested through the real command, as cron runs it."""

from __future__ import annotations

import json
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


def test_the_luigi_command_writes_the_summary_of_a_run_with_a_failed_file(workdir: Path):
    """Issue 25, item 12: through `luigi`, a run with a failed file has its summary too."""
    shutil.copy(ROOT / "luigi.cfg", workdir / "luigi.cfg")
    (workdir / "a.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    (workdir / "b.csv").write_text("id,m\n3,4\n", encoding="utf-8")
    (workdir / "wh.duckdb").mkdir()  # the target cannot be opened: both loads fail
    command = [
        str(BIN / "luigi"),
        "--module",
        "luigi_tasks",
        "IngestRun",
        "--paths",
        '["a.csv", "b.csv"]',
        "--run-id",
        "by-luigi",
        "--local-scheduler",
    ]
    done = subprocess.run(
        command,
        cwd=workdir,
        env=env(CSVDOCK_TARGET="duckdb:///wh.duckdb"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 30, done.stderr[-2000:]
    summary = json.loads((workdir / ".csvdock" / "runs" / "by-luigi" / "summary.json").read_text())
    assert [f["status"] for f in summary["files"]] == ["failed", "failed"]
    assert all("cannot open DuckDB" in f["reason"] for f in summary["files"])
