"""Text encodings. UTF-8 (with or without a BOM) is read as is; UTF-16 and UTF-32 with a BOM are
transcoded to UTF-8, and so are UTF-16 and UTF-32 without one (told by where the NUL bytes of
their mostly-ASCII text fall); any other encoding (cp1252, cp1251, GB18030, Shift-JIS, ...) is
told by charset-normalizer, checked against the whole file, and transcoded. A file whose encoding
cannot be told with confidence is refused (quarantined with the reason): a clear quarantine
beats mojibake. A UTF-8 file with a few stray bytes (``StrayBytes``) is read as UTF-8, and the
records holding them are set aside."""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from csvdock.core.errors import CsvdockError

CHUNK_BYTES = 4 * 1024 * 1024
UTF8 = "utf-8"
WESTERN = "cp1252"  # the common single-byte encoding, chosen when the text reads as Western
SAMPLE_BYTES = 4 * 1024 * 1024  # what charset-normalizer reads (the choice is then checked whole)
# Byte order marks, longest first (UTF-32 LE's starts with UTF-16 LE's).
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Legacy multi-byte encodings: their byte pairs may happen to be valid UTF-8 here and there.
MULTI_BYTE = ("gb18030", "gbk", "gb2312", "big5", "cp932", "shift_jis", "euc_jp", "euc_kr", "cp949")
MIN_COHERENCE = 0.3  # charset-normalizer recognised a language in the decoded text
MAX_CHAOS = 0.1
WIDE_ZEROS, NARROW_ZEROS = 0.7, 0.05  # NUL shares of a UTF-16/32 text's high and low bytes
SNIFF_WIDE_BYTES = 64 * 1024
CLOSE_CHAOS, CLOSE_COHERENCE = 0.01, 0.15  # cp1252 this close to the pick is chosen over it
CLOSE_LEGACY_CHAOS = 0.06  # a commoner legacy encoding this close to the pick is chosen over it
# Legacy encodings by how common they are in files (after cp1252, handled apart).
COMMON_ENCODINGS = (
    "cp932",
    "shift_jis",
    "gb18030",
    "cp1251",
    "big5",
    "cp949",
    "euc_jp",
    "koi8_r",
    "cp1250",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp874",
)
MAX_NON_ASCII_LETTERS = 0.3  # share of accented letters in Western text (cp1252)
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


class EncodingProblem(CsvdockError):
    """The file's bytes are not text in any encoding csvdock may assume."""


class StrayBytes(EncodingProblem):
    """The file is UTF-8 but for a few bytes (``offsets``): their records are rejects."""

    def __init__(self, message: str, offsets: tuple[int, ...]) -> None:
        super().__init__(message)
        self.offsets = offsets


MAX_STRAY_BYTES = 100_000  # invalid sequences a UTF-8 file may hold (their records rejected)
MAX_REPAIRED_BYTES = 256 * 1024 * 1024  # a larger file is not read as UTF-8 with stray bytes
# Single-byte encodings that decode (nearly) every byte: the text each gives is judged by how
# plausible it reads; on a tie the earlier (commoner) one wins.
SINGLE_BYTE = (
    "cp1252",
    "cp1251",
    "cp1250",
    "mac_roman",
    "iso8859_15",
    "cp850",
    "cp437",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1257",
    "iso8859_2",
    "iso8859_4",
    "iso8859_5",
    "iso8859_7",
    "iso8859_9",
    "iso8859_13",
    "iso8859_16",
    "mac_cyrillic",
)
CLEAN = 0.02  # a reading with at most this share of implausible characters reads cleanly
CLOSE = 0.005  # two readings this close in plausibility are equally plausible
UNREADABLE = 0.25  # a best reading this implausible is no text at all (random bytes)
PLAUSIBILITY_CHARS = 256 * 1024  # of the sample's text, judged


def bom_encoding(head: bytes) -> str | None:
    """Return ``utf-16`` or ``utf-32`` when ``head`` starts with their byte order mark."""
    return next((name for bom, name in BOMS if head.startswith(bom)), None)


