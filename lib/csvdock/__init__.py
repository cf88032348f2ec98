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

from csvdock.core.errors import ConfigError, CsvdockError
from csvdock.core.runs import FileResult, FileStatus, RunSummary
from csvdock.core.settings import Evolution, Mode, Settings, TableSettings, load_settings
from csvdock.pipeline.run import RunPlan, UsageError, ingest
from csvdock.rejects.replay import replay
from csvdock.schema.table import Column, TableSchema
from csvdock.targets import TARGETS, WarehouseError

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
