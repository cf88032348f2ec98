"""Text encodings: UTF-8 (with or without a BOM) is read as is; a file in a single-byte encoding
(cp1252, latin-1) is transcoded to UTF-8 first; a file that mixes UTF-8 with stray bytes is
refused, so nothing is ever loaded with mangled characters."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from csvdock.errors import CsvdockError

CHUNK_BYTES = 4 * 1024 * 1024
UTF8 = "utf-8"
SINGLE_BYTE_FALLBACKS = ("cp1252", "latin-1")
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


class EncodingProblem(CsvdockError):
    """The file's bytes are not text in any encoding csvdock may assume."""


def detect_encoding(path: Path, configured: str | None = None) -> str:
    """Return the encoding to read ``path`` with, or raise ``EncodingProblem``.

    ``configured`` (from luigi.cfg or the CLI) is checked, not trusted blindly.
    """
    if configured:
        try:
            codecs.lookup(configured)
        except LookupError:
            raise EncodingProblem(f"unknown encoding {configured!r}") from None
        _check_decodes(path, configured)
        return codecs.lookup(configured).name
    bad_at, has_multibyte = _first_invalid_utf8(path)
    if bad_at is None:
        return UTF8
    if has_multibyte:
        raise EncodingProblem(
            f"not valid UTF-8 at byte {bad_at} (line {_line_of(path, bad_at)}), although other "
            "parts are UTF-8; set `encoding` if the file really is in another encoding"
        )
    for fallback in SINGLE_BYTE_FALLBACKS:
        try:
            _check_decodes(path, fallback)
        except EncodingProblem:
            continue
        return fallback
    raise EncodingProblem("the file is not text in UTF-8, cp1252 or latin-1")  # pragma: no cover


def transcode_to_utf8(path: Path, encoding: str, out: Path) -> Path:
    """Write ``path`` decoded from ``encoding`` as UTF-8 to ``out`` (streaming) and return it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with path.open("rb") as source, out.open("wb") as target:
        for block in iter(lambda: source.read(CHUNK_BYTES), b""):
            target.write(decoder.decode(block).encode(UTF8))
        target.write(decoder.decode(b"", final=True).encode(UTF8))
    return out


def _first_invalid_utf8(path: Path) -> tuple[int | None, bool]:
    """Return the offset of the first byte that is not UTF-8 (None if all are) and whether any
    valid multi-byte UTF-8 sequence occurs in the file."""
    decoder = codecs.getincrementaldecoder(UTF8)(errors="strict")
    offset, bad_at, multibyte = 0, None, False
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            multibyte = multibyte or bool(_UTF8_MULTIBYTE.search(block))
            if bad_at is None:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    bad_at = offset + exc.start
            if bad_at is not None and multibyte:
                break
            offset += len(block)
    if bad_at is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad_at = offset
    return bad_at, multibyte


def _check_decodes(path: Path, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                raise EncodingProblem(
                    f"not valid {encoding} at byte {bad} (line {_line_of(path, bad)})"
                ) from None
            offset += len(block)


def _line_of(path: Path, offset: int) -> int:
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n") + 1
