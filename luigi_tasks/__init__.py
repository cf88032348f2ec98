"""Luigi tasks for csvdock: thin wrappers around the library's stage functions.

luigi --module luigi_tasks IngestFile --path users.csv --local-scheduler
luigi --module luigi_tasks RangeDaily --of IngestDay --start 2026-11-01 --local-scheduler
"""

from luigi.tools.range import RangeDaily

from luigi_tasks.daily import IngestDay
from luigi_tasks.runs import IngestRun, Report
from luigi_tasks.tasks import (
    Extract,
    IngestFile,
    Load,
    LoadRaw,
    Transform,
    TransformInTarget,
)

__all__ = [
    "Extract",
    "Transform",
    "Load",
    "LoadRaw",
    "TransformInTarget",
    "IngestFile",
    "IngestRun",
    "Report",
    "IngestDay",
    "RangeDaily",
]
