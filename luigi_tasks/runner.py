"""The Luigi orchestrator: runs a ``RunPlan`` (from ``csvdock.ingest``) as Luigi tasks and turns
the outcome into the run summary. Registered as the ``luigi`` entry point of
``csvdock.orchestrators``."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import luigi
from csvdock.core.runs import FAILED, FileResult, RunSummary, mark_started, run_mode
from csvdock.core.settings import Settings
from csvdock.core.workspace import Workspace
from csvdock.pipeline.run import RunPlan
from csvdock.read.scratch import SCRATCH_THREADS_ENV
from csvdock.targets import Target, held_open, parse_target

from luigi_tasks.runs import PLAN_FILE, RUNNER_ENV, IngestRun, Report, write_reports
from luigi_tasks.tasks import IngestFile, resolve_table, using_settings

log = logging.getLogger("csvdock")


def run_plan(plan: RunPlan) -> RunSummary:
    """Ingest the plan's files as one run (IngestRun, then Report when reports are on) and return
    its summary, also written to the run's folder. Never raises for a file: a file whose tasks
    crashed is ``failed`` with the reason its task recorded."""
    with using_settings(plan.settings):
        return run_ingest(
            plan.files,
            plan.settings,
            plan.run_id,
            plan.table,
            plan.options,
            plan.scheduler_url,
            plan.workers,
            plan.isolate,
            plan.file_tables,
        )


def run_ingest(
    files: list[Path],
    settings: Settings,
    run_id: str,
    table: str = "",
    options: dict[str, Any] | None = None,
    scheduler_url: str | None = None,
    workers: int = 1,
    isolate: bool = False,
    file_tables: dict[str, str] | None = None,
) -> RunSummary:
    """Run ``files`` as one run through Luigi (see ``run_plan``)."""
    # This process makes the run's summary: its tasks (forked ones inherit it) leave it alone.
    before = os.environ.get(RUNNER_ENV)
    os.environ[RUNNER_ENV] = "1"
    try:
        return _run_ingest(
            files, settings, run_id, table, options, scheduler_url, workers, isolate, file_tables
        )
    finally:
        if before is None:
            os.environ.pop(RUNNER_ENV, None)


def _run_ingest(
    files: list[Path],
    settings: Settings,
    run_id: str,
    table: str,
    options: dict[str, Any] | None,
    scheduler_url: str | None,
    workers: int,
    isolate: bool,
    file_tables: dict[str, str] | None,
) -> RunSummary:
    mark_started(Workspace(settings.workspace).run_dir(run_id))
    if _loads_in_turns(settings, workers, isolate, len(files)):
        # Each file's three tasks, so that a process can prepare its files before it takes
        # the DuckDB file for their loads (``_build_chunk``).
        options = {**(options or {}), "small_file_bytes": 0}
    params: dict[str, Any] = {
        "paths": [str(p) for p in files],
        "run_id": run_id,
        "table": table,
        "target": settings.target,
        "options": options or {},
        "tables": file_tables or {},
    }
    ingest = IngestRun(**params)
    file_tasks = ingest.requires()
    top = Report(**params) if settings.report else ingest
    build_options: dict[str, Any] = {"detailed_summary": False}
    if scheduler_url:
        build_options["scheduler_url"] = scheduler_url
    else:
        build_options["local_scheduler"] = True
    # csvdock configured logging already (run id on every line); Luigi must not add its own.
    config = luigi.configuration.get_config()
    config.set("core", "no_configure_logging", "true")
    workspace = Workspace(settings.workspace)
    # The reports' kernel boots while the files load: ``csvdock.ingest`` started it.
    if isolate:
        # Each task in its own (forked) process: its memory goes back to the system when
        # it ends, so a run's peak is one stage's, not the sum of every library's caches.
        # Forking is only safe from a process that has not run Polars yet (the CLI's).
        config.set("worker", "force_multiprocessing", "true")
        luigi.build(file_tasks, workers=workers, **build_options)
        files_done = all(_has_result(task) for task in file_tasks)
    else:
        files_done = _build_files(file_tasks, settings, workers, build_options)
    # The run's summary and reports in this process (the reports on the warm kernel); when
    # a file has no result, Luigi would run its tasks again: the summary is made below.
    config.set("worker", "force_multiprocessing", "false")
    if files_done:
        luigi.build([top], workers=1, **build_options)
    summary_path = workspace.run_dir(run_id) / "summary.json"
    if not summary_path.exists():
        # A task crashed, so IngestRun could not run: assemble the summary here (its
        # reports on the same warm kernel).
        results = [_file_result(task, workspace) for task in file_tasks]
        target = parse_target(settings.target).display
        RunSummary(run_id, run_mode(results), target, results).write(summary_path.parent)
        if settings.report:
            write_reports(summary_path, settings)
    return RunSummary.read(summary_path)


CHUNK_FILES = 50  # files per luigi.build: its scheduler's time grows with the square of its tasks
_chunks: list[list[IngestFile]] = []  # what a forked worker process builds, by index
_chunk_options: dict[str, Any] = {}
_chunk_target: Target | None = None  # a DuckDB file each process loads into in turns


def _build_files(
    files: list[IngestFile], settings: Settings, workers: int, build_options: dict[str, Any]
) -> bool:
    """Build every file's tasks without forking a process per task (small files), in chunks of
    ``CHUNK_FILES``: in this process (the DuckDB warehouse held open for the run), or with
    ``workers`` > 1 in that many forked processes, each taking the next chunk and building it
    with one Luigi worker (imports and connections are paid once per process, not per task).
    Return whether every file has its result (else a task crashed or failed)."""
    global _chunks, _chunk_options, _chunk_target
    size = max(1, min(CHUNK_FILES, -(-len(files) // workers)))
    _chunks = [files[i : i + size] for i in range(0, len(files), size)]
    _chunk_options = build_options
    if _loads_in_turns(settings, workers, False, len(files)):
        _chunk_target = parse_target(settings.target)
    try:
        if workers == 1 or len(_chunks) == 1:
            with held_open(parse_target(settings.target)):
                for index in range(len(_chunks)):
                    _build_chunk(index)
        else:
            processes = min(workers, len(_chunks))
            context = multiprocessing.get_context("fork")
            with context.Pool(processes, _one_thread_each, (processes,)) as pool:
                list(pool.imap_unordered(_build_chunk, range(len(_chunks))))
    finally:
        _chunks, _chunk_options, _chunk_target = [], {}, None
    return all(_has_result(task) for task in files)


def _loads_in_turns(settings: Settings, workers: int, isolate: bool, files: int) -> bool:
    """Whether the run's processes load into a DuckDB file in turns, each holding it for a
    chunk's loads: DuckDB lets one process at a time open the file, and opening and closing
    it for each small file (about 20 ms, in turn) capped two processes at 20 files a second."""
    several = workers > 1 and files > 1 and not isolate
    return several and parse_target(settings.target).kind == "duckdb"


def _prepared(task: IngestFile) -> luigi.Task | None:
    """Return what a file's load needs that does not touch the target: its Transform (ETL) or
    its Extract (ELT stages its records into the target). None when the file cannot be read
    now: the build of its load reports that, as for any file."""
    try:
        needs = task.requires().requires()
    except OSError:
        return None
    return needs.get("transform", needs["extract"])


def _one_thread_each(processes: int) -> None:
    """In a worker process: when the processes fill the cores, each runs its engines on one
    thread (threads of several processes on two cores only contend for them)."""
    if processes >= (os.cpu_count() or 1):
        os.environ["POLARS_MAX_THREADS"] = "1"  # read when Polars first computes
        os.environ[SCRATCH_THREADS_ENV] = "1"


def _has_result(task: IngestFile) -> bool:
    try:
        return Path(task.requires().output().path).exists()
    except OSError:  # the file cannot be read: it has no result
        return False


def _build_chunk(index: int) -> None:
    files = _chunks[index]
    if _chunk_target is None:
        luigi.build(files, workers=1, **_chunk_options)
        return
    # Prepare every file of the chunk while another process loads, then load them all with
    # the DuckDB file held (waiting for it): opened once a chunk, not once a file.
    luigi.build([p for p in map(_prepared, files) if p is not None], workers=1, **_chunk_options)
    with held_open(_chunk_target, wait=True):
        luigi.build(files, workers=1, **_chunk_options)


def write_summary_when_done(run_dir: Path, settings: Settings) -> None:
    """Write the summary (and the reports) of the run in ``run_dir`` once every file of its
    plan has ended, loaded or failed, unless it has one already (``summary_after_a_failure``)."""
    plan_path, summary_path = run_dir / PLAN_FILE, run_dir / "summary.json"
    if not plan_path.exists() or summary_path.exists():
        return
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    with using_settings(settings):
        tasks = [IngestFile.from_str_params(params) for params in plan["files"]]
        workspace = Workspace(settings.workspace)
        if not all(_ended(task, workspace) for task in tasks):
            return
        results = [_file_result(task, workspace) for task in tasks]
        target = parse_target(settings.target).display
        RunSummary(run_dir.name, run_mode(results), target, results).write(run_dir)
        if settings.report:
            write_reports(summary_path, settings)


def _ended(task: IngestFile, workspace: Workspace) -> bool:
    """Whether a file of a run has ended: its result, or a failure of one of its tasks."""
    if _has_result(task):
        return True
    load = task.requires()
    if workspace.failed_result(load.run_id, load.table, task.source_id).exists():
        return True
    return any(workspace.failure_note(t.task_id).exists() for t in _task_and_upstream(load))


def _file_result(task: IngestFile, workspace: Workspace) -> FileResult:
    path = Path(task.path)
    table = resolve_table(task.table, path)
    try:
        sha256 = task.source_id
    except OSError as exc:
        return FileResult(str(path), "", table, FAILED, reason=f"cannot read the file: {exc}")
    load = task.requires()
    output = Path(load.output().path)
    if output.exists():
        return FileResult.read(output)
    failed = workspace.failed_result(load.run_id, load.table, sha256)
    if failed.exists():
        return FileResult.read(failed)
    notes = [
        _failure_note(workspace.failure_note(t.task_id))
        for t in _task_and_upstream(load)
        if workspace.failure_note(t.task_id).exists()
    ]
    reason, retryable = notes[-1] if notes else ("the task did not run; see the Luigi log", False)
    return FileResult(
        str(path), sha256, table, FAILED, mode=task.mode, reason=reason, retryable=retryable
    )


def _failure_note(path: Path) -> tuple[str, bool]:
    """Return a failed task's reason and whether it failed for a transient reason."""
    text = path.read_text(encoding="utf-8")
    try:
        note = json.loads(text)
    except json.JSONDecodeError:
        return text, False
    return str(note["reason"]), bool(note.get("retryable"))


def _task_and_upstream(task: luigi.Task) -> Iterator[luigi.Task]:
    yield task
    for dependency in luigi.task.flatten(task.requires()):
        yield from _task_and_upstream(dependency)
