"""How csvdock fares on files from the wild: every CSV of ../shared/corpus/duckdb-csv ingested on
its own (defaults, no dialect flags) into a fresh DuckDB file, through the public API.

    python benchmarks/corpus.py [--corpus DIR] [--out benchmarks/results/corpus.json]

Writes one entry per file (status, rows read/loaded/rejected, the reason when not loaded, the
dialect chosen, seconds) and prints the shares: loaded, quarantined, failed, raised.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus" / "duckdb-csv"
SUFFIXES = (".csv", ".tsv")


def corpus_files(corpus: Path) -> list[Path]:
    """Return the corpus's CSV and TSV files, sorted."""
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def outcome(path: Path, corpus: Path, home: Path, number: int) -> dict[str, object]:
    """Ingest ``path`` alone into a fresh DuckDB under ``home``; return what happened."""
    import csvdock

    settings = csvdock.load_settings().with_overrides(
        workspace=home / "ws", schemas_dir=home / "schemas", report=False, retries=0
    )
    started = time.perf_counter()
    entry: dict[str, object] = {"file": str(path.relative_to(corpus))}
    try:
        summary = csvdock.ingest(
            path,
            table=f"corpus_{number:03d}",
            target=f"duckdb:///{home / 'w.duckdb'}",
            settings=settings,
        )
        (result,) = summary.files
        entry.update(
            status=result.status,
            rows_read=result.rows_read,
            rows_loaded=result.rows_loaded,
            rows_rejected=result.rows_rejected,
            reason=result.reason,
            dialect=result.dialect,
            lines_outside_table=result.lines_outside_table,
            outside_table=result.outside_table,
        )
    except Exception as exc:  # a traceback is the worst outcome: count it, keep going
        entry.update(status="raised", reason=f"{type(exc).__name__}: {exc}")
        entry["traceback"] = traceback.format_exc(limit=3)
    entry["seconds"] = round(time.perf_counter() - started, 3)
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "corpus.json")
    args = parser.parse_args()
    files = corpus_files(args.corpus)
    if not files:
        print(f"no CSV files under {args.corpus}", file=sys.stderr)
        return 2
    os.environ["CSVDOCK_REPORT"] = "false"
    entries = []
    with tempfile.TemporaryDirectory(prefix="csvdock-corpus-") as tmp:
        for number, path in enumerate(files):
            home = Path(tmp) / f"{number:03d}"
            home.mkdir()
            entries.append(outcome(path, args.corpus, home, number))
    counts: dict[str, int] = {}
    for entry in entries:
        counts[str(entry["status"])] = counts.get(str(entry["status"]), 0) + 1
    shares = {status: round(n / len(entries), 3) for status, n in sorted(counts.items())}
    report = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "corpus": str(args.corpus),
        "files": len(entries),
        "counts": counts,
        "shares": shares,
        "entries": entries,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("files", "counts", "shares")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
