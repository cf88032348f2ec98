"""A run: the files, the settings, the run id; handed to an orchestrator that runs the stages.

``ingest`` is the library's front door (re-exported as ``csvdock.ingest``); the CLI, the upload
API, watch mode and scripts all call it. The orchestrator is found by name among the
``csvdock.orchestrators`` entry points: csvdock registers ``luigi`` (``luigi_tasks.runner``), so
the library itself never imports Luigi.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from csvdock.core.errors import ConfigError, CsvdockError
from csvdock.core.naming import split_table_name, table_name_from_stem
from csvdock.core.runs import RunSummary, new_run_id, valid_run_id
from csvdock.core.settings import Evolution, Mode, Settings, load_settings
from csvdock.core.workspace import Workspace

ORCHESTRATOR_GROUP = "csvdock.orchestrators"
OWN_ORCHESTRATOR = ("luigi", "luigi_tasks.runner:run_plan")  # as pyproject.toml registers it
DEFAULT_ORCHESTRATOR = "luigi"
# A run of many small files takes a process per core by default (``default_workers``), each
# with at least this many files (forking and opening the target cost more than fewer save),
# and at most this many processes (each holds its own libraries: about 300 MB).
FILES_PER_DEFAULT_WORKER = 50
MAX_DEFAULT_WORKERS = 4


class UsageError(CsvdockError):
    """The call asks for something that cannot be done (no such file, a bad table name)."""


@dataclass(frozen=True)
class RunPlan:
    """Everything an orchestrator needs to run one ingest."""

    files: list[Path]
    settings: Settings  # read once at the edge, the target applied
    run_id: str
    table: str = ""  # "" : each file's stem
    options: dict[str, Any] = field(default_factory=dict)  # per-run TableSettings overrides
    workers: int = 1
    scheduler_url: str | None = None
    isolate: bool = False  # each task in a forked process (only from a process without Polars)
    file_tables: dict[str, str] = field(default_factory=dict)  # a file's own table, by path


class Orchestrator(Protocol):
    """Runs a plan's stages and returns the run's summary (also written to the run's folder).
    Never raises for a file: a file that could not be loaded is ``failed`` in the summary."""

    def __call__(self, plan: RunPlan) -> RunSummary: ...


def ingest(
    paths: str | Path | Iterable[str | Path],
    table: str | None = None,
    target: str | None = None,
    mode: Mode | None = None,
    evolution: Evolution | None = None,
    *,
    settings: Settings | None = None,
    run_id: str | None = None,
    workers: int = 1,
    scheduler_url: str | None = None,
    isolate: bool = False,
    orchestrator: str | Orchestrator = DEFAULT_ORCHESTRATOR,
    split_tables: bool = False,
    **dialect: Any,
) -> RunSummary:
    """Load CSV files into a table, each file in one transaction; return the run's summary.

    ``paths``: files, or folders (their ``*.csv``). ``table``: TABLE or SCHEMA.TABLE (default:
    each file's stem). ``target``: ``duckdb:///PATH`` or ``postgresql://...`` (default: the
    settings'). ``mode``: ``"etl"`` (cast with Polars) or ``"elt"`` (cast with SQL in the
    target). ``evolution``: ``"evolve"``, ``"freeze"`` or ``"discard_columns"``. ``dialect``:
    ``delimiter``, ``quote``, ``escape``, ``encoding``, ``header`` and the reject thresholds
    ``max_rejects``, ``max_reject_ratio`` (each sniffed or defaulted when not given).

    ``split_tables``: a file's second and later tables (after a blank line) are loaded too, into
    ``TABLE_2``, ``TABLE_3``... (by default they are reported as lines outside the table).
    ``settings`` default to luigi.cfg and the environment, read once here. A file that cannot be
    loaded does not raise: its ``FileResult.status`` says ``failed`` or ``quarantined`` and
    ``summary.ok`` is false. Bad arguments raise ``ConfigError`` or ``UsageError``.

    >>> summary = csvdock.ingest("demo/users.csv", table="users")   # doctest: +SKIP
    >>> summary.ok, summary.files[0].rows_loaded, summary.rejects().height   # doctest: +SKIP
    """
    settings = (settings or load_settings()).with_overrides(target=target)
    options = run_options(settings, mode=mode, evolution=evolution, **dialect)
    if run_id is not None and not valid_run_id(run_id):
        raise UsageError(f"invalid run id {run_id!r}")
    if workers < 1:
        raise UsageError("workers must be at least 1")
    files = expand_paths(paths)
    file_tables: dict[str, str] = {}
    if split_tables:
        job = (files, settings.with_overrides(**options), table)
        if isolate:  # the tasks fork later: keep Polars and DuckDB out of this process
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                files, file_tables = pool.submit(with_split_tables, *job).result()
        else:
            files, file_tables = with_split_tables(*job)
    plan = RunPlan(
        files=files,
        file_tables=file_tables,
        settings=settings,
        run_id=run_id or new_run_id(),
        table=normalised_table(table, settings.target) if table else "",
        options=options,
        workers=workers,
        scheduler_url=scheduler_url,
        isolate=isolate,
    )
    with _reports_kernel(plan):
        run = find_orchestrator(orchestrator) if isinstance(orchestrator, str) else orchestrator
        return run(plan)


def default_workers(files: list[Path], settings: Settings, scheduler_url: str | None) -> int:
    """Return the workers of a run that asks for none: one, or, for a run of many small files
    (each at most ``small_file_bytes``) on the local scheduler, a process per available core,
    each with at least ``FILES_PER_DEFAULT_WORKER`` files (at most ``MAX_DEFAULT_WORKERS``).
    Such a run's work is a few tens of milliseconds a file, all of it on one core otherwise
    (200 files of 100 records, two cores: 13.7 s with one worker, 10.4 s with two). A central
    scheduler's run keeps one: its workers are luigid's to scale."""
    if scheduler_url or len(files) < 2 * FILES_PER_DEFAULT_WORKER:
        return 1
    try:
        if any(f.stat().st_size > settings.small_file_bytes for f in files):
            return 1
    except OSError:
        return 1  # (the run reports the file it cannot read)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, len(files) // FILES_PER_DEFAULT_WORKER, MAX_DEFAULT_WORKERS))


def _reports_kernel(plan: RunPlan) -> contextlib.AbstractContextManager[None]:
    """Start the kernel of the run's reports now, before the orchestrator is imported (0.2 s
    of a tiny run's wait for the kernel), when the run makes reports."""
    if not plan.settings.report:
        return contextlib.nullcontext()
    from csvdock.core.workspace import Workspace
    from csvdock.report.kernel import warm_kernel_for_run
    from csvdock.report.notebooks import KERNEL_LOG

    return warm_kernel_for_run(Workspace(plan.settings.workspace).run_dir(plan.run_id) / KERNEL_LOG)


def with_split_tables(
    files: list[Path], settings: Settings, table: str | None
) -> tuple[list[Path], dict[str, str]]:
    """Return ``files`` with each one's later tables after it (written to the workspace), and
    the table of each part: the file's table with ``_2``, ``_3``... appended."""
    from csvdock.read.extract import file_sha256  # the reader's modules load on demand
    from csvdock.read.split import split_tables

    out: list[Path] = []
    tables: dict[str, str] = {}
    for path in files:
        out.append(path)
        base = (
            normalised_table(table, settings.target) if table else table_name_from_stem(path.stem)
        )
        folder = Workspace(settings.workspace).root / "split" / file_sha256(path)
        for number, part in enumerate(split_tables(path, settings.for_table(base), folder), 2):
            out.append(part)
            tables[str(part)] = f"{base}_{number}"
    return out, tables


DIALECT_OPTIONS = (
    "delimiter",
    "quote",
    "escape",
    "encoding",
    "header",
    "max_rejects",
    "max_reject_ratio",
)


def run_options(settings: Settings, **given: Any) -> dict[str, Any]:
    """Return the per-run setting overrides among ``given`` (None: not given), validated
    against ``settings``; raise ``ConfigError`` on an unknown or bad one."""
    unknown = sorted(set(given) - {"mode", "evolution", *DIALECT_OPTIONS})
    if unknown:
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}")
    options = {key: value for key, value in given.items() if value is not None}
    settings.with_overrides(**options)  # raises ConfigError on a bad value
    return options


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Return the CSV files named by ``paths`` (a folder gives its ``*.csv``, sorted)."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    if not given:
        raise UsageError("no files given")
    files: list[Path] = []
    for raw in given:
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


