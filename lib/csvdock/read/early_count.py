"""Extract's DuckDB count of a file read from its source, begun while the record index is built."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from csvdock.read.dialect import Dialect
from csvdock.read.parse import SHORT_LINE_BYTES, count_with_duckdb, text_records_select


class EarlyCount:
    """DuckDB's count of a file's records (``count_with_duckdb``), started in a thread while the
    record index is built (DuckDB and NumPy each take a core), with the options guessed from
    the first line: a header, its fields, LF line endings. ``source_plan`` takes the count only
    where the options it needs are exactly the guessed ones, and counts again otherwise."""

    def __init__(self, path: Path, dialect: Dialect) -> None:
        self.path, self.sql = path, ""
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._count: Future[tuple[list[tuple[int, str, int | None, str]], int]] | None = None
        fields = _first_line_fields(path, dialect)
        if fields:
            guessed = replace(dialect, header=True)
            self.sql = _count_options(guessed, fields, True)
            columns = [f"c{i}" for i in range(fields)]
            self._count = self._pool.submit(
                count_with_duckdb, path, guessed, columns, True, SHORT_LINE_BYTES
            )

    def result(
        self, dialect: Dialect, fields: int, lf_only: bool
    ) -> tuple[list[tuple[int, str, int | None, str]], int] | None:
        """Return the count where it was made with these options, else None (raise
        ``QuotingError`` as ``count_with_duckdb`` does)."""
        if self._count is None or _count_options(dialect, fields, lf_only) != self.sql:
            return None
        return self._count.result()

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
