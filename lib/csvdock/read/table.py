"""Finding the table inside a file: the lines above it (a preamble), a header spread over several
rows, the lines below it (notes, totals) and a second table after a blank line.

Lines outside the table are not data and are not lost: each span is reported with its reason
(``preamble``, ``comment``, ``header row``, ``footer``, ``second table at line N``) and counted in
the run summary's ``lines_outside_table``. Conservation reads: every line of a file is a header
line, a blank line, a line outside the table, or part of a record that is loaded or rejected.

The evidence is the record index's field counts (the table's width is the most common count)
and, for the first and last records only, their fields and the kinds of value in them:

- **preamble**: records before the first run of records of the table's width. A single record
  one field short of the width right above the data is a header missing a name (a pandas index
  column, a trailing delimiter), not a preamble, unless the next record is itself a header.
- **no header**: the first row of the table is typed like the body (numbers where the body has
  numbers, dates where it has dates...): its columns are named ``column_1``, ``column_2``...
- **multi-row header**: a header whose names are blank or repeated (merged cells), followed by a
  row that fills them and is not typed like the body: the names are joined (``revenue_2023``).
- **footer**: the last records, when they hold at most one value with a letter in it (a note,
  "Total: 5") or start with "Total".
- **second table**: after a blank line, a record of another width followed by more of that width,
  or a repeat of the header. The table loaded is the widest-spread one of the first records; a
  smaller table above it (three or more records of one width, then a blank line) is reported as
  ``another table at line N``. ``--split-tables`` loads such tables too (``csvdock.read.split``).
- **comments**: lines starting with ``#`` that are narrower than the table.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from csvdock.read.dialect import Dialect, record_fields
from csvdock.read.header_rows import (
    column_kinds,
    continues_header,
    header_like,
    joined_names,
    number_shapes,
    typed_like,
)
from csvdock.read.records import END, FIELDS, LINE, START, RecordIndex

HEAD_RECORDS = 200  # records read for the preamble, the header and the body's kinds of value
TAIL_RECORDS = 20  # records read for a footer
RUN = 5  # records of the table's width that confirm where it starts
RUN_SHARE = 0.6  # of the records after the table's first, those of its width
MAX_HEADER_ROWS = 3
MAX_GAPS = 10_000  # blank lines examined for a second table
SECOND_TABLE = "second table at line"  # the reasons of other tables' spans start so
EARLIER_TABLE = "another table at line"
OTHER_TABLES = (SECOND_TABLE, EARLIER_TABLE)
MIN_TABLE_RECORDS = 3  # a header and two records: a block above the table that is a table
HEADER_ROW = "header row"  # the reason given a multi-row header's rows after the first
COMMENT = "#"  # a line starting with it, narrower than the table, is a comment
MAX_COMMENTS = 1_000  # more are rejects (too few fields) like any other narrow record
TOTALS = re.compile(r"(?i)\s*(grand\s+)?(sub)?totals?\b|\s*sum\b")


@dataclass(frozen=True)
class OutsideSpan:
    """Consecutive records outside the table: their first and last line and why."""

    first_line: int
    last_line: int
    lines: int  # lines holding something (blank lines are counted apart)
    reason: str
    start: int = 0  # byte offsets of its first record and past its last, in the text parsed
    end: int = 0


@dataclass
class TableLayout:
    """Where the table is in a file's records (indexes into its record index)."""

    header: bool = True
    header_records: tuple[int, ...] = (0,)  # the rows of the header (several when spread)
    start: int = 0  # the table's first record (its header, or its first data record)
    names: list[str] | None = None  # joined names of a multi-row header
    outside: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    spans: list[OutsideSpan] = field(default_factory=list)

    @property
    def not_data(self) -> np.ndarray:
        """Return the records that are not data records: outside the table or header rows."""
        return np.union1d(self.outside, np.array(self.header_records, dtype=np.int64))

    @property
    def left_out(self) -> np.ndarray:
        """Return the records the parser must not see: outside the table, or header rows after
        the first (the parser reads the first as the header)."""
        return np.union1d(self.outside, np.array(self.header_records[1:], dtype=np.int64))

    @property
    def lines_outside(self) -> int:
        """Return how many lines lie outside the table (a header's extra rows are header)."""
        return sum(span.lines for span in self.spans if span.reason != HEADER_ROW)


