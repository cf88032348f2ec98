"""Extract's errors, and the checks that a run reads one version of its file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from csvdock.core.errors import CsvdockError

# Why a file is quarantined, as a code (its text is the message): reports and suggested
# commands decide on the code, never on the text.
QuarantineCode = Literal[
    "not_text",  # binary, compressed, a document or an image
    "encoding",  # no encoding reads it as text (or two do, equally)
    "quoting",  # its records cannot be delimited, even without quoting
    "unreadable",  # anything else that is no table (no such file, a header that cannot parse)
    "over_threshold",  # more rejects than max_rejects / max_reject_ratio allow
    "too_many_columns",  # more columns than the target holds
]


class ExtractError(CsvdockError):
    """The file cannot be read as CSV at all; it is quarantined (``code`` says why)."""

    code: QuarantineCode = "unreadable"


class NotText(ExtractError):
    """The file is binary, compressed, a document or an image: not CSV text."""

    code: QuarantineCode = "not_text"


class UnknownEncoding(ExtractError):
    """No encoding reads the file as text, or two read it differently and equally well."""

    code: QuarantineCode = "encoding"


class SourceChanged(CsvdockError):
    """The file changed while a run read it (replaced or rewritten): transient, the run reads
    it again later; nothing of it is loaded."""

    transient = True


def source_identity(path: Path) -> tuple[int, int, int, int]:
    """Return what tells one version of a file from the next: device, inode, size, mtime."""
    stat = path.stat()
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def check_unchanged(path: Path, size: int) -> None:
    """Raise ``SourceChanged`` when ``path`` no longer has the ``size`` its run extracted (a
    file replaced between Extract and the commit); a file gone since is not checked."""
    try:
        now = path.stat().st_size
    except FileNotFoundError:
        return
    if size and now != size:
        raise SourceChanged(
            f"the file changed since it was read ({size} bytes, now {now}); it is read again"
        )


class EmptyFile(ExtractError):
    """The file holds no header and no records (0 bytes, or blank lines): not a broken file, a
    load of 0 records (``csvdock.pipeline.file_load.load_without_records``)."""


class QuotingError(ExtractError):
    """The file's quoting cannot be read with its quote character (tried again without one)."""

    code: QuarantineCode = "quoting"
