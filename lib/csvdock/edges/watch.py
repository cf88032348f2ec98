"""Watch mode: ingest each CSV that lands in an inbox folder, once it is complete.

A file counts as complete when the writer closes it (inotify's close-after-write) or when it is
renamed into the inbox; files already there at start (arrived while the watcher was down) are taken
first. Afterwards a file moves to ``INBOX/processed/`` (loaded or skipped) or, quarantined or
failed for a lasting reason, to the workspace's dead-letter folder with its reason. A file that
failed for a transient reason (the target down or busy) stays in the inbox and is tried again
with a doubling delay (``retry_delay`` up to ``MAX_RETRY_SECONDS``) until it loads: nothing is
moved or deleted over an outage. Ctrl-C stops cleanly.
"""

from __future__ import annotations

import heapq
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from csvdock.core.runs import FAILED, OK_STATUSES, RunSummary

log = logging.getLogger("csvdock")
PROCESSED = "processed"
SETTLE_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0


class _Retries:
    """Files waiting to be tried again after a transient failure, with a doubling delay."""

    def __init__(self, first_delay: float) -> None:
        self.first_delay = max(first_delay, 0.01)
        self.attempts: dict[Path, int] = {}
        self.due: list[tuple[float, str]] = []

    def later(self, path: Path) -> float:
        """Schedule ``path`` again; return the delay."""
        attempts = self.attempts.get(path, 0)
        delay = min(self.first_delay * 2**attempts, MAX_RETRY_SECONDS)
        self.attempts[path] = attempts + 1
        heapq.heappush(self.due, (time.monotonic() + delay, str(path)))
        return delay

    def done(self, path: Path) -> None:
        self.attempts.pop(path, None)

    def ready(self) -> list[Path]:
        """Return the files whose delay is over."""
        now, found = time.monotonic(), []
        while self.due and self.due[0][0] <= now:
            found.append(Path(heapq.heappop(self.due)[1]))
        return found


def is_candidate(path: Path, inbox: Path) -> bool:
    """Return whether ``path`` is a CSV directly in ``inbox`` (not hidden, not partial)."""
    return (
        path.parent == inbox
        and path.suffix.lower() == ".csv"
        and not path.name.startswith(".")
        and path.is_file()
    )


class _Arrivals(FileSystemEventHandler):
    """Turns inotify events into complete files: closed after writing, renamed inside the inbox,
    or renamed in from elsewhere (seen as a creation with no writes after it)."""

    def __init__(self, inbox: Path, arrived: queue.Queue[Path]) -> None:
        self.inbox, self.arrived = inbox, arrived
        self.created: dict[Path, float] = {}  # appeared, no write seen yet
        self.lock = threading.Lock()

    def on_created(self, event: DirCreatedEvent | FileCreatedEvent) -> None:
        path = Path(str(event.src_path))
        if not event.is_directory and is_candidate(path, self.inbox):
            with self.lock:
                self.created[path] = time.monotonic()

    def on_modified(self, event: DirModifiedEvent | FileModifiedEvent) -> None:
        with self.lock:
            self.created.pop(Path(str(event.src_path)), None)  # a writer: wait for its close

    def on_closed(self, event: FileClosedEvent) -> None:
        with self.lock:
            self.created.pop(Path(str(event.src_path)), None)
        self._offer(event, str(event.src_path))

    def on_moved(self, event: DirMovedEvent | FileMovedEvent) -> None:
        self._offer(event, str(event.dest_path))

    def renamed_in(self) -> list[Path]:
        """Return the files that appeared whole (no write after them) a moment ago."""
        now, ready = time.monotonic(), []
        with self.lock:
            for path, seen in list(self.created.items()):
                if now - seen >= SETTLE_SECONDS:
                    del self.created[path]
                    if path.exists() and path.stat().st_size > 0:
                        ready.append(path)
        return ready

    def _offer(self, event: FileSystemEvent, raw: str) -> None:
        path = Path(raw)
        if not event.is_directory and is_candidate(path, self.inbox):
            self.arrived.put(path)


def settled_files(inbox: Path) -> list[Path]:
    """Return the CSVs already in ``inbox`` whose size stops changing (a writer may be busy)."""
    first = {p: p.stat().st_size for p in inbox.iterdir() if is_candidate(p, inbox)}
    if not first:
        return []
    time.sleep(SETTLE_SECONDS)
    return sorted(p for p, size in first.items() if p.exists() and p.stat().st_size == size)


def watch(
    inbox: Path,
    ingest: Callable[[list[Path]], RunSummary],
    dead_letter: Callable[[Path, str], None],
    stop: threading.Event | None = None,
    retry_delay: float = 1.0,
) -> None:
    """Ingest what lands in ``inbox`` until ``stop`` is set or Ctrl-C."""
    inbox = inbox.resolve()
    (inbox / PROCESSED).mkdir(parents=True, exist_ok=True)
    stop = stop or threading.Event()
    arrived: queue.Queue[Path] = queue.Queue()
    observer = Observer()
    arrivals = _Arrivals(inbox, arrived)
    observer.schedule(arrivals, str(inbox), recursive=False)
    observer.start()
    retries = _Retries(retry_delay)
    log.info("watching %s", inbox)
    try:
        for path in settled_files(inbox):
            arrived.put(path)
        while not stop.is_set():
            for path in arrivals.renamed_in() + retries.ready():
                arrived.put(path)
            try:
                path = arrived.get(timeout=0.25)
            except queue.Empty:
                continue
            if path.exists():
                _take(path, inbox, ingest, dead_letter, retries)
    except KeyboardInterrupt:
        log.info("stopping: Ctrl-C")
    finally:
        observer.stop()
        observer.join(timeout=5)


def _take(
    path: Path,
    inbox: Path,
    ingest: Callable[[list[Path]], RunSummary],
    dead_letter: Callable[[Path, str], None],
    retries: _Retries,
) -> None:
    summary = ingest([path])
    (result,) = summary.files
    if result.status == FAILED and result.retryable:
        delay = retries.later(path)
        log.warning(
            "%s: failed for a transient reason, kept in the inbox, trying again in %.1f s: %s",
            path.name,
            delay,
            result.reason,
        )
        return
    retries.done(path)
    if result.status in OK_STATUSES:
        destination = inbox / PROCESSED / path.name
        if destination.exists():
            destination = destination.with_name(f"{path.stem}-{summary.run_id}{path.suffix}")
        shutil.move(str(path), destination)
        log.info("%s: %s, moved to %s", path.name, result.status, destination)
    else:
        dead_letter(path, result.reason or result.status)
        log.warning("%s: %s, moved to the dead-letter folder", path.name, result.status)
