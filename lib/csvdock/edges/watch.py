"""Watch mode: ingest each CSV that lands in an inbox folder, once it is complete.

A file counts as complete when its size and modification time have not changed for
``SETTLE_SECONDS`` after the writer closed it (an appending writer closes it after each write) or
after it was renamed into the inbox; files already there at start (arrived while the watcher was
down) are taken first. A run reads a snapshot of the file (a hard link in the inbox's hidden
``.taking/``): a file replaced by ``mv`` during its load keeps the loaded bytes whole, the loaded
bytes are the ones moved, and the replacement is taken next. One file's error (it cannot be
read, linked or moved) is logged and the watcher goes on. Afterwards a file moves to
``INBOX/processed/`` (loaded or skipped) or, quarantined or failed for a lasting reason, to the
workspace's dead-letter folder with its reason. A file that
failed for a transient reason (the target down or busy) stays in the inbox and is tried again
with a doubling delay (``retry_delay`` up to ``MAX_RETRY_SECONDS``) until it loads: nothing is
moved or deleted over an outage. Ctrl-C stops cleanly.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import secrets
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


class _Settling:
    """Files offered (closed, renamed in, there at start) that wait until they are complete: the
    same size and modification time for ``SETTLE_SECONDS`` (an appending writer closes the file
    after each write: it is taken once, after its last)."""

    def __init__(self) -> None:
        self.seen: dict[Path, tuple[tuple[int, int], float]] = {}

    def offer(self, path: Path) -> None:
        state = _state(path)
        if state is not None:
            self.seen[path] = (state, time.monotonic())

    def ready(self) -> list[Path]:
        now, found = time.monotonic(), []
        for path, (state, since) in list(self.seen.items()):
            current = _state(path)
            if current is None:
                del self.seen[path]  # gone
            elif current != state:
                self.seen[path] = (current, now)  # still being written
            elif now - since >= SETTLE_SECONDS:
                del self.seen[path]
                found.append(path)
        return sorted(found)


def _state(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


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
    settling = _Settling()
    log.info("watching %s", inbox)
    try:
        for path in sorted(p for p in inbox.iterdir() if is_candidate(p, inbox)):
            settling.offer(path)
        while not stop.is_set():
            for path in arrivals.renamed_in():
                settling.offer(path)
            for path in settling.ready() + retries.ready():
                arrived.put(path)
            try:
                path = arrived.get(timeout=0.25)
            except queue.Empty:
                continue
            if path in settling.seen or not path.exists():
                continue
            if path.parent == inbox and path not in retries.attempts and not _settled(path):
                settling.offer(path)  # offered by an event: wait until it is complete
                continue
            again = _take(path, inbox, ingest, dead_letter, retries)
            if again is not None:
                settling.offer(again)
    except KeyboardInterrupt:
        log.info("stopping: Ctrl-C")
    finally:
        observer.stop()
        observer.join(timeout=5)


def _settled(path: Path) -> bool:
    """Whether ``path`` has not changed for ``SETTLE_SECONDS``."""
    try:
        return time.time() - path.stat().st_mtime >= SETTLE_SECONDS
    except OSError:
        return False


SNAPSHOTS = ".taking"  # inside the inbox (hidden): the bytes a run reads, whatever the inbox does


def _take(
    path: Path,
    inbox: Path,
    ingest: Callable[[list[Path]], RunSummary],
    dead_letter: Callable[[Path, str], None],
    retries: _Retries,
) -> Path | None:
    """Ingest a snapshot of ``path`` (a hard link: a file replaced by ``mv`` meanwhile keeps the
    bytes of the run whole), then move the bytes that were loaded; a replacement stays in the
    inbox and is returned, to be taken again. An error of this file (it cannot be read, linked
    or moved) is logged and the watcher goes on with the others."""
    try:
        snapshot = _snapshot(path, inbox)
    except OSError as exc:
        log.error("%s: left in the inbox: %s", path.name, exc)
        return None
    try:
        summary = ingest([snapshot])
        (result,) = summary.files
        same = _same_file(path, snapshot)
        if result.status == FAILED and result.retryable:
            delay = retries.later(path)
            log.warning(
                "%s: failed for a transient reason, kept in the inbox, trying again in %.1f s: %s",
                path.name,
                delay,
                result.reason,
            )
            return None
        retries.done(path)
        taken = path if same else snapshot  # the bytes this run read
        if result.status in OK_STATUSES:
            destination = inbox / PROCESSED / path.name
            if destination.exists():
                destination = destination.with_name(f"{path.stem}-{summary.run_id}{path.suffix}")
            shutil.move(str(taken), destination)
            log.info("%s: %s, moved to %s", path.name, result.status, destination)
        else:
            dead_letter(taken, result.reason or result.status)
            log.warning("%s: %s, moved to the dead-letter folder", path.name, result.status)
        if not same and path.exists():
            log.info("%s: replaced while it was ingested: the new version is taken next", path.name)
            return path
        return None
    except Exception as exc:  # one file's trouble never stops the inbox
        log.error("%s: left in the inbox: %s: %s", path.name, type(exc).__name__, exc)
        return None
    finally:
        snapshot.unlink(missing_ok=True)
        shutil.rmtree(snapshot.parent, ignore_errors=True)


def _snapshot(path: Path, inbox: Path) -> Path:
    """Return a hard link to ``path`` under the inbox's hidden snapshot folder (a copy where the
    file system has no hard links), with the file's own name."""
    folder = inbox / SNAPSHOTS / secrets.token_hex(4)
    folder.mkdir(parents=True)
    snapshot = folder / path.name
    try:
        os.link(path, snapshot)
    except OSError:
        shutil.copy2(path, snapshot)
    return snapshot


def _same_file(path: Path, snapshot: Path) -> bool:
    """Whether ``path`` still names the bytes of ``snapshot`` (not replaced, not changed)."""
    try:
        a, b = path.stat(), snapshot.stat()
    except OSError:
        return False
    return (a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns) == (
        b.st_ino,
        b.st_dev,
        b.st_size,
        b.st_mtime_ns,
    )
