"""csvdock: load CSV files into a database fast, without losing a row, with proof of what happened.

The public API (everything else is internal and may change)::

    import csvdock
    summary = csvdock.ingest("data/", table="sales", target="postgresql://user@host/db")
    summary.ok                   # every file loaded (or loaded before)
    summary.files[0].status      # "loaded" | "skipped" | "quarantined" | "failed"
    summary.counts()             # {"read": ..., "loaded": ..., "rejected": ..., "not_loaded": ...}
    summary.rejects()            # the records set aside, as a Polars DataFrame
    summary.files[0].schema      # the schema version loaded with (TableSchema)
    csvdock.replay("sales")      # load the edited dead letters again

The library is plain functions over files, Arrow and Polars frames; it never imports Luigi: the
run is handed to the ``luigi`` orchestrator registered as an entry point (``luigi_tasks``).
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Arrow's default allocator (mimalloc) keeps freed memory for reuse: a stage's peak grew by the
# record index's and the parse's leftovers (extract of 5M records 592 MB, with the system
# allocator 508 MB). Set before pyarrow is first imported; a user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

if TYPE_CHECKING:
    from csvdock.core.errors import ConfigError, CsvdockError
    from csvdock.core.runs import FileResult, FileStatus, RunSummary
    from csvdock.core.settings import Evolution, Mode, Settings, TableSettings, load_settings
    from csvdock.pipeline.run import RunPlan, UsageError, ingest
    from csvdock.rejects.replay import replay
    from csvdock.schema.table import Column, TableSchema
    from csvdock.targets import TARGETS, WarehouseError

# Where each public name lives. They are imported when first used, so a process that needs
# one module (a report kernel, a worker) does not pay for Polars, DuckDB and every target.
_HOMES = {
    "ConfigError": "csvdock.core.errors",
    "CsvdockError": "csvdock.core.errors",
    "FileResult": "csvdock.core.runs",
    "FileStatus": "csvdock.core.runs",
    "RunSummary": "csvdock.core.runs",
    "Evolution": "csvdock.core.settings",
    "Mode": "csvdock.core.settings",
    "Settings": "csvdock.core.settings",
    "TableSettings": "csvdock.core.settings",
    "load_settings": "csvdock.core.settings",
    "RunPlan": "csvdock.pipeline.run",
    "UsageError": "csvdock.pipeline.run",
    "ingest": "csvdock.pipeline.run",
    "replay": "csvdock.rejects.replay",
    "Column": "csvdock.schema.table",
    "TableSchema": "csvdock.schema.table",
    "TARGETS": "csvdock.targets",
    "WarehouseError": "csvdock.targets",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'csvdock' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "TARGETS",
    "Column",
    "ConfigError",
    "CsvdockError",
    "Evolution",
    "FileResult",
    "FileStatus",
    "Mode",
    "RunPlan",
    "RunSummary",
    "Settings",
    "TableSchema",
    "TableSettings",
    "UsageError",
    "WarehouseError",
    "__version__",
    "ingest",
    "load_settings",
    "replay",
]
