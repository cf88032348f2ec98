"""Dialect detection: every plausible dialect is tried on a sample and the one whose table is
the most uniform and the most typed wins (the data consistency measure of van den Burg et al.,
"Wrangling messy CSV files by detecting row and type patterns", 2019). DuckDB's sniffer and the
standard library's ``csv.Sniffer`` add their guesses to the candidates; they are not the judge.

The score of a dialect is ``pattern * types``:

- ``pattern`` rewards rows that split into the same number of fields, and more than one:
  ``sum(N_k * (L_k - 1) / L_k) / K`` over the ``K`` distinct field counts ``L_k`` seen in ``N_k``
  rows (a single column scores almost nothing);
- ``types`` is the share of cells that read as a known kind of value (empty, number, date, time,
  boolean, URL, e-mail, words): a wrong delimiter or quote leaves fragments that read as none.

The confidence reported is the margin between the best score and the best score of a dialect
that splits the file differently: 1.0 when nothing else comes close, near 0 when a coin toss.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from csvdock.core.settings import TableSettings
from csvdock.read.scratch import scratch_duckdb
from csvdock.read.value_shapes import (
    BOOLEAN_SHAPE,
    DATE_SHAPE,
    MISSING_SHAPE,
    NUMBER_SHAPE,
    TIME_SHAPE,
)

SAMPLE_BYTES = 256 * 1024
SAMPLE_ROWS = 2_000
SNIFFER_BYTES = 16 * 1024  # csv.Sniffer's regular expressions slow down on long samples
DELIMITERS = (",", ";", "\t", "|", " ", "#", ":", "~", "^")  # by preference, for ties
COMMON_DELIMITERS = ",;\t|"  # the others (space, ``#``, ``:``...) also occur inside values
QUOTES = ('"', "'")
SPACE_AFTER_DELIMITER = 0.95  # share of fields after a delimiter that start with one space
MIN_UNIFORMITY = 0.8  # share of rows with the usual field count
MIN_WEAK_TYPES = 0.9  # share of typed cells a space, ``#`` or ``:`` reading needs
EPSILON = 1e-3  # a single column's pattern weight (as in the paper)


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    newline: str = "\\n"
    trailing_delimiter: bool = False  # every data record ends with one more, empty, field
    space_after_delimiter: bool = False  # every delimiter is followed by one space (", ")
    unquoted_escapes: bool = False  # the escape also works outside quotes (``a\\,b``, ``\\``+LF)
    confidence: float = 1.0  # the detector's margin over the next best reading (1.0 if pinned)
    quoting: bool = True  # False: quote characters are text (``quote`` is a byte never seen)

    def as_dict(self) -> dict[str, Any]:
        """Return the dialect as a JSON-ready dict (no quote: ``quote`` and ``escape`` empty)."""
        found = asdict(self)
        if not self.quoting:
            found.update(quote="", escape="")
        return found


@dataclass(frozen=True)
class _Candidate:
    delimiter: str
    quote: str
    escape: str
    space_after: bool = False


class _Sample:
    """The first part of a file (``text``) and its readings: each candidate parses it once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._readings: dict[_Candidate, list[list[str]]] = {}

    def rows(self, candidate: _Candidate) -> list[list[str]]:
        """Return the non-blank rows of the sample read with ``candidate`` (do not modify)."""
        if candidate not in self._readings:
            self._readings[candidate] = _rows(self.text, candidate)
        return self._readings[candidate]


def sniff_dialect(path: Path, pinned: TableSettings) -> Dialect:
    """Return the dialect of ``path``; values pinned in ``pinned`` win over what is detected."""
    sample = _Sample(_sample_text(path))
    newline = "\\r\\n" if "\r\n" in sample.text else "\\n"
    header = pinned.header if pinned.header is not None else True
    if pinned.delimiter and pinned.quote:
        escape = pinned.escape or pinned.quote
        return Dialect(pinned.delimiter, pinned.quote, escape, header, newline)
    # DuckDB's sniffer is asked only when the readings scored here leave the choice unclear: it
    # costs a small file 7 ms, a third of its dialect and table finding.
    duckdb_guess = None
    scored = _scored(sample, _candidates(sample, None, pinned))
    if not _clear_choice(sample, scored):
        duckdb_guess = _duckdb_guess(path)
        scored = _scored(sample, _candidates(sample, duckdb_guess, pinned))
    best_score, _, best = scored[0]
    if best_score <= 0 or _modal_fields(sample, best) <= 1:
        # No reading makes a table: the file is one column, or beyond this detector (DuckDB's
        # sniffer knows some dialects it does not, such as backslashes outside quotes).
        best = _fallback(sample, duckdb_guess)
    confidence = _margin(sample, best_score, best, scored[1:])
    dialect = Dialect(
        delimiter=best.delimiter,
        quote=best.quote,
        escape=pinned.escape or best.escape,
        header=header,
        newline=newline,
        space_after_delimiter=best.space_after,
        confidence=round(confidence, 3),
    )
    if dialect.escape == "\\" and re.search(
        "\\\\[" + re.escape(dialect.delimiter) + "\r\n]", sample.text
    ):
        dialect = replace(dialect, unquoted_escapes=True)
    if pinned.delimiter or pinned.quote:
        dialect = replace(dialect, confidence=1.0)
    return dialect


