"""Where each CSV record starts: byte offsets and the editor line numbers of record starts.

DuckDB's reader does not say which line a good record came from, and its reject positions are
approximate. A quote-parity scan over the raw bytes (vectorised with numpy, read in chunks, so
memory stays bounded) finds every record start: a newline outside quotes ends a record, and a
record starts at the next non-blank line. This is not a parser: the fields are DuckDB's job.
"""

from __future__ import annotations

import mmap
from collections import deque
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csvdock.read.line_endings import bare_carriage_returns, byte_before
from csvdock.read.parquet import parquet_batches
from csvdock.read.scan import (
    CARRIAGE_RETURN,
    CHUNK_BYTES,
    NEWLINE,
    Chunk,
    ChunksApart,
    file_chunks,
)

LINE, START, END = "__line", "__start", "__end"
FIELDS, TRAILING = "__fields", "__trailing"  # fields of a record; whether it ends with a delimiter
INDEX_ROW_GROUP = 1 << 20  # records a row group of the index file holds (24 MB in memory)
# The index is scratch, read back in pieces several times: uncompressed it is written and read
# faster (1M records: the extract 0.1 s less) at 20 bytes a record on disk; without dictionaries
# (its numbers are all different) and statistics (nothing filters on them) a third faster again
# (1M records: 0.093 -> 0.063 s).
INDEX_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "none",
    "use_dictionary": False,
    "write_statistics": False,
}
HELD_RECORDS = 100_000  # an index of at most this many records is held in memory once read


