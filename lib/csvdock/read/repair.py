"""Recover, don't quarantine: quoting a strict parser refuses, mended in a copy for the parser.

The record index reads quotes leniently (``records._lenient_quotes``): a quote inside a field is
text (``Men"s boots``, ``"the "best" one"``). A quoted field that never closes damages only its
own record: its opening quote is read as text, the scan resynchronises at the next line, and the
record is set aside as a ``parse`` reject. DuckDB's strict reader then parses a copy in which the
damaged records are left out and the text quotes are escaped, so it reads exactly the values the
index found; record positions and raw text still come from the original file.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csvdock.read.records import END, LINE, START, RecordIndex

COPY_BLOCK = 4 * 1024 * 1024


def damaged_records(index: RecordIndex, unclosed: tuple[int, ...]) -> np.ndarray:
    """Return the records (ascending, unique) holding the quotes at ``unclosed``."""
    if not unclosed:
        return np.zeros(0, dtype=np.int64)
    return np.unique(index.records_holding(np.array(sorted(unclosed), dtype=np.int64)))


def write_repaired(
    path: Path,
    index: RecordIndex,
    damaged: np.ndarray,
    delimiter: str,
    quote: str,
    escape: str,
    out: Path,
    without_blank_lines: bool = False,
) -> np.ndarray:
    """Write ``path`` to ``out`` without the ``damaged`` records and with every text quote of
    the other records escaped (a field holding one, or a stray CR, is quoted), and, with
    ``without_blank_lines``, without the blank lines after records; return the records kept,
    in order (the copy's record ``k`` is the original's ``kept[k]``)."""
    literal = np.array(index.literal_quotes, dtype=np.int64)
    odd = np.sort(np.concatenate((literal, np.array(index.stray_carriage_returns, np.int64))))
    mended = np.unique(index.records_holding(odd)) if odd.size else odd
    mended = mended[~np.isin(mended, damaged)]
    special = np.union1d(damaged, mended).astype(np.int64)
    if without_blank_lines:  # every record is written on its own, its blank lines left out
        special = np.arange(len(index), dtype=np.int64)
    found = index.positions_of(special)
    text_quotes = {int(q) for q in literal.tolist()}
    mended_set = {int(r) for r in mended.tolist()}
    gone = {int(r) for r in damaged.tolist()}
    with path.open("rb") as source, out.open("wb") as target:
        cursor = 0
        for record, start, end in zip(
            special.tolist(), found[START].tolist(), found[END].tolist(), strict=True
        ):
            _copy(source, target, cursor, start)
            if record not in gone:
                source.seek(start)
                raw = source.read(end - start)
                body = raw.rstrip(b"\r\n")
                ending = raw[len(body) :]
                if without_blank_lines:
                    ending = b"\r\n" if ending.startswith(b"\r\n") else ending[:1]
                if ending.endswith(b"\r"):
                    ending = ending[:-1]  # a lone CR ending the file ends it: no ending is needed
                if record in mended_set:
                    body = _mended(body, start, text_quotes, delimiter, quote, escape)
                target.write(body + ending)
            cursor = end
        _copy(source, target, cursor, None)
    return np.setdiff1d(np.arange(len(index), dtype=np.int64), damaged)


def with_original_positions(
    parse_index: RecordIndex, index: RecordIndex, kept: np.ndarray, out: Path
) -> RecordIndex:
    """Return ``parse_index`` (the copy's) with each record's line and byte positions taken from
    ``index`` (the original's record ``kept[k]``), written to ``out``."""
    table = pq.read_table(parse_index.path)
    found = index.positions_of(kept)
    for name in (LINE, START, END):
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(found[name], pa.int64())
        )
    pq.write_table(table, out)
    return dataclasses.replace(parse_index, path=out)


def _copy(source: BinaryIO, target: BinaryIO, start: int, end: int | None) -> None:
    source.seek(start)
    if end is None:
        shutil.copyfileobj(source, target, COPY_BLOCK)
        return
    left = end - start
    while left > 0:
        block = source.read(min(COPY_BLOCK, left))
        if not block:
            break
        target.write(block)
        left -= len(block)


def _mended(
    raw: bytes, start: int, text_quotes: set[int], delimiter: str, quote: str, escape: str
) -> bytes:
    """Return one record with its text quotes escaped: a quoted field keeps its quotes and
    escapes the text ones; an unquoted field holding a quote is quoted whole."""
    q, e, d = ord(quote), ord(escape), ord(delimiter)
    fields: list[tuple[int, int]] = []
    field_start, inside, i = 0, False, 0
    while i < len(raw):
        byte = raw[i]
        if e != q and byte == e and i + 1 < len(raw):
            i += 2  # an escaped character
            continue
        if byte == q and start + i not in text_quotes:
            inside = not inside
        elif byte == d and not inside:
            fields.append((field_start, i))
            field_start = i + 1
        i += 1
    fields.append((field_start, len(raw)))
    parts: list[bytes] = []
    for a, z in fields:
        text = raw[a:z]
        if text[:1] == bytes([q]) and start + a not in text_quotes:
            mended = bytearray()
            for k, byte in enumerate(text):
                if byte == q and start + a + k in text_quotes:
                    mended.append(e)
                mended.append(byte)
            parts.append(bytes(mended))
        elif q in text or b"\r" in text:
            body = text.replace(bytes([e]), bytes([e, e])) if e != q else text
            parts.append(bytes([q]) + body.replace(bytes([q]), bytes([e, q])) + bytes([q]))
        else:
            parts.append(text)
    return bytes([d]).join(parts)
