"""Rejected records: one row per record set aside, with where it was and why."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from csvdock.read.records import record_text

REJECT_SCHEMA = pl.Schema(
    {
        "line": pl.Int64,
        "byte_start": pl.Int64,
        "byte_end": pl.Int64,
        "stage": pl.String,
        "column": pl.String,
        "reason": pl.String,
    }
)


def rejects_with_raw_text(rejects: pl.DataFrame, source: Path) -> pl.DataFrame:
    """Return ``rejects`` with a ``raw`` column: each record's original text, read from ``source``.

    Bytes that are not UTF-8, and NUL (no database text holds it), are kept as ``\\xNN``
    escapes so nothing is silently altered.
    """
    raw = [
        record_text(source, start, end)
        .decode("utf-8", errors="backslashreplace")
        .replace("\x00", "\\x00")
        for start, end in zip(rejects["byte_start"], rejects["byte_end"], strict=True)
    ]
    return rejects.with_columns(pl.Series("raw", raw, dtype=pl.String)).sort("line")
