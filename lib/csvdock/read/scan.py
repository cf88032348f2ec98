"""The scan under the record index: a file's bytes in chunks, with its quotes read (vectorised
with numpy, so memory stays bounded): where the quotes that count are, which newlines are outside
quotes (record terminators), and the quotes read as text (lenient quoting: a quote counts only at
a field's edge)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_BYTES = 4 * 1024 * 1024  # larger chunks cost memory (about 30 bytes a byte) and no speed
NEWLINE, CARRIAGE_RETURN = 0x0A, 0x0D


@dataclass
class Chunk:
    """One chunk of a file, its quotes read (offsets are local to ``body``)."""

    position: int  # offset of ``body`` in the file
    body: np.ndarray  # the chunk's bytes
    lookahead: np.ndarray  # ``body`` plus up to two following bytes
    previous: int  # the byte before the chunk (-1 at the start)
    ends: np.ndarray  # local offsets of newlines outside quotes (record terminators)
    newline_rank: np.ndarray  # for each of ``ends``, how many newlines precede it in the file
    parity: int  # quote parity after the chunk
    nul_bytes: int
    quote_at: np.ndarray  # local offsets of the quotes that count (escaped ones left out)
    parity_in: int  # quote parity before the chunk
    literal_at: np.ndarray  # local offsets of quotes read as text (not at a field's edge)
    unclosed_at: np.ndarray  # local offsets of opening quotes of fields that never closed
    last_opening: int  # local offset of the chunk's last opening quote (-1: none)
    body_has_cr: bool  # the chunk holds a CR byte
    newlines: int  # newlines in the chunk (inside quotes too)


def file_chunks(
    path: Path,
    quote: str | None,
    escape: str | None,
    delimiter: str | None = None,
    ignored: tuple[int, ...] = (),
) -> Iterator[Chunk]:
    """Yield the file in chunks with its quotes read. With a ``delimiter``, quoting is lenient:
    a quote counts only at a field's edges (see ``_lenient_quotes``); quotes at the offsets
    ``ignored`` are read as text."""
    reading = _Reading(path, quote, escape, delimiter, ignored)
    parity, newlines_before, position = 0, 0, 0
    with path.open("rb") as handle:
        while position < reading.size:
            handle.seek(max(position - 1, 0))
            raw = handle.read(CHUNK_BYTES + (3 if position else 2))
            chunk = reading.chunk(raw, position, parity, newlines_before)
            yield chunk
            parity = chunk.parity
            newlines_before += chunk.newlines
            position += chunk.body.size


class ChunksApart:
    """The chunks of a file that holds no quote byte, each read on its own from one descriptor
    (so chunks may be read in parallel): a chunk's newlines' rank counts from its start (the
    caller adds the newlines before it)."""

    def __init__(self, path: Path, delimiter: str | None) -> None:
        self._reading = _Reading(path, None, None, delimiter, ())
        self.size = self._reading.size
        self._handle = path.open("rb")

    def chunk_at(self, position: int) -> Chunk:
        """Return the chunk at ``position`` (a multiple of ``CHUNK_BYTES``)."""
        start = max(position - 1, 0)
        raw = os.pread(self._handle.fileno(), CHUNK_BYTES + (3 if position else 2), start)
        return self._reading.chunk(raw, position, 0, 0)

    def __enter__(self) -> ChunksApart:
        return self

    def __exit__(self, *_: object) -> None:
        self._handle.close()


class _Reading:
    """How a file's chunks are read: its size, quote, escape and delimiter bytes, and the
    quotes read as text."""

    def __init__(
        self,
        path: Path,
        quote: str | None,
        escape: str | None,
        delimiter: str | None,
        ignored: tuple[int, ...],
    ) -> None:
        self.quote_byte = ord(quote) if quote else None
        self.escape_byte = ord(escape) if escape and escape != quote else None
        self.delimiter_byte = ord(delimiter) if delimiter else None
        self.skip = np.array(sorted(ignored), dtype=np.int64)
        self.size = path.stat().st_size

    def chunk(self, raw: bytes, position: int, parity: int, newlines_before: int) -> Chunk:
        """Read the chunk at ``position`` from ``raw`` (its bytes from the one before it, and
        two after), after ``newlines_before`` newlines, with the quote ``parity`` there."""
        quote_byte, escape_byte, skip = self.quote_byte, self.escape_byte, self.skip
        previous = raw[0] if position else -1
        data = np.frombuffer(raw[1:] if position else raw, dtype=np.uint8)
        body = data[:CHUNK_BYTES]
        # The body's bytes in ``raw`` (a byte's presence or count there is a memchr, not a pass
        # of NumPy over the chunk).
        begin = 1 if position else 0
        end = begin + body.size
        quote_at = np.zeros(0, dtype=np.int64)
        if quote_byte is not None and raw.find(quote_byte, begin, end) >= 0:
            quote_at = np.flatnonzero(body == quote_byte)
            if escape_byte is not None and quote_at.size:
                quote_at = quote_at[~_escaped(body, quote_at, escape_byte, previous)]
        literal_at = unclosed_at = np.zeros(0, dtype=np.int64)
        if skip.size and quote_at.size:
            mine = skip[(skip >= position) & (skip < position + body.size)] - position
            literal_at = mine[np.isin(mine, quote_at)]
            quote_at = quote_at[~np.isin(quote_at, mine)]
        if quote_byte is not None and self.delimiter_byte is not None and quote_at.size:
            at_end = position + body.size >= self.size
            quote_at, stray, unclosed_at = _lenient_quotes(
                data, quote_at, parity, previous, self.delimiter_byte, quote_byte, at_end
            )
            literal_at = np.sort(np.concatenate((literal_at, stray, unclosed_at)))
        newline_at = np.flatnonzero(body == NEWLINE)
        # A newline is outside quotes when an even number of quotes precede it (in a chunk
        # without quotes: all of them, or none).
        if quote_at.size:
            outside = ((np.searchsorted(quote_at, newline_at) + parity) % 2) == 0
        else:
            outside = np.full(newline_at.size, parity == 0)
        rank = (np.flatnonzero(outside) + newlines_before).astype(np.int64)
        parity_in = parity
        parity = int((parity + quote_at.size) % 2)
        openings = quote_at[((np.arange(quote_at.size) + parity_in) % 2) == 0]
        return Chunk(
            position,
            body,
            data,
            previous,
            newline_at[outside],
            rank,
            parity,
            int(np.count_nonzero(body == 0)) if raw.find(0, begin, end) >= 0 else 0,
            quote_at,
            parity_in,
            literal_at,
            unclosed_at,
            int(openings[-1]) if openings.size else -1,
            raw.find(CARRIAGE_RETURN, begin, end) >= 0,
            int(newline_at.size),
        )


EDGE_BYTES = (NEWLINE, CARRIAGE_RETURN)


def _lenient_quotes(
    data: np.ndarray,
    quote_at: np.ndarray,
    parity: int,
    previous: int,
    delimiter: int,
    quote: int,
    at_end: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return which of ``quote_at`` count as quoting, which are text, and which open a field
    that never closes properly (text too; their records are damaged). An opening quote stands at
    a field's start (after a delimiter, a line end or the file's start), a closing one at its end
    (before a delimiter, a line end or the file's end); a doubled quote inside quotes is one
    quote of text. ``Men"s`` and ``"the "best" one"`` are read as text, the way people meant
    them. A quoted field that runs past its line and then ends in a quote followed by other text
    never closed: its opening quote is text, its record damaged, and reading resumes at the next
    line.

    Checked for the whole chunk at once; only a chunk with a quote that breaks the rule is
    walked quote by quote (the walk shares the check's arrays and the quote parity)."""
    last = data.size - 1
    before = data[np.maximum(quote_at - 1, 0)]
    after = data[np.minimum(quote_at + 1, last)]
    edge_before = _is_edge(before, delimiter, quote)
    edge_after = _is_edge(after, delimiter, quote)
    if quote_at.size and quote_at[0] == 0:  # the byte before is the previous chunk's
        edge_before[0] = previous in (delimiter, NEWLINE, CARRIAGE_RETURN, quote, -1)
    past = quote_at + 1 > last  # nothing follows in the data read
    edge_after[past] = at_end
    opening = ((np.arange(quote_at.size) + parity) % 2) == 0
    none = np.zeros(0, dtype=np.int64)
    if bool(np.all(np.where(opening, edge_before, edge_after))):
        return quote_at, none, none
    before, after = _neighbour_values(before, after, quote_at, previous, past)
    closes, line_end, closes_later = _closings(data, quote_at, after, delimiter, at_end)
    counted: list[int] = []
    stray: list[int] = []
    unclosed: list[int] = []
    offsets = quote_at.tolist()
    inside, i = parity, 0
    opened_at, counted_before, opened_line_end = -1, 0, -1  # the open field (-1: unknown)
    while i < len(offsets):
        q = offsets[i]
        if not inside:
            b = int(before[i])
            if b in (delimiter, NEWLINE, CARRIAGE_RETURN, -1) or (counted and counted[-1] == q - 1):
                inside = 1
                opened_at, counted_before, opened_line_end = i, len(counted), int(line_end[i])
                counted.append(q)
            else:
                stray.append(q)
        else:
            a = int(after[i])
            if a == quote and i + 1 < len(offsets) and offsets[i + 1] == q + 1:
                counted += [q, q + 1]  # a doubled quote: text, still inside
                i += 2
                continue
            if bool(closes[i]) or not bool(closes_later[i]):
                if not closes[i] and opened_at >= 0 and q > opened_line_end:
                    # It ran past its line and ends badly: the field never closed. Its opening
                    # quote is text; read again from the first quote after its line.
                    del counted[counted_before:]
                    unclosed.append(offsets[opened_at])
                    resume = int(np.searchsorted(quote_at, opened_line_end, side="right"))
                    stray.extend(offsets[opened_at + 1 : resume])
                    inside, opened_at, i = 0, -1, resume
                    continue
                inside = 0
                counted.append(q)
            else:
                stray.append(q)
        i += 1
    return (
        np.array(counted, dtype=np.int64),
        np.unique(np.array(stray, dtype=np.int64)),
        np.array(unclosed, dtype=np.int64),
    )


