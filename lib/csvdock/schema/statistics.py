"""Statistics over a whole file, folded batch by batch (detection's single pass)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import polars as pl

SUM, MIN, MAX, HEAD = "sum", "min", "max", "head"


def stat_key(name: str, check: str) -> str:
    """Return the name of one statistic of column ``name`` (a unit separator joins them, so no
    header collides with another column's statistic)."""
    return f"{name}\x1f{check}"


@dataclass(frozen=True)
class Statistic:
    """One aggregate over a whole file: ``expr`` per batch, folded with ``fold``; a ``HEAD``
    statistic is a list kept to its first ``head`` items."""

    expr: pl.Expr
    fold: str
    head: int = 0

    @cached_property
    def name(self) -> str:
        """Return the statistic's name (the expression's output name; asked for in loops over
        thousands of columns, so worked out once)."""
        return self.expr.meta.output_name()


def folded_statistics(batches: Iterable[pl.LazyFrame], stats: list[Statistic]) -> dict[str, Any]:
    """Return every statistic over all ``batches`` (no batches give sums of 0 and None).

    Each batch is collected with the in-memory engine: with many aggregates over the same
    columns it is about twice as fast as the streaming engine (measured on 1M records)."""
    result: dict[str, Any] = {s.name: _empty(s) for s in stats}
    groups = [stats[at : at + GROUP] for at in range(0, len(stats), GROUP)]
    for batch in batches:
        frame = batch.collect(engine="in-memory") if len(groups) > 1 else batch
        for group in groups:
            selected = frame.select([s.expr for s in group])
            found = (
                selected.collect(engine="in-memory")
                if isinstance(selected, pl.LazyFrame)
                else selected
            )
            row = found.row(0, named=True)
            for stat in group:
                result[stat.name] = _fold(stat, result[stat.name], row[stat.name])
    return result


# Aggregates planned at once: a wide file's thousands of columns (tens of thousands of
# aggregates) planned in one query cost time and memory far beyond linear; in groups of this
# many they cost the same per column whatever the width.
GROUP = 512


def empty_statistic(stat: Statistic) -> Any:
    """Return ``stat`` over no rows."""
    return _empty(stat)


def fold_statistic(stat: Statistic, so_far: Any, value: Any) -> Any:
    """Return ``stat`` so far folded with one more batch's ``value``."""
    return _fold(stat, so_far, value)


def _empty(stat: Statistic) -> Any:
    return 0 if stat.fold == SUM else [] if stat.fold == HEAD else None


def _fold(stat: Statistic, so_far: Any, value: Any) -> Any:
    if stat.fold == SUM:
        return so_far + (value or 0)
    if stat.fold == HEAD:
        return so_far if len(so_far) >= stat.head else [*so_far, *(value or [])][: stat.head]
    if value is None:
        return so_far
    if so_far is None:
        return value
    return min(so_far, value) if stat.fold == MIN else max(so_far, value)
