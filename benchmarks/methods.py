"""One loading method per call, run in its own process by run.py (so its peak RSS is its own).

python benchmarks/methods.py METHOD CSV TARGET TABLE
"""

from __future__ import annotations

import sys

BATCH_BYTES = 1 << 20


def pyarrow_adbc(csv: str, dsn: str, table: str, streamed: bool) -> None:
    """pyarrow's CSV reader, then ADBC's adbc_ingest (binary COPY), whole or in 1 MB batches."""
    import adbc_driver_postgresql.dbapi as pg
    import pyarrow.csv as pacsv

    with pg.connect(dsn) as con, con.cursor() as cur:
        if streamed:
            data = pacsv.open_csv(csv, read_options=pacsv.ReadOptions(block_size=BATCH_BYTES))
        else:
            data = pacsv.read_csv(csv)
        cur.adbc_ingest(table, data, mode="create")
        con.commit()


def polars_write_database(csv: str, dsn: str, table: str) -> None:
    """polars.read_csv then DataFrame.write_database(engine="adbc")."""
    import polars as pl

    pl.read_csv(csv).write_database(table, dsn, engine="adbc", if_table_exists="replace")


def duckdb_ctas(csv: str, path: str, table: str) -> None:
    """DuckDB's own CREATE TABLE AS SELECT * FROM read_csv into a DuckDB file."""
    import duckdb

    with duckdb.connect(path) as con:
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM read_csv(?)', [csv])


def pandas_to_sql(csv: str, dsn: str, table: str) -> None:
    """pandas.read_csv then DataFrame.to_sql through SQLAlchemy (the defaults)."""
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg2://", 1))
    pd.read_csv(csv).to_sql(table, engine, if_exists="replace", index=False)


def main() -> None:
    method, csv, target, table = sys.argv[1:5]
    if method == "pyarrow_adbc":
        pyarrow_adbc(csv, target, table, streamed=False)
    elif method == "pyarrow_adbc_streamed":
        pyarrow_adbc(csv, target, table, streamed=True)
    elif method == "polars_write_database":
        polars_write_database(csv, target, table)
    elif method == "duckdb_ctas":
        duckdb_ctas(csv, target, table)
    elif method == "pandas_to_sql":
        pandas_to_sql(csv, target, table)
    else:
        raise SystemExit(f"unknown method {method}")


if __name__ == "__main__":
    main()
