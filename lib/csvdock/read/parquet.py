"""Reading Parquet checkpoints in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

BATCH_BYTES = 32 * 1024 * 1024  # text held at once; the statistics' work space is a few times it
MIN_BATCH_ROWS, MEASURED_ROWS = 1_000, 10_000


def parquet_batches(path: Path, batch_size: int, columns: list[str] | None = None) -> Iterator[Any]:
    """Yield the Arrow record batches of the Parquet file ``path`` (only ``columns``, if given).

    Read without pre-buffering: with it pyarrow keeps every row group it has read until the file
    is closed (measured: 243 MB left allocated after iterating 5M records)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path, pre_buffer=False)
    yield from parquet.iter_batches(batch_size=batch_size, columns=columns)


def batch_rows(path: Path, columns: list[str], size: int = BATCH_BYTES) -> int:
    """Return how many rows of ``columns`` make about ``size`` bytes in memory, measured on the
    first rows (Parquet's own sizes are of encoded data: a repeated long value looks small)."""
    first = pl.scan_parquet(path).select(columns).head(MEASURED_ROWS).collect()
    per_row = max(first.estimated_size() / max(first.height, 1), 1.0)
    return max(MIN_BATCH_ROWS, int(size / per_row))


def record_batches(
    path: Path, columns: list[str], limit: int | None = None
) -> Iterator[pl.LazyFrame]:
    """Yield the rows of the Parquet file ``path`` (only ``columns``; only the first ``limit``
    rows, if given) as bounded lazy slices."""
    rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    rows = rows if limit is None else min(rows, limit)
    step = batch_rows(path, columns)
    for offset in range(0, rows, step):
        yield pl.scan_parquet(path).select(columns).slice(offset, min(step, rows - offset))
