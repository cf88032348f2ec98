"""A consumer's micro-batches as files: the messages of one partition written as a CSV file
with its position sidecar (``csvdock.core.positions``), ready for the usual ingest.

``record`` messages are one CSV record each, without header: a message that is not exactly one
record is set aside (a reject of stage ``parse``, kept with its offset and raw text) before the
file is written, so it can never run into the next message. A ``file`` message is a whole CSV
file, one batch each.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import NamedTuple

from csvdock.core.positions import SetAside, StreamPosition
from csvdock.rejects.codes import RejectCode
from csvdock.rejects.format import raw_text

MAX_REASON_BYTES = 200


def stream_name(topic: str, partition: int) -> str:
    """Return how rejects and offsets name a partition: ``kafka://TOPIC/PARTITION``."""
    return f"kafka://{topic}/{partition}"


def file_batch(
    folder: Path, stream: str, partition: int, offset: int, body: bytes
) -> tuple[Path, StreamPosition]:
    """Write a ``file`` message (a whole CSV file) as a batch of its own; return its path and
    position."""
    position = StreamPosition(stream, offset, offset)
    path = folder / f"{partition}-{offset}-{offset}.csv"
    path.write_bytes(body)
    position.write(path)
    return path, position


def record_batch(
    folder: Path,
    stream: str,
    partition: int,
    messages: list[tuple[int, bytes]],
    dialect: tuple[str, str, str],
    columns: list[str],
) -> tuple[Path, StreamPosition]:
    """Write ``record`` messages (offset, value) as one CSV file under a header of ``columns``
    in ``dialect`` (delimiter, quote, escape); return its path and position (each record's line
    and offset, and the messages set aside)."""
    delimiter, quote, escape = dialect
    header = io.StringIO()
    csv.writer(header, delimiter=delimiter, quotechar=quote, lineterminator="\n").writerow(columns)
    body = bytearray(header.getvalue().encode("utf-8"))
    lines: list[int] = []
    offsets: list[int] = []
    aside: list[SetAside] = []
    line = 2
    for offset, value in messages:
        record = _without_line_ending(value)
        why = not_one_record(record, delimiter, quote, escape)
        if why is not None:
            aside.append(SetAside(offset, raw_text(value), why.reason, why.code))
            continue
        lines.append(line)
        offsets.append(offset)
        body += record + b"\n"
        line += record.count(b"\n") + 1
    first, last = messages[0][0], messages[-1][0]
    position = StreamPosition(stream, first, last, lines, offsets, aside)
    path = folder / f"{partition}-{first}-{last}.csv"
    path.write_bytes(bytes(body))
    position.write(path)
    return path, position


class NotOneRecord(NamedTuple):
    """Why a message is not exactly one CSV record."""

    code: RejectCode
    reason: str


def not_one_record(record: bytes, delimiter: str, quote: str, escape: str) -> NotOneRecord | None:
    """Return why ``record`` (a message, its line ending removed) is not exactly one CSV record
    in the dialect, or None when it is."""
    if not record:
        return NotOneRecord("not_one_record", "an empty message: no record")
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NotOneRecord("not_utf8", f"byte {exc.start} of the message is not UTF-8")
    if "\x00" in text:
        return NotOneRecord("nul_character", "the message holds a NUL byte")
    if quote not in text and escape not in text and "\n" not in text and "\r" not in text:
        return None  # no quoting and no line break: one record, whatever its fields
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote,
        doublequote=escape == quote,
        escapechar=None if escape == quote else escape,
        strict=True,
    )
    try:
        rows = list(reader)
    except csv.Error as exc:
        return NotOneRecord("not_one_record", f"not one CSV record: {exc}"[:MAX_REASON_BYTES])
    if len(rows) != 1:
        reason = f"{len(rows)} CSV records in one message (a line break outside quotes)"
        return NotOneRecord("not_one_record", reason)
    return None


def _without_line_ending(value: bytes) -> bytes:
    if value.endswith(b"\r\n"):
        return value[:-2]
    return value[:-1] if value.endswith(b"\n") else value


def _stream(topic: str, partition: int) -> str:
    return f"kafka://{topic}/{partition}"
