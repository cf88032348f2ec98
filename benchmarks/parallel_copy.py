"""Should Load use parallel COPY streams? The measurement behind the decision.

    python benchmarks/parallel_copy.py [--rows N] [--pg DSN]

Loads the same typed Parquet file (as Transform writes it) into PostgreSQL three ways, each ending
in one committed, atomic load: one ADBC binary COPY stream into the table (what csvdock does), and
k = 2, 3 streams into UNLOGGED staging tables followed by one INSERT ... SELECT in the committing
transaction. Writes results/parallel_copy.json and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from run import HERE, generate

DDL = (
    "(id BIGINT, name TEXT, email TEXT, age BIGINT, balance NUMERIC(38,2), signup_date DATE, "
    "last_login TIMESTAMP, active BOOLEAN, zip TEXT, city TEXT)"
)


def typed_parquet(csv: Path, out: Path) -> Path:
    """Write ``csv`` as a typed Parquet file in row groups, as Transform does."""
    import polars as pl

    types = {
        "zip": pl.String,
        "balance": pl.Decimal(38, 2),
        "signup_date": pl.Date,
        "last_login": pl.Datetime("us"),
    }
    frame = pl.scan_csv(csv, schema_overrides=types)
    frame.sink_parquet(out)
    return out


def main() -> None:
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow as pa
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--pg",
        default=os.environ.get("CSVDOCK_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    csv = generate(args.rows, HERE / "data" / f"users_{args.rows}.csv")
    work = Path(tempfile.mkdtemp(prefix="csvdock-parallel-"))
    typed = typed_parquet(csv, work / "typed.parquet")
    groups = pq.ParquetFile(typed).num_row_groups

    def reader(row_groups: list[int]) -> pa.RecordBatchReader:
        parquet = pq.ParquetFile(typed)
        batches = parquet.iter_batches(batch_size=65_536, row_groups=row_groups)
        return pa.RecordBatchReader.from_batches(parquet.schema_arrow, batches)

    def run(*statements: str) -> None:
        with pg.connect(args.pg) as con, con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
            con.commit()

    results: dict[str, float] = {}
    try:
        run("DROP TABLE IF EXISTS bench_par", f"CREATE TABLE bench_par {DDL}")
        started = time.perf_counter()
        with pg.connect(args.pg) as con, con.cursor() as cur:
            cur.adbc_ingest("bench_par", reader(list(range(groups))), mode="append")
            con.commit()
        results["one stream into the table"] = time.perf_counter() - started
        for k in (2, 3):
            run("DROP TABLE IF EXISTS bench_par", f"CREATE TABLE bench_par {DDL}")
            for i in range(k):
                run(
                    f"DROP TABLE IF EXISTS bench_par_{i}",
                    f"CREATE UNLOGGED TABLE bench_par_{i} {DDL}",
                )
            started = time.perf_counter()

            def stream(i: int, k: int = k) -> None:
                with pg.connect(args.pg) as con, con.cursor() as cur:
                    cur.adbc_ingest(
                        f"bench_par_{i}", reader(list(range(i, groups, k))), mode="append"
                    )
                    con.commit()

            threads = [threading.Thread(target=stream, args=(i,)) for i in range(k)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            staged = time.perf_counter()
            union = " UNION ALL ".join(f"SELECT * FROM bench_par_{i}" for i in range(k))
            run(f"INSERT INTO bench_par {union}")
            done = time.perf_counter()
            results[f"{k} streams into staging"] = staged - started
            results[f"{k} streams + INSERT ... SELECT"] = done - started
            run(*(f"DROP TABLE bench_par_{i}" for i in range(k)))
    finally:
        run("DROP TABLE IF EXISTS bench_par")
    figures = {name: round(seconds, 2) for name, seconds in results.items()}
    out = HERE / "results" / "parallel_copy.json"
    out.write_text(json.dumps({"rows": args.rows, "seconds": figures}, indent=2), encoding="utf-8")
    for name, seconds in figures.items():
        print(f"{name:<36} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
