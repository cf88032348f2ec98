"""Luigi tasks for csvdock: thin wrappers around the library's stage functions.

luigi --module luigi_tasks IngestFile --path users.csv --local-scheduler
"""

from luigi_tasks.tasks import Extract, IngestFile, IngestRun, Load, Transform

__all__ = ["Extract", "Transform", "Load", "IngestFile", "IngestRun"]
