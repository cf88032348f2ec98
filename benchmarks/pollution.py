"""Dialect accuracy and table finding on generated pollutions (tests/read/pollution.py): every
pollution of a clean table, over several seeds and table sizes, read by csvdock's extract (the
detector, the table finder, the parser) and, for the dialect, by DuckDB's ``sniff_csv`` and the
standard library's ``csv.Sniffer`` on the same files in the same run.

    python benchmarks/pollution.py [--seeds 8] [--out benchmarks/results/pollution.json]

Per reader: the share of files whose delimiter and quote are right; for csvdock also the share
whose table is right (every value, column names, lines outside the table) and the share
quarantined.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import platform
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SIZES = (12, 40, 200)


def duckdb_dialect(path: Path) -> tuple[str, str] | None:
    """Return DuckDB's sniffed delimiter and quote (None when it fails)."""
    import duckdb

    try:
        with duckdb.connect() as con:
            row = con.execute("SELECT Delimiter, Quote FROM sniff_csv(?)", [str(path)]).fetchone()
    except duckdb.Error:
        return None
    if row is None:
        return None
    return row[0], row[1] if len(row[1]) == 1 else ""


def stdlib_dialect(data: bytes, encoding: str) -> tuple[str, str] | None:
    """Return ``csv.Sniffer``'s delimiter and quote (None when it fails)."""
    try:
        found = csv.Sniffer().sniff(data.decode(encoding)[:16384])
    except (csv.Error, UnicodeDecodeError):
        return None
    return found.delimiter, found.quotechar or ""


def same_dialect(
    got: tuple[str, str] | None, delimiters: tuple[str, ...], quote: str, data: bytes
) -> bool:
    """Whether ``got`` has one of the right ``delimiters`` and the right quote (any quote, or
    none, is right for a file without quote characters)."""
    if got is None or got[0] not in delimiters:
        return False
    return got[1] == quote or quote.encode() not in data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pollution.json")
    args = parser.parse_args()

    import polars as pl
    from csvdock.core.settings import TableSettings
    from csvdock.read.extract import RECORDS_FILE, ExtractError, extract_file

    from tests.read.pollution import expected_values, pollutions

    totals: dict[str, int] = defaultdict(int)
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        for seed in range(args.seeds):
            for size in SIZES:
                for case in pollutions(rows=size, seed=seed):
                    kind = case.name.rstrip("0123456789-") or case.name
                    path = home / f"{case.name}-{seed}-{size}.csv"
                    path.write_bytes(case.data)
                    want = (case.delimiter, case.quote)
                    raw_delimiter = ", " if case.space_after else case.delimiter
                    totals["files"] += 1
                    by_kind[kind]["files"] += 1
                    try:
                        result = extract_file(path, home / "out" / path.stem, TableSettings())
                    except ExtractError as exc:
                        totals["csvdock_quarantined"] += 1
                        misses.append({"file": path.name, "quarantined": str(exc)})
                        continue
                    dialect = result.dialect
                    right = (dialect["delimiter"], dialect["quote"]) == want and (
                        dialect["space_after_delimiter"] == case.space_after
                    )
                    records = pl.read_parquet(home / "out" / path.stem / RECORDS_FILE)
                    values = [list(r) for r in records.select(result.columns).rows()]
                    table = (
                        (case.rejected != 0 or values == expected_values(case, seed))
                        and result.rows_read == case.rows
                        and result.columns == case.columns
                        and result.lines_outside_table == case.lines_outside
                        and (case.rejected < 0 or result.rows_rejected == case.rejected)
                    )
                    totals["csvdock_dialect"] += right
                    totals["csvdock_table"] += table
                    by_kind[kind]["csvdock_dialect"] += right
                    by_kind[kind]["csvdock_table"] += table
                    if not (right and table):
                        misses.append(
                            {"file": path.name, "dialect": dialect, "rows": result.rows_read}
                        )
                    if case.encoding in ("utf-8", "utf-8-sig"):  # the sniffers read UTF-8 only
                        totals["utf8_files"] += 1
                        delimiters = (case.delimiter, raw_delimiter)
                        duck = same_dialect(duckdb_dialect(path), delimiters, case.quote, case.data)
                        std = same_dialect(
                            stdlib_dialect(case.data, case.encoding),
                            delimiters,
                            case.quote,
                            case.data,
                        )
                        totals["csvdock_dialect_utf8"] += right
                        totals["duckdb_dialect_utf8"] += duck
                        totals["stdlib_dialect_utf8"] += std
    files, utf8 = totals["files"], totals["utf8_files"]
    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.system()} {platform.processor() or ''}".strip(),
        "files": files,
        "csvdock": {
            "dialect_right": round(totals["csvdock_dialect"] / files, 3),
            "table_right": round(totals["csvdock_table"] / files, 3),
            "quarantined": round(totals["csvdock_quarantined"] / files, 3),
        },
        "dialect_right_on_utf8_files": {
            "files": utf8,
            "csvdock": round(totals["csvdock_dialect_utf8"] / utf8, 3),
            "duckdb_sniff_csv": round(totals["duckdb_dialect_utf8"] / utf8, 3),
            "csv_sniffer": round(totals["stdlib_dialect_utf8"] / utf8, 3),
        },
        "by_kind": {
            kind: {
                "files": c["files"],
                "dialect_right": round(c["csvdock_dialect"] / c["files"], 3),
                "table_right": round(c["csvdock_table"] / c["files"], 3),
            }
            for kind, c in sorted(by_kind.items())
        },
        "misses": misses[:50],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in ("by_kind", "misses")}, indent=2))
    for kind, c in report["by_kind"].items():
        if c["dialect_right"] < 1 or c["table_right"] < 1:
            print(f"  {kind}: dialect {c['dialect_right']:.0%}, table {c['table_right']:.0%}")


if __name__ == "__main__":
    main()
