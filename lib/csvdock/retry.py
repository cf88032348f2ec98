"""Retrying what is transient (a connection refused or reset, a serialization failure, a lock
timeout, a DuckDB file locked by another process); never what is permanent (bad data, schema)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from csvdock.errors import CsvdockError

log = logging.getLogger("csvdock")
T = TypeVar("T")
TRANSIENT_SIGNS = (
    "connection refused",
    "could not connect",
    "connection reset",
    "server closed the connection",
    "terminating connection",
    "serialization failure",
    "could not serialize",
    "deadlock detected",
    "lock timeout",
    "canceling statement due to lock timeout",
    "could not set lock on file",
    "conflicting lock",
    "sqlstate: 40001",
    "sqlstate: 40p01",
    "sqlstate: 55p03",
    "sqlstate: 57p01",
    "sqlstate: 08",
)


def is_transient(error: BaseException) -> bool:
    """Return whether ``error`` (or its cause) looks like a passing condition worth a retry."""
    seen: BaseException | None = error
    while seen is not None:
        text = str(seen).lower()
        if any(sign in text for sign in TRANSIENT_SIGNS):
            return True
        seen = seen.__cause__
    return False


def with_retries(action: Callable[[], T], retries: int, delay: float, what: str) -> T:
    """Run ``action``; on a transient ``CsvdockError`` wait and try again, up to ``retries`` more
    times (the delay doubles each time). Permanent errors are raised at once."""
    attempt = 0
    while True:
        try:
            return action()
        except CsvdockError as exc:
            if attempt >= retries or not is_transient(exc):
                raise
            wait = delay * (2**attempt)
            attempt += 1
            log.warning(
                "%s: transient error, retry %d of %d in %.1f s: %s",
                what,
                attempt,
                retries,
                wait,
                exc,
            )
            time.sleep(wait)
