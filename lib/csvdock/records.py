"""Where each CSV record starts: byte offsets and the editor line numbers of record starts.

DuckDB's reader does not say which line a good record came from, and its reject positions are
approximate. A quote-parity scan over the raw bytes (vectorised with numpy, read in chunks, so
memory stays bounded) finds every record start: a newline outside quotes ends a record, and a
record starts at the next non-blank line. This is not a parser: the fields are DuckDB's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_BYTES = 16 * 1024 * 1024
NEWLINE, CARRIAGE_RETURN = 0x0A, 0x0D


@dataclass(frozen=True)
class RecordIndex:
    """Start offset, end offset (exclusive, line terminator included) and 1-based editor line of
    every record in a file, the header record included."""

    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.starts.size)

    def record_at_or_after(self, byte_position: int) -> int:
        """Return the index of the first record that starts at or after ``byte_position``."""
        return int(np.searchsorted(self.starts, byte_position, side="left"))


def index_records(path: Path, quote: str | None, escape: str | None) -> RecordIndex:
    """Scan ``path`` and return the position of every record (see the module docstring)."""
    quote_byte = ord(quote) if quote else None
    escape_byte = ord(escape) if escape and escape != quote else None
    size = path.stat().st_size
    starts: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    parity = 0
    newlines_before = 0
    with path.open("rb") as handle:
        position = 0
        while position < size:
            handle.seek(max(position - 1, 0))
            raw = handle.read(CHUNK_BYTES + 3 if position else CHUNK_BYTES + 2)
            previous = raw[0] if position else -1
            data = np.frombuffer(raw[1:] if position else raw, dtype=np.uint8)
            body = data[:CHUNK_BYTES]
            is_newline = body == NEWLINE
            if quote_byte is None:
                quote_counts = np.zeros(body.size, dtype=np.int64)
            else:
                is_quote = body == quote_byte
                if escape_byte is not None:
                    escaped = np.empty(body.size, dtype=bool)
                    escaped[0] = previous == escape_byte
                    escaped[1:] = body[:-1] == escape_byte
                    is_quote &= ~escaped
                quote_counts = np.cumsum(is_quote, dtype=np.int64)
            newline_at = np.flatnonzero(is_newline)
            outside = ((quote_counts[newline_at] + parity) % 2) == 0
            candidates = newline_at[outside] + 1
            candidate_lines = (np.flatnonzero(outside) + newlines_before + 2).astype(np.int64)
            if position == 0:
                candidates = np.concatenate(([0], candidates))
                candidate_lines = np.concatenate(([1], candidate_lines))
            keep = candidates < data.size
            candidates, candidate_lines = candidates[keep], candidate_lines[keep]
            first = data[candidates]
            second = data[np.minimum(candidates + 1, data.size - 1)]
            not_blank = (first != NEWLINE) & ~((first == CARRIAGE_RETURN) & (second == NEWLINE))
            not_blank &= candidates + position < size
            starts.append(candidates[not_blank] + position)
            lines.append(candidate_lines[not_blank])
            parity = int((parity + (quote_counts[-1] if quote_counts.size else 0)) % 2)
            newlines_before += int(newline_at.size)
            position += body.size
    all_starts = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    all_starts = all_starts.astype(np.int64)
    ends = np.append(all_starts[1:], size).astype(np.int64)
    return RecordIndex(all_starts, ends, np.concatenate(lines) if lines else all_starts.copy())


def record_text(path: Path, start: int, end: int) -> bytes:
    """Return the raw bytes of one record, without its line terminator (and blank lines after)."""
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start).rstrip(b"\r\n")
