"""The ``csvdock`` command: a thin layer over the library; errors become one-line messages here.

Exit status: 0 every file loaded or skipped; 1 a file was quarantined or failed; 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from csvdock.config import EVOLUTION_POLICIES, load_settings
from csvdock.errors import CsvdockError
from csvdock.naming import split_table_name
from csvdock.registry import SchemaRegistry, diff
from csvdock.report_text import format_diff, format_schema
from csvdock.runs import RunSummary, new_run_id

EXIT_OK, EXIT_FILE_PROBLEM, EXIT_USAGE = 0, 1, 2


class UsageError(CsvdockError):
    """The command line asks for something that cannot be done."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``csvdock`` command."""
    parser = argparse.ArgumentParser(prog="csvdock", description="Load CSV files into a database.")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="load CSV files or folders of *.csv")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a CSV file or a folder")
    ingest.add_argument("--table", help="target table (TABLE or SCHEMA.TABLE); default: file stem")
    ingest.add_argument("--target", help="duckdb:///PATH or postgresql://... (default: luigi.cfg)")
    ingest.add_argument("--json", action="store_true", help="print only the run summary as JSON")
    ingest.add_argument("--workers", type=int, default=1, help="Luigi workers (default 1)")
    ingest.add_argument("--scheduler-url", help="central luigid scheduler, e.g. http://host:8082")
    ingest.add_argument(
        "--evolution",
        choices=EVOLUTION_POLICIES,
        help="schema evolution policy for this run (default: luigi.cfg, else evolve)",
    )
    schema = commands.add_parser("schema", help="inspect the schema registry")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True)
    show = schema_commands.add_parser("show", help="print a table's latest schema version")
    show.add_argument("table")
    show.add_argument("--version", type=int, help="a version other than the latest")
    diff = schema_commands.add_parser("diff", help="print what changed between two versions")
    diff.add_argument("table")
    diff.add_argument("a", type=int, metavar="A")
    diff.add_argument("b", type=int, metavar="B")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(quiet=getattr(args, "json", False))
    try:
        if args.command == "ingest":
            return _ingest(args)
        if args.command == "schema":
            print(schema_command(args))
            return EXIT_OK
    except CsvdockError as exc:
        print(f"csvdock: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def expand_paths(paths: list[str]) -> list[Path]:
    """Return the CSV files named by ``paths`` (a folder gives its ``*.csv``, sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
            if not found:
                raise UsageError(f"no *.csv files in folder {raw}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {raw}")
    return files


def _ingest(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.table:
        try:
            split_table_name(args.table)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    files = expand_paths(args.paths)
    settings = load_settings().with_overrides(target=args.target)
    from luigi_tasks.runner import run_ingest  # Luigi stays out of the library's import graph

    options = {"evolution": args.evolution} if args.evolution else {}
    summary = run_ingest(
        files,
        settings,
        new_run_id(),
        table=args.table or "",
        options=options,
        scheduler_url=args.scheduler_url,
        workers=args.workers,
    )
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(human_summary(summary))
    return EXIT_OK if summary.ok else EXIT_FILE_PROBLEM


def schema_command(args: argparse.Namespace) -> str:
    """Return the text of ``csvdock schema show|diff``."""
    settings = load_settings()
    registry = SchemaRegistry(settings.schemas_dir)
    try:
        schema_name, name = split_table_name(args.table)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    table = f"{schema_name}.{name}" if schema_name else name
    if not registry.versions(table):
        raise UsageError(f"table {table!r} has no schema in {settings.schemas_dir}")
    if args.schema_command == "show":
        version = args.version or registry.versions(table)[-1]
        return format_schema(registry.read(table, version))
    return format_diff(
        table, args.a, args.b, diff(registry.read(table, args.a), registry.read(table, args.b))
    )


def human_summary(summary: RunSummary) -> str:
    """Return a short readable account of a run."""
    lines = [f"run {summary.run_id} ({summary.mode}) into {summary.target}"]
    for f in summary.files:
        counts = f"{f.rows_read} read, {f.rows_loaded} loaded, {f.rows_rejected} rejected"
        version = f" (schema v{f.schema_version})" if f.schema_version else ""
        lines.append(f"  {f.status:<11} {f.path} -> {f.table}{version}: {counts}")
        if f.rejects_path:
            lines.append(f"              rejects: {f.rejects_path}")
        if f.reason:
            lines.append(f"              reason: {f.reason}")
    totals: dict[str, Any] = {}
    for f in summary.files:
        totals[f.status] = totals.get(f.status, 0) + 1
    lines.append("  " + ", ".join(f"{n} {status}" for status, n in sorted(totals.items())))
    return "\n".join(lines)


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


if __name__ == "__main__":
    sys.exit(main())
