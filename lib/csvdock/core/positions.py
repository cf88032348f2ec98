"""Stream positions: a batch file cut from a stream (a Kafka partition) carries where it came from.

The consumer writes each batch as a CSV file with a sidecar ``<file>.position.json``: the stream
(``kafka://TOPIC/PARTITION``), the first and last offsets, the offset of each record's line, and
the messages set aside before the file was written (not one CSV record: a quote never closed,
bytes that are not UTF-8). The load reads it to move the stream's offset on in the same
transaction as the rows, to store rejects under the stream and offset instead of the batch file
and line, and to name the batch ``kafka://TOPIC/PARTITION/FIRST-LAST``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

SUFFIX = ".position.json"


if TYPE_CHECKING:
    from csvdock.rejects.codes import RejectCode


@dataclass(frozen=True)
class SetAside:
    """A message that is not one CSV record: stored as a reject of stage ``parse``."""

    offset: int
    raw: str  # the message's text (bytes that are not UTF-8 as ``\\xNN``)
    reason: str
    code: RejectCode = "not_one_record"


@dataclass(frozen=True)
class StreamPosition:
    """Where a batch file's records came from."""

    stream: str  # kafka://TOPIC/PARTITION
    first: int
    last: int
    lines: list[int] = field(default_factory=list)  # the batch file's line of each record...
    offsets: list[int] = field(default_factory=list)  # ...and its offset, ascending
    set_aside: list[SetAside] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The batch's name: ``kafka://TOPIC/PARTITION/FIRST-LAST``."""
        return f"{self.stream}/{self.first}-{self.last}"

    def offset_of_line(self, line: int) -> int:
        """Return the offset of the record that starts at (or spans) ``line`` of the batch file."""
        if not self.lines:
            return self.first
        at = bisect.bisect_right(self.lines, line) - 1
        return self.offsets[max(at, 0)]

    def write(self, batch: Path) -> None:
        """Write this position beside the batch file ``batch``."""
        data = {
            "stream": self.stream,
            "first": self.first,
            "last": self.last,
            "lines": self.lines,  # as they are: asdict would copy every number
            "offsets": self.offsets,
            "set_aside": [asdict(item) for item in self.set_aside],
        }
        sidecar(batch).write_text(json.dumps(data), encoding="utf-8")


def sidecar(batch: Path) -> Path:
    """Return the path of the position file of ``batch``."""
    return batch.with_name(batch.name + SUFFIX)


def read_position(path: Path | str) -> StreamPosition | None:
    """Return the stream position of the batch file ``path``, or None for an ordinary file."""
    found = sidecar(Path(path))
    if not found.is_file():
        return None
    data = json.loads(found.read_text(encoding="utf-8"))
    data["set_aside"] = [SetAside(**item) for item in data.get("set_aside", [])]
    return StreamPosition(**data)


def source_identity(path: Path, content_sha256: str) -> str:
    """Return the identity of a file in the ledger: the SHA-256 of its bytes, or for a batch of
    a stream, the SHA-256 of its position and bytes (two batches with the same records at other
    offsets are two loads)."""
    position = read_position(path)
    if position is None:
        return content_sha256
    return hashlib.sha256(f"{position.name}\n{content_sha256}".encode()).hexdigest()
