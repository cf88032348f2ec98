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
    csvdock_s, csvdock_mb = timed(command, env, cwd=work)
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
    write_report(args.out, results)


def write_report(out: Path, results: list[dict]) -> None:
    """Write scaling.json and scaling.md: per-record rates, and a fit of fixed + per-record cost.

    "Linear" here means that no size costs more than 15% more per record than the smallest one
    (cost grows no faster than the file); fixed start-up costs make small files dearer per record.
    """
    base = results[0]["csvdock_seconds_per_million"]
    for r in results:
        r["rate_vs_smallest"] = round(r["csvdock_seconds_per_million"] / base, 2)
    linear = all(r["rate_vs_smallest"] <= 1 + LINEAR_WITHIN for r in results)
    fixed, per_million = _fit(results)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "linear": linear,
        "fit": {"fixed_seconds": fixed, "seconds_per_million": per_million},
        "results": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
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
    lines += [
        "",
        f"Least-squares fit: {fixed:.2f} s fixed + {per_million:.2f} s per million records. "
        f"No size dearer per record than the smallest by more than {LINEAR_WITHIN:.0%}: "
        f"{'yes' if linear else 'no'}.",
    ]
    (out / "scaling.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _fit(results: list[dict]) -> tuple[float, float]:
    """Return (fixed seconds, seconds per million records) fitted to the csvdock runs."""
    xs = [r["rows"] / 1e6 for r in results]
    ys = [r["csvdock_etl_seconds"] for r in results]
    if len(xs) < 2:
        return 0.0, round(ys[0] / xs[0], 2)
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return round(mean_y - slope * mean_x, 2), round(slope, 2)


if __name__ == "__main__":
    main()