CLEAR_MARGIN = 0.5  # the best reading scores this much better than any reading unlike it


def _scored(sample: _Sample, candidates: list[_Candidate]) -> list[tuple[float, int, _Candidate]]:
    """Return the ``candidates`` with their scores, the best first (ties to the earlier)."""
    return sorted(
        ((_consistency(sample, c), rank, c) for rank, c in enumerate(candidates)),
        key=lambda item: (-item[0], item[1]),
    )


def _clear_choice(sample: _Sample, scored: list[tuple[float, int, _Candidate]]) -> bool:
    """Whether the best reading makes a table and is well ahead of every reading unlike it."""
    best_score, _, best = scored[0]
    if best_score <= 0 or _modal_fields(sample, best) <= 1:
        return False
    return _margin(sample, best_score, best, scored[1:]) >= CLEAR_MARGIN


def _candidates(
    sample: _Sample, duckdb_guess: _Candidate | None, pinned: TableSettings
) -> list[_Candidate]:
    """Return the dialects worth scoring, the most likely first (ties go to the earlier)."""
    text = sample.text
    delimiters = [pinned.delimiter] if pinned.delimiter else [d for d in DELIMITERS if d in text]
    quotes = [pinned.quote] if pinned.quote else ['"'] + [q for q in QUOTES[1:] if _opens(text, q)]
    found: list[_Candidate] = []
    for delimiter in delimiters or [","]:
        for quote in quotes:
            escapes = _escapes(text, quote)
            for escape in [pinned.escape] if pinned.escape else escapes:
                found.append(_Candidate(delimiter, quote, escape))
                if delimiter != " " and _space_after(sample, delimiter, quote):
                    found.append(_Candidate(delimiter, quote, escape, space_after=True))
    for guess in (duckdb_guess, _stdlib_guess(text)):
        if guess is not None and guess not in found and not pinned.delimiter:
            found.append(guess)
    return found


def _fallback(sample: _Sample, duckdb_guess: _Candidate | None) -> _Candidate:
    """Return DuckDB's guess, unless it reads one column while the first line holds a common
    delimiter: then ``csv.Sniffer``'s choice among those, else the commonest in that line."""
    first_line = sample.text.splitlines()[0] if sample.text else ""
    seen = [d for d in COMMON_DELIMITERS if d in first_line]
    if duckdb_guess is not None and (_modal_fields(sample, duckdb_guess) > 1 or not seen):
        return duckdb_guess
    if not seen:
        return _Candidate(",", '"', '"')
    try:
        found = csv.Sniffer().sniff(sample.text[:SNIFFER_BYTES], delimiters=COMMON_DELIMITERS)
        return _Candidate(found.delimiter, found.quotechar or '"', found.quotechar or '"')
    except csv.Error:
        return _Candidate(max(seen, key=first_line.count), '"', '"')


def _opens(sample: str, quote: str) -> bool:
    """Whether ``quote`` starts a field somewhere (an apostrophe inside words quotes nothing)."""
    return (
        re.search(f"(^|[{re.escape(''.join(DELIMITERS))}]){re.escape(quote)}", sample, re.M)
        is not None
    )


def _escapes(sample: str, quote: str) -> list[str]:
    """Return the escape characters worth trying with ``quote``, the likelier first. RFC 4180
    (a doubled quote, no escape) comes first, so it wins a tie: a backslash leads only when
    ``\\"`` escapes a quote more often than ``""`` doubles one, each counted where the other
    reading cannot claim it (``\\""`` is a literal backslash before a doubled quote in RFC 4180
    and an escaped quote closing a field with a backslash: neither counts)."""
    q = re.escape(quote)
    backslashed = len(re.findall(rf"\\{q}(?!{q})", sample))
    doubled = len(re.findall(rf"(?<!\\){q}{q}", sample))
    if not backslashed and not UNQUOTED_ESCAPE.search(sample):
        return [quote]
    return ["\\", quote] if backslashed > doubled else [quote, "\\"]


