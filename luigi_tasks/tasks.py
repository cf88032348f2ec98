"""The pipeline as Luigi tasks: Extract -> Transform -> Load (or a small file's IngestSmallFile),
wrapped by IngestFile; the run-level tasks (IngestRun, Report) are in ``luigi_tasks.runs``.

Each task is parameters + requires + output + a short run that calls ``csvdock.pipeline``.
Checkpoints are folders written through ``temporary_path()``, so they appear complete or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import luigi
from csvdock.core.errors import CsvdockError
from csvdock.core.naming import split_table_name, table_name_from_stem
from csvdock.core.positions import source_identity
from csvdock.core.retry import is_transient, with_retries
from csvdock.core.runs import FAILED, FileResult, new_run_id
from csvdock.core.settings import Settings, load_settings, settings_inputs
from csvdock.core.workspace import Workspace
from csvdock.pipeline import elt, etl, stages
from csvdock.read.extract import file_sha256
from csvdock.targets import masked_url

log = logging.getLogger("csvdock")


class TargetUrlParameter(luigi.Parameter):
    """A target URL may hold a password: it never reaches luigid, task ids or logs (masked)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            significant=False, visibility=luigi.parameter.ParameterVisibility.PRIVATE, **kwargs
        )

    def serialize(self, x: Any) -> str:
        return masked_url(str(x))


_given: Settings | None = None  # the settings of the run this process is running, if any
_read: dict[tuple[object, ...], Settings] = {}  # else luigi.cfg + environment, read once


@contextlib.contextmanager
def using_settings(settings: Settings) -> Iterator[None]:
    """Run this process's tasks with ``settings`` (what the runner's caller read) until the
    block ends; forked workers inherit them."""
    global _given
    previous, _given = _given, settings
    try:
        yield
    finally:
        _given = previous


def process_settings() -> Settings:
    """Return this process's settings: those of the run it is running, else luigi.cfg and the
    environment, read once (again only when they change: a worker started by the ``luigi``
    command or luigid)."""
    if _given is not None:
        return _given
    key = settings_inputs()
    if key not in _read:
        _read.clear()
        _read[key] = load_settings()
    return _read[key]


def task_settings(target: str, options: dict[str, Any]) -> Settings:
    """Return the settings of a task: the process's, with its ``target`` and ``options``."""
    return process_settings().with_overrides(target=target or None, **dict(options))


class FileFailed(CsvdockError):
    """A file could not be loaded: its task fails, with the reason."""


class CsvdockTask(luigi.Task):
    """Common parameters; the settings are the process's plus the task's ``options``."""

    table: str = luigi.Parameter(description="target table, TABLE or SCHEMA.TABLE")
    target: str = TargetUrlParameter(default="", description="target URL (default: luigi.cfg)")
    options: dict[str, Any] = luigi.DictParameter(
        default={}, description="per-run setting overrides"
    )

    @cached_property
    def settings(self) -> Settings:
        return task_settings(self.target, self.options)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.workspace)

    def on_failure(self, exception: BaseException) -> str:
        self.note_failure(exception)
        return super().on_failure(exception)

    def note_failure(self, exception: BaseException) -> None:
        """Keep why this task failed where the run's summary finds it."""
        note = self.workspace.failure_note(self.task_id)
        note.parent.mkdir(parents=True, exist_ok=True)
        message = f"{self.task_family} failed: {exception}".strip()
        # Transient or not, by the exception's type (a file that changed while it was read is
        # read again later), kept beside the reason for the file's result.
        note.write_text(
            json.dumps({"reason": message, "retryable": is_transient(exception)}), encoding="utf-8"
        )


