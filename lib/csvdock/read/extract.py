"""Extract: parse a CSV file with DuckDB into a Parquet checkpoint of text records, setting aside
every record that cannot be parsed (wrong number of fields, bad quoting) with its line number."""

from __future__ import annotations

import json
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from csvdock.core.digests import file_sha256
from csvdock.core.naming import unique_column_names
from csvdock.core.settings import TableSettings
from csvdock.read.dialect import (
    SPACED_FILE,
    UNESCAPED_FILE,
    Dialect,
    sniff_dialect,
    without_space_after_delimiter,
    without_unquoted_escapes,
)
from csvdock.read.early_count import EarlyCount
from csvdock.read.encoding import (
    SNIFF_WIDE_BYTES,
    UTF8,
    EncodingProblem,
    StrayBytes,
    bom_encoding,
    detect_encoding,
    transcode_to_utf8,
    wide_encoding,
)
from csvdock.read.errors import (
    EmptyFile,
    ExtractError,
    NotText,
    QuotingError,
    SourceChanged,
    UnknownEncoding,
    source_identity,
)
from csvdock.read.header import header_names, mended_header
from csvdock.read.line_endings import (
    carriage_returns_to_newlines,
    has_bare_carriage_returns,
    normalise_line_endings,
)
from csvdock.read.parse import parse_reject_frame, records_or_plan
from csvdock.read.records import LINE, RecordIndex, index_records
from csvdock.read.repair import damaged_records, with_original_positions, write_repaired
from csvdock.read.table import TableLayout, find_table, has_blank_lines
from csvdock.rejects.codes import RejectCode

RECORDS_FILE, REJECTS_FILE, META_FILE = "records.parquet", "rejects.parquet", "extract.json"
INDEX_FILE = "index.parquet"  # kept when the records stay in the source (``SourcePlan``)
TRANSCODED_FILE, LF_FILE = "source.utf8.csv", "source.lf.csv"
CR_FILE = "source.cr-as-lf.csv"  # bare CR line ends (old Mac files) as LF
log = logging.getLogger("csvdock")
MAX_UNCLOSED_QUOTES = 100  # more quoted fields that never close: the quote character is wrong
NOT_UTF8 = "not valid UTF-8: a stray byte in a UTF-8 file (kept as \\xNN in raw)"
UNTERMINATED = "unterminated quote: the quoted field never closes; reading resumed at the next line"
BINARY_SIGNATURES = {
    b"\x1f\x8b": "gzip-compressed",
    b"PK\x03\x04": "zip-compressed",
    b"BZh": "bzip2-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"PAR1": "a Parquet file",
}


# Bytes no text file holds (tab, line feed, carriage return, form feed and escape left out).
CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 27), *range(28, 32), 127])


# A file at least this big that starts as UTF-8 is read as UTF-8 while its encoding is checked.
SPECULATE_BYTES = 8 * 1024 * 1024

NO_QUOTE_BYTES = (1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16)  # stand-ins for "no quote character"


@dataclass
class ExtractResult:
    """What Extract found in one file."""

    path: str
    sha256: str
    rows_read: int
    rows_rejected: int
    source_columns: list[str]
    columns: list[str]
    dialect: dict[str, Any] = field(default_factory=dict)
    text_copy: str = ""  # the UTF-8, one-line-ending copy parsed (in the checkpoint), if any
    lines_outside_table: int = 0  # preamble, extra header rows, footer, a second table
    outside: list[dict[str, Any]] = field(default_factory=list)  # OutsideSpan dicts
    size: int = 0  # bytes of the source read (checked again before the commit)
    # The records were not copied: the load parses the source again (``csvdock.read.source``).
    plan: dict[str, Any] | None = None

    def text_path(self, folder: Path, source: Path | None = None) -> Path:
        """Return the text that was parsed (the raw text of rejects is read from it): the
        checkpoint's copy, or ``source`` (the file this run reads: a checkpoint of the same
        bytes may have been made from another path, since moved), else the path extracted."""
        if self.text_copy:
            return folder / self.text_copy
        return source if source is not None else Path(self.path)

    def write(self, folder: Path) -> None:
        """Write this result as ``extract.json`` into ``folder``."""
        (folder / META_FILE).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> ExtractResult:
        """Read the result written by ``write``."""
        return cls(**json.loads((folder / META_FILE).read_text(encoding="utf-8")))


def extract_file(
    path: Path,
    out_dir: Path,
    settings: TableSettings,
    sha256: str | None = None,
    plan_only: bool = False,
) -> ExtractResult:
    """Parse ``path`` into ``out_dir``: records.parquet (text columns plus ``__line``,
    ``__start``, ``__end``), rejects.parquet and extract.json. Raises ``ExtractError`` when the
    file cannot be read as CSV at all, ``SourceChanged`` when it changed while it was read
    (every pass must read one version of it).

    ``plan_only``: where the source itself can be parsed again (UTF-8, nothing to repair, the
    records DuckDB refuses exactly those the index finds ragged), write no records.parquet but
    the record index and the plan to read the source (``ExtractResult.plan``)."""
    before = source_identity(path)
    result = _extract(path, out_dir, settings, sha256, plan_only)
    if source_identity(path) != before:
        raise SourceChanged(f"{path} changed while it was read; it is read again")
    result.size = before[2]
    if result.plan is not None:
        result.plan["identity"] = list(before)
    result.write(out_dir)
    return result


def _extract(
    path: Path, out_dir: Path, settings: TableSettings, sha256: str | None, plan_only: bool
) -> ExtractResult:
    _check_readable(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    if settings.encoding or not _probably_utf8(path):
        encoding, stray = _encoding_of(path, settings)
        return _extract_as(path, out_dir, settings, sha256, plan_only, encoding, stray)
    # A big file that starts as UTF-8: read as UTF-8 while the whole file's encoding is checked
    # beside it (the check's pass over the file takes the core the record index leaves idle);
    # in the rare file that is not UTF-8 after all, that reading is dropped and done again.
    with ThreadPoolExecutor(max_workers=1) as pool:
        checked = pool.submit(_encoding_of, path, settings)
        try:
            result = _extract_as(path, out_dir, settings, sha256, plan_only, UTF8, ())
        except Exception:  # (whatever failed reading a file that is not UTF-8 is moot)
            if checked.result() == (UTF8, ()):
                raise
        else:
            if checked.result() == (UTF8, ()):
                return result
    encoding, stray = checked.result()
    log.info("%s: read again as %s (%d stray bytes)", path, encoding, len(stray))
    return _extract_as(path, out_dir, settings, sha256, plan_only, encoding, stray)


def _probably_utf8(path: Path) -> bool:
    """Return whether ``path`` is bigger than ``SPECULATE_BYTES`` and its first bytes are UTF-8
    without a byte order mark (the whole file is then read as UTF-8 while it is checked)."""
    if path.stat().st_size < SPECULATE_BYTES:
        return False
    with path.open("rb") as handle:
        head = handle.read(SNIFF_WIDE_BYTES)
    if bom_encoding(head) or wide_encoding(head):
        return False
    try:
        head.decode(UTF8)
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # (a character cut at the sample's end)
    return True


def _encoding_of(path: Path, settings: TableSettings) -> tuple[str, tuple[int, ...]]:
    """Return the encoding to read ``path`` with and, in a UTF-8 file with stray bytes, their
    offsets; raise ``UnknownEncoding`` when it cannot be told."""
    try:
        return detect_encoding(path, settings.encoding), ()
    except StrayBytes as exc:
        log.warning("%s: %s; their records are set aside", path, exc)
        return UTF8, exc.offsets
    except EncodingProblem as exc:
        raise UnknownEncoding(str(exc)) from None


def _extract_as(
    path: Path,
    out_dir: Path,
    settings: TableSettings,
    sha256: str | None,
    plan_only: bool,
    encoding: str,
    stray: tuple[int, ...],
) -> ExtractResult:
    """Extract ``path`` read in ``encoding`` (``stray``: offsets of bytes that are not UTF-8 in
    a UTF-8 file, whose records are set aside)."""
    source = path
    if encoding != UTF8:
        path = transcode_to_utf8(source, encoding, out_dir / TRANSCODED_FILE)
    dialect = sniff_dialect(path, settings)
    if dialect.unquoted_escapes:
        path = without_unquoted_escapes(path, dialect, out_dir / UNESCAPED_FILE)
        dialect = replace(dialect, escape=dialect.quote)
    if dialect.space_after_delimiter:
        path = without_space_after_delimiter(path, dialect, out_dir / SPACED_FILE)
    if has_bare_carriage_returns(path):
        path = carriage_returns_to_newlines(path, dialect.quote, dialect.escape, out_dir / CR_FILE)
        dialect = replace(dialect, newline="\\r")
    plan_only = plan_only and path == source and not stray
    try:
        return _read_table(
            path, source, out_dir, dialect, settings, encoding, stray, sha256, plan_only
        )
    except QuotingError as exc:
        quoteless = None if settings.quote else _without_quoting(path, dialect)
        if quoteless is None:
            raise
        log.warning("%s: %s; reading its quote characters as text instead", source, exc)
        return _read_table(path, source, out_dir, quoteless, settings, encoding, stray, sha256)


def _without_quoting(path: Path, dialect: Dialect) -> Dialect | None:
    """Return ``dialect`` with no quote character (a byte the file never holds stands in for
    it), or None when the file holds every candidate byte."""
    present: set[int] = set()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            present.update(b for b in NO_QUOTE_BYTES if bytes([b]) in block)
    free = next((b for b in NO_QUOTE_BYTES if b not in present), None)
    if free is None:
        return None
    return replace(dialect, quote=chr(free), escape=chr(free), quoting=False)


def _read_table(
    path: Path,
    source: Path,
    out_dir: Path,
    dialect: Dialect,
    settings: TableSettings,
    encoding: str,
    stray: tuple[int, ...],
    sha256: str | None,
    plan_only: bool = False,
) -> ExtractResult:
    """Find the table in the UTF-8 text ``path`` (read from ``source``) and parse it with
    ``dialect`` into ``out_dir`` (see ``extract_file``)."""
    with (
        tempfile.TemporaryDirectory(dir=out_dir) as scratch_dir,
        EarlyCount(path, dialect) if plan_only else nullcontext() as early,
    ):
        scratch = Path(scratch_dir)
        path, index, dialect, never_closed = _indexed(path, dialect, out_dir, scratch)
        layout = find_table(path, index, dialect, settings.header)
        dialect = replace(dialect, header=layout.header)
        not_data = layout.not_data
        damaged, reasons = _set_aside(index, layout, never_closed, stray)
        source_columns, mended = _header(path, source, index, dialect, layout)
        columns = unique_column_names(source_columns)
        rows_read = len(index) - not_data.size
        first_data = 1 if dialect.header else 0  # in the records the parser reads
        # The records the parser reads: all of them, or, when quoting had to be mended or the
        # table does not fill the file, a copy with only the table (positions the original's).
        parse_path, parse_index, locate = path, index, index
        left_out = np.union1d(damaged, layout.left_out).astype(np.int64)
        # DuckDB reads a blank line of a one-column file as a record (an empty value); the
        # record index skips it as blank: the parser reads a copy without blank lines.
        blanks = len(source_columns) == 1 and has_blank_lines(path, index)
        if left_out.size or index.literal_quotes or index.stray_carriage_returns or blanks:
            parse_path, parse_index, locate = _repaired(
                path, index, left_out, dialect, scratch, blanks
            )
            text_quotes = len(index.literal_quotes) - len(never_closed)
            log.info(REPAIRED, source, text_quotes, damaged.size, layout.lines_outside)
        parse_rows = len(parse_index) - first_data
        fields, dialect = _expected_fields(
            parse_index, dialect, first_data, parse_rows, len(source_columns)
        )
        rejects, plan = records_or_plan(
            plan_only and parse_index is locate,
            (parse_path, parse_index, locate),
            dialect,
            columns,
            (first_data, fields),
            (out_dir / RECORDS_FILE, out_dir / INDEX_FILE),
            scratch,
            early,
        )
        unterminated = parse_reject_frame(
            index,
            damaged,
            [reasons[r][0] for r in damaged.tolist()],
            [reasons[r][1] for r in damaged.tolist()],
            by_duckdb=False,
        )
    all_rejects = pl.concat([rejects, unterminated.drop("__record", "__by_duckdb")]).sort("line")
    all_rejects.write_parquet(out_dir / REJECTS_FILE)
    return ExtractResult(  # written by ``extract_file``, once the source is known unchanged
        path=str(source),
        sha256=sha256 or file_sha256(source),
        rows_read=rows_read,
        rows_rejected=all_rejects.height,
        source_columns=source_columns,
        columns=columns,
        dialect={
            **dialect.as_dict(),
            "encoding": encoding,
            **({"header_mended": mended} if mended else {}),
        },
        text_copy=path.name if path != source else "",
        lines_outside_table=layout.lines_outside,
        outside=[asdict(span) for span in layout.spans],
        plan=plan,
    )


REPAIRED = (
    "%s: %d quotes read as text, %d records set aside (a quote never closed, a stray byte), %d "
    "lines outside the table"
)


def _header(
    path: Path, source: Path, index: RecordIndex, dialect: Dialect, layout: TableLayout
) -> tuple[list[str], str | None]:
    """Return the table's header names (mended where they must be) and what was mended."""
    names = layout.names or header_names(path, index, dialect, layout)
    if not dialect.header or layout.names:
        return names, None
    names, mended = mended_header(path, index, dialect, layout, names)
    if mended:
        log.warning("%s: the header was mended: %s", source, mended)
    return names, mended


def _indexed(
    path: Path, dialect: Dialect, out_dir: Path, scratch: Path
) -> tuple[Path, RecordIndex, Dialect, tuple[int, ...]]:
    """Index the records of ``path`` (a copy with one kind of line ending when it mixes them;
    opening quotes that never close read as text); return the text indexed, its index, the
    dialect and the offsets of the quoted fields that never close."""
    index = index_records(
        path, dialect.quote, dialect.escape, scratch / "index.parquet", dialect.delimiter
    )
    if len(index) == 0:
        raise EmptyFile("the file is empty: no header and no records")
    if index.mixed_line_endings:
        path = normalise_line_endings(
            path, dialect.quote, dialect.escape, out_dir / LF_FILE, dialect.delimiter
        )
        index = index_records(
            path, dialect.quote, dialect.escape, scratch / "index.lf.parquet", dialect.delimiter
        )
        dialect = replace(dialect, newline="mixed")
    index, never_closed = _resynchronised(path, index, dialect, scratch)
    return path, index, dialect, never_closed


def _set_aside(
    index: RecordIndex, layout: TableLayout, never_closed: tuple[int, ...], stray: tuple[int, ...]
) -> tuple[np.ndarray, dict[int, tuple[str, RejectCode]]]:
    """Return the data records set aside before the parse (a quoted field that never closes, a
    byte that is not UTF-8), ascending, and the reason of each."""
    not_data = layout.not_data
    damaged = damaged_records(index, never_closed)
    damaged = damaged[~np.isin(damaged, not_data)]  # a stray quote outside the data is text
    undecodable = damaged_records(index, stray)
    if np.isin(undecodable, layout.header_records).any():
        raise UnknownEncoding(f"the header is not valid UTF-8 (byte {stray[0]})")
    undecodable = undecodable[~np.isin(undecodable, not_data)]
    reasons: dict[int, tuple[str, RejectCode]] = {
        int(r): (UNTERMINATED, "unterminated_quote") for r in damaged.tolist()
    }
    reasons.update({int(r): (NOT_UTF8, "not_utf8") for r in undecodable.tolist()})
    damaged = np.array(sorted(reasons), dtype=np.int64)
    return damaged, reasons


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ExtractError("no such file")
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    if not head:
        raise EmptyFile("the file is empty: no header and no records")
    for signature, what in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise NotText(f"the file is {what}, not CSV text")
    if bom_encoding(head) or wide_encoding(head):
        return  # UTF-16/32 text: its NUL bytes are half of its characters
    if head.count(b"\x00") > max(8, len(head) // 100):
        raise NotText("the file is binary (NUL bytes), not CSV text")
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if controls > max(8, len(head) // 100):
        share = controls / len(head)
        raise NotText(f"the file is binary ({share:.0%} control bytes), not CSV text")


def _resynchronised(
    path: Path, index: RecordIndex, dialect: Dialect, scratch: Path
) -> tuple[RecordIndex, tuple[int, ...]]:
    """Return the index of ``path`` after reading every opening quote that no quote closes as
    text (the scan resynchronises at the next line), and the offsets of all the quoted fields
    that never close: those running to the end of the file (found one per scan) and those
    ending badly past their line (found in the scan)."""
    unclosed: list[int] = []
    while True:
        never_closed = tuple(sorted((*unclosed, *index.broken_quotes)))
        if len(never_closed) > MAX_UNCLOSED_QUOTES:
            record = index.records_holding(np.array(never_closed[:1]))
            line = int(index.positions_of(record)[LINE][0])
            raise QuotingError(
                f"unterminated quotes: over {MAX_UNCLOSED_QUOTES} quoted fields never close, the "
                f"first at line {line}; check the quote character"
            )
        if index.unclosed_quote is None:
            return index, never_closed
        unclosed.append(index.unclosed_quote)
        index = index_records(
            path,
            dialect.quote,
            dialect.escape,
            scratch / f"index.resync-{len(unclosed)}.parquet",
            dialect.delimiter,
            tuple(unclosed),
        )


def _repaired(
    path: Path,
    index: RecordIndex,
    damaged: np.ndarray,
    dialect: Dialect,
    scratch: Path,
    without_blank_lines: bool = False,
) -> tuple[Path, RecordIndex, RecordIndex]:
    """Write the copy the parser reads (damaged records left out, text quotes escaped); return
    it, its index with the original positions, and its own index (where the parser's byte
    offsets point)."""
    copy = scratch / "repaired.csv"
    kept = write_repaired(
        path,
        index,
        damaged,
        dialect.delimiter,
        dialect.quote,
        dialect.escape,
        copy,
        without_blank_lines,
    )
    own = index_records(
        copy, dialect.quote, dialect.escape, scratch / "index.repaired.parquet", dialect.delimiter
    )
    if own.unclosed_quote is not None or own.literal_quotes or len(own) != kept.size:
        raise QuotingError("the quoting of the file cannot be read; check the quote character")
    mapped = with_original_positions(own, index, kept, scratch / "index.mapped.parquet")
    return copy, mapped, own


def _expected_fields(
    index: RecordIndex, dialect: Dialect, first_data: int, rows_read: int, header_fields: int
) -> tuple[int, Dialect]:
    """Return how many fields a data record must have (the header's ``header_fields``, or the
    first record's without a header), and the dialect with its trailing delimiter noted: when
    every data record has one field more than the header and ends with the delimiter, the
    trailing delimiter is the file's dialect, not an extra field."""
    if not dialect.header:
        header_fields = int(index.fields_of(np.array([0]))[0]) if len(index) else 0
    counts, trailing, _ = index.field_counts(first_data)
    if (
        dialect.header
        and rows_read
        and counts == {header_fields + 1: rows_read}
        and trailing == rows_read
    ):
        return header_fields + 1, replace(dialect, trailing_delimiter=True)
    return header_fields, dialect
