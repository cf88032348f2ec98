"""Small files and per-run costs (issue 15): one tiny file with reports on and off, a folder of
200 files each with its own table at defaults, and 1,000 small files into one DuckDB table with
``--workers 2``; each against a plain DuckDB loop over the same files, in the same run. Then two
wide files, reports off (issue 26): 2 records x 2,000 columns and 54 x 1,093.

    python benchmarks/small.py [--out benchmarks/results/small.json] [--repeat 3]

Every csvdock run is a fresh ``csvdock ingest`` process (wall time and peak RSS from
/usr/bin/time) in a fresh working directory (workspace, schemas and warehouse inside it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))
from run import machine, timed  # noqa: E402

DUCKDB_LOOP = """
import sys, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[2])
one_table = sys.argv[3] == "one"
for i, path in enumerate(sorted(Path(sys.argv[1]).glob("*.csv"))):
    table = "parts" if one_table else path.stem
    if one_table and i:
        con.execute(f"INSERT INTO {table} SELECT * FROM read_csv(?)", [str(path)])
    else:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv(?)", [str(path)])
con.close()
"""


def write_files(folder: Path, count: int, rows: int, prefix: str) -> Path:
    """Write ``count`` CSV files of ``rows`` records (id, name, amount, day), deterministic."""
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    rng = random.Random(7)
    for i in range(count):
        lines = ["id,name,amount,day"] + [
            f"{i * rows + j},n{j},{rng.randint(0, 99_999) / 100},2024-01-{1 + j % 28:02d}"
            for j in range(rows)
        ]
        (folder / f"{prefix}{i:04d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


WIDE_KINDS = (  # a value of each kind, drawn from a random.Random
    lambda r: str(r.randint(-50, 50)),
    lambda r: f"{r.randint(0, 9999)}.{r.randint(0, 99):02d}",
    lambda r: f"2024-0{r.randint(1, 9)}-1{r.randint(0, 9)}",
    lambda r: r.choice(["a", "b c", "NA", ""]),
    lambda r: f"{r.random():.3e}",
    lambda r: str(r.randint(2**40, 2**50)),
)


def write_wide(path: Path, rows: int, columns: int) -> Path:
    """Write a file of ``rows`` records and ``columns`` columns cycling through six kinds of
    value (integers, decimals, dates, text with NA, doubles, big integers), deterministic."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    lines = [",".join(f"c{j}" for j in range(columns))]
    for _ in range(rows):
        lines.append(",".join(WIDE_KINDS[j % len(WIDE_KINDS)](rng) for j in range(columns)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csvdock_run(arguments: list[str], report: bool, work: Path) -> tuple[float, float]:
    """Time one ``csvdock ingest`` in a fresh directory; return (seconds, peak RSS MB)."""
    space = work / f"run-{len(list(work.iterdir()))}"
    space.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSVDOCK_")}
    env["CSVDOCK_REPORT"] = "true" if report else "false"
    command = [str(BIN / "csvdock"), "ingest", *arguments, "--json"]
    seconds, peak = timed(command, env, cwd=space)
    shutil.rmtree(space, ignore_errors=True)
    return seconds, peak


def duckdb_loop(folder: Path, one_table: bool, work: Path) -> float:
    database = work / f"loop-{len(list(work.iterdir()))}.duckdb"
    command = [str(BIN / "python"), "-c", DUCKDB_LOOP, str(folder), str(database)]
    seconds, _ = timed([*command, "one" if one_table else "own"], dict(os.environ), cwd=work)
    database.unlink(missing_ok=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "small.json")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = HERE / "data"
    tiny = data / "tiny" / "tiny.csv"
    if not tiny.exists():
        tiny.parent.mkdir(parents=True, exist_ok=True)
        tiny.write_text("id,name,amount\n1,ann,1.50\n2,bob,2.25\n3,cy,3.00\n", encoding="utf-8")
    own = write_files(data / "small_own_200", 200, 100, "t")
    one = write_files(data / "small_one_1000", 1000, 100, "part_")
    wide = write_wide(data / "wide" / "wide_2x2000.csv", 2, 2000)
    tall = write_wide(data / "wide" / "wide_54x1093.csv", 54, 1093)
    work = Path(tempfile.mkdtemp(prefix="csvdock-small-"))
    cases = [
        ("one 3-record file, reports on", [str(tiny)], True, None, 1),
        ("one 3-record file, reports off", [str(tiny)], False, None, 1),
        ("200 files, each its own table, defaults", [str(own)], True, (own, False), 200),
        (
            "1,000 files into one table, --workers 2",
            [str(one), "--table", "parts", "--workers", "2"],
            True,
            (one, True),
            1000,
        ),
        ("2 records x 2,000 columns, reports off", [str(wide)], False, None, 1),
        ("54 records x 1,093 columns, reports off", [str(tall)], False, None, 1),
    ]
    results = []
    try:
        for name, arguments, report, loop, files in cases:
            runs = [csvdock_run(arguments, report, work) for _ in range(args.repeat)]
            seconds = statistics.median(s for s, _ in runs)
            entry: dict[str, object] = {
                "case": name,
                "files": files,
                "seconds": [round(s, 2) for s, _ in runs],
                "median": round(seconds, 2),
                "files_per_second": round(files / seconds, 1),
                "peak_rss_mb": round(max(m for _, m in runs)),
            }
            if loop is not None:
                baseline = statistics.median(duckdb_loop(*loop, work) for _ in range(args.repeat))
                entry["duckdb_loop_seconds"] = round(baseline, 2)
            results.append(entry)
            print(json.dumps(entry), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
