"""Where each CSV record starts: byte offsets and the editor line numbers of record starts.

DuckDB's reader does not say which line a good record came from, and its reject positions are
approximate. A quote-parity scan over the raw bytes (vectorised with numpy, read in chunks, so
memory stays bounded) finds every record start: a newline outside quotes ends a record, and a
record starts at the next non-blank line. This is not a parser: the fields are DuckDB's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from csvdock.read.parquet import parquet_batches

CHUNK_BYTES = 4 * 1024 * 1024  # larger chunks cost memory (about 30 bytes a byte) and no speed
NEWLINE, CARRIAGE_RETURN = 0x0A, 0x0D


LINE, START, END = "__line", "__start", "__end"
FIELDS, TRAILING = "__fields", "__trailing"  # fields of a record; whether it ends with a delimiter
INDEX_ROW_GROUP = 1 << 20  # records a row group of the index file holds (24 MB in memory)
# The index is scratch, read back in pieces several times: uncompressed it is written and read
# faster (1M records: the extract 0.1 s less) at 20 bytes a record on disk.
INDEX_COMPRESSION = "none"


@dataclass(frozen=True)
class RecordIndex:
    """Where every record of a file is, the header record included: a Parquet file with the
    1-based editor line, start offset and end offset (exclusive, line terminator included) of
    each record in file order, read back in row groups so memory stays bounded."""

    path: Path
    count: int
    crlf_endings: int = 0
    lf_endings: int = 0
    nul_bytes: int = 0  # NUL bytes anywhere in the file
    counts_fields: bool = False  # the index holds FIELDS and TRAILING (a delimiter was given)
    literal_quotes: tuple[int, ...] = ()  # offsets of quotes read as text (not at a field's edge)
    unclosed_quote: int | None = None  # offset of the opening quote no quote closes
    broken_quotes: tuple[int, ...] = ()  # opening quotes of fields that ran on and ended badly
    stray_carriage_returns: tuple[int, ...] = ()  # bare CRs outside quotes (inside a line)

    def __len__(self) -> int:
        return self.count

    @property
    def mixed_line_endings(self) -> bool:
        """Whether records end with both CRLF and bare LF."""
        return self.crlf_endings > 0 and self.lf_endings > 0

    def records_holding(self, byte_positions: np.ndarray) -> np.ndarray:
        """Return, for each of the ascending ``byte_positions``, the record it lies in."""
        return self.records_at_or_after(byte_positions + 1) - 1

    def records_at_or_after(self, byte_positions: np.ndarray) -> np.ndarray:
        """Return, for each of the ascending ``byte_positions``, the index of the first record
        that starts at or after it (``len(self)`` past the last record)."""
        found = np.full(byte_positions.size, self.count, dtype=np.int64)
        base = 0
        for starts in self._column(START):
            pending = found == self.count
            inside = pending & (byte_positions <= starts[-1])
            found[inside] = base + np.searchsorted(starts, byte_positions[inside], side="left")
            base += starts.size
        return found

    def positions_of(self, records: np.ndarray) -> dict[str, np.ndarray]:
        """Return the line, start and end of each of the ascending ``records``."""
        return self._columns_of(records, (LINE, START, END))

    def _columns_of(self, records: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Return columns ``names`` of the ascending ``records``, reading only the row groups
        that hold them (reading every group to find a few records cost a 20M-record file's
        Extract 100 MB and seconds)."""
        result = {name: np.zeros(records.size, dtype=np.int64) for name in names}
        if records.size == 0:
            return result
        parquet = pq.ParquetFile(self.path, pre_buffer=False)
        base = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            inside = (records >= base) & (records < base + rows)
            if inside.any():
                table = parquet.read_row_group(group, columns=list(names))
                for name in names:
                    result[name][inside] = table.column(name).to_numpy()[records[inside] - base]
            base += rows
            if base > records[-1]:
                break
        return result

    def write_positions(self, out: Path, first: int, skipped: np.ndarray) -> Path:
        """Write the positions of records ``first`` onwards, leaving out the ascending
        ``skipped`` ones, to the Parquet file ``out`` (in row groups)."""
        base = 0
        with pq.ParquetWriter(
            out, _index_schema(self.counts_fields), compression=INDEX_COMPRESSION
        ) as writer:
            for batch in parquet_batches(self.path, INDEX_ROW_GROUP):
                keep = np.ones(batch.num_rows, dtype=bool)
                keep[: max(first - base, 0)] = False
                inside = skipped[(skipped >= base) & (skipped < base + batch.num_rows)]
                keep[inside - base] = False
                writer.write_batch(batch.filter(pa.array(keep)))
                base += batch.num_rows
        return out

    def field_counts(self, first: int) -> tuple[dict[int, int], int, int]:
        """Return, for records ``first`` onwards, how many have each field count, and how many
        end with a delimiter (an empty last field) and how many of those end the file's lines."""
        counts: dict[int, int] = {}
        trailing = 0
        base = 0
        for batch in parquet_batches(self.path, INDEX_ROW_GROUP, [FIELDS, TRAILING]):
            skip = max(first - base, 0)
            fields = batch.column(0).to_numpy()[skip:]
            values, found = np.unique(fields, return_counts=True)
            for value, n in zip(values.tolist(), found.tolist(), strict=True):
                counts[value] = counts.get(value, 0) + n
            trailing += int(np.count_nonzero(batch.column(1).to_numpy(zero_copy_only=False)[skip:]))
            base += batch.num_rows
        return counts, trailing, sum(counts.values())

    def records_with_fields_other_than(self, first: int, expected: int) -> np.ndarray:
        """Return the indexes of records ``first`` onwards whose field count is not ``expected``."""
        found: list[np.ndarray] = []
        base = 0
        for batch in parquet_batches(self.path, INDEX_ROW_GROUP, [FIELDS]):
            fields = batch.column(0).to_numpy()
            odd = np.flatnonzero(fields != expected) + base
            found.append(odd[odd >= first])
            base += batch.num_rows
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def fields_of(self, records: np.ndarray) -> np.ndarray:
        """Return the field count of each of the ascending ``records``."""
        return self._columns_of(records, (FIELDS,))[FIELDS]

    def trailing_of(self, records: np.ndarray) -> np.ndarray:
        """Return whether each of the ascending ``records`` ends with a delimiter."""
        return self._columns_of(records, (TRAILING,))[TRAILING].astype(bool)

    def _column(self, name: str) -> Iterator[np.ndarray]:
        for batch in parquet_batches(self.path, INDEX_ROW_GROUP, [name]):
            if batch.num_rows:
                yield batch.column(0).to_numpy()


