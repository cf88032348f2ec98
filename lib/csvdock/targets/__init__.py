"""The targets csvdock loads into, behind one interface (``csvdock.targets.base``).

``TARGETS`` registers every kind; a URL picks its kind by scheme. Adding a target is one module
with a ``SPEC`` (its dialect, capabilities, URL parsing and connection) added to ``TARGETS``;
the contract tests in ``tests/targets`` then run over it.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

from csvdock.core.errors import ConfigError
from csvdock.targets import duckdb, postgres
from csvdock.targets.base import (
    Capabilities,
    SqlDialect,
    Target,
    TargetSpec,
    Warehouse,
    WarehouseError,
    WarehouseLocked,
    WarehouseUnavailable,
)
from csvdock.targets.url import DEFAULT_TARGET, masked_url

TARGETS: dict[str, TargetSpec] = {spec.kind: spec for spec in (duckdb.SPEC, postgres.SPEC)}

__all__ = [
    "DEFAULT_TARGET",
    "TARGETS",
    "Capabilities",
    "SqlDialect",
    "Target",
    "TargetSpec",
    "Warehouse",
    "WarehouseError",
    "WarehouseLocked",
    "WarehouseUnavailable",
    "connect",
    "dialect_of",
    "held_open",
    "masked_url",
    "parse_target",
]


def parse_target(url: str) -> Target:
    """Parse a target URL, raising ``ConfigError`` with a readable message when it is not one."""
    for spec in TARGETS.values():
        if url.startswith(spec.schemes):
            return spec.parse(url)
    kinds = " or ".join(spec.url_help for spec in TARGETS.values())
    raise ConfigError(f"target {masked_url(url)!r} is not supported: use {kinds}")


def default_schema_of(url: str) -> str:
    """Return the schema an unqualified table lives in on the target at ``url``."""
    return TARGETS[parse_target(url).kind].default_schema


def max_columns_of(url: str) -> int | None:
    """Return the most columns a file may have to load into the target at ``url`` (None: no
    limit), the same in both modes."""
    return TARGETS[parse_target(url).kind].max_columns


def connect(target: Target) -> Warehouse:
    """Open a connection to ``target``."""
    return TARGETS[target.kind].connect(target)


def dialect_of(kind: str) -> SqlDialect:
    """Return the SQL dialect of the ``kind`` of target."""
    return TARGETS[kind].dialect


def held_open(target: Target, wait: bool = False) -> AbstractContextManager[None]:
    """Keep ``target`` open while a run's loads happen in this process, where its kind gains by
    it (a DuckDB file); elsewhere a no-op. ``wait``: for another process holding it (else it
    is not held then)."""
    hold = TARGETS[target.kind].hold
    return hold(target, wait) if hold else contextlib.nullcontext()
