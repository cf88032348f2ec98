"""Extract's DuckDB count of a file read from its source: begun while the record index is built,
or, in a file where a record is a line, taken of the records the index finds ragged only."""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from csvdock.read.dialect import Dialect
from csvdock.read.parse import SHORT_LINE_BYTES, count_with_duckdb, text_records_select
from csvdock.read.records import END, START, Indexed, RecordIndex, holds_any

Counted = tuple[list[tuple[int, str, int | None, str]], int]  # DuckDB's rejects, records parsed


class EarlyCount:
    """DuckDB's count of a file's records (``count_with_duckdb``), started in a thread while the
    record index is built (DuckDB and NumPy each take a core), with the options guessed from
    the first line: a header, its fields, LF line endings. ``counted`` takes the count only
    where the options it needs are exactly the guessed ones, and counts again otherwise.

    A file without quote or escape bytes is not counted whole: each of its records is one line
    (or its line terminator and the blank lines after), which DuckDB accepts or refuses by
    itself, so a copy of the header and the records the index finds ragged, counted, tells
    what DuckDB does with the whole file (``_ragged_counted``): 1.5 s of CPU at 5M records."""

    def __init__(self, path: Path, dialect: Dialect) -> None:
        self.path, self.sql = path, ""
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._count: Future[Counted] | None = None
        self.line_per_record = not holds_any(path, {dialect.quote, dialect.escape})
        fields = 0 if self.line_per_record else _first_line_fields(path, dialect)
        if fields:
            guessed = replace(dialect, header=True)
            self.sql = _count_options(guessed, fields, True)
            columns = [f"c{i}" for i in range(fields)]
            self._count = self._pool.submit(
                count_with_duckdb, path, guessed, columns, True, SHORT_LINE_BYTES
            )

    def counted(
        self, indexed: Indexed, dialect: Dialect, columns: list[str], lf_only: bool
    ) -> Counted:
        """Return what ``count_with_duckdb`` returns for ``indexed.path``: the early count
        where it was made with these options, the count of the ragged records where a record
        is a line, else a count made now (raise ``QuotingError`` as ``count_with_duckdb``
        does)."""
        path = indexed.path
        if self._count is not None and _count_options(dialect, len(columns), lf_only) == self.sql:
            return self._count.result()
        if path == self.path and self.line_per_record and _lines_alone(indexed.index):
            return _ragged_counted(indexed, dialect, columns, lf_only)
        return count_with_duckdb(path, dialect, columns, lf_only, SHORT_LINE_BYTES)

    def __enter__(self) -> EarlyCount:
        return self

    def __exit__(self, *_: object) -> None:
        self._pool.shutdown(wait=True)  # (a count nobody took still ends before the file goes)


def _count_options(dialect: Dialect, fields: int, lf_only: bool) -> str:
    columns = [f"c{i}" for i in range(fields)]
    return text_records_select(columns, dialect, lf_only, max_line=SHORT_LINE_BYTES)


def _first_line_fields(path: Path, dialect: Dialect) -> int:
    """Return the fields of the first line of ``path`` read with ``dialect`` (0: no guess)."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    line, newline, _ = head.partition(b"\n")
    if not newline or b"\r" in line or not dialect.quoting:
        return 0
    text = line.decode("utf-8", errors="replace")
    if dialect.quote in text:
        return 0  # (a quoted field may hold the delimiter: the index decides)
    return len(text.split(dialect.delimiter))


def _lines_alone(index: RecordIndex) -> bool:
    """Return whether DuckDB reads each record of a file without quote bytes by itself: no NUL
    byte, no carriage return inside a line, none longer than the longest it reads again."""
    return not (
        index.nul_bytes
        or index.stray_carriage_returns
        or index.mixed_line_endings
        or index.longest_record is None
        or index.longest_record > SHORT_LINE_BYTES
    )


def _ragged_counted(
    indexed: Indexed, dialect: Dialect, columns: list[str], lf_only: bool
) -> Counted:
    """Count a copy of the file's bytes before its first data record (the header) followed by
    its ragged records (each with its line terminator and the blank lines after it, as in the
    file); return DuckDB's rejects at their positions in the file and the records it would
    parse there: the others, which it reads as the index does, and the ragged ones it takes."""
    path, index, first_data, ragged = (
        indexed.path,
        indexed.index,
        indexed.first_data,
        indexed.ragged,
    )
    rows = len(index) - first_data
    if rows <= 0:
        return count_with_duckdb(path, dialect, columns, lf_only, SHORT_LINE_BYTES)
    head = int(index.positions_of(np.array([first_data]))[START][0])
    spans = index.positions_of(ragged)
    starts, ends = spans[START], spans[END]
    copied_at = head + np.concatenate(([0], np.cumsum(ends - starts)[:-1])).astype(np.int64)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "ragged.csv"
        with path.open("rb") as source, copy.open("wb") as out:
            out.write(source.read(head))
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                source.seek(start)
                out.write(source.read(end - start))
        found, parsed = count_with_duckdb(copy, dialect, columns, lf_only, SHORT_LINE_BYTES)
    at = np.array([r[0] for r in found], dtype=np.int64)
    # (DuckDB's position may be a byte before the record: the record is the first one starting
    # at or after the position less one, in the copy as in the file, ``parse_rejects``.)
    which = np.clip(np.searchsorted(copied_at, at - 1, side="left"), 0, max(ragged.size - 1, 0))
    moved = at + (starts[which] - copied_at[which]) if ragged.size else at
    rejects = [(int(m), *r[1:]) for m, r in zip(moved.tolist(), found, strict=True)]
    return rejects, rows - ragged.size + parsed
