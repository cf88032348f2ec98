"""The header of the table in a file: its names, and mending a header that does not fit its
body (a stray quote, one empty name too many, one name missing)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from csvdock.read.dialect import Dialect, record_fields
from csvdock.read.errors import ExtractError
from csvdock.read.records import END, START, RecordIndex, record_text
from csvdock.read.table import TableLayout


def header_names(
    path: Path, index: RecordIndex, dialect: Dialect, layout: TableLayout
) -> list[str]:
    """Return the names of the table's header row (``column_N`` where it has none)."""
    first = layout.header_records[0] if layout.header_records else layout.start
    found = index.positions_of(np.array([first], dtype=np.int64))
    raw = record_text(path, int(found[START][0]), int(found[END][0]))
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        fields = record_fields(text, dialect.delimiter, dialect.quote, dialect.escape)
    except csv.Error as exc:
        raise ExtractError(f"the first record cannot be parsed: {exc}") from None
    if dialect.header:
        return [f.replace("\x00", "") for f in fields]
    return [f"column_{i}" for i in range(1, len(fields) + 1)]


HEADER_SAMPLE = 10_000  # data records whose field counts tell the body's width
MAX_ODD_SHARE = 0.01  # of those, the share that may have another width (ragged records)


def mended_header(
    path: Path, index: RecordIndex, dialect: Dialect, layout: TableLayout, names: list[str]
) -> tuple[list[str], str | None]:
    """Return the header's names fitted to the body's width, and what was mended (None: the
    header already fits, or the body has no one width). When the body has one width and only
    the header differs, the body decides: a stray quote that swallowed the rest of the header is
    text, an empty extra name is dropped, a missing one is added (first where the first column
    counts rows, as a pandas index, else last)."""
    # The first data records: enough of the first records to hold them past the ones left out.
    head = np.arange(min(len(index), HEADER_SAMPLE + layout.not_data.size), dtype=np.int64)
    data = np.setdiff1d(head, layout.not_data)[:HEADER_SAMPLE]
    if data.size == 0:
        return names, None
    widths = Counter(index.fields_of(data).tolist())
    width, n = widths.most_common(1)[0]
    if width == len(names) or n < (1 - MAX_ODD_SHARE) * data.size:
        return names, None
    first = layout.header_records[0] if layout.header_records else layout.start
    found = index.positions_of(np.array([first], dtype=np.int64))
    raw = record_text(path, int(found[START][0]), int(found[END][0]))
    line = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    unquoted = [f.strip().strip(dialect.quote) for f in line.split(dialect.delimiter)]
    if dialect.quote in line and len(unquoted) == width:
        return unquoted, f"a stray quote in the header read as text ({len(names)} -> {width} names)"
    empty = [i for i, name in enumerate(names) if not name.strip()]
    if len(names) == width + 1 and len(empty) == 1:
        kept = names[: empty[0]] + names[empty[0] + 1 :]
        return kept, f"the empty name at field {empty[0] + 1} of the header dropped"
    if len(names) == width - 1 and not index.trailing_of(data).all():
        # (every record ending with a delimiter is the file's dialect: a trailing delimiter)
        if _counts_rows(path, index, dialect, data[:20]):
            return ["", *names], "a name added for the first column (it counts the rows)"
        return [*names, ""], f"a name added for the last column (the body has {width} fields)"
    return names, None


def _counts_rows(path: Path, index: RecordIndex, dialect: Dialect, records: np.ndarray) -> bool:
    """Whether the first field of ``records`` counts them (0, 1, 2... or 1, 2, 3...)."""
    found = index.positions_of(records)
    firsts = []
    for start, end in zip(found[START].tolist(), found[END].tolist(), strict=True):
        text = record_text(path, start, end).decode("utf-8", errors="replace")
        firsts.append(text.split(dialect.delimiter, 1)[0].strip())
    if not all(f.isdigit() for f in firsts):
        return False
    numbers = [int(f) for f in firsts]
    return numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[0] in (0, 1)
