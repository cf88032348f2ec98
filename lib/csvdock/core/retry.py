"""Retrying what is transient (a connection refused or reset, a serialization failure, a lock
timeout, a DuckDB file locked by another process); never what is permanent (bad data, schema)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from csvdock.core.errors import CsvdockError

log = logging.getLogger("csvdock")
T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Return whether ``error`` (or an error in its cause chain) is of a transient type: a
    csvdock error whose class says so (``WarehouseUnavailable``, ``WarehouseLocked``: decided
    from the driver's exception type and SQLSTATE where they were raised), or an OS-level
    connection failure. Never from message text."""
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "transient", False) is True:
            return True
        if isinstance(seen, ConnectionError | TimeoutError):
            return True
        seen = seen.__cause__
    return False


def with_retries(action: Callable[[], T], retries: int, delay: float, what: str) -> T:
    """Run ``action``; on a transient ``CsvdockError`` wait and try again, up to ``retries`` more
    times (the delay doubles each time: tenacity's exponential wait). Permanent errors are
    raised at once."""

    def note(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: transient error, retry %d of %d in %.1f s: %s",
            what,
            state.attempt_number,
            retries,
            wait,
            exc,
        )

    retrying = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(multiplier=delay, exp_base=2, min=0),
        retry=retry_if_exception(lambda exc: isinstance(exc, CsvdockError) and is_transient(exc)),
        before_sleep=note,
        reraise=True,
    )
    return retrying(action)