@dataclass(frozen=True)
class RecordIndex:
    """Where every record of a file is, the header record included: a Parquet file with the
    1-based editor line, start offset and end offset (exclusive, line terminator included) of
    each record in file order, read back in row groups so memory stays bounded."""

    path: Path
    count: int
    crlf_endings: int = 0
    lf_endings: int = 0
    nul_bytes: int = 0  # NUL bytes anywhere in the file
    counts_fields: bool = False  # the index holds FIELDS and TRAILING (a delimiter was given)
    literal_quotes: tuple[int, ...] = ()  # offsets of quotes read as text (not at a field's edge)
    unclosed_quote: int | None = None  # offset of the opening quote no quote closes
    broken_quotes: tuple[int, ...] = ()  # opening quotes of fields that ran on and ended badly
    stray_carriage_returns: tuple[int, ...] = ()  # bare CRs outside quotes (inside a line)
    # Bytes of the longest record, its terminator and the blank lines after it (None: unknown).
    longest_record: int | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def mixed_line_endings(self) -> bool:
        """Whether records end with both CRLF and bare LF."""
        return self.crlf_endings > 0 and self.lf_endings > 0

    def records_holding(self, byte_positions: np.ndarray) -> np.ndarray:
        """Return, for each of the ascending ``byte_positions``, the record it lies in."""
        return self.records_at_or_after(byte_positions + 1) - 1

    def records_at_or_after(self, byte_positions: np.ndarray) -> np.ndarray:
        """Return, for each of the ascending ``byte_positions``, the index of the first record
        that starts at or after it (``len(self)`` past the last record)."""
        found = np.full(byte_positions.size, self.count, dtype=np.int64)
        base = 0
        for starts in self._column(START):
            pending = found == self.count
            inside = pending & (byte_positions <= starts[-1])
            found[inside] = base + np.searchsorted(starts, byte_positions[inside], side="left")
            base += starts.size
        return found

    def positions_of(self, records: np.ndarray) -> dict[str, np.ndarray]:
        """Return the line, start and end of each of the ascending ``records``."""
        return self._columns_of(records, (LINE, START, END))

    @cached_property
    def _held(self) -> pa.Table | None:
        """The whole index, read once, when it is small (a small file's extract read it nine
        times, 3 ms of its 18); None for a larger one, read back in row groups."""
        return pq.read_table(self.path) if self.count <= HELD_RECORDS else None

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """Yield the index's rows (only ``columns``, if given) in batches, in file order."""
        if self._held is None:
            yield from parquet_batches(self.path, INDEX_ROW_GROUP, columns)
            return
        held = self._held.select(columns) if columns is not None else self._held
        yield from held.to_batches(INDEX_ROW_GROUP)

    def _columns_of(self, records: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Return columns ``names`` of the ascending ``records``, reading only the row groups
        that hold them (reading every group to find a few records cost a 20M-record file's
        Extract 100 MB and seconds)."""
        result = {name: np.zeros(records.size, dtype=np.int64) for name in names}
        if records.size == 0:
            return result
        if self._held is not None:
            return {name: self._held.column(name).to_numpy()[records] for name in names}
        parquet = pq.ParquetFile(self.path, pre_buffer=False)
        base = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            inside = (records >= base) & (records < base + rows)
            if inside.any():
                table = parquet.read_row_group(group, columns=list(names))
                for name in names:
                    result[name][inside] = table.column(name).to_numpy()[records[inside] - base]
            base += rows
            if base > records[-1]:
                break
        return result

    def write_positions(self, out: Path, first: int, skipped: np.ndarray) -> Path:
        """Write the positions of records ``first`` onwards, leaving out the ascending
        ``skipped`` ones, to the Parquet file ``out`` (in row groups)."""
        base = 0
        with pq.ParquetWriter(
            out, _index_schema(self.counts_fields), **INDEX_WRITE_OPTIONS
        ) as writer:
            for batch in self.batches():
                keep = np.ones(batch.num_rows, dtype=bool)
                keep[: max(first - base, 0)] = False
                inside = skipped[(skipped >= base) & (skipped < base + batch.num_rows)]
                keep[inside - base] = False
                writer.write_batch(batch.filter(pa.array(keep)))
                base += batch.num_rows
        return out

    def field_counts(self, first: int) -> tuple[dict[int, int], int, int]:
        """Return, for records ``first`` onwards, how many have each field count, and how many
        end with a delimiter (an empty last field) and how many of those end the file's lines."""
        counts: dict[int, int] = {}
        trailing = 0
        base = 0
        for batch in self.batches([FIELDS, TRAILING]):
            skip = max(first - base, 0)
            fields = batch.column(0).to_numpy()[skip:]
            values, found = np.unique(fields, return_counts=True)
            for value, n in zip(values.tolist(), found.tolist(), strict=True):
                counts[value] = counts.get(value, 0) + n
            trailing += int(np.count_nonzero(batch.column(1).to_numpy(zero_copy_only=False)[skip:]))
            base += batch.num_rows
        return counts, trailing, sum(counts.values())

    def records_with_fields_other_than(self, first: int, expected: int) -> np.ndarray:
        """Return the indexes of records ``first`` onwards whose field count is not ``expected``."""
        found: list[np.ndarray] = []
        base = 0
        for batch in self.batches([FIELDS]):
            fields = batch.column(0).to_numpy()
            odd = np.flatnonzero(fields != expected) + base
            found.append(odd[odd >= first])
            base += batch.num_rows
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def fields_of(self, records: np.ndarray) -> np.ndarray:
        """Return the field count of each of the ascending ``records``."""
        return self._columns_of(records, (FIELDS,))[FIELDS]

    def trailing_of(self, records: np.ndarray) -> np.ndarray:
        """Return whether each of the ascending ``records`` ends with a delimiter."""
        return self._columns_of(records, (TRAILING,))[TRAILING].astype(bool)

    def _column(self, name: str) -> Iterator[np.ndarray]:
        for batch in self.batches([name]):
            if batch.num_rows:
                yield batch.column(0).to_numpy()


@dataclass(frozen=True)
class Indexed:
    """A file and its record index: its data records from ``first_data``, the ``ragged`` ones'
    field counts off (what Extract's count of the file needs)."""

    path: Path
    index: RecordIndex
    first_data: int
    ragged: np.ndarray


_INDEX_SCHEMA = pa.schema([(LINE, pa.int64()), (START, pa.int64()), (END, pa.int64())])
_FIELDS_SCHEMA = pa.schema([*_INDEX_SCHEMA, (FIELDS, pa.int32()), (TRAILING, pa.bool_())])


def _index_schema(counts_fields: bool) -> pa.Schema:
    return _FIELDS_SCHEMA if counts_fields else _INDEX_SCHEMA


def index_records(
    path: Path,
    quote: str | None,
    escape: str | None,
    out: Path,
    delimiter: str | None = None,
    ignored: tuple[int, ...] = (),
) -> RecordIndex:
    """Scan ``path`` and write the position of every record to the Parquet file ``out`` (see
    the module docstring); return the index. With ``delimiter``, also count each record's fields
    (delimiters outside quotes, plus one), note whether it ends with a delimiter, and read quotes
    leniently (a quote inside a field is text); quotes at the offsets ``ignored`` are text."""
    size = path.stat().st_size
    crlf = lf = nul_bytes = parity = 0
    literal: list[np.ndarray] = []
    broken: list[np.ndarray] = []
    stray_cr: list[np.ndarray] = []
    last_opening = -1
    delimiter_byte = ord(delimiter) if delimiter else None
    schema = _index_schema(delimiter_byte is not None)
    with pq.ParquetWriter(out, schema, **INDEX_WRITE_OPTIONS) as writer:
        records = _PendingRecords(writer, size, delimiter_byte is not None)
        for found in _chunk_records(path, quote, escape, delimiter, ignored, size):
            literal.append(found.literal)
            broken.append(found.broken)
            if found.stray_cr.size:
                stray_cr.append(found.stray_cr)
            if found.last_opening >= 0:
                last_opening = found.last_opening
            records.add(found.position, found.starts, found.lines, *found.delimiters)
            crlf, lf = crlf + found.crlf, lf + found.lf
            parity = found.parity
            nul_bytes += found.nul_bytes
        records.flush(final=True)

    def offsets(found: list[np.ndarray]) -> tuple[int, ...]:
        return tuple(int(q) for q in np.concatenate(found).tolist()) if found else ()

    return RecordIndex(
        out,
        records.count,
        crlf_endings=crlf,
        lf_endings=lf,
        nul_bytes=nul_bytes,
        counts_fields=delimiter_byte is not None,
        literal_quotes=offsets(literal),
        unclosed_quote=last_opening if parity and records.count else None,
        broken_quotes=offsets(broken),
        stray_carriage_returns=offsets(stray_cr),
        longest_record=records.longest,
    )


@dataclass
class _ChunkRecords:
    """What the index takes from one chunk (offsets in the file)."""

    position: int
    starts: np.ndarray  # local offsets of the records starting in the chunk
    lines: np.ndarray  # the line of each
    delimiters: tuple[np.ndarray, np.ndarray]  # see ``_delimiters``
    crlf: int  # record terminators that are CRLF
    lf: int  # ... and bare LF
    literal: np.ndarray  # quotes read as text
    broken: np.ndarray  # opening quotes of fields that never closed
    stray_cr: np.ndarray  # bare carriage returns inside a line
    last_opening: int  # the chunk's last opening quote (-1: none)
    parity: int  # quote parity after the chunk
    nul_bytes: int
    newlines: int


def _records_of(chunk: Chunk, size: int, delimiter: str | None) -> _ChunkRecords:
    local_starts, lines = _record_starts(chunk, size)
    before = byte_before(chunk)
    crlf = int(np.count_nonzero(before == CARRIAGE_RETURN))
    return _ChunkRecords(
        chunk.position,
        local_starts,
        lines,
        _delimiters(chunk, ord(delimiter) if delimiter else None),
        crlf,
        int(before.size) - crlf,
        chunk.literal_at + chunk.position,
        chunk.unclosed_at + chunk.position,
        bare_carriage_returns(chunk) + chunk.position if chunk.body_has_cr else NO_OFFSETS,
        chunk.position + chunk.last_opening if chunk.last_opening >= 0 else -1,
        chunk.parity,
        chunk.nul_bytes,
        chunk.newlines,
    )


NO_OFFSETS = np.zeros(0, dtype=np.int64)
PARALLEL_CHUNKS = 2  # chunks of a file without quotes indexed at a time (one per core)


def _chunk_records(
    path: Path,
    quote: str | None,
    escape: str | None,
    delimiter: str | None,
    ignored: tuple[int, ...],
    size: int,
) -> Iterator[_ChunkRecords]:
    """Yield what the index takes from each chunk of ``path``, in file order. In a file of
    several chunks without quote or escape bytes, no chunk depends on the one before but for
    its lines' numbers: the chunks are read ``PARALLEL_CHUNKS`` at a time (NumPy leaves the
    GIL), their lines numbered here."""
    if ignored or size <= CHUNK_BYTES or holds_any(path, {quote, escape}):
        for chunk in file_chunks(path, quote, escape, delimiter, ignored):
            yield _records_of(chunk, size, delimiter)
        return

    positions = iter(range(0, size, CHUNK_BYTES))
    newlines_before = 0
    with ChunksApart(path, delimiter) as apart, ThreadPoolExecutor(PARALLEL_CHUNKS) as pool:

        def indexed(position: int) -> _ChunkRecords:
            return _records_of(apart.chunk_at(position), size, delimiter)

        pending = deque(pool.submit(indexed, p) for p in islice(positions, PARALLEL_CHUNKS + 1))
        while pending:
            found = pending.popleft().result()
            pending.extend(pool.submit(indexed, p) for p in islice(positions, 1))
            found.lines += newlines_before  # (numbered from the chunk's start)
            newlines_before += found.newlines
            yield found


def holds_any(path: Path, characters: Collection[str | None]) -> bool:
    """Return whether ``path`` holds one of ``characters`` (a memchr over the file, once for a
    version of it: Extract asks twice)."""
    wanted = tuple(sorted(c.encode("utf-8") for c in set(characters) if c))
    stat = path.stat()
    return bool(wanted) and _holds(path, (stat.st_ino, stat.st_size, stat.st_mtime_ns), wanted)


@lru_cache(maxsize=8)
def _holds(path: Path, version: tuple[int, int, int], wanted: tuple[bytes, ...]) -> bool:
    # Mapped a window at a time: a mapped page counts in the process's memory while it is
    # mapped (the whole of a 650 MB file took the peak from 560 to 707 MB).
    size = version[1]
    with path.open("rb") as handle:
        for at in range(0, size, HOLDS_WINDOW_BYTES):
            length = min(HOLDS_WINDOW_BYTES, size - at)
            with mmap.mmap(handle.fileno(), length, offset=at, access=mmap.ACCESS_READ) as m:
                if any(m.find(w) >= 0 for w in wanted):
                    return True
    return False


HOLDS_WINDOW_BYTES = 64 << 20  # (a multiple of the page size)


def _record_starts(chunk: Chunk, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the local offsets where records of ``chunk`` start (after a record terminator, or
    at the file's start, unless the line there is blank) and the line number of each."""
    candidates = chunk.ends + 1
    candidate_lines = chunk.newline_rank + 2
    if chunk.position == 0:
        candidates = np.concatenate(([0], candidates))
        candidate_lines = np.concatenate(([1], candidate_lines))
    data = chunk.lookahead
    keep = candidates < data.size
    candidates, candidate_lines = candidates[keep], candidate_lines[keep]
    first = data[candidates]
    second = data[np.minimum(candidates + 1, data.size - 1)]
    not_blank = (first != NEWLINE) & ~((first == CARRIAGE_RETURN) & (second == NEWLINE))
    not_blank &= candidates + chunk.position < size
    return candidates[not_blank], candidate_lines[not_blank].astype(np.int64)


class _PendingRecords:
    """Records found but not yet written: a record ends where the next one starts, so the last
    one waits for the next chunk's first record, or ends with the file. Written in row groups
    of ``INDEX_ROW_GROUP`` records, with the delimiters outside quotes before each (for field
    counts and trailing delimiters)."""

    def __init__(self, writer: pq.ParquetWriter, size: int, counts_fields: bool) -> None:
        self.writer, self.size, self.counts_fields = writer, size, counts_fields
        # Per pending record: start, line, and the delimiters (all, and those ending a line)
        # before it.
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_rows = self.count = self.longest = 0
        self.delimiters_before = self.terminal_before = 0

    def add(
        self,
        position: int,
        local_starts: np.ndarray,
        lines: np.ndarray,
        delimiters: np.ndarray,
        terminal: np.ndarray,
    ) -> None:
        """Add one chunk's records (local offsets from ``position``) and delimiters."""
        if local_starts.size:
            self.pending.append(
                (
                    (local_starts + position).astype(np.int64),
                    lines,
                    self.delimiters_before + np.searchsorted(delimiters, local_starts),
                    self.terminal_before + np.searchsorted(terminal, local_starts),
                )
            )
            self.pending_rows += local_starts.size
            self.count += local_starts.size
        self.delimiters_before += int(delimiters.size)
        self.terminal_before += int(terminal.size)
        if self.pending_rows >= INDEX_ROW_GROUP:
            self.flush(final=False)

    def flush(self, final: bool) -> None:
        """Write the pending records (all of them at the file's end, else all but the last)."""
        if not self.pending:
            return
        merged = (np.concatenate(p) for p in zip(*self.pending, strict=True))
        starts, lines, delims, terminal = merged
        if final:
            self.pending, self.pending_rows = [], 0
            ends = np.append(starts[1:], self.size)
            delims_after = np.append(delims[1:], self.delimiters_before)
            terminal_after = np.append(terminal[1:], self.terminal_before)
            keep = slice(None)
        else:
            self.pending = [(starts[-1:], lines[-1:], delims[-1:], terminal[-1:])]
            self.pending_rows = 1
            ends, delims_after, terminal_after = starts[1:], delims[1:], terminal[1:]
            keep = slice(None, -1)
        table: dict[str, np.ndarray] = {LINE: lines[keep], START: starts[keep], END: ends}
        if ends.size:
            self.longest = max(self.longest, int(np.max(ends - starts[keep])))
        if self.counts_fields:
            table[FIELDS] = (delims_after - delims[keep] + 1).astype(np.int32)
            table[TRAILING] = terminal_after > terminal[keep]
        schema = _index_schema(self.counts_fields)
        self.writer.write_table(pa.table(table, schema=schema), row_group_size=INDEX_ROW_GROUP)


def _delimiters(chunk: Chunk, delimiter: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Return the local offsets of the delimiters outside quotes in ``chunk``, and of those that
    end a line (followed by a line terminator or the end of the file)."""
    if delimiter is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    found = np.flatnonzero(chunk.body == delimiter)
    if chunk.quote_at.size:
        quotes_before = np.searchsorted(chunk.quote_at, found)
        found = found[((quotes_before + chunk.parity_in) % 2) == 0]
    elif chunk.parity_in:  # a chunk without quotes, all inside a quoted field
        found = found[:0]
    # The two bytes after each delimiter (past the file's end: a newline). A chunk's lookahead
    # holds them, but the last chunk's: only it is padded (a copy of one chunk, not each).
    data = chunk.lookahead
    if data.size < chunk.body.size + 2:
        data = np.concatenate((data, np.full(2, NEWLINE, dtype=data.dtype)))
    after, after2 = data[found + 1], data[found + 2]
    ends_line = (after == NEWLINE) | ((after == CARRIAGE_RETURN) & (after2 == NEWLINE))
    return found, found[ends_line]


def record_text(path: Path, start: int, end: int) -> bytes:
    """Return the raw bytes of one record, without its line terminator (and blank lines after)."""
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start).rstrip(b"\r\n")
