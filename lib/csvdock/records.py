"""Where each CSV record starts: byte offsets and the editor line numbers of record starts.

DuckDB's reader does not say which line a good record came from, and its reject positions are
approximate. A quote-parity scan over the raw bytes (vectorised with numpy, read in chunks, so
memory stays bounded) finds every record start: a newline outside quotes ends a record, and a
record starts at the next non-blank line. This is not a parser: the fields are DuckDB's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_BYTES = 4 * 1024 * 1024  # larger chunks cost memory (about 30 bytes a byte) and no speed
NEWLINE, CARRIAGE_RETURN = 0x0A, 0x0D


@dataclass(frozen=True)
class RecordIndex:
    """Start offset, end offset (exclusive, line terminator included) and 1-based editor line of
    every record in a file, the header record included."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    open_quote_at: int | None = None  # the record still inside quotes at the end of the file
    crlf_endings: int = 0
    lf_endings: int = 0
    nul_bytes: int = 0  # NUL bytes anywhere in the file

    def __len__(self) -> int:
        return int(self.starts.size)

    @property
    def mixed_line_endings(self) -> bool:
        """Whether records end with both CRLF and bare LF."""
        return self.crlf_endings > 0 and self.lf_endings > 0

    def record_at_or_after(self, byte_position: int) -> int:
        """Return the index of the first record that starts at or after ``byte_position``."""
        return int(np.searchsorted(self.starts, byte_position, side="left"))


@dataclass
class _Chunk:
    position: int  # offset of ``body`` in the file
    body: np.ndarray  # the chunk's bytes
    lookahead: np.ndarray  # ``body`` plus up to two following bytes
    previous: int  # the byte before the chunk (-1 at the start)
    ends: np.ndarray  # local offsets of newlines outside quotes (record terminators)
    newline_rank: np.ndarray  # for each of ``ends``, how many newlines precede it in the file
    parity: int  # quote parity after the chunk
    nul_bytes: int


def _chunks(path: Path, quote: str | None, escape: str | None) -> Iterator[_Chunk]:
    quote_byte = ord(quote) if quote else None
    escape_byte = ord(escape) if escape and escape != quote else None
    size = path.stat().st_size
    parity, newlines_before, position = 0, 0, 0
    with path.open("rb") as handle:
        while position < size:
            handle.seek(max(position - 1, 0))
            raw = handle.read(CHUNK_BYTES + (3 if position else 2))
            previous = raw[0] if position else -1
            data = np.frombuffer(raw[1:] if position else raw, dtype=np.uint8)
            body = data[:CHUNK_BYTES]
            quote_at = np.zeros(0, dtype=np.int64)
            if quote_byte is not None:
                quote_at = np.flatnonzero(body == quote_byte)
                if escape_byte is not None and quote_at.size:
                    before = np.where(quote_at > 0, body[np.maximum(quote_at - 1, 0)], previous)
                    quote_at = quote_at[before != escape_byte]
            newline_at = np.flatnonzero(body == NEWLINE)
            # A newline is outside quotes when an even number of quotes precede it.
            quotes_before = np.searchsorted(quote_at, newline_at)
            outside = ((quotes_before + parity) % 2) == 0
            rank = (np.flatnonzero(outside) + newlines_before).astype(np.int64)
            parity = int((parity + quote_at.size) % 2)
            nul_bytes = int(np.count_nonzero(body == 0))
            yield _Chunk(
                position, body, data, previous, newline_at[outside], rank, parity, nul_bytes
            )
            newlines_before += int(newline_at.size)
            position += body.size


def index_records(path: Path, quote: str | None, escape: str | None) -> RecordIndex:
    """Scan ``path`` and return the position of every record (see the module docstring)."""
    size = path.stat().st_size
    starts: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    crlf = lf = nul_bytes = 0
    parity = 0
    for chunk in _chunks(path, quote, escape):
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
        starts.append(candidates[not_blank] + chunk.position)
        lines.append(candidate_lines[not_blank])
        before = _byte_before(chunk)
        crlf += int(np.count_nonzero(before == CARRIAGE_RETURN))
        lf += int(np.count_nonzero(before != CARRIAGE_RETURN))
        parity = chunk.parity
        nul_bytes += chunk.nul_bytes
    all_starts = (np.concatenate(starts) if starts else np.zeros(0)).astype(np.int64)
    ends = np.append(all_starts[1:], size).astype(np.int64)
    all_lines = (np.concatenate(lines) if lines else np.zeros(0)).astype(np.int64)
    open_quote_at = int(all_starts[-1]) if parity and all_starts.size else None
    return RecordIndex(all_starts, ends, all_lines, open_quote_at, crlf, lf, nul_bytes)


def normalise_line_endings(path: Path, quote: str | None, escape: str | None, out: Path) -> Path:
    """Write ``path`` to ``out`` with every record terminator as LF (CRLF inside quoted fields is
    data and stays). DuckDB's strict reader needs one kind of line ending per file."""
    with out.open("wb") as target:
        for chunk in _chunks(path, quote, escape):
            before = _byte_before(chunk)
            drop = chunk.ends[before == CARRIAGE_RETURN] - 1
            keep = np.ones(chunk.body.size, dtype=bool)
            local = drop[drop >= 0]
            keep[local] = False
            if chunk.position and (drop < 0).any():
                target.seek(target.tell() - 1)  # the CR ended the previous chunk
            target.write(chunk.body[keep].tobytes())
    return out


def _byte_before(chunk: _Chunk) -> np.ndarray:
    """Return the byte before each record terminator of ``chunk`` (the chunk's previous byte for
    a terminator at offset 0)."""
    before = np.where(chunk.ends > 0, chunk.body[np.maximum(chunk.ends - 1, 0)], chunk.previous)
    return before.astype(np.int64)


def record_text(path: Path, start: int, end: int) -> bytes:
    """Return the raw bytes of one record, without its line terminator (and blank lines after)."""
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start).rstrip(b"\r\n")
