"""A column's evidence in its schema: what detection saw of its values (rows, NULLs, samples and
the exact extremes), from the statistics of its pass (``csvdock.schema.detect``) or of the values
a load stored (``csvdock.schema.optimistic``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from csvdock.schema import types as t
from csvdock.schema.statistics import stat_key

SAMPLE_COUNT = 3


def columns_evidence(types: dict[str, str], stats: dict[str, Any], rows: int) -> dict[str, Any]:
    """Return each column's evidence for its chosen type (``types``: name to logical type), from
    the pass's statistics; min and max are left out where the pass could not give them exactly."""
    evidence: dict[str, dict[str, Any]] = {}
    typed_ends: dict[str, dict[str, Any]] = {}  # the entries whose extremes are typed values
    for name, logical in types.items():
        text = logical == t.TEXT
        present = stats[stat_key(name, "text_present" if text else "present")]
        samples = stats[stat_key(name, "text_samples" if text else "samples")]
        entry: dict[str, Any] = {
            "rows": rows,
            "null_count": rows - present,
            "samples": list(dict.fromkeys(samples))[:SAMPLE_COUNT],
        }
        evidence[name] = entry
        scale = t.decimal_scale(logical)
        if scale is not None:
            whole = stats.get(stat_key(name, "whole")) or 0
            if whole + t.MAX_DECIMAL_SCALE <= t.DECIMAL_PRECISION:
                step = Decimal(1).scaleb(-scale)
                for end in ("min", "max"):
                    value = stats[stat_key(name, f"decimal|{end}")]
                    entry[end] = None if value is None else format(value.quantize(step), "f")
        elif stat_key(name, f"{logical}|min") in stats:
            for end in ("min", "max"):
                entry[end] = stats[stat_key(name, f"{logical}|{end}")]
            typed_ends[name] = entry
    extremes_as_text(typed_ends, types)
    return evidence


def extremes_as_text(extremes: dict[str, dict[str, Any]], types: dict[str, str]) -> None:
    """Write each column's typed ``min`` and ``max`` in ``extremes`` as Polars writes them as
    text (what the evidence has always shown), one Series per type (a Series a value cost
    0.17 s for 2,000 columns)."""
    by_type: dict[str, list[str]] = {}
    for name in extremes:
        by_type.setdefault(types[name], []).append(name)
    for logical, names in by_type.items():
        typed = [extremes[name][end] for name in names for end in ("min", "max")]
        texts = iter(pl.Series(typed, dtype=t.polars_dtype(logical)).cast(pl.String).to_list())
        for name in names:
            extremes[name]["min"], extremes[name]["max"] = next(texts), next(texts)