def wide_encoding(head: bytes) -> str | None:
    """Return ``utf-16-le``/``-be`` or ``utf-32-le``/``-be`` when ``head`` is such text without
    a byte order mark, told by where its NUL bytes fall (the high bytes of mostly ASCII text)."""
    size = len(head) - len(head) % 4
    if size < 8:
        return None
    quarter = size // 4
    zeros = [head[i:size:4].count(0) / quarter for i in range(4)]
    even, odd = (head[i:size:2].count(0) / (size // 2) for i in (0, 1))
    candidates = (
        ("utf-32-le", min(zeros[1:]) > WIDE_ZEROS and zeros[0] < NARROW_ZEROS),
        ("utf-32-be", min(zeros[:3]) > WIDE_ZEROS and zeros[3] < NARROW_ZEROS),
        ("utf-16-le", odd > WIDE_ZEROS and even < NARROW_ZEROS),
        ("utf-16-be", even > WIDE_ZEROS and odd < NARROW_ZEROS),
    )
    name = next((name for name, fits in candidates if fits), None)
    if name is None:
        return None
    text = head[:size].decode(name, errors="replace")
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r")
    return name if controls <= NARROW_ZEROS * len(text) else None  # text, not binary


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
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    wide = bom_encoding(sample) or wide_encoding(sample[:SNIFF_WIDE_BYTES])
    if wide:
        _check_decodes(path, wide)
        return wide
    scan = _scan_utf8(path)
    if not scan.invalid:
        return UTF8
    import charset_normalizer

    found = charset_normalizer.from_bytes(sample)
    legacy = _legacy_encoding(sample, _guess(sample, found), _recognised(found))
    if _utf8_with_strays(sample, scan, legacy):
        if not scan.complete or scan.size > MAX_REPAIRED_BYTES:
            bad_at = scan.invalid[0]
            raise EncodingProblem(
                f"not valid UTF-8 at byte {bad_at} (line {_line_of(path, bad_at)}), in too many"
                " places to set the records aside; set `encoding` if the file is in another one"
            )
        stray = scan.invalid
        raise StrayBytes(
            f"not valid UTF-8 at byte {stray[0]} (line {_line_of(path, stray[0])}): "
            f"{len(stray)} stray byte sequence(s) in a UTF-8 file",
            stray,
        )
    if legacy is None:
        bad_at = scan.invalid[0]
        raise EncodingProblem(
            f"not valid UTF-8 at byte {bad_at} (line {_line_of(path, bad_at)}), and its "
            "encoding cannot be told with confidence; set `encoding` (for example cp1252)"
        )
    _check_decodes(path, legacy)
    return legacy


def _utf8_with_strays(sample: bytes, scan: _Utf8Scan, legacy: str | None) -> bool:
    """Whether the file is UTF-8 with stray bytes rather than text in ``legacy``: no other
    encoding reads it cleanly, or its valid multi-byte UTF-8 sequences outnumber the invalid
    ones (a few cp1251 byte pairs happen to be valid UTF-8; a UTF-8 file holds many)."""
    valid = len(_UTF8_MULTIBYTE.findall(sample))
    if legacy is None:
        # Stray bytes in most lines, or more of them than UTF-8 characters: not UTF-8 either
        # (random bytes hold valid UTF-8 pairs by chance), so no reading fits.
        return valid > len(scan.invalid) or len(scan.invalid) * 2 < scan.lines
    return legacy not in MULTI_BYTE and valid > len(scan.invalid)


class AmbiguousEncoding(EncodingProblem):
    """Two encodings read the file differently and neither reads clearly better."""


def _legacy_encoding(sample: bytes, guess: str | None, recognised: set[str]) -> str | None:
    """Return the encoding (not UTF-8) whose reading of ``sample`` is the most plausible (see
    ``implausible_share``), charset-normalizer's ``guess`` first among equals; None when no
    encoding reads it as text. Raises ``AmbiguousEncoding`` when two read it differently, equally
    plausibly, and neither is the guess or the commonest."""
    names = [guess] if guess else []
    names += [n for n in SINGLE_BYTE if codecs.lookup(n).name != guess]
    readings: dict[str, str] = {}
    for name in names:
        text = _decoded(sample, name)
        name = codecs.lookup(name).name
        admitted = name == guess or name in recognised
        if text is not None and (admitted or _mostly_latin(text[:PLAUSIBILITY_CHARS])):
            readings[name] = text[:PLAUSIBILITY_CHARS]
    if not readings:
        return None
    scored = sorted(
        (implausible_share(text), rank, name) for rank, (name, text) in enumerate(readings.items())
    )
    best_share, _, best = scored[0]
    if best_share > UNREADABLE:
        return None
    rival = next(
        (s for s in scored[1:] if s[0] <= best_share + CLOSE and readings[s[2]] != readings[best]),
        None,
    )
    if rival is not None and best_share > CLEAN and scored[0][1] != 0:
        first, second = _differing(readings[best], readings[rival[2]])
        raise AmbiguousEncoding(
            f"its encoding cannot be told: {best} reads {first!r} where {rival[2]} reads "
            f"{second!r}; set `encoding`"
        )
    return best


def _mostly_latin(text: str) -> bool:
    """Whether most of ``text``'s non-ASCII letters are Latin ones."""
    letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
    latin = sum(1 for ch in letters if _script(ch) == "LATIN")
    return bool(letters) and latin * 2 >= len(letters)


def _differing(one: str, other: str) -> tuple[str, str]:
    """Return the words around the first place where two readings differ."""
    at = next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), 0)
    start = max(0, at - 12)
    return one[start : at + 12], other[start : at + 12]


