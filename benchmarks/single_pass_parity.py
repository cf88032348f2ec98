"""The load's single pass against the copied path on files nobody here tuned on (issue 26).

Each file of the untuned corpus (``../shared/corpus/plotly-datasets``) is loaded twice into the
target: read from its source (``in_source_kb = 0``: the first look's types checked by the load
as it casts) and copied (the usual way). The two tables, their rejects (line, code, raw text)
and their schema versions (types and evidence) must be the same. The corpus's files are small,
so the first look is shortened (``--first-look``, 500 rows instead of 10,000) for the single
pass to have rows to check past it and proposals to be refuted.

    python benchmarks/single_pass_parity.py [--target URL] [--first-look 500] [--files N]

Writes a one-line JSON summary; the files that differ are listed after it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "plotly-datasets"


def loaded(target: str, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Return a table's rows (as sorted text) and its rejects."""
    from csvdock.targets import connect, parse_target

    with connect(parse_target(target)) as warehouse:
        rows = sorted(map(repr, warehouse.execute(f'SELECT * FROM "{table}"')))
        rejects = warehouse.execute(
            "SELECT line, code, raw FROM csvdock.rejects WHERE table_name = $1 ORDER BY line",
            [table],
        )
    return rows, rejects


def path_taken(timings: dict[str, float]) -> str:
    """Return how the file read from its source went (from its stages' timings)."""
    if "copy_records" in timings:
        return "refuted"  # the load rolled back and copied the records
    if "check_proposal" in timings:
        return "checked"  # Transform checked the types on every record first
    if "cast" in timings:
        return "copied by extract"  # a repair or a small file: no plan
    return "single pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=None, help="default: a DuckDB file of its own")
    parser.add_argument("--first-look", type=int, default=500)
    parser.add_argument("--files", type=int, default=0, help="the first N files (0: all)")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"no untuned corpus at {CORPUS}", file=sys.stderr)
        return 2
    import csvdock
    import csvdock.schema.detect as detect
    from csvdock.core.settings import load_settings

    logging.disable(logging.CRITICAL)
    detect.SAMPLE_ROWS = args.first_look
    files = sorted(CORPUS.glob("*.csv"))[: args.files or None]
    counts: dict[str, int] = {"same": 0, "differ": 0}
    differ: list[tuple[str, list[str]]] = []
    run = secrets.token_hex(3)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        target = args.target or f"duckdb:///{work / 'w.duckdb'}"
        for n, path in enumerate(files):
            seen: dict[str, tuple[Any, ...]] = {}
            for name, in_place in (("source", 0), ("copied", None)):
                settings = dataclasses.replace(
                    load_settings(),
                    target=target,
                    workspace=work / f"ws-{name}",
                    schemas_dir=work / f"schemas-{name}",
                    in_source_bytes=in_place,
                    report=False,
                )
                table = f"parity_{run}_{n}_{name}"
                (result,) = csvdock.ingest([path], table=table, settings=settings).files
                schema = json.loads(Path(result.schema_path or "").read_text(encoding="utf-8"))
                rows = loaded(target, table) if result.status == "loaded" else ([], [])
                seen[name] = (result.status, *rows, schema["columns"], result.timings or {})
            taken = path_taken(seen["source"][4])
            counts[taken] = counts.get(taken, 0) + 1
            parts = ("status", "rows", "rejects", "schema")
            unlike = [p for i, p in enumerate(parts) if seen["source"][i] != seen["copied"][i]]
            counts["differ" if unlike else "same"] += 1
            if unlike:
                differ.append((path.name, unlike))
    print(json.dumps({"files": len(files), "first_look_rows": args.first_look, **counts}))
    for name, unlike in differ:
        print(f"  {name}: {', '.join(unlike)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
