"""Does csvdock's cost grow linearly with the file, and does its memory stay flat?

    python benchmarks/scaling.py [--sizes 1000000,5000000,20000000] [--pg DSN]

For each size: one psql \\copy and one csvdock ETL ingest into PostgreSQL (wall seconds and peak
RSS from /usr/bin/time). Writes results/scaling.json and results/scaling.md: seconds per million
records, and how far each size's rate is from the smallest size's (the issue's bound: 15%).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

from run import BIN, COLUMNS, HERE, drop_bench_tables, generate, machine, psql, settle, timed

LINEAR_WITHIN = 0.15


def measure(rows: int, dsn: str, work: Path) -> dict[str, object]:
    """Time psql \\copy and csvdock ETL on a ``rows``-record file."""
    csv = generate(rows, HERE / "data" / f"users_{rows}.csv")
    copy_table, csvdock_table = f"bench_{secrets.token_hex(3)}", f"bench_{secrets.token_hex(3)}"
    settle(dsn)
    psql(dsn, f"CREATE TABLE {copy_table} ({COLUMNS})")
    copy_s, copy_mb = timed(
        ["psql", dsn, "-q", "-c", f"\\copy {copy_table} FROM '{csv}' CSV HEADER"]
    )
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(work / f"ws{rows}")}
    command = [str(BIN / "csvdock"), "ingest", str(csv), "--target", dsn, "--table", csvdock_table]
    settle(dsn)
    csvdock_s, csvdock_mb = timed(command, env)
    shutil.rmtree(work / f"ws{rows}", ignore_errors=True)
    return {
        "rows": rows,
        "csv_mb": round(csv.stat().st_size / 1e6),
        "psql_copy_seconds": copy_s,
        "csvdock_etl_seconds": csvdock_s,
        "csvdock_peak_rss_mb": round(csvdock_mb),
        "ratio_to_psql_copy": round(csvdock_s / copy_s, 2),
        "csvdock_seconds_per_million": round(csvdock_s / rows * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,5000000,20000000")
    parser.add_argument(
        "--pg",
        default=os.environ.get("CSVDOCK_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="csvdock-scaling-"))
    try:
        results = []
        for rows in sizes:
            results.append(measure(rows, args.pg, work))
            print(json.dumps(results[-1]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        drop_bench_tables(args.pg)
    base = results[0]["csvdock_seconds_per_million"]
    for r in results:
        r["rate_vs_smallest"] = round(r["csvdock_seconds_per_million"] / base, 2)
    linear = all(abs(r["rate_vs_smallest"] - 1) <= LINEAR_WITHIN for r in results)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "linear": linear,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    lines = [
        f"{report['date']} on {report['machine']['cpu']} ({report['machine']['cores']} cores, "
        f"{report['machine']['memory']}); one run per size.",
        "",
        "| records | CSV MB | psql \\copy s | csvdock ETL s | x \\copy | s per 1M records "
        "| rate vs smallest | csvdock peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rows']:,} | {r['csv_mb']} | {r['psql_copy_seconds']:.2f} | "
        f"{r['csvdock_etl_seconds']:.2f} | {r['ratio_to_psql_copy']:.2f} | "
        f"{r['csvdock_seconds_per_million']:.2f} | {r['rate_vs_smallest']:.2f} | "
        f"{r['csvdock_peak_rss_mb']} |"
        for r in results
    ]
    lines += ["", f"Linear within {LINEAR_WITHIN:.0%}: {'yes' if linear else 'no'}."]
    (args.out / "scaling.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