_ALLOWED_BESIDE_LETTERS = set(
    "\u2019\u201d\u00bb\u2122\u00ae\u00a9\u00b0\u00ba\u00aa\u2013\u2014\u2026\u00b7\u00a0"
)
_ALLOWED = _ALLOWED_BESIDE_LETTERS | set(
    "\u00b2\u00b3\u00b9\u00bc\u00bd\u00be\u00b1\u00d7\u00f7\u00a6"
)
_WORD = re.compile(r"[^\W\d_]+")


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ")[0]
    return "CJK" if first in ("CJK", "HIRAGANA", "KATAKANA", "HALFWIDTH", "FULLWIDTH") else first


def implausible_share(text: str) -> float:
    """Return the share of ``text``'s non-ASCII characters that read as mojibake: a control
    character, a box-drawing or other rare symbol, a symbol or opening quote beside a letter
    (``Chlo‘``, ``Ã©``), an upper-case letter inside a lower-case word (``SkarsgŒrd``,
    ``muchÊ``), a word mixing scripts, or a Latin word of accented letters only (``Ïåòð``:
    Cyrillic read as Western)."""
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    if not non_ascii:
        return 0.0
    bad = 0
    for at, ch in enumerate(text):
        if ord(ch) <= 127 or ch.isalpha():
            continue
        category = unicodedata.category(ch)
        before = text[at - 1] if at else " "
        after = text[at + 1] if at + 1 < len(text) else " "
        if (
            category[0] == "C"
            or (category in ("No", "Sm", "So", "Sk") and ch not in _ALLOWED)
            or (
                category[0] in "PS"
                and ch not in _ALLOWED_BESIDE_LETTERS
                and (before.isalpha() or (after.isalpha() and category not in ("Pi", "Ps", "Sc")))
            )
        ):
            bad += 1
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        accented = [ch for ch in word if ord(ch) > 127]
        scripts = {_script(ch) for ch in word}
        if len(scripts) > 1 or (
            scripts == {"LATIN"} and len(word) >= 2 and len(accented) == len(word)
        ):
            bad += len(accented)
            continue
        bad += sum(
            1
            for left, right in itertools.pairwise(word)
            if ord(right) > 127 and right.isupper() and left.islower()
        )
    return min(1.0, bad / non_ascii)


def _recognised(found: Any) -> set[str]:
    """Return the encodings in whose reading charset-normalizer recognised a language."""
    return {codecs.lookup(match.encoding).name for match in found if match.coherence > 0}


def _guess(sample: bytes, found: Any) -> str | None:
    """Return the encoding of ``sample`` (not UTF-8), or None when unsure.

    charset-normalizer ranks the candidates; its pick wins when it is a legacy multi-byte
    encoding or it recognised a language with little chaos. Otherwise the text is cp1252 when it
    reads as Western text there (the same text as the pick, or few accented letters)."""
    best = found.best()
    western = _decoded(sample, WESTERN)
    if best is not None:
        name = codecs.lookup(best.encoding).name
        if western is not None and _decoded(sample, name) == western:
            return WESTERN
        if western is not None and any(
            codecs.lookup(match.encoding).name == WESTERN
            and match.chaos <= best.chaos + CLOSE_CHAOS
            and match.coherence >= best.coherence - CLOSE_COHERENCE
            for match in found
        ):
            return WESTERN  # as likely as the pick by the text: the far commoner encoding wins
        common = _commonest_close(found, best.chaos)
        if common is not None:
            return common
        if name in MULTI_BYTE or (best.chaos <= MAX_CHAOS and best.coherence >= MIN_COHERENCE):
            return name
    if western is not None and _reads_western(western):
        return WESTERN
    return None