def _consistency(sample: _Sample, candidate: _Candidate) -> float:
    """Return the data consistency of ``sample`` read with ``candidate``: pattern x types."""
    rows = sample.rows(candidate)
    if not rows:
        return 0.0
    patterns = Counter(len(row) for row in rows)
    modal = _modal(patterns)
    if modal == 1:
        return 0.0  # mostly one field a row: not a table (one column is the fallback's call)
    if len(rows[0]) == 1 and _uniformity(rows, modal) < MIN_UNIFORMITY:
        return 0.0  # a one-field first row over a ragged body: not a table of that many columns
    pattern = sum(n * max(EPSILON, k - 1) / k for k, n in patterns.items()) / len(patterns)
    cells = [cell for row in rows for cell in row]
    types = sum(1 for cell in cells if _known_value(cell)) / len(cells)
    if candidate.delimiter not in COMMON_DELIMITERS and not (
        len(patterns) == 1 and modal > 1 and len(rows) > 1 and types >= MIN_WEAK_TYPES
    ):
        # A space or a colon splits plain values too ("New York", "12:30"): such a delimiter
        # must split every row alike into values that all read as something.
        return 0.0
    return pattern * types


def _uniformity(rows: list[list[str]], modal: int) -> float:
    """Return the share of rows with ``modal`` fields, from the first such row to the last row
    on, leaving out narrower notes (comments, a footer): a preamble and notes do not count."""
    first = next(i for i, row in enumerate(rows) if len(row) == modal)
    body = [row for row in rows[first:] if len(row) >= modal or not _note(row)]
    return sum(1 for row in body if len(row) == modal) / len(body)


def _note(row: list[str]) -> bool:
    return any(ch.isalpha() for cell in row for ch in cell)


def _margin(
    sample: _Sample, best_score: float, best: _Candidate, others: Iterable[tuple[float, int, Any]]
) -> float:
    """Return how far ``best`` is ahead of the best candidate that reads the sample differently."""
    if best_score <= 0:
        return 0.0
    rows = sample.rows(best)
    for score, _, other in others:
        if sample.rows(other) != rows:
            return max(0.0, min(1.0, (best_score - score) / best_score))
    return 1.0


def _modal_fields(sample: _Sample, candidate: _Candidate) -> int:
    rows = sample.rows(candidate)
    return _modal(Counter(len(row) for row in rows)) if rows else 1


def _modal(patterns: Counter[int]) -> int:
    """Return the most common field count, the widest on a tie."""
    most = max(patterns.values())
    return max(k for k, n in patterns.items() if n == most)


def text_reader(
    text: str, delimiter: str, quote: str, escape: str, space_after: bool = False
) -> Any:
    """Return a standard-library CSV reader of ``text`` in this dialect (lenient: a stray quote
    is text), the one the detector and the table finder read samples with."""
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote,
        escapechar=escape if escape != quote else None,
        doublequote=escape == quote,
        skipinitialspace=space_after,
        strict=False,
    )


STRAY_CR = "\ue000"  # a private-use character stands in for a stray CR while a record is split


def record_fields(text: str, delimiter: str, quote: str, escape: str) -> list[str]:
    """Return the fields of one record's ``text`` (its line end, if any, is left out). A
    carriage return inside it is text, as the parser reads it: Python's reader would end the
    record there (a header ``\\rid,a,b`` read as no names). Raises ``csv.Error``."""
    inner = text.rstrip("\r\n").replace("\r", STRAY_CR)
    fields = next(text_reader(inner, delimiter, quote, escape), [""])
    return [f.replace(STRAY_CR, "\r") for f in fields]


def _rows(sample: str, candidate: _Candidate) -> list[list[str]]:
    c = candidate
    reader = text_reader(sample, c.delimiter, c.quote, c.escape, c.space_after)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row and any(row):
                rows.append(row)
            if len(rows) >= SAMPLE_ROWS:
                break
    except csv.Error:
        pass  # the sample ends inside a record (it is cut short): the rows before it stand
    return rows


