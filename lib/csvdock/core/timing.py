"""Where a file's time goes: each stage adds its seconds to ``timings.json`` in its checkpoint."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

TIMINGS_FILE = "timings.json"
_WRITING = threading.Lock()  # (a stage may time two steps at once, in two threads)


@contextlib.contextmanager
def timed(folder: Path, step: str) -> Iterator[None]:
    """Record how long the block takes as ``step`` in ``folder/timings.json``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = round(time.perf_counter() - started, 4)
        path = folder / TIMINGS_FILE
        with _WRITING:
            recorded = read_timings(folder)
            recorded[step] = seconds
            path.write_text(json.dumps(recorded), encoding="utf-8")


def read_timings(*folders: Path) -> dict[str, float]:
    """Return the timings recorded in ``folders``, merged in order."""
    merged: dict[str, float] = {}
    for folder in folders:
        path = folder / TIMINGS_FILE
        if path.exists():
            merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged
