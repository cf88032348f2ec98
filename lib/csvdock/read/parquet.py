"""Reading Parquet checkpoints in bounded batches; a small one read once and kept in memory.

Detection and the cast take ``Records``: Extract's text checkpoint as a path (read in bounded
slices), or, for a small file, the frame read from it once (``small_records``): a 100-record
file's detection and cast otherwise read its Parquet metadata and rows a dozen times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

Records = Path | pl.DataFrame
IN_MEMORY_BYTES = 1024 * 1024  # a text checkpoint up to this size is read into memory once
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


def small_records(path: Path) -> Records:
    """Return the text checkpoint ``path`` read into memory when it is small, else the path."""
    return pl.read_parquet(path) if path.stat().st_size <= IN_MEMORY_BYTES else path


def scan_records(records: Records) -> pl.LazyFrame:
    """Return ``records`` as a lazy frame."""
    return records.lazy() if isinstance(records, pl.DataFrame) else pl.scan_parquet(records)


def record_count(records: Records) -> int:
    """Return how many records ``records`` holds."""
    if isinstance(records, pl.DataFrame):
        return records.height
    return int(pl.scan_parquet(records).select(pl.len()).collect().item())


def record_batches(
    records: Records, columns: list[str], limit: int | None = None
) -> Iterator[pl.LazyFrame]:
    """Yield the rows of ``records`` (only ``columns``; only the first ``limit`` rows, if
    given) as bounded lazy slices (a frame in memory: one slice)."""
    if isinstance(records, pl.DataFrame):
        yield records.lazy().select(columns).head(records.height if limit is None else limit)
        return
    rows = record_count(records)
    rows = rows if limit is None else min(rows, limit)
    step = batch_rows(records, columns)
    for offset in range(0, rows, step):
        yield pl.scan_parquet(records).select(columns).slice(offset, min(step, rows - offset))