_INDEX_SCHEMA = pa.schema([(LINE, pa.int64()), (START, pa.int64()), (END, pa.int64())])
_FIELDS_SCHEMA = pa.schema([*_INDEX_SCHEMA, (FIELDS, pa.int32()), (TRAILING, pa.bool_())])


def _index_schema(counts_fields: bool) -> pa.Schema:
    return _FIELDS_SCHEMA if counts_fields else _INDEX_SCHEMA


@dataclass
class _Chunk:
    position: int  # offset of ``body`` in the file
    body: np.ndarray  # the chunk's bytes
    lookahead: np.ndarray  # ``body`` plus up to two following bytes
    previous: int  # the byte before the chunk (-1 at the start)
    ends: np.ndarray  # local offsets of newlines outside quotes (record terminators)
    newline_rank: np.ndarray  # for each of ``ends``, how many newlines precede it in the file
    parity: int  # quote parity after the chunk
    nul_bytes: int
    quote_at: np.ndarray  # local offsets of the quotes that count (escaped ones left out)
    parity_in: int  # quote parity before the chunk
    literal_at: np.ndarray  # local offsets of quotes read as text (not at a field's edge)
    unclosed_at: np.ndarray  # local offsets of opening quotes of fields that never closed
    last_opening: int  # local offset of the chunk's last opening quote (-1: none)
    body_has_cr: bool  # the chunk holds a CR byte