# csvdock's own schemas and the databases' catalogs: never a target table's schema.
RESERVED_SCHEMAS = ("csvdock", "csvdock_staging", "information_schema", "temp", "system")


def normalised_table(raw: str, target: str | None = None) -> str:
    """Return a TABLE or SCHEMA.TABLE name as csvdock stores it (one name per table: the
    ``target``'s default schema is left out, so ``x``, ``public.x`` and ``main.x`` are one
    table and one ledger key); ``UsageError`` if unusable or in a reserved schema (csvdock's
    own metadata, ``information_schema``, ``pg_*``)."""
    try:
        schema_name, name = split_table_name(raw)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if schema_name and (schema_name in RESERVED_SCHEMAS or schema_name.startswith("pg_")):
        raise UsageError(
            f"table {raw!r} is in schema {schema_name!r}, which holds csvdock's own metadata or "
            "the database's catalog: choose another schema"
        )
    if schema_name and target:
        from csvdock.targets import default_schema_of

        if schema_name == default_schema_of(target):
            schema_name = None
    return f"{schema_name}.{name}" if schema_name else name


def find_orchestrator(name: str) -> Orchestrator:
    """Return the orchestrator registered as ``name`` in the ``csvdock.orchestrators`` entry
    points (csvdock's own, ``luigi``, imported directly where it is installed: reading every
    package's entry points costs a tiny run 25 ms)."""
    if name == OWN_ORCHESTRATOR[0]:
        with contextlib.suppress(ModuleNotFoundError):
            module, function = OWN_ORCHESTRATOR[1].split(":")
            own: Orchestrator = getattr(importlib.import_module(module), function)
            return own
    found = [ep for ep in entry_points(group=ORCHESTRATOR_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(
            f"no orchestrator {name!r} is installed (entry point group {ORCHESTRATOR_GROUP}); "
            "install csvdock with pip so that its Luigi orchestrator is registered"
        )
    orchestrator: Orchestrator = found[0].load()
    return orchestrator
