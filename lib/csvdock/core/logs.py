"""Logging for a run: to stderr and to ``<workspace>/logs/csvdock.log``, the run id on every line.

Configured once at the edge (the CLI), from ``[csvdock] log_level`` in luigi.cfg. Luigi's own
loggers go through the same handlers, so its lines carry the run id too.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from csvdock.core.errors import CsvdockError

FORMAT = "%(asctime)s %(levelname)s [%(run_id)s] %(name)s: %(message)s"
_HANDLERS: list[logging.Handler] = []


class RunIdFilter(logging.Filter):
    """Stamp every record with the current run id (``-`` outside a run)."""

    def __init__(self) -> None:
        super().__init__()
        self.run_id = "-"

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


RUN_ID = RunIdFilter()


class ExplainedErrorFormatter(logging.Formatter):
    """Leave out the traceback of an error csvdock explains in one line (a ``CsvdockError``, such
    as a failed file's task in Luigi's log): the line says it all. Other tracebacks stay."""

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.exc_info[0] and issubclass(record.exc_info[0], CsvdockError):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def configure_logging(level: str, log_file: Path | None, quiet: bool = False) -> None:
    """Send log records to stderr (WARNING and up when ``quiet``) and to ``log_file``."""
    root = logging.getLogger()
    for handler in _HANDLERS:
        root.removeHandler(handler)
    _HANDLERS.clear()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING if quiet else getattr(logging, level.upper(), logging.INFO))
    _HANDLERS.append(stderr)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(getattr(logging, level.upper(), logging.INFO))
        _HANDLERS.append(to_file)
    stderr.setFormatter(ExplainedErrorFormatter(FORMAT))
    for handler in _HANDLERS:
        if handler is not stderr:
            handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RUN_ID)
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.INFO)
    for noisy in ("luigi", "luigi-interface", "papermill", "traitlets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def set_run_id(run_id: str) -> None:
    """Make ``run_id`` appear on every following log line."""
    RUN_ID.run_id = run_id
