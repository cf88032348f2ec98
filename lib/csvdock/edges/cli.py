"""The ``csvdock`` command: a thin layer over the library; errors become one-line messages here.

Exit status: 0 every file loaded or skipped; 1 a file was quarantined or failed; 2 usage or
configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from csvdock.core.errors import CsvdockError
from csvdock.core.logs import configure_logging, set_run_id
from csvdock.core.runs import RunSummary, new_run_id, valid_run_id
from csvdock.core.settings import Settings, load_settings
from csvdock.core.workspace import Workspace
from csvdock.edges.parser import build_parser
from csvdock.pipeline.run import (
    UsageError,
    default_workers,
    expand_paths,
    ingest,
    normalised_table,
    run_options,
)
from csvdock.rejects.deadletter import read_dead_letters
from csvdock.rejects.replay import replay
from csvdock.report.progress import Progress
from csvdock.report.text import format_diff, format_schema, format_table
from csvdock.schema.registry import SchemaRegistry, diff

EXIT_OK, EXIT_FILE_PROBLEM, EXIT_USAGE = 0, 1, 2


Command = Callable[[argparse.Namespace, Settings], int]


def _printed(text_of: Callable[[argparse.Namespace, Settings], str]) -> Command:
    """Return a command that prints what ``text_of`` returns and exits 0."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        print(text_of(args, settings))
        return EXIT_OK

    return command


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()  # read once, here; every command gets them from here
        log_file = settings.workspace / "logs" / "csvdock.log"
        configure_logging(settings.log_level, log_file, quiet=getattr(args, "json", False))
        commands = {
            "ingest": _ingest,
            "deadletter": _printed(deadletter_show),
            "replay": _replay,
            "serve": _serve,
            "watch": _watch,
            "schema": _printed(schema_command),
            "consume": _consume,
        }
        return commands[args.command](args, settings)
    except CsvdockError as exc:
        print(f"csvdock: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the workspace cannot be written: disk full, read-only
        where = f": {exc.filename}" if exc.filename else ""
        print(f"csvdock: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FILE_PROBLEM


def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from csvdock.edges.consume import ConsumeOptions, ConsumerStopped, consume

    settings = settings.with_overrides(target=args.target)
    columns = tuple(c.strip() for c in args.columns.split(",")) if args.columns else ()
    given = {
        "mode": args.mode,
        "delimiter": _unescape_char(args.delimiter),
        "quote": args.quote,
        "escape": args.escape,
    }
    options = ConsumeOptions(
        bootstrap_servers=args.bootstrap_servers,
        topic=args.topic,
        table=normalised_table(args.table, settings.target),
        group=args.group,
        message=args.message,
        columns=columns,
        batch_rows=args.batch_rows,
        batch_seconds=args.batch_seconds,
        until_idle=args.until_idle,
        session_timeout_ms=args.session_timeout_ms,
        ingest_options=run_options(settings, **given),
    )
    progress = None
    if sys.stderr.isatty() and not args.json:
        # The progress line replaces INFO lines on the terminal; the log file keeps them all.
        configure_logging(settings.log_level, settings.workspace / "logs" / "csvdock.log", True)

        def progress(line: str) -> None:
            print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)

    try:
        summary = consume(options, settings, progress)
    except ConsumerStopped as exc:
        print(f"csvdock: error: {exc}", file=sys.stderr)
        return EXIT_FILE_PROBLEM
    finally:
        if progress is not None:
            print(file=sys.stderr)
    return _report(summary, args.json)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.run_id and not valid_run_id(args.run_id):
        raise UsageError(f"invalid run id {args.run_id!r}")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    table = normalised_table(args.table) if args.table else None
    files = expand_paths(args.paths)
    if args.scheduler_url:
        check_scheduler(args.scheduler_url)
    settings = settings.with_overrides(target=args.target)
    options = ingest_options(args, settings)
    run_id = args.run_id or new_run_id()
    set_run_id(run_id)
    progress: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if sys.stderr.isatty() and not args.json:
        sizes = {str(f): f.stat().st_size for f in files}
        # The progress line replaces INFO lines on the terminal; the log file keeps them all.
        configure_logging(settings.log_level, settings.workspace / "logs" / "csvdock.log", True)
        progress = Progress(Workspace(settings.workspace).run_dir(run_id) / "files", sizes)
    with progress:
        summary = ingest(
            files,
            table,
            settings=settings,
            run_id=run_id,
            workers=args.workers or default_workers(files, settings, args.scheduler_url),
            scheduler_url=args.scheduler_url,
            isolate=isolated_tasks(files),
            split_tables=args.split_tables,
            **options,
        )
    return _report(summary, args.json)


ISOLATE_FROM_BYTES = 16 * 1024 * 1024  # a run holding a file this large forks per task


def isolated_tasks(files: list[Path]) -> bool:
    """Return whether the CLI runs each Luigi task in a forked process: when the run holds a
    file of ``ISOLATE_FROM_BYTES`` or more (each stage's memory goes back to the system when it
    ends). Small files stay in one process: a fork per task costs more than their work. The
    test suite, which runs the CLI inside its own process, sets ``CSVDOCK_ISOLATE_TASKS=false``."""
    if os.environ.get("CSVDOCK_ISOLATE_TASKS", "true").lower() == "false":
        return False
    return any(f.stat().st_size >= ISOLATE_FROM_BYTES for f in files)


def check_scheduler(url: str) -> None:
    """Raise ``UsageError`` unless ``url`` is an http(s) URL where a Luigi scheduler answers."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--scheduler-url {url!r}: use http://HOST:PORT (luigid's address)")
    ping = url.rstrip("/") + "/api/task_list?data=%7B%22status%22%3A%22RUNNING%22%7D"
    try:
        with urllib.request.urlopen(ping, timeout=5) as response:
            json.loads(response.read())
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UsageError(f"no Luigi scheduler answers at {url}: {reason}") from None


def _report(summary: RunSummary, as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(human_summary(summary))
    return EXIT_OK if summary.ok else EXIT_FILE_PROBLEM


def ingest_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Return the per-run setting overrides given on the ingest command line (validated)."""
    options: dict[str, Any] = {
        "evolution": args.evolution,
        "mode": args.mode,
        "delimiter": _unescape_char(args.delimiter),
        "quote": args.quote,
        "escape": args.escape,
        "encoding": args.encoding,
        "header": False if args.no_header else None,
        "max_rejects": args.max_rejects,
        "max_reject_ratio": args.max_reject_ratio,
    }
    return run_options(settings, **options)


def _unescape_char(value: str | None) -> str | None:
    aliases = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    return aliases.get(value, value) if value is not None else None


def deadletter_show(args: argparse.Namespace, settings: Settings) -> str:
    """Return the text of ``csvdock deadletter show``."""
    settings = settings.with_overrides(target=args.target)
    table = normalised_table(args.table, settings.target)
    letters = read_dead_letters(Workspace(settings.workspace), table, settings.target)
    if args.run:
        letters = letters.filter(pl.col("run_id") == args.run)
    if not args.all:
        letters = letters.filter(pl.col("replayed_in").is_null())
    if letters.is_empty():
        return f"{table}: no rejected records" + ("" if args.all else " waiting for replay")
    rows = [
        [
            r["run_id"],
            r["file"] if "://" in r["file"] else Path(r["file"]).name,  # a stream keeps its name
            str(r["line"]),
            r["stage"],
            r["code"] or "",
            r["column"] or "",
            r["reason"],
            _short(r["raw"]),
            r["replayed_in"] or "",
        ]
        for r in letters.iter_rows(named=True)
    ]
    headers = ["run", "file", "line", "stage", "code", "column", "reason", "raw", "replayed in"]
    return f"{table}: {letters.height} rejected records\n" + format_table(headers, rows)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    replay_id = new_run_id()
    set_run_id(replay_id)
    table = normalised_table(args.table, args.target or settings.target)
    summary = replay(table, args.target, run=args.run, settings=settings, run_id=replay_id)
    return _report(summary, args.json)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.api_token:
        raise UsageError(
            "the API needs a token: set CSVDOCK_API_TOKEN or api_token in luigi.cfg [csvdock]"
        )
    import uvicorn

    from csvdock.edges.api import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    inbox = Path(args.inbox)
    if not inbox.is_dir():
        raise UsageError(f"no such folder: {args.inbox}")
    settings = settings.with_overrides(target=args.target)
    table = normalised_table(args.table, settings.target) if args.table else ""
    from csvdock.edges.watch import watch
    from csvdock.read.extract import file_sha256
    from csvdock.rejects.quarantine import quarantine_file
    from csvdock.report.kernel import kernel_kept_warm

    def ingest_arrived(files: list[Path]) -> RunSummary:
        run_id = new_run_id()
        set_run_id(run_id)
        summary = ingest(files, table or None, mode=args.mode, settings=settings, run_id=run_id)
        print(human_summary(summary), flush=True)
        return summary

    def dead_letter(path: Path, reason: str) -> None:
        quarantine_file(Workspace(settings.workspace), path, file_sha256(path), reason)
        path.unlink()

    # One report kernel for every arrival's run (each would start its own: ~2 s a run).
    kernel_log = Path(settings.workspace) / "logs" / "kernel.log"
    with kernel_kept_warm(kernel_log) if settings.report else contextlib.nullcontext():
        watch(inbox, ingest_arrived, dead_letter, retry_delay=settings.retry_delay)
    return EXIT_OK


def _short(text: str, limit: int = 60) -> str:
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def schema_command(args: argparse.Namespace, settings: Settings) -> str:
    """Return the text of ``csvdock schema show|diff``."""
    registry = SchemaRegistry(settings.schemas_dir)
    table = normalised_table(args.table, settings.target)
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
        if f.lines_outside_table:
            reasons = sorted({span["reason"] for span in f.outside_table or []})
            lines.append(
                f"              {f.lines_outside_table} line(s) outside the table: "
                + ", ".join(reasons)
            )
        if f.dialect and f.dialect.get("header_mended"):
            lines.append(f"              header mended: {f.dialect['header_mended']}")
        for column in f.columns or []:
            lines.append(f"              column {column['name']}: {column['decision']}")
        if f.rejects_path:
            lines.append(f"              rejects: {f.rejects_path}")
        if f.reason:
            lines.append(f"              reason: {f.reason}")
    totals: dict[str, Any] = {}
    for f in summary.files:
        totals[f.status] = totals.get(f.status, 0) + 1
    lines.append("  " + ", ".join(f"{n} {status}" for status, n in sorted(totals.items())))
    for name, path in (summary.reports or {}).items():
        lines.append(f"  report {name}: {path}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