def _commonest_close(found: Any, best_chaos: float) -> str | None:
    """Return the commonest encoding (``COMMON_ENCODINGS`` order) among charset-normalizer's
    candidates about as orderly as its pick and in which it recognised some language: a few
    words of a short file cannot tell cp932 from cp949, nor cp1251 from mac_cyrillic, but the
    commoner one is by far the likelier."""
    ranked = {codecs.lookup(name).name: rank for rank, name in enumerate(COMMON_ENCODINGS)}
    close = [
        codecs.lookup(match.encoding).name
        for match in found
        if match.chaos <= min(best_chaos + CLOSE_LEGACY_CHAOS, MAX_CHAOS) and match.coherence > 0
    ]
    known = [name for name in close if name in ranked]
    return min(known, key=lambda name: ranked[name]) if known else None


def _decoded(sample: bytes, encoding: str) -> str | None:
    try:
        # The sample may end inside a character: decode it as a stream that is not finished.
        return codecs.getincrementaldecoder(encoding)(errors="strict").decode(sample)
    except UnicodeDecodeError:
        return None


def _reads_western(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    accented = sum(1 for c in letters if not c.isascii())
    return bool(letters) and accented <= MAX_NON_ASCII_LETTERS * len(letters)


def transcode_to_utf8(path: Path, encoding: str, out: Path) -> Path:
    """Write ``path`` decoded from ``encoding`` as UTF-8 to ``out`` (streaming) and return it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with path.open("rb") as source, out.open("wb") as target:
        for block in iter(lambda: source.read(CHUNK_BYTES), b""):
            target.write(decoder.decode(block).encode(UTF8))
        target.write(decoder.decode(b"", final=True).encode(UTF8))
    return out


@dataclass(frozen=True)
class _Utf8Scan:
    """What one pass over a file found of UTF-8."""

    invalid: tuple[int, ...]  # offsets of invalid sequences (the first MAX_STRAY_BYTES + 1)
    multibyte: bool  # a valid multi-byte UTF-8 sequence occurs
    lines: int  # line ends read
    size: int  # bytes read (the whole file unless the scan stopped early)
    complete: bool  # the scan read the whole file


def _scan_utf8(path: Path) -> _Utf8Scan:
    """Read ``path`` once, in chunks: its invalid UTF-8 sequences (up to one more than a file
    with stray bytes may hold) and whether it holds valid multi-byte UTF-8. Stops early once
    neither can change what ``detect_encoding`` decides."""
    invalid: list[int] = []
    multibyte, lines, size, pending = False, 0, 0, b""
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            multibyte = multibyte or bool(_UTF8_MULTIBYTE.search(block))
            lines += block.count(b"\n")
            data = pending + block
            used = _valid_utf8_prefix(data, size - len(pending), invalid, final=False)
            pending, size = data[used:], size + len(block)
            if len(invalid) > MAX_STRAY_BYTES and multibyte:
                return _Utf8Scan(tuple(invalid), multibyte, lines, size, complete=False)
        _valid_utf8_prefix(pending, size - len(pending), invalid, final=True)
    return _Utf8Scan(tuple(invalid), multibyte, lines, size, complete=True)


def _valid_utf8_prefix(data: bytes, base: int, invalid: list[int], final: bool) -> int:
    """Decode ``data`` (at file offset ``base``), noting the offset of each invalid sequence in
    ``invalid``; return how many bytes were read (an unfinished character at the end waits for
    the next block unless ``final``)."""
    whole = _without_unfinished_character(data) if not final else len(data)
    if _all_valid_utf8(data, whole):
        return whole  # the common case, checked by Arrow (7x faster than decoding)
    view, at = memoryview(data), 0
    while len(invalid) <= MAX_STRAY_BYTES:
        try:
            _, used = codecs.utf_8_decode(view[at:], "strict", final)
            return at + used
        except UnicodeDecodeError as exc:
            invalid.append(base + at + exc.start)
            at += exc.end
    return len(data)  # more than a file with stray bytes holds: the rest need not be looked at


def _without_unfinished_character(data: bytes) -> int:
    """Return the length of ``data`` less a multi-byte character it ends in the middle of (the
    next block finishes it)."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: where the last character starts
            length = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4
            return size - back if byte >= 0xC0 and back < length else size
    return size


def _all_valid_utf8(data: bytes, size: int) -> bool:
    """Return whether ``data[:size]`` is valid UTF-8 (Arrow's vectorised check)."""
    if size == 0:
        return True
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int64).tobytes())
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


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
