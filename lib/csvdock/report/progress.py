"""A progress line for long ingests on a terminal: files done, rows, rows/s and MB/s."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import TextIO


class Progress:
    """Polls a run's ``files/`` folder and redraws one status line on ``stream``."""

    def __init__(self, files_dir: Path, sizes: dict[str, int], stream: TextIO = sys.stderr) -> None:
        self.files_dir, self.sizes, self.stream = files_dir, sizes, stream
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def line(self) -> str:
        """Return the current status line."""
        done = rows = size = 0
        for result in self.files_dir.glob("*.json"):
            try:
                data = json.loads(result.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            done += 1
            rows += int(data.get("rows_read", 0))
            size += self.sizes.get(data.get("path", ""), 0)
        seconds = max(time.monotonic() - self.started, 1e-6)
        return (
            f"[{done}/{len(self.sizes)} files] {rows:,} rows, {rows / seconds:,.0f} rows/s, "
            f"{size / seconds / 1e6:.1f} MB/s, {seconds:.0f} s"
        )

    def _draw(self) -> None:
        self.stream.write("\r" + self.line().ljust(78))
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._draw()
