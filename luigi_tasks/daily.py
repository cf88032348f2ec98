"""Daily ingestion, Luigi style: ``IngestDay --date D`` ingests the files matching ``daily_input``
(luigi.cfg) for that day as one run; ``RangeDaily --of IngestDay`` backfills or catches up.

    luigi --module luigi_tasks IngestDay --date 2026-11-26
    luigi --module luigi_tasks RangeDaily --of IngestDay --start 2026-11-01 --stop 2026-11-04

No catch-up unless asked: a day runs when it is named, or when a RangeDaily covers it.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
from pathlib import Path

import luigi

from luigi_tasks.runs import IngestRun, Report
from luigi_tasks.tasks import process_settings


class IngestDay(luigi.Task):
    """Ingest one day's files (``daily_input``, with ``{date:%Y-%m-%d}``) as run ``daily-DATE``."""

    date: dt.date = luigi.DateParameter()

    @property
    def run_id(self) -> str:
        return f"daily-{self.date:%Y-%m-%d}"

    def day_files(self) -> list[str]:
        pattern = process_settings().daily_input.format(date=self.date)
        return sorted(glob.glob(pattern))

    def output(self) -> luigi.LocalTarget:
        folder = process_settings().workspace / "daily"
        return luigi.LocalTarget(str(folder / f"{self.date:%Y-%m-%d}.json"))

    def run(self):  # type: ignore[no-untyped-def]  # a generator: Luigi's dynamic dependencies
        files = self.day_files()
        summary_path = None
        if files:
            task = Report if process_settings().report else IngestRun
            done = yield task(paths=files, run_id=self.run_id)
            summary_path = (
                done.path if task is IngestRun else str(Path(done.path).parent / "summary.json")
            )
        self.output().makedirs()
        with self.output().temporary_path() as tmp:
            note = {"date": f"{self.date:%Y-%m-%d}", "files": files, "summary": summary_path}
            Path(tmp).write_text(json.dumps(note, indent=2), encoding="utf-8")