class FileTask(CsvdockTask):
    """A stage of one file, named by its path and the SHA-256 of its bytes."""

    path: str = luigi.Parameter()
    sha256: str = luigi.Parameter()

    def file_params(self) -> dict[str, Any]:
        """Return the parameters that name this task's file, for the tasks it requires."""
        return {
            "table": self.table,
            "target": self.target,
            "options": self.options,
            "path": self.path,
            "sha256": self.sha256,
        }

    def attempt(self, mode: str, load: Callable[[], FileResult]) -> FileResult:
        """Run a load with retries of transient errors; a lasting csvdock error makes the file's
        result ``failed`` with the reason (the caller then fails the task)."""
        settings = self.settings
        try:
            return with_retries(load, settings.retries, settings.retry_delay, self.path)
        except CsvdockError as exc:
            log.error("%s: failed: %s", self.path, exc)
            return FileResult(
                self.path,
                self.sha256,
                self.table,
                FAILED,
                mode,
                reason=str(exc),
                retryable=is_transient(exc),
            )

    def write_result(self, result: FileResult) -> None:
        self.output().makedirs()
        with self.output().temporary_path() as tmp:
            result.write(Path(tmp))

    @contextlib.contextmanager
    def publishing(self) -> Iterator[Path]:
        """Write a shared checkpoint folder through ``temporary_path()``; when another process
        (a second ingest of the same file) published it first, keep theirs: it is the same."""
        self.output().makedirs()
        written: list[Path] = []
        try:
            with self.output().temporary_path() as tmp:
                written.append(Path(tmp))
                yield Path(tmp)
        except (luigi.target.FileAlreadyExists, OSError):
            if not written or not self.output().exists():
                raise
            log.info("%s: %s was written by another worker", self.path, self.output().path)
            shutil.rmtree(written[0], ignore_errors=True)

    def checkpoint(self, sha256: str, stage: str) -> luigi.LocalTarget:
        if self.options:
            digest = hashlib.sha256(json.dumps(dict(self.options), sort_keys=True).encode())
            stage = f"{stage}-{digest.hexdigest()[:8]}"
        return luigi.LocalTarget(str(self.workspace.checkpoint(self.table, sha256, stage)))


class Extract(FileTask):
    """Parse one CSV file into text records plus parse rejects (or quarantine it)."""

    def output(self) -> luigi.LocalTarget:
        return self.checkpoint(self.sha256, "extract")

    def run(self) -> None:
        with self.publishing() as tmp:
            stages.extract_stage(Path(self.path), self.sha256, self.table, self.settings, tmp)


class Transform(FileTask):
    """Type the extracted records by the table's schema; cast failures become rejects."""

    def requires(self) -> Extract:
        return Extract(**self.file_params())

    def output(self) -> luigi.LocalTarget:
        return self.checkpoint(self.sha256, "transform")

    def run(self) -> None:
        with self.publishing() as tmp:
            extract_dir = Path(self.input().path)
            etl.transform_stage(extract_dir, self.table, self.settings, tmp, Path(self.path))


class FileResultTask(FileTask):
    """The last stage of a file in a run: its output is the file's result JSON for that run.

    Subclasses name their mode, the input that holds the prepared rows, and the stage function.
    """

    run_id: str = luigi.Parameter()
    mode = "etl"
    prepared = "transform"

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(
            str(self.workspace.file_result(self.run_id, self.table, self.sha256))
        )

    def stage(self) -> Callable[..., FileResult]:
        raise NotImplementedError

    def run(self) -> None:
        self.finish(
            self.loaded(Path(self.input()["extract"].path), Path(self.input()[self.prepared].path))
        )

    def loaded(self, extract_dir: Path, prepared_dir: Path) -> FileResult:
        """Load the file from its extract and prepared folders (with retries): its result."""
        load = self.stage()
        return self.attempt(
            self.mode,
            lambda: load(
                Path(self.path),
                self.sha256,
                self.table,
                self.run_id,
                self.settings,
                extract_dir,
                prepared_dir,
            ),
        )

    def finish(self, result: FileResult, extract_dir: Path | None = None) -> None:
        """Write the file's result; a failed file fails the task, its result kept where the
        run's summary finds it."""
        self.after(result)
        if result.status == FAILED:
            extract_dir = extract_dir or Path(self.input()["extract"].path)
            result.rows_read = stages.records_read(extract_dir)
            # The task fails (luigid shows it, Luigi's retry policy sees it, the run and its
            # day are not complete); the result is kept where the run's summary finds it.
            failed = self.workspace.failed_result(self.run_id, self.table, self.sha256)
            failed.parent.mkdir(parents=True, exist_ok=True)
            result.write(failed)
            raise FileFailed(f"{self.path}: {result.reason}")
        self.write_result(result)

    def after(self, result: FileResult) -> None:
        """Hook run once the file's result is known."""


class Load(FileResultTask):
    """Load the typed rows and the ledger row in one transaction; write the file's result."""

    def requires(self) -> dict[str, luigi.Task]:
        return {
            "extract": Extract(**self.file_params()),
            "transform": Transform(**self.file_params()),
        }

    def stage(self) -> Callable[..., FileResult]:
        return etl.load_stage


class LoadRaw(FileTask):
    """ELT: resolve the schema and stage the text records in the target (a staging table)."""

    run_id: str = luigi.Parameter()

    def requires(self) -> Extract:
        return Extract(**self.file_params())

    def output(self) -> luigi.LocalTarget:
        folder = self.workspace.run_dir(self.run_id) / "elt" / f"{self.table}--{self.sha256[:12]}"
        return luigi.LocalTarget(str(folder))

    def run(self) -> None:
        self.output().makedirs()
        with self.output().temporary_path() as tmp:
            extract_dir = Path(self.input().path)
            elt.load_raw_stage(
                self.sha256, self.table, self.settings, extract_dir, Path(tmp), Path(self.path)
            )


class TransformInTarget(FileResultTask):
    """ELT: cast the staged records with SQL inside the target, in one transaction with the
    ledger row; write the file's result."""

    def requires(self) -> dict[str, luigi.Task]:
        return {
            "extract": Extract(**self.file_params()),
            "raw": LoadRaw(**self.file_params(), run_id=self.run_id),
        }

    mode = "elt"
    prepared = "raw"

    def stage(self) -> Callable[..., FileResult]:
        return elt.transform_in_target_stage

    def after(self, result: FileResult) -> None:
        if result.status == FAILED:
            # The staging table was dropped: a later attempt must stage again.
            shutil.rmtree(self.input()["raw"].path, ignore_errors=True)


class IngestSmallFile(FileResultTask):
    """A small file (``small_file_kb``) in one task: Extract (its checkpoint kept, shared with
    the three-task graph: the reports' column profiles read it), then Transform and Load (ETL)
    or the staging and the SQL cast (ELT) in a scratch folder of this task, one after the other
    in this process. For a file of a few records, three Luigi tasks and their folders cost
    about as much as the work. A task that dies runs again; exactly once still comes from the
    ledger in the load's transaction."""

    file_mode: str = luigi.ChoiceParameter(choices=["etl", "elt"], default="etl")

    def run(self) -> None:
        self.mode = self.file_mode
        extract = Extract(**self.file_params())
        if not extract.complete():
            extract.run()
        extract_dir = Path(extract.output().path)
        scratch = self.workspace.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch, prefix="small-") as folder:
            prepared_dir = Path(folder) / "prepared"
            if self.file_mode == "elt":
                result = self.attempt(
                    "elt", lambda: self._staged_and_cast(extract_dir, prepared_dir)
                )
            else:
                etl.transform_stage(
                    extract_dir, self.table, self.settings, prepared_dir, Path(self.path)
                )
                result = self.loaded(extract_dir, prepared_dir)
            self.finish(result, extract_dir)

    def stage(self) -> Callable[..., FileResult]:
        return etl.load_stage

    def _staged_and_cast(self, extract_dir: Path, raw_dir: Path) -> FileResult:
        """Stage the records and cast them in the target (each attempt stages again: a failed
        cast drops the staging table)."""
        settings = self.settings
        elt.load_raw_stage(self.sha256, self.table, settings, extract_dir, raw_dir, Path(self.path))
        return elt.transform_in_target_stage(
            Path(self.path), self.sha256, self.table, self.run_id, settings, extract_dir, raw_dir
        )


class IngestFile(luigi.WrapperTask):
    """Ingest one CSV file: the table defaults to the file's stem, the run id to a new one."""

    path: str = luigi.Parameter()
    table: str = luigi.Parameter(default="")
    target: str = TargetUrlParameter(default="")
    run_id: str = luigi.Parameter(default="")
    options: dict[str, Any] = luigi.DictParameter(default={})

    @cached_property
    def resolved_run_id(self) -> str:
        return self.run_id or new_run_id()

    @cached_property
    def resolved_table(self) -> str:
        return resolve_table(self.table, Path(self.path))

    @cached_property
    def source_id(self) -> str:
        """The file's identity in the ledger: its bytes' SHA-256 (a stream batch's with its
        position: ``source_identity``); the later tasks' ``sha256`` parameter."""
        return source_identity(Path(self.path), file_sha256(Path(self.path)))

    @cached_property
    def mode(self) -> str:
        return task_settings(self.target, self.options).for_table(self.resolved_table).mode

    def requires(self) -> Load | TransformInTarget | IngestSmallFile:
        params: dict[str, Any] = {
            "table": self.resolved_table,
            "target": self.target,
            "options": self.options,
            "path": self.path,
            "sha256": self.source_id,
            "run_id": self.resolved_run_id,
        }
        if self.is_small:
            return IngestSmallFile(**params, file_mode=self.mode)
        return TransformInTarget(**params) if self.mode == "elt" else Load(**params)

    @cached_property
    def is_small(self) -> bool:
        """Whether the file runs as one task (``IngestSmallFile``): at most ``small_file_kb``."""
        limit = task_settings(self.target, self.options).small_file_bytes
        try:
            return Path(self.path).stat().st_size <= limit
        except OSError:  # (the tasks report a file that cannot be read)
            return False


def resolve_table(table: str, path: Path) -> str:
    """Return the normalised table name: ``table`` if given, else the file's stem."""
    if not table:
        return table_name_from_stem(path.stem)
    schema, name = split_table_name(table)
    return f"{schema}.{name}" if schema else name