def _chunks(
    path: Path,
    quote: str | None,
    escape: str | None,
    delimiter: str | None = None,
    ignored: tuple[int, ...] = (),
) -> Iterator[_Chunk]:
    """Yield the file in chunks with its quotes read. With a ``delimiter``, quoting is lenient:
    a quote counts only at a field's edges (see ``_lenient_quotes``); quotes at the offsets
    ``ignored`` are read as text."""
    quote_byte = ord(quote) if quote else None
    escape_byte = ord(escape) if escape and escape != quote else None
    delimiter_byte = ord(delimiter) if delimiter else None
    skip = np.array(sorted(ignored), dtype=np.int64)
    size = path.stat().st_size
    parity, newlines_before, position = 0, 0, 0
    with path.open("rb") as handle:
        while position < size:
            handle.seek(max(position - 1, 0))
            raw = handle.read(CHUNK_BYTES + (3 if position else 2))
            previous = raw[0] if position else -1
            data = np.frombuffer(raw[1:] if position else raw, dtype=np.uint8)
            body = data[:CHUNK_BYTES]
            quote_at = np.zeros(0, dtype=np.int64)
            if quote_byte is not None:
                quote_at = np.flatnonzero(body == quote_byte)
                if escape_byte is not None and quote_at.size:
                    quote_at = quote_at[~_escaped(body, quote_at, escape_byte, previous)]
            literal_at = unclosed_at = np.zeros(0, dtype=np.int64)
            if skip.size and quote_at.size:
                mine = skip[(skip >= position) & (skip < position + body.size)] - position
                literal_at = mine[np.isin(mine, quote_at)]
                quote_at = quote_at[~np.isin(quote_at, mine)]
            if quote_byte is not None and delimiter_byte is not None and quote_at.size:
                at_end = position + body.size >= size
                quote_at, stray, unclosed_at = _lenient_quotes(
                    data, quote_at, parity, previous, delimiter_byte, quote_byte, at_end
                )
                literal_at = np.sort(np.concatenate((literal_at, stray, unclosed_at)))
            newline_at = np.flatnonzero(body == NEWLINE)
            # A newline is outside quotes when an even number of quotes precede it.
            quotes_before = np.searchsorted(quote_at, newline_at)
            outside = ((quotes_before + parity) % 2) == 0
            rank = (np.flatnonzero(outside) + newlines_before).astype(np.int64)
            parity_in = parity
            parity = int((parity + quote_at.size) % 2)
            openings = quote_at[((np.arange(quote_at.size) + parity_in) % 2) == 0]
            last_opening = int(openings[-1]) if openings.size else -1
            nul_bytes = int(np.count_nonzero(body == 0))
            body_has_cr = bool(np.count_nonzero(body == CARRIAGE_RETURN))
            yield _Chunk(
                position,
                body,
                data,
                previous,
                newline_at[outside],
                rank,
                parity,
                nul_bytes,
                quote_at,
                parity_in,
                literal_at,
                unclosed_at,
                last_opening,
                body_has_cr,
            )
            newlines_before += int(newline_at.size)
            position += body.size


EDGE_BYTES = (NEWLINE, CARRIAGE_RETURN)