def find_table(
    path: Path, index: RecordIndex, dialect: Dialect, header: bool | None
) -> TableLayout:
    """Return where the table of ``path`` is; ``header`` pins whether it has a header row.

    It reads as the module docstring's list, top to bottom (preamble, header, header rows,
    footer, other tables), each step on the previous one's findings."""
    total = len(index)
    counts = _field_counts(index)
    head = min(total, HEAD_RECORDS)
    rows = _fields(path, index, np.arange(head, dtype=np.int64), dialect)
    uncommented = [
        n for n, row in zip(counts[:head].tolist(), rows, strict=True) if not _commented(row)
    ]
    width = _table_width(np.array(uncommented or counts[:head].tolist()))
    start = _table_start(counts[:head], rows, width)
    # The body's evidence leaves out the record after the header: it may be a header row too.
    body = [r for r in rows[start + 1 :] if len(r) == width]
    body = body[1:] if len(body) > 1 else body
    kinds = column_kinds(body, width)
    shapes = number_shapes(body, kinds)
    first_filled = bool(body) and all(row[0].strip() for row in body)
    if (
        start == 1
        and counts[0] == width - 1
        and not _commented(rows[0])
        and typed_like(rows[1], kinds) is not False
    ):
        start = 0  # a header one name short of its data, not a preamble
    if (
        start
        and header is not False
        and counts[start - 1] != width == len(rows[start - 1])
        and header_like(rows[start - 1], kinds, shapes, body)
        and typed_like(rows[start], kinds) is True
        and not _blank_before(path, index, start)
    ):
        start -= 1  # the header, whose quoting the record index reads otherwise ("URL"Comments)
    has_header = header if header is not None else header_like(rows[start], kinds, shapes, body)
    header_rows = (
        _header_rows(start, rows, counts, width, kinds, first_filled) if has_header else []
    )
    data_start = (header_rows[-1] + 1) if header_rows else start
    end = _table_end(path, index, counts, width, data_start, rows, kinds, dialect)
    footer = _footer_start(path, index, counts, width, data_start, end, dialect)
    outside: list[tuple[int, int, str]] = []
    earlier = _earlier_table(path, index, counts, rows, start) if start else start
    if earlier:
        outside.append((0, earlier, "preamble"))
    if earlier < start:
        line = int(index.positions_of(np.array([earlier]))[LINE][0])
        outside.append((earlier, start, f"{EARLIER_TABLE} {line}"))
    if dialect.delimiter != COMMENT:
        outside.extend(_comments(path, index, counts, width, data_start, footer))
    if len(header_rows) > 1:
        outside.append((header_rows[1], header_rows[-1] + 1, HEADER_ROW))
    if footer < end:
        outside.append((footer, end, "footer"))
    if end < total:
        line = int(index.positions_of(np.array([end]))[LINE][0])
        outside.append((end, total, f"{SECOND_TABLE} {line}"))
    names = joined_names([rows[r] for r in header_rows]) if len(header_rows) > 1 else None
    outside = _joined(outside)
    spans = _spans(path, index, outside)
    left = [np.arange(a, z, dtype=np.int64) for a, z, reason in outside if reason != HEADER_ROW]
    return TableLayout(
        header=has_header,
        header_records=tuple(header_rows),
        start=start,
        names=names,
        outside=np.concatenate(left) if left else np.zeros(0, dtype=np.int64),
        spans=spans,
    )


def _header_rows(
    start: int,
    rows: list[list[str]],
    counts: np.ndarray,
    width: int,
    kinds: list[str | None],
    first_filled: bool,
) -> list[int]:
    """Return the header's records: ``start`` and the records after it among the first ones,
    ``rows`` (never the last of them), that continue it, up to ``MAX_HEADER_ROWS``."""
    header_rows = [start]
    while (
        len(header_rows) < MAX_HEADER_ROWS
        and header_rows[-1] + 1 < len(rows) - 1
        and counts[header_rows[-1] + 1] == width
        and continues_header(
            [rows[r] for r in header_rows], rows[header_rows[-1] + 1], kinds, first_filled
        )
    ):
        header_rows.append(header_rows[-1] + 1)
    return header_rows