def _space_after(sample: _Sample, delimiter: str, quote: str) -> bool:
    """Return whether (nearly) every field after a delimiter starts with exactly one space."""
    rows = sample.rows(_Candidate(delimiter, quote, quote))
    after = [cell for row in rows for cell in row[1:] if cell]
    if len(after) < 2:
        return False
    spaced = sum(1 for cell in after if cell.startswith(" ") and not cell.startswith("  "))
    return spaced / len(after) >= SPACE_AFTER_DELIMITER


_KNOWN_VALUE = re.compile(
    "|".join(
        (
            NUMBER_SHAPE,
            DATE_SHAPE,
            TIME_SHAPE,
            BOOLEAN_SHAPE,
            MISSING_SHAPE,
            # URLs and e-mail addresses
            r"(?:https?://|www\.)\S+",
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
            # words: letters and digits joined by single spaces or light punctuation
            r"[^\W_]+(?:(?:[ '\-_./&()]|\s-\s)[^\W_]*)*[.!?)]?",
        )
    )
)


def _known_value(cell: str) -> bool:
    return not cell or _KNOWN_VALUE.fullmatch(cell) is not None


def _duckdb_guess(path: Path) -> _Candidate | None:
    try:
        with scratch_duckdb() as con:
            row = con.execute(
                "SELECT Delimiter, Quote, Escape FROM sniff_csv(?, sample_size = 20480)",
                [str(path)],
            ).fetchone()
    except duckdb.Error:
        return None
    if row is None or len(row[0]) != 1:
        return None
    quote = row[1] if len(row[1]) == 1 else '"'
    escape = row[2] if len(row[2]) == 1 else quote
    return _Candidate(row[0], quote, escape)


def _stdlib_guess(sample: str) -> _Candidate | None:
    try:
        found = csv.Sniffer().sniff(sample[:SNIFFER_BYTES])
    except csv.Error:
        return None
    if len(found.delimiter) != 1 or found.delimiter.isalnum() or found.delimiter in "\r\n\"'":
        return None
    quote = found.quotechar or '"'
    escape = found.escapechar or quote
    return _Candidate(found.delimiter, quote, escape, bool(found.skipinitialspace))


def _sample_text(path: Path) -> str:
    with path.open("rb") as handle:
        raw = handle.read(SAMPLE_BYTES)
        if handle.read(1):  # cut short: end the sample at its last line end
            raw = raw[: max(raw.rfind(b"\n"), raw.rfind(b"\r")) + 1] or raw
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


UNQUOTED_ESCAPE = re.compile(r"\\[,;\t|\r\n]")  # a backslash before a delimiter or line end
UNESCAPED_FILE = "source.unescaped.csv"  # backslash escapes outside quotes, written as RFC 4180
SPACED_FILE = "source.single-delimiter.csv"  # ", " delimiters written as ","


def without_unquoted_escapes(path: Path, dialect: Dialect, out: Path) -> Path:
    """Write ``path`` as standard CSV (quoted fields, doubled quotes) where it escapes
    delimiters, quotes, line ends and backslashes with a backslash, also outside quotes; return
    ``out``. Each record keeps its lines (an escaped line end stays, inside quotes), so line
    numbers hold; a blank line stays blank."""
    options: dict[str, Any] = {"delimiter": dialect.delimiter, "quotechar": dialect.quote}
    with (
        path.open(encoding="utf-8", errors="surrogateescape", newline="") as source,
        out.open("w", encoding="utf-8", errors="surrogateescape", newline="") as target,
    ):
        reader = csv.reader(source, escapechar="\\", doublequote=True, strict=False, **options)
        writer = csv.writer(target, lineterminator="\n", **options)
        for row in reader:
            if row:
                writer.writerow(row)
            else:
                target.write("\n")
    return out


def without_space_after_delimiter(path: Path, dialect: Dialect, out: Path) -> Path:
    """Write ``path`` with each delimiter's following space removed (outside quoted fields), so
    a ``, ``-delimited file reads as a ``,``-delimited one; return ``out``. Line numbers are
    kept; a record whose fields cannot line up this way is rejected later like any other."""
    d, q = re.escape(dialect.delimiter.encode()), re.escape(dialect.quote.encode())
    quoted = rb"(?:(?<=" + d + rb" )|^)" + q + rb"(?:[^" + q + rb"]|" + q + q + rb")*" + q
    pattern = re.compile(rb"(" + quoted + rb")|" + d + rb" ", re.MULTILINE)
    data = path.read_bytes()
    plain = dialect.delimiter.encode()
    out.write_bytes(pattern.sub(lambda m: m.group(1) or plain, data))
    return out