def _lenient_quotes(
    data: np.ndarray,
    quote_at: np.ndarray,
    parity: int,
    previous: int,
    delimiter: int,
    quote: int,
    at_end: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return which of ``quote_at`` count as quoting, which are text, and which open a field
    that never closes properly (text too; their records are damaged). An opening quote stands at
    a field's start (after a delimiter, a line end or the file's start), a closing one at its end
    (before a delimiter, a line end or the file's end); a doubled quote inside quotes is one
    quote of text. ``Men"s`` and ``"the "best" one"`` are read as text, the way people meant
    them. A quoted field that runs past its line and then ends in a quote followed by other text
    never closed: its opening quote is text, its record damaged, and reading resumes at the next
    line.

    Checked for the whole chunk at once; only a chunk with a quote that breaks the rule is
    walked quote by quote."""
    last = data.size - 1
    before = data[np.maximum(quote_at - 1, 0)]
    after = data[np.minimum(quote_at + 1, last)]
    edge_before = _is_edge(before, delimiter, quote)
    edge_after = _is_edge(after, delimiter, quote)
    if quote_at.size and quote_at[0] == 0:  # the byte before is the previous chunk's
        edge_before[0] = previous in (delimiter, NEWLINE, CARRIAGE_RETURN, quote, -1)
    past = quote_at + 1 > last  # nothing follows in the data read
    edge_after[past] = at_end
    opening = ((np.arange(quote_at.size) + parity) % 2) == 0
    none = np.zeros(0, dtype=np.int64)
    if bool(np.all(np.where(opening, edge_before, edge_after))):
        return quote_at, none, none
    before = before.astype(np.int64)
    after = after.astype(np.int64)
    if quote_at.size and quote_at[0] == 0:
        before[0] = previous
    after[past] = -2  # the end of the file (or of the data read)
    # Inside quotes, a quote before other text is text when a quote later on the same line
    # closes the field (``"the "best" one"``); else it closes the field, and the text after it
    # makes the record one the parser rejects.
    closes = (after == delimiter) | (after == NEWLINE) | (after == CARRIAGE_RETURN)
    if at_end:
        closes |= quote_at + 1 >= data.size
    line_ends = np.append(np.flatnonzero(np.isin(data, EDGE_BYTES)), data.size)
    line_end = line_ends[np.searchsorted(line_ends, quote_at)]
    count = quote_at.size
    later = np.minimum.accumulate(np.where(closes, np.arange(count), count)[::-1])[::-1]
    later = np.append(later[1:], count)
    closes_later = (later < count) & (quote_at[np.minimum(later, count - 1)] < line_end)
    counted: list[int] = []
    stray: list[int] = []
    unclosed: list[int] = []
    offsets = quote_at.tolist()
    inside, i = parity, 0
    opened_at, counted_before, opened_line_end = -1, 0, -1  # the open field (-1: unknown)
    while i < len(offsets):
        q = offsets[i]
        if not inside:
            b = int(before[i])
            if b in (delimiter, NEWLINE, CARRIAGE_RETURN, -1) or (counted and counted[-1] == q - 1):
                inside = 1
                opened_at, counted_before, opened_line_end = i, len(counted), int(line_end[i])
                counted.append(q)
            else:
                stray.append(q)
        else:
            a = int(after[i])
            if a == quote and i + 1 < len(offsets) and offsets[i + 1] == q + 1:
                counted += [q, q + 1]  # a doubled quote: text, still inside
                i += 2
                continue
            if bool(closes[i]) or not bool(closes_later[i]):
                if not closes[i] and opened_at >= 0 and q > opened_line_end:
                    # It ran past its line and ends badly: the field never closed. Its opening
                    # quote is text; read again from the first quote after its line.
                    del counted[counted_before:]
                    unclosed.append(offsets[opened_at])
                    resume = int(np.searchsorted(quote_at, opened_line_end, side="right"))
                    stray.extend(offsets[opened_at + 1 : resume])
                    inside, opened_at, i = 0, -1, resume
                    continue
                inside = 0
                counted.append(q)
            else:
                stray.append(q)
        i += 1
    return (
        np.array(counted, dtype=np.int64),
        np.unique(np.array(stray, dtype=np.int64)),
        np.array(unclosed, dtype=np.int64),
    )


def _is_edge(found: np.ndarray, delimiter: int, quote: int) -> np.ndarray:
    """Return where ``found`` is a delimiter, a line end or a quote."""
    return (found == delimiter) | (found == NEWLINE) | (found == CARRIAGE_RETURN) | (found == quote)


def _escaped(body: np.ndarray, at: np.ndarray, escape: int, previous: int) -> np.ndarray:
    """Return, for each offset in ``at``, whether an odd number of ``escape`` bytes precede it
    (``\\"`` is an escaped quote, ``\\\\"`` an escaped backslash and then a real quote)."""
    before = np.where(at > 0, body[np.maximum(at - 1, 0)], previous)
    suspects = np.flatnonzero(before == escape)
    escaped = np.zeros(at.size, dtype=bool)
    if suspects.size == 0:
        return escaped
    # The offset of the last byte before each position that is not an escape byte.
    marks = np.where(body != escape, np.arange(body.size), -1)
    last_other = np.maximum.accumulate(marks)
    ends = at[suspects] - 1  # the last escape byte of each run
    runs = ends - last_other[ends]
    escaped[suspects] = (runs % 2) == 1
    return escaped


def index_records(
    path: Path,
    quote: str | None,
    escape: str | None,
    out: Path,
    delimiter: str | None = None,
    ignored: tuple[int, ...] = (),
) -> RecordIndex:
    """Scan ``path`` and write the position of every record to the Parquet file ``out`` (see
    the module docstring); return the index. With ``delimiter``, also count each record's fields
    (delimiters outside quotes, plus one), note whether it ends with a delimiter, and read quotes
    leniently (a quote inside a field is text); quotes at the offsets ``ignored`` are text."""
    size = path.stat().st_size
    crlf = lf = nul_bytes = count = 0
    parity = 0
    # Per pending record: start, line, and the delimiters (all, and those ending a line) before it.
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    pending_rows = 0
    delimiters_before = terminal_before = 0
    literal: list[np.ndarray] = []
    broken: list[np.ndarray] = []
    stray_cr: list[np.ndarray] = []
    last_opening = -1
    delimiter_byte = ord(delimiter) if delimiter else None
    schema = _index_schema(delimiter_byte is not None)

    def flush(writer: pq.ParquetWriter, final: bool) -> None:
        nonlocal pending, pending_rows
        if not pending:
            return
        starts, lines, delims, terminal = (np.concatenate(p) for p in zip(*pending, strict=True))
        # A record ends where the next one starts: the last one waits for the next chunk's
        # first record, or ends with the file.
        if final:
            pending, pending_rows = [], 0
            ends = np.append(starts[1:], size)
            delims_after = np.append(delims[1:], delimiters_before)
            terminal_after = np.append(terminal[1:], terminal_before)
            keep = slice(None)
        else:
            pending = [(starts[-1:], lines[-1:], delims[-1:], terminal[-1:])]
            pending_rows = 1
            ends, delims_after, terminal_after = starts[1:], delims[1:], terminal[1:]
            keep = slice(None, -1)
        table: dict[str, np.ndarray] = {LINE: lines[keep], START: starts[keep], END: ends}
        if delimiter_byte is not None:
            table[FIELDS] = (delims_after - delims[keep] + 1).astype(np.int32)
            table[TRAILING] = terminal_after > terminal[keep]
        writer.write_table(pa.table(table, schema=schema), row_group_size=INDEX_ROW_GROUP)

    with pq.ParquetWriter(out, schema, compression=INDEX_COMPRESSION) as writer:
        for chunk in _chunks(path, quote, escape, delimiter, ignored):
            literal.append(chunk.literal_at + chunk.position)
            broken.append(chunk.unclosed_at + chunk.position)
            if chunk.body_has_cr:
                stray_cr.append(_bare_carriage_returns(chunk) + chunk.position)
            if chunk.last_opening >= 0:
                last_opening = chunk.position + chunk.last_opening
            candidates = chunk.ends + 1
            candidate_lines = chunk.newline_rank + 2
            if chunk.position == 0:
                candidates = np.concatenate(([0], candidates))
                candidate_lines = np.concatenate(([1], candidate_lines))
            data = chunk.lookahead
            keep = candidates < data.size
            candidates, candidate_lines = candidates[keep], candidate_lines[keep]
            first = data[candidates]
            second = data[np.minimum(candidates + 1, data.size - 1)]
            not_blank = (first != NEWLINE) & ~((first == CARRIAGE_RETURN) & (second == NEWLINE))
            not_blank &= candidates + chunk.position < size
            local_starts = candidates[not_blank]
            delimiters, terminal = _delimiters(chunk, delimiter_byte, size)
            if local_starts.size:
                starts = (local_starts + chunk.position).astype(np.int64)
                pending.append(
                    (
                        starts,
                        candidate_lines[not_blank].astype(np.int64),
                        delimiters_before + np.searchsorted(delimiters, local_starts),
                        terminal_before + np.searchsorted(terminal, local_starts),
                    )
                )
                pending_rows += starts.size
                count += starts.size
            delimiters_before += int(delimiters.size)
            terminal_before += int(terminal.size)
            before = _byte_before(chunk)
            crlf += int(np.count_nonzero(before == CARRIAGE_RETURN))
            lf += int(np.count_nonzero(before != CARRIAGE_RETURN))
            parity = chunk.parity
            nul_bytes += chunk.nul_bytes
            if pending_rows >= INDEX_ROW_GROUP:
                flush(writer, final=False)
        flush(writer, final=True)

    def offsets(found: list[np.ndarray]) -> tuple[int, ...]:
        return tuple(int(q) for q in np.concatenate(found).tolist()) if found else ()

    return RecordIndex(
        out,
        count,
        crlf_endings=crlf,
        lf_endings=lf,
        nul_bytes=nul_bytes,
        counts_fields=delimiter_byte is not None,
        literal_quotes=offsets(literal),
        unclosed_quote=last_opening if parity and count else None,
        broken_quotes=offsets(broken),
        stray_carriage_returns=offsets(stray_cr),
    )


def _delimiters(chunk: _Chunk, delimiter: int | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the local offsets of the delimiters outside quotes in ``chunk``, and of those that
    end a line (followed by a line terminator or the end of the file)."""
    if delimiter is None:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    found = np.flatnonzero(chunk.body == delimiter)
    quotes_before = np.searchsorted(chunk.quote_at, found)
    found = found[((quotes_before + chunk.parity_in) % 2) == 0]
    data = chunk.lookahead
    after = np.where(found + 1 < data.size, data[np.minimum(found + 1, data.size - 1)], NEWLINE)
    after2 = np.where(found + 2 < data.size, data[np.minimum(found + 2, data.size - 1)], NEWLINE)
    ends_line = (after == NEWLINE) | ((after == CARRIAGE_RETURN) & (after2 == NEWLINE))
    ends_line |= found + chunk.position == size - 1
    return found, found[ends_line]


def normalise_line_endings(
    path: Path, quote: str | None, escape: str | None, out: Path, delimiter: str | None = None
) -> Path:
    """Write ``path`` to ``out`` with every record terminator as LF (CRLF inside quoted fields is
    data and stays). DuckDB's strict reader needs one kind of line ending per file."""
    with out.open("wb") as target:
        for chunk in _chunks(path, quote, escape, delimiter):
            before = _byte_before(chunk)
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


def _bare_carriage_returns(chunk: _Chunk) -> np.ndarray:
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
        for chunk in _chunks(path, quote, escape):
            body = chunk.body.copy()
            body[_bare_carriage_returns(chunk)] = NEWLINE
            target.write(body.tobytes())
    return out


def _byte_before(chunk: _Chunk) -> np.ndarray:
    """Return the byte before each record terminator of ``chunk`` (the chunk's previous byte for
    a terminator at offset 0)."""
    before = np.where(chunk.ends > 0, chunk.body[np.maximum(chunk.ends - 1, 0)], chunk.previous)
    return before.astype(np.int64)


def record_text(path: Path, start: int, end: int) -> bytes:
    """Return the raw bytes of one record, without its line terminator (and blank lines after)."""
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(end - start).rstrip(b"\r\n")
