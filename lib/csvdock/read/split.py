"""``--split-tables``: a file holding several tables one after another (a blank line, then a
table of another width or the header again) is loaded as several files, the second table and
each after it written to a file of its own that is loaded into ``TABLE_2``, ``TABLE_3``...

The parts are the text Extract parsed (UTF-8, one kind of line end), cut at the table's first
record; their line numbers count from that record (the log says where each part starts)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from csvdock.core.settings import TableSettings
from csvdock.read.extract import ExtractError, extract_file
from csvdock.read.table import OTHER_TABLES

MAX_TABLES = 20
log = logging.getLogger("csvdock")


def split_tables(path: Path, settings: TableSettings, out_dir: Path) -> list[Path]:
    """Write every table of ``path`` other than the one loaded from it to ``out_dir``
    (``STEM_2.csv``, ``STEM_3.csv``... in the order found; each part is split in turn) and
    return their paths (none when the file holds one table or cannot be read)."""
    parts: list[Path] = []
    pending = [path]
    with tempfile.TemporaryDirectory() as scratch:
        while pending and len(parts) < MAX_TABLES:
            current = pending.pop(0)
            folder = Path(scratch) / str(len(parts))
            try:
                result = extract_file(current, folder, settings)
            except ExtractError:
                continue
            for span in result.outside:
                if not span["reason"].startswith(OTHER_TABLES) or len(parts) >= MAX_TABLES:
                    continue
                out_dir.mkdir(parents=True, exist_ok=True)
                part = out_dir / f"{path.stem}_{len(parts) + 2}.csv"
                with result.text_path(folder).open("rb") as source, part.open("wb") as target:
                    source.seek(span["start"])
                    left = span["end"] - span["start"]
                    while left > 0 and (block := source.read(min(left, 1 << 22))):
                        target.write(block)
                        left -= len(block)
                log.info("%s: %s of %s", part, span["reason"], current)
                parts.append(part)
                pending.append(part)
    return parts