def _joined(outside: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Return the record ranges ``outside`` the table in order, each range that ends where the
    next one of the same reason starts joined with it."""
    joined: list[tuple[int, int, str]] = []
    for a, z, reason in sorted(outside):
        if joined and joined[-1][1] == a and joined[-1][2] == reason:
            joined[-1] = (joined[-1][0], z, reason)
        else:
            joined.append((a, z, reason))
    return joined


def _comments(
    path: Path, index: RecordIndex, counts: np.ndarray, width: int, first: int, end: int
) -> list[tuple[int, int, str]]:
    """Return the comment lines among records ``first`` to ``end``: narrower than the table
    and starting with ``#``, each as a span of one record."""
    narrower = np.flatnonzero(counts[first:end] < width)[:MAX_COMMENTS] + first
    if narrower.size == 0:
        return []
    starts = index.positions_of(narrower.astype(np.int64))[START]
    found: list[tuple[int, int, str]] = []
    with path.open("rb") as handle:
        for record, start in zip(narrower.tolist(), starts.tolist(), strict=True):
            handle.seek(start)
            if handle.read(64).lstrip(b" \t").startswith(COMMENT.encode()):
                found.append((record, record + 1, "comment"))
    return found


def _earlier_table(
    path: Path, index: RecordIndex, counts: np.ndarray, rows: list[list[str]], start: int
) -> int:
    """Return where a table above the table starts (``start`` when there is none): the records
    just above a blank line above ``start``, all of one width over one field, at least
    ``MIN_TABLE_RECORDS`` of them (a smaller table than the one loaded, not a preamble)."""
    if start < MIN_TABLE_RECORDS or not _blank_before(path, index, start):
        return start
    first = start
    while (
        first > 0 and counts[first - 1] == counts[start - 1] > 1 and not _commented(rows[first - 1])
    ):
        first -= 1
    return first if start - first >= MIN_TABLE_RECORDS else start


def _commented(row: list[str]) -> bool:
    return bool(row) and row[0].lstrip().startswith(COMMENT)


def _field_counts(index: RecordIndex) -> np.ndarray:
    """Return every record's field count (filled batch by batch: no second copy at once)."""
    counts = np.zeros(len(index), dtype=np.int32)
    base = 0
    for batch in index.batches([FIELDS]):
        counts[base : base + batch.num_rows] = batch.column(0).to_numpy()
        base += batch.num_rows
    return counts


def _table_width(counts: np.ndarray) -> int:
    """Return the most common field count of the first records; on a tie, the first count
    of more than one field to appear (a preamble is narrow, a second table comes later)."""
    values, found = np.unique(counts, return_counts=True)
    tied = set(values[found == found.max()].tolist())
    wide = [int(c) for c in counts.tolist() if c in tied and c > 1]
    return wide[0] if wide else int(values[found == found.max()][0])


def _table_start(counts: np.ndarray, rows: list[list[str]], width: int) -> int:
    """Return the first record of the table: the first of the table's width, followed by
    records mostly of that width (comments aside), not a title padded with delimiters. Records
    before it must be narrower than the table or padded titles (else there is no preamble: 0)."""
    plain = [r for r in range(len(counts)) if not (_commented(rows[r]) and counts[r] < width)]
    for at, record in enumerate(plain):
        after = counts[plain[at + 1 : at + 1 + RUN]]
        if (
            counts[record] == width
            and not _padded_title(rows[record], width)
            and (
                after.size == 0
                or (
                    after[0] == width and np.count_nonzero(after == width) >= RUN_SHARE * after.size
                )
            )
        ):
            before_ok = all(
                counts[r] < width or _padded_title(rows[r], width) for r in range(record)
            )
            return record if before_ok else 0
    return 0


def _padded_title(row: list[str], width: int) -> bool:
    """Whether ``row`` is a line of text padded with delimiters to the table's width."""
    return width >= 3 and sum(1 for cell in row if cell.strip()) <= 1


def _table_end(
    path: Path,
    index: RecordIndex,
    counts: np.ndarray,
    width: int,
    data_start: int,
    head_rows: list[list[str]],
    kinds: list[str | None],
    dialect: Dialect,
) -> int:
    """Return the record after the table's last: where a second table starts after a blank
    line (a run of another width, or the header again), else the number of records."""
    total = len(counts)
    header = head_rows[data_start - 1] if data_start else None
    gaps = [r for r in _after_blank_lines(path, index, data_start) if r < total]
    same = np.array([r for r in gaps if counts[r] == width], dtype=np.int64)
    same_rows = dict(zip(same.tolist(), _fields(path, index, same, dialect), strict=True))
    for record in gaps:
        other = counts[record] != width
        if (
            other
            and counts[record] > 1
            and (record + 1 < total and counts[record + 1] == counts[record])
        ):
            return record
        if not other:
            row = same_rows[record]
            if row == header or (
                header is not None
                and typed_like(row, kinds) is False
                and all(cell.strip() for cell in row)
            ):
                return record
    return total


def has_blank_lines(path: Path, index: RecordIndex) -> bool:
    """Whether ``path`` holds a blank line after its first record (its last line included)."""
    if _after_blank_lines(path, index, 0, limit=1):
        return True
    size = path.stat().st_size
    with path.open("rb") as handle:
        return _blank_at(handle, size)


def _after_blank_lines(
    path: Path, index: RecordIndex, first: int, limit: int = MAX_GAPS
) -> list[int]:
    """Return the records (after ``first``) that follow one or more blank lines (at most
    ``limit`` of them)."""
    found: list[int] = []
    base, previous = 0, None
    with path.open("rb") as handle:
        for batch in index.batches([LINE, START]):
            lines, starts = batch.column(0).to_numpy(), batch.column(1).to_numpy()
            before_lines = np.concatenate(([previous if previous is not None else 0], lines[:-1]))
            gaps = np.flatnonzero(lines - before_lines > 1)  # more than a line after the last
            for local in gaps.tolist():
                record = base + local
                if record > first and _blank_at(handle, int(starts[local])):
                    found.append(record)
                if len(found) >= limit:
                    return found
            base, previous = base + batch.num_rows, int(lines[-1]) if lines.size else previous
    return found


def _blank_before(path: Path, index: RecordIndex, record: int) -> bool:
    """Whether a blank line comes just before ``record``."""
    start = int(index.positions_of(np.array([record], dtype=np.int64))[START][0])
    with path.open("rb") as handle:
        return _blank_at(handle, start)


def _blank_at(handle: BinaryIO, start: int) -> bool:
    handle.seek(max(start - 3, 0))
    return handle.read(min(3, start)).endswith((b"\n\n", b"\n\r\n"))


def _footer_start(
    path: Path,
    index: RecordIndex,
    counts: np.ndarray,
    width: int,
    data_start: int,
    end: int,
    dialect: Dialect,
) -> int:
    """Return the first record of the footer (``end`` when there is none): the last records
    holding at most one value with a letter (a note), or starting with "Total"."""
    first = max(data_start + 1, end - TAIL_RECORDS)  # a footer leaves at least one data record
    if first >= end:
        return end
    rows = _fields(path, index, np.arange(first, end, dtype=np.int64), dialect)
    footer = end
    for record in range(end - 1, first - 1, -1):
        row = rows[record - first]
        values = [cell for cell in row if cell.strip()]
        note = (
            counts[record] != width
            and len(values) <= 1
            and any(ch.isalpha() for cell in values for ch in cell)
        )
        total = bool(row) and TOTALS.match(row[0]) is not None
        if not (note or total):
            break
        footer = record
    return footer


def _fields(
    path: Path, index: RecordIndex, records: np.ndarray, dialect: Dialect
) -> list[list[str]]:
    """Return the fields of the ascending ``records``, split as the dialect says."""
    if records.size == 0:
        return []
    found = index.positions_of(records)
    rows: list[list[str]] = []
    with path.open("rb") as handle:
        for start, end in zip(found[START].tolist(), found[END].tolist(), strict=True):
            handle.seek(start)
            raw = handle.read(min(end - start, 1 << 20)).rstrip(b"\r\n")
            text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
            rows.append(_split(text, dialect))
    return rows


def _split(text: str, dialect: Dialect) -> list[str]:
    try:
        return record_fields(text, dialect.delimiter, dialect.quote, dialect.escape)
    except csv.Error:
        return text.split(dialect.delimiter)


def _spans(
    path: Path, index: RecordIndex, outside: list[tuple[int, int, str]]
) -> list[OutsideSpan]:
    """Return the spans of records ``(first, end, reason)`` (``end`` exclusive) with their
    lines (one look-up of the index for all of them)."""
    ends = np.array(sorted({r for a, z, _ in outside for r in (a, z - 1)}), dtype=np.int64)
    found = index.positions_of(ends)
    at = {int(r): k for k, r in enumerate(ends.tolist())}
    spans = []
    for a, z, reason in outside:
        first, last = at[a], at[z - 1]
        start, stop = int(found[START][first]), int(found[END][last])
        end_line = int(found[LINE][last]) + _line_breaks_inside(path, _bytes_of(found, last))
        first_line = int(found[LINE][first])
        spans.append(
            OutsideSpan(
                first_line, end_line, _lines_between(path, start, stop), reason, start, stop
            )
        )
    return spans


def _bytes_of(found: dict[str, Any], at: int) -> tuple[int, int]:
    return int(found[START][at]), int(found[END][at])


def _lines_between(path: Path, start: int, stop: int) -> int:
    """Return the non-blank lines of ``path`` between byte ``start`` and ``stop``."""
    lines = 0
    with path.open("rb") as handle:
        handle.seek(start)
        left, tail = stop - start, b""
        while left > 0:
            block = handle.read(min(left, 1 << 22))
            if not block:
                break
            left -= len(block)
            text = tail + block
            parts = text.split(b"\n")
            tail = parts.pop()
            lines += sum(1 for part in parts if part.strip(b"\r"))
        lines += 1 if tail.strip(b"\r") else 0
    return lines


def _line_breaks_inside(path: Path, record: tuple[int, int]) -> int:
    """Return how many line breaks the record at bytes ``record`` (start, end) holds inside."""
    start, end = record
    with path.open("rb") as handle:
        handle.seek(start)
        raw = handle.read(min(end - start, 1 << 20)).rstrip(b"\r\n")
    return raw.count(b"\n")