def _neighbour_values(
    before: np.ndarray, after: np.ndarray, quote_at: np.ndarray, previous: int, past: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the bytes ``before`` and ``after`` each quote as integers: the previous chunk's
    byte before a quote at offset 0, and -2 after a quote ``past`` the data read."""
    before = before.astype(np.int64)
    after = after.astype(np.int64)
    if quote_at.size and quote_at[0] == 0:
        before[0] = previous
    after[past] = -2  # the end of the file (or of the data read)
    return before, after


def _closings(
    data: np.ndarray, quote_at: np.ndarray, after: np.ndarray, delimiter: int, at_end: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return, for each quote of ``quote_at`` (``after``: the byte after each, -2 past the data),
    whether it could close a field (a delimiter, a line end or the file's end follows), where
    its line ends, and whether a later quote on the same line could close one. Inside quotes,
    a quote before other text is text when a later quote on its line closes the field
    (``"the "best" one"``); else it closes the field, and the text after it makes the record one
    the parser rejects."""
    closes = (after == delimiter) | (after == NEWLINE) | (after == CARRIAGE_RETURN)
    if at_end:
        closes |= quote_at + 1 >= data.size
    line_ends = np.append(np.flatnonzero(np.isin(data, EDGE_BYTES)), data.size)
    line_end = line_ends[np.searchsorted(line_ends, quote_at)]
    count = quote_at.size
    later = np.minimum.accumulate(np.where(closes, np.arange(count), count)[::-1])[::-1]
    later = np.append(later[1:], count)
    closes_later = (later < count) & (quote_at[np.minimum(later, count - 1)] < line_end)
    return closes, line_end, closes_later


def _is_edge(found: np.ndarray, delimiter: int, quote: int) -> np.ndarray:
    """Return where ``found`` is a delimiter, a line end or a quote."""
    return (found == delimiter) | (found == NEWLINE) | (found == CARRIAGE_RETURN) | (found == quote)


def _escaped(body: np.ndarray, at: np.ndarray, escape: int, previous: int) -> np.ndarray:
    """Return, for each offset in ``at``, whether an odd number of ``escape`` bytes precede it
    (``\\"`` is an escaped quote, ``\\\\"`` an escaped backslash and then a real quote)."""
    before = np.where(at > 0, body[np.maximum(at - 1, 0)], previous)
    suspects = np.flatnonzero(before == escape)
    escaped = np.zeros(at.size, dtype=bool)
    if suspects.size == 0:
        return escaped
    # The offset of the last byte before each position that is not an escape byte.
    marks = np.where(body != escape, np.arange(body.size), -1)
    last_other = np.maximum.accumulate(marks)
    ends = at[suspects] - 1  # the last escape byte of each run
    runs = ends - last_other[ends]
    escaped[suspects] = (runs % 2) == 1
    return escaped
