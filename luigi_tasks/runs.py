"""The run-level tasks: IngestRun (a run's files and its summary) and Report (its reports), and
the summary of a run whose file failed when it runs through the ``luigi`` command."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import luigi
from csvdock.core.runs import FileResult, RunSummary, run_mode
from csvdock.core.settings import Settings
from csvdock.core.workspace import Workspace
from csvdock.targets import parse_target

from luigi_tasks.tasks import FileTask, IngestFile, TargetUrlParameter, task_settings

log = logging.getLogger("csvdock")


class RunTask(luigi.Task):
    """A task over a whole run: its files, run id and the run's table, target and options."""

    paths: list[str] = luigi.ListParameter()
    run_id: str = luigi.Parameter()
    table: str = luigi.Parameter(default="")
    target: str = TargetUrlParameter(default="")
    options: dict[str, Any] = luigi.DictParameter(default={})
    tables: dict[str, str] = luigi.DictParameter(default={})  # a file's own table, by path


class IngestRun(RunTask):
    """Ingest several files as one run and write the run's summary.json."""

    def requires(self) -> list[IngestFile]:
        files = [
            IngestFile(
                path=str(p),
                table=self.tables.get(str(p), self.table),
                target=self.target,
                run_id=self.run_id,
                options=self.options,
            )
            for p in self.paths
        ]
        self.note_plan(files)
        return files

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(
            str(run_settings(self).workspace / "runs" / self.run_id / "summary.json")
        )

    def note_plan(self, files: list[IngestFile]) -> None:
        """Note the run's files in its folder, so that the run's summary can be made when one
        of them fails and this task never runs (the ``luigi`` command; see
        ``summary_after_a_failure``)."""
        plan = run_settings(self).workspace / "runs" / self.run_id / PLAN_FILE
        if not plan.exists():
            plan.parent.mkdir(parents=True, exist_ok=True)
            params = [task.to_str_params() for task in files]
            plan.write_text(json.dumps({"files": params}), encoding="utf-8")

    def run(self) -> None:
        results = [FileResult.read(Path(task.requires().output().path)) for task in self.requires()]
        target = parse_target(run_settings(self).target).display
        RunSummary(self.run_id, run_mode(results), target, results).write(
            Path(self.output().path).parent
        )


PLAN_FILE = "plan.json"
RUNNER_ENV = "CSVDOCK_RUNNER"  # set by `csvdock ingest`, which makes the summary itself


@FileTask.event_handler(luigi.Event.FAILURE)
def summary_after_a_failure(task: FileTask, exception: BaseException) -> None:
    """Through the ``luigi`` command, a run with a failed file still gets its summary (and its
    reports), as with ``csvdock ingest``: when the last of the run's files has ended, loaded or
    failed, the summary is made from their results (``IngestRun`` never runs then)."""
    if os.environ.get(RUNNER_ENV):
        return
    from luigi_tasks.runner import write_summary_when_done

    task.note_failure(exception)  # (Luigi calls on_failure after this event)
    run_id = getattr(task, "run_id", "")
    runs = task.workspace.root / "runs"
    # A shared stage (Extract, Transform) has no run: the runs whose plan names its file.
    folders = [runs / run_id] if run_id else [p.parent for p in runs.glob(f"*/{PLAN_FILE}")]
    for folder in folders:
        try:
            write_summary_when_done(folder, task.settings)
        except Exception as exc:  # the file's failure is what the task reports
            log.warning("the run's summary could not be made: %s", exc)


class Report(RunTask):
    """Render the run's schema and error reports (papermill + nbconvert) once all its files are
    done. A report that fails is logged and noted in the summary; it never fails the run."""

    def requires(self) -> IngestRun:
        return IngestRun(
            paths=self.paths,
            run_id=self.run_id,
            table=self.table,
            target=self.target,
            options=self.options,
            tables=self.tables,
        )

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.input().path).parent / "reports.json"))

    def run(self) -> None:
        reports = write_reports(Path(self.input().path), run_settings(self))
        with self.output().temporary_path() as tmp:
            Path(tmp).write_text(json.dumps(reports), encoding="utf-8")


def run_settings(task: RunTask) -> Settings:
    """Return the settings of a run-level task (luigi.cfg plus its ``target`` and ``options``)."""
    return task_settings(task.target, task.options)


def write_reports(summary_path: Path, settings: Settings) -> dict[str, str]:
    """Render the reports of the run whose summary is at ``summary_path``, record their paths (or
    the error) in the summary and refresh runs/index.html. Never raises."""
    from csvdock.report.index import write_runs_index
    from csvdock.report.notebooks import render_run_reports

    try:
        reports = render_run_reports(
            summary_path, settings.workspace, settings.schemas_dir, settings.notebooks_dir
        )
    except Exception as exc:  # a report must never fail or roll back a load
        log.exception("%s: the reports could not be made", summary_path.parent.name)
        reports = {"error": f"the reports could not be made: {exc}"}
    summary = RunSummary.read(summary_path)
    summary.reports = reports
    summary.write(summary_path.parent)
    write_runs_index(Workspace(settings.workspace))
    return reports
