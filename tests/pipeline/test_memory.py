"""Bounded memory: a file larger than the memory budget streams through every stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

BUDGET_MB = 600  # the peak RSS target of issue 7, whatever the file size
FILE_MB = 650


def make_file(path: Path) -> None:
    rows = FILE_MB * 1_000_000 // 210
    rng = np.random.default_rng(3)
    text = np.array(["x" * 180 + f"{i:09d}" for i in range(1000)])
    pl.DataFrame(
        {
            "id": np.arange(rows),
            "amount": rng.integers(0, 10**6, rows),
            "note": text[rng.integers(0, 1000, rows)],
        }
    ).write_csv(path)


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_a_file_larger_than_the_budget_streams_with_bounded_memory(workdir: Path, mode: str):
    source = workdir / "big.csv"
    make_file(source)
    assert source.stat().st_size > BUDGET_MB * 1_000_000
    # A fresh wrapper process: its RUSAGE_CHILDREN peak is csvdock's (largest process), alone.
    wrapper = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(done.returncode)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            wrapper,
            str(Path(sys.executable).parent / "csvdock"),
            "ingest",
            str(source),
            "--mode",
            mode,
            "--json",
        ],
        cwd=workdir,
        env={**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_ISOLATE_TASKS": "true"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    assert done.returncode == 0, done.stderr[-2000:]
    (entry,) = json.loads(done.stdout)["files"]
    assert entry["rows_loaded"] == entry["rows_read"] > 2_000_000
    print(f"{mode}: peak RSS {peak_mb:.0f} MB for a {FILE_MB} MB file")
    assert peak_mb < BUDGET_MB, f"{mode}: peak RSS {peak_mb:.0f} MB for a {FILE_MB} MB file"
