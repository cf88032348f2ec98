"""A file's line endings: whether its lines end with bare CRs (old Mac files), a copy with one kind
of record terminator, and, per chunk of the scan, the byte before each terminator and the bare
CRs outside quotes (which the record index counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from csvdock.read.scan import CARRIAGE_RETURN, NEWLINE, Chunk, file_chunks


def normalise_line_endings(
    path: Path, quote: str | None, escape: str | None, out: Path, delimiter: str | None = None
) -> Path:
    """Write ``path`` to ``out`` with every record terminator as LF (CRLF inside quoted fields is
    data and stays). DuckDB's strict reader needs one kind of line ending per file."""
    with out.open("wb") as target:
        for chunk in file_chunks(path, quote, escape, delimiter):
            before = byte_before(chunk)
            drop = chunk.ends[before == CARRIAGE_RETURN] - 1
            keep = np.ones(chunk.body.size, dtype=bool)
            local = drop[drop >= 0]
            keep[local] = False
            if chunk.position and (drop < 0).any():
                target.seek(target.tell() - 1)  # the CR ended the previous chunk
            target.write(chunk.body[keep].tobytes())
    return out


def has_bare_carriage_returns(path: Path, sample: int = 1024 * 1024) -> bool:
    """Return whether lines of ``path`` end with a bare CR (old Mac files): in its first
    ``sample`` bytes, bare CRs are at least as many as the other line ends. A stray CR inside a
    line of an LF or CRLF file does not count."""
    with path.open("rb") as handle:
        head = handle.read(sample)
    others = head.count(b"\n")
    bare = head.count(b"\r") - head.count(b"\r\n") - (1 if head.endswith(b"\r") else 0)
    return bare > 0 and bare >= others


def bare_carriage_returns(chunk: Chunk) -> np.ndarray:
    """Return the local offsets of the CRs outside quotes of ``chunk`` not followed by LF (one
    inside a line, or a lone CR ending the file)."""
    cr = np.flatnonzero(chunk.body == CARRIAGE_RETURN)
    following = chunk.lookahead[np.minimum(cr + 1, chunk.lookahead.size - 1)]
    bare = (cr + 1 >= chunk.lookahead.size) | (following != NEWLINE)
    outside = ((np.searchsorted(chunk.quote_at, cr) + chunk.parity_in) % 2) == 0
    return cr[bare & outside].astype(np.int64)


def carriage_returns_to_newlines(
    path: Path, quote: str | None, escape: str | None, out: Path
) -> Path:
    """Write ``path`` to ``out`` with every bare CR outside quotes (a line end on old Macs) as
    LF: the same number of bytes, so lines and positions stay those an editor shows."""
    with out.open("wb") as target:
        for chunk in file_chunks(path, quote, escape):
            body = chunk.body.copy()
            body[bare_carriage_returns(chunk)] = NEWLINE
            target.write(body.tobytes())
    return out


def byte_before(chunk: Chunk) -> np.ndarray:
    """Return the byte before each record terminator of ``chunk`` (the chunk's previous byte for
    a terminator at offset 0)."""
    before = np.where(chunk.ends > 0, chunk.body[np.maximum(chunk.ends - 1, 0)], chunk.previous)
    return before.astype(np.int64)
