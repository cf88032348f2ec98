"""The ``csvdock`` command's arguments: one function per subcommand, help and an example each."""

from __future__ import annotations

import argparse

from csvdock.core.settings import EVOLUTION_POLICIES, MODES

Commands = argparse._SubParsersAction  # the subcommands of a parser


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``csvdock`` command."""
    parser = argparse.ArgumentParser(
        prog="csvdock",
        description="Load CSV files into a database.",
        epilog="example: csvdock ingest data/ --target postgresql://user@localhost/db",
    )
    parser.add_argument("--version", action="version", version=f"csvdock {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        _add_ingest,
        _add_deadletter,
        _add_replay,
        _add_serve,
        _add_watch,
        _add_consume,
        _add_schema,
    ):
        add_command(commands)
    return parser


def _add_ingest(commands: Commands) -> None:
    """Add ``csvdock ingest``."""
    ingest = commands.add_parser(
        "ingest",
        help="load CSV files or folders of *.csv",
        epilog="examples:\n  csvdock ingest users.csv\n"
        "  csvdock ingest data/ --table sales --target postgresql://user@localhost/db --mode elt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a CSV file or a folder")
    ingest.add_argument("--table", help="target table (TABLE or SCHEMA.TABLE); default: file stem")
    ingest.add_argument("--target", help="duckdb:///PATH or postgresql://... (default: luigi.cfg)")
    ingest.add_argument("--json", action="store_true", help="print only the run summary as JSON")
    ingest.add_argument(
        "--workers",
        type=int,
        help="Luigi workers (default 1; a run of 100 or more small files: a process per core, "
        "up to 4, each with 50 files or more)",
    )
    ingest.add_argument("--scheduler-url", help="central luigid scheduler, e.g. http://host:8082")
    ingest.add_argument("--run-id", help=argparse.SUPPRESS)  # set by the upload API
    ingest.add_argument(
        "--evolution",
        choices=EVOLUTION_POLICIES,
        help="schema evolution policy for this run (default: luigi.cfg, else evolve)",
    )
    ingest.add_argument(
        "--mode",
        choices=MODES,
        help="etl: cast with Polars, then load; elt: load raw, cast with SQL in the target",
    )
    dialect = ingest.add_argument_group("dialect (sniffed when not given)")
    dialect.add_argument("--delimiter", help="field delimiter, e.g. ';' or 'tab'")
    dialect.add_argument("--quote", help="quote character")
    dialect.add_argument("--escape", help="escape character (default: the quote, doubled)")
    dialect.add_argument("--encoding", help="e.g. cp1252 (default: UTF-8, else detected)")
    dialect.add_argument("--no-header", action="store_true", help="the files have no header row")
    dialect.add_argument(
        "--split-tables",
        action="store_true",
        help="load a file's second and later tables too, into TABLE_2, TABLE_3... "
        "(default: report them as lines outside the table)",
    )
    limits = ingest.add_argument_group("error thresholds (quarantine the whole file when over)")
    limits.add_argument("--max-rejects", type=int, help="most rejected records a file may have")
    limits.add_argument("--max-reject-ratio", type=float, help="largest share, e.g. 0.01")


def _add_deadletter(commands: Commands) -> None:
    """Add ``csvdock deadletter show``."""
    dead_commands = _group(commands, "deadletter", "the rejected records of a table")
    dead_show = _command(
        dead_commands,
        "show",
        "list a table's rejected records",
        "csvdock deadletter show users --target duckdb:///warehouse.duckdb",
    )
    dead_show.add_argument("table", metavar="TABLE", help="the table (TABLE or SCHEMA.TABLE)")
    dead_show.add_argument("--run", help="only this run's")
    dead_show.add_argument("--all", action="store_true", help="include replayed records")
    dead_show.add_argument("--target", help="the target whose dead letters to show (as for ingest)")


def _add_replay(commands: Commands) -> None:
    """Add ``csvdock replay``."""
    replay = commands.add_parser(
        "replay",
        help="re-ingest a table's rejected records",
        epilog="example: edit raw in the dead-letter CSV, then: "
        "csvdock replay users --target duckdb:///warehouse.duckdb",
    )
    replay.add_argument("table", metavar="TABLE", help="the table whose dead letters to replay")
    replay.add_argument("--run", help="only the records rejected in this run")
    replay.add_argument("--target", help="as for ingest")
    replay.add_argument("--json", action="store_true", help="print only the run summary as JSON")


def _add_serve(commands: Commands) -> None:
    """Add ``csvdock serve``."""
    serve = _command(
        commands,
        "serve",
        "run the upload API (FastAPI + uvicorn)",
        "CSVDOCK_API_TOKEN=secret csvdock serve --port 8000",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default local)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def _add_watch(commands: Commands) -> None:
    """Add ``csvdock watch``."""
    watch = _command(
        commands,
        "watch",
        "ingest each CSV that lands in a folder",
        "csvdock watch inbox/ --table sales",
    )
    watch.add_argument("inbox", metavar="INBOX", help="the folder to watch (processed/ inside)")
    watch.add_argument("--table", help="target table (default: each file's stem)")
    watch.add_argument("--target", help="as for ingest")
    watch.add_argument("--mode", choices=MODES, help="as for ingest")


def _add_consume(commands: Commands) -> None:
    """Add ``csvdock consume``."""
    consume = commands.add_parser(
        "consume",
        help="load CSV records (or files) from a Kafka topic, exactly once",
        epilog="example: csvdock consume --bootstrap-servers localhost:9092 --topic orders "
        "--table orders --until-idle 10",
    )
    consume.add_argument(
        "--bootstrap-servers", required=True, metavar="HOST:PORT", help="the Kafka broker(s)"
    )
    consume.add_argument("--topic", required=True, help="the topic to read")
    consume.add_argument("--table", required=True, help="TABLE or SCHEMA.TABLE")
    consume.add_argument("--target", help="as for ingest")
    consume.add_argument("--group", help="consumer group (default: csvdock-TABLE)")
    consume.add_argument(
        "--message",
        choices=("record", "file"),
        default="record",
        help="record: a message is one CSV record (no header); file: a whole CSV file",
    )
    consume.add_argument("--columns", help="a,b,c (default: the table's latest schema version)")
    consume.add_argument("--batch-rows", type=int, default=100_000, help="default 100000")
    consume.add_argument("--batch-seconds", type=float, default=5.0, help="default 5")
    consume.add_argument(
        "--until-idle",
        type=float,
        metavar="SECONDS",
        help="exit 0 after this long without a message",
    )
    consume.add_argument("--mode", choices=MODES, help="as for ingest")
    consume.add_argument("--json", action="store_true", help="print only the summary as JSON")
    consume.add_argument("--delimiter", help="as for ingest (default: luigi.cfg, else ',')")
    consume.add_argument("--quote", help="as for ingest (default '\"')")
    consume.add_argument("--escape", help="as for ingest (default: the quote, doubled)")
    consume.add_argument("--session-timeout-ms", type=int, default=10_000, help=argparse.SUPPRESS)


def _add_schema(commands: Commands) -> None:
    """Add ``csvdock schema show`` and ``csvdock schema diff``."""
    schema_commands = _group(commands, "schema", "inspect the schema registry")
    show = _command(
        schema_commands,
        "show",
        "print a table's latest schema version",
        "csvdock schema show users",
    )
    show.add_argument("table", metavar="TABLE", help="the table")
    show.add_argument("--version", type=int, help="a version other than the latest")
    diff = _command(
        schema_commands,
        "diff",
        "print what changed between two versions",
        "csvdock schema diff users 1 2",
    )
    diff.add_argument("table", metavar="TABLE", help="the table")
    diff.add_argument("a", type=int, metavar="A", help="the older version")
    diff.add_argument("b", type=int, metavar="B", help="the newer version")


def _command(commands: Commands, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """Add the subcommand ``name``: its one-line help, and an example under its --help."""
    return commands.add_parser(name, help=summary, epilog=f"example: {example}")


def _group(commands: Commands, name: str, summary: str) -> Commands:
    """Add the command ``name`` with subcommands of its own (``args.<name>_command``)."""
    group = commands.add_parser(name, help=summary)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csvdock")
    except PackageNotFoundError:
        return "unknown"
