"""The parse: DuckDB reads the table's records (strict, every field text) into the text records'
Parquet checkpoint, each joined by position to its line and byte span from the record index;
the records DuckDB refuses, and those whose field count is off, become parse rejects with their
positions in the original file."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import polars as pl

from csvdock.core.naming import quote_identifier
from csvdock.read.dialect import Dialect
from csvdock.read.errors import QuotingError
from csvdock.read.records import END, FIELDS, LINE, START, Indexed, RecordIndex
from csvdock.read.scratch import scratch_duckdb, set_globally
from csvdock.rejects.codes import RejectCode, duckdb_error_code
from csvdock.rejects.format import REJECT_SCHEMA, no_rejects, reject_frame

if TYPE_CHECKING:
    from csvdock.read.early_count import EarlyCount

NUL_COLUMN = "__nul_column"
PARSED, TOO_MANY_RECORDS = "__parsed", "csvdock: more records parsed than indexed"
# The text records' checkpoint: no dictionaries (a text column of mostly distinct values gains
# little from one, and building it cost 15% of the parse: 1M users records 0.90 -> 0.77 s).
TEXT_PARQUET = "FORMAT parquet, DICTIONARY_SIZE_LIMIT 1"
MAX_LINE_BYTES = 16 * 1024 * 1024  # the longest record DuckDB accepts (fields of many MB)
DUCKDB_MEMORY_MB, DUCKDB_MEMORY_MB_PER_COLUMN = 256, 2
# The longest record of a file read again from its source (``csvdock.read.source``; a longer one
# sends the file the usual way). Its small buffers (4 MB, not 32) let DuckDB write an insert's
# row groups to its file as it goes, not in the checkpoint that closes it: 1M users records
# into a DuckDB file 1.10 -> 0.79 s.
SHORT_LINE_BYTES = 1024 * 1024
MAX_RECORDS_SKIPPED_UP_FRONT = 1000  # ragged records left out of the first join (a SQL list)


def attach_positions(
    parsed: Path, out: Path, positions: Path, columns: list[str], check_nul: bool, fields: int
) -> pl.DataFrame:
    """Write the good records with their line and byte ``positions`` (a DuckDB POSITIONAL JOIN,
    so nothing is held in memory whole), leaving out those without ``fields`` fields (already
    rejects). With ``check_nul``, return the records holding a NUL character as rejects:
    PostgreSQL text cannot hold NUL, so such a record is rejected whatever the target."""
    if check_nul and columns:
        has_nul = " ".join(
            f"WHEN contains({quote_identifier(c)}, chr(0)) THEN {_literal(c)}" for c in columns
        )
        nul_column = f"CASE {has_nul} END"
    else:
        nul_column = "NULL"
    data = "".join(f"p.{quote_identifier(c)}, " for c in columns)
    source = (
        f"SELECT {data}q.*, {nul_column} AS {NUL_COLUMN} "
        f"FROM read_parquet('{sql_path(parsed)}') AS p "
        f"POSITIONAL JOIN read_parquet('{sql_path(positions)}') AS q"
    )
    names = ", ".join(quote_identifier(c) for c in [*columns, LINE, START, END])
    with scratch_duckdb() as con:
        limit_memory(con, len(columns))
        con.execute(
            f"COPY (SELECT {names} FROM ({source}) WHERE {NUL_COLUMN} IS NULL "
            f"AND {FIELDS} = {fields}) TO '{sql_path(out)}' ({TEXT_PARQUET})"
        )
        rows = []
        if check_nul:
            rows = con.execute(
                f"SELECT {LINE}, {START}, {END}, {NUL_COLUMN} FROM ({source}) "
                f"WHERE {NUL_COLUMN} IS NOT NULL AND {FIELDS} = {fields} ORDER BY {LINE}"
            ).fetchall()
    return reject_frame(
        [line for line, *_ in rows],
        [start for _, start, _, _ in rows],
        [end for _, _, end, _ in rows],
        "parse",
        [column for *_, column in rows],
        [f"column '{column}': contains a NUL character" for *_, column in rows],
        ["nul_character"] * len(rows),
    )


def limit_memory(con: duckdb.DuckDBPyConnection, columns: int) -> None:
    """Keep DuckDB's memory bounded: it spills to disk rather than grow with the file. Its
    buffers are per column, so a very wide file gets more. (``con`` is a cursor of this
    process's scratch database: ``scratch_duckdb``.)"""
    limit = DUCKDB_MEMORY_MB + DUCKDB_MEMORY_MB_PER_COLUMN * columns
    set_globally(con, "memory_limit", f"'{limit}MB'")
    set_globally(con, "preserve_insertion_order", "true")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_with_duckdb(
    path: Path,
    out: Path,
    dialect: Dialect,
    columns: list[str],
    rows_read: int,
    positions: str,
    lf_only: bool = False,
) -> tuple[list[tuple[int, str, int | None, str]], int]:
    """Write the good records to ``out``, each joined by position to a row of the SQL source
    ``positions`` (right when DuckDB rejected nothing; otherwise ``attach_positions`` joins
    them again). Return the rejects DuckDB reported as ``(byte_position, error_type,
    column_index, message)`` and how many records it parsed."""
    select = text_records_select(columns, dialect, lf_only)
    names = ", ".join(quote_identifier(c) for c in [*columns, LINE, START, END])
    # More parsed records than positions means the parser and the record index disagree.
    too_many = f"CASE WHEN {LINE} IS NULL THEN error('{TOO_MANY_RECORDS}') ELSE true END"
    with scratch_duckdb() as con:
        limit_memory(con, len(columns))
        try:
            if rows_read == 0:
                empty = ", ".join(
                    [f"NULL::VARCHAR AS {quote_identifier(c)}" for c in columns]
                    + [f"NULL::BIGINT AS {c}" for c in (LINE, START, END)]
                )
                con.execute(f"COPY (SELECT {empty} LIMIT 0) TO '{sql_path(out)}' (FORMAT parquet)")
                return [], 0
            parsed = con.execute(
                f"COPY (SELECT {names} FROM ({select}) "
                f"POSITIONAL JOIN {positions} WHERE {PARSED} AND {too_many}) "
                f"TO '{sql_path(out)}' ({TEXT_PARQUET})",
                {"path": str(path)},
            ).fetchone()
        except duckdb.Error as exc:
            if TOO_MANY_RECORDS in str(exc):
                raise QuotingError(
                    f"the parser found more records than the file's {rows_read}; check the quote "
                    "and escape characters"
                ) from None
            raise QuotingError(f"the file cannot be parsed as CSV: {first_line(exc)}") from None
        return _duckdb_rejects(con), int(parsed[0]) if parsed else 0


def count_with_duckdb(
    path: Path, dialect: Dialect, columns: list[str], lf_only: bool, max_line: int
) -> tuple[list[tuple[int, str, int | None, str]], int]:
    """Parse the records of ``path`` as ``parse_with_duckdb`` does, writing nothing: return the
    rejects DuckDB reported and how many records it parsed (a file whose load reads it again
    is checked this way: its records are the ones the load will read)."""
    select = text_records_select(columns, dialect, lf_only, max_line=max_line)
    with scratch_duckdb() as con:
        limit_memory(con, len(columns))
        try:
            # (fetchall: the reject tables exist once the result is read to its end)
            parsed = con.execute(
                f"SELECT count(*) FROM ({select}) WHERE {PARSED}", {"path": str(path)}
            ).fetchall()
        except duckdb.Error as exc:
            raise QuotingError(f"the file cannot be parsed as CSV: {first_line(exc)}") from None
        return _duckdb_rejects(con), int(parsed[0][0])


def _duckdb_rejects(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, int | None, str]]:
    return [
        (int(r[0]), str(r[1]), r[2], str(r[3]))
        for r in con.execute(
            "SELECT line_byte_position, error_type, column_idx, error_message "
            "FROM reject_errors ORDER BY line_byte_position"
        ).fetchall()
    ]


def text_records_select(
    columns: list[str],
    dialect: Dialect,
    lf_only: bool,
    path: str = "$path",
    max_line: int = MAX_LINE_BYTES,
) -> str:
    """Return the SELECT of a file's text records as DuckDB parses them (strict, every field
    text, the ``columns`` named, and a ``__parsed`` flag), reading the path bound to ``$path``;
    the records it rejects are left out (and listed in its ``reject_errors``). One place for the
    options: Extract's parse and a load that reads the source again read the same records.
    ``path``: the SQL of the path (a parameter, or a quoted literal); ``max_line``: the longest
    record read (a record longer is an error), the buffers a few times that."""
    options = {
        "delim": dialect.delimiter,
        "quote": dialect.quote,
        "escape": dialect.escape,
        "header": dialect.header,
        "all_varchar": True,
        "store_rejects": True,
        "auto_detect": False,
        "columns": {f"c{i}": "VARCHAR" for i in range(len(columns))},
        "max_line_size": max_line,
        "buffer_size": 4 * max_line if max_line <= SHORT_LINE_BYTES else 2 * max_line,
        "strict_mode": True,
        "null_padding": False,
        "allow_quoted_nulls": False,
    }
    if lf_only:
        # Every record ends with LF: said, so that DuckDB does not guess CR from a quoted one
        # near the start (a file starting "\rid",a,b read as no records).
        options["new_line"] = "\\n"
    select = ", ".join(
        f"{quote_identifier(f'c{i}')} AS {quote_identifier(name)}" for i, name in enumerate(columns)
    )
    return f"SELECT {select}, true AS {PARSED} FROM read_csv({path}, {_options_sql(options)})"


def positions_sql(index: RecordIndex, first: int, skip: np.ndarray) -> str:
    """Return a SQL source of the line and byte positions of the records ``first`` onwards,
    without the ``skip`` records (ascending record numbers)."""
    left_out = ""
    if skip.size:
        left_out = f" AND file_row_number NOT IN ({', '.join(str(int(r)) for r in skip)})"
    return (
        f"(SELECT {LINE}, {START}, {END} FROM read_parquet('{sql_path(index.path)}', "
        f"file_row_number = true) WHERE file_row_number >= {first}{left_out})"
    )


def parse_rejects(
    index: RecordIndex,
    positions: list[tuple[int, str, int | None, str]],
    first_data: int,
    locate: RecordIndex,
) -> pl.DataFrame:
    """Map DuckDB's reject positions to records (one reject per record): ``locate`` is the index
    of the bytes DuckDB read, ``index`` gives the records' positions in the original file."""
    if not positions:
        return pl.DataFrame(schema=PARSE_REJECT_SCHEMA)
    # DuckDB's line_byte_position may point one byte early or at the preceding newline.
    at = np.array([byte_position - 1 for byte_position, *_ in positions], dtype=np.int64)
    records = np.maximum(locate.records_at_or_after(at), first_data)
    reasons: dict[int, tuple[str, RejectCode]] = {}
    for record, (_, error_type, _column, message) in zip(records.tolist(), positions, strict=True):
        if record < len(index):
            found = (_parse_reason(error_type, message), duckdb_error_code(error_type))
            reasons.setdefault(record, found)
    chosen = np.array(sorted(reasons), dtype=np.int64)
    texts = [reasons[r][0] for r in chosen.tolist()]
    codes = [reasons[r][1] for r in chosen.tolist()]
    return parse_reject_frame(index, chosen, texts, codes, True)


PARSE_REJECT_SCHEMA = pl.Schema(
    {"__record": pl.Int64(), **REJECT_SCHEMA, "__by_duckdb": pl.Boolean()}
)


def parse_reject_frame(
    index: RecordIndex,
    records: np.ndarray,
    reasons: list[str],
    codes: list[RejectCode],
    by_duckdb: bool,
) -> pl.DataFrame:
    """Return parse rejects of the ascending ``records`` (their positions from ``index``), noting
    whether DuckDB rejected them (so its output lacks them)."""
    found = index.positions_of(records)
    lines, starts, ends = (pl.Series(found[name]) for name in (LINE, START, END))
    rejects = reject_frame(lines, starts, ends, "parse", [None] * records.size, reasons, codes)
    return rejects.select(
        pl.Series("__record", records, dtype=pl.Int64),
        pl.all(),
        pl.lit(by_duckdb).alias("__by_duckdb"),
    ).cast(PARSE_REJECT_SCHEMA)


def with_misaligned(
    rejects: pl.DataFrame,
    index: RecordIndex,
    first_data: int,
    fields: int,
    odd: np.ndarray | None = None,
) -> pl.DataFrame:
    """Add to DuckDB's ``rejects`` every record whose field count is not ``fields`` (``odd``,
    where known): its values would land in the wrong columns (DuckDB lets an extra empty last
    field through)."""
    if odd is None:
        odd = index.records_with_fields_other_than(first_data, fields)
    odd = odd[~np.isin(odd, rejects["__record"].to_numpy())]
    if odd.size == 0:
        return rejects
    reasons = [f"expected {fields} fields, found {n}" for n in index.fields_of(odd).tolist()]
    extra = parse_reject_frame(index, odd, reasons, ["field_count"] * len(reasons), False)
    return pl.concat([rejects, extra]).sort("__record")


def _parse_reason(error_type: str, message: str) -> str:
    kind = error_type.lower().replace("_", " ")
    detail = message.split("\n")[0].strip()
    return f"{kind}: {detail}" if detail else kind


def _options_sql(options: dict[str, Any]) -> str:
    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, dict):
            return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
        return "'" + str(value).replace("'", "''") + "'"

    return ", ".join(f"{key} = {literal(value)}" for key, value in options.items())


def sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def source_plan(
    path: Path,
    index: RecordIndex,
    dialect: Dialect,
    columns: list[str],
    first_data: int,
    fields: int,
    index_out: Path,
    early: EarlyCount | None = None,
) -> dict[str, Any] | None:
    """Check that DuckDB, reading the source ``path`` itself, refuses exactly the records whose
    field count is off (so a later read gives the records the index positions); move the index
    to ``index_out`` and return the plan to read the source again (``csvdock.read.source``),
    with the parse rejects under ``rejects``. None when the records must be copied (NUL bytes,
    many ragged records, a record over ``SHORT_LINE_BYTES``, DuckDB refusing others)."""
    if index.nul_bytes:
        return None
    rows = len(index) - first_data
    odd = index.records_with_fields_other_than(first_data, fields)
    lf_only = index.crlf_endings == 0
    if odd.size > MAX_RECORDS_SKIPPED_UP_FRONT:
        return None
    try:
        if early is not None:
            indexed = Indexed(path, index, first_data, odd)
            positions, parsed = early.counted(indexed, dialect, columns, lf_only)
        else:
            positions, parsed = count_with_duckdb(path, dialect, columns, lf_only, SHORT_LINE_BYTES)
    except QuotingError:
        return None
    rejects = parse_rejects(index, positions, first_data, index)
    by_duckdb = np.sort(rejects["__record"].to_numpy())
    rejects = with_misaligned(rejects, index, first_data, fields, odd)
    if parsed + by_duckdb.size != rows or not np.array_equal(by_duckdb, odd):
        return None
    index.path.replace(index_out)  # (from a scratch folder on the same file system)
    return {
        "rejects": rejects.drop("__record", "__by_duckdb"),
        "dialect": asdict(dialect),
        "index": index_out.name,
        "first_data": first_data,
        "skip": odd.tolist(),
        "lf_only": lf_only,
    }


def parsed_records(
    parse_path: Path,
    parse_index: RecordIndex,
    locate: RecordIndex,
    dialect: Dialect,
    columns: list[str],
    first_data: int,
    fields: int,
    records_out: Path,
    scratch: Path,
) -> pl.DataFrame:
    """Parse the records of ``parse_path`` into the records checkpoint ``records_out``, each
    with its positions; return the parse rejects (DuckDB's, the misaligned ones, those holding NUL).
    ``locate`` is the index of ``parse_path`` itself (``parse_index`` holds the positions in the
    original file: the same index unless the parse reads a repaired copy)."""
    parse_rows = len(parse_index) - first_data
    parsed = scratch / "parsed.parquet"
    # DuckDB leaves out the records it rejects, so its rows line up with the positions only
    # when those leave the same records out. The records whose field count is off (the
    # ragged ones DuckDB will reject) are known from the index: leave them out up front, and
    # a file with a few ragged records is parsed and joined in one pass, not two.
    skip = np.zeros(0, dtype=np.int64)
    if parse_index is locate:  # the original text (a repaired copy's records all fit)
        odd = parse_index.records_with_fields_other_than(first_data, fields)
        skip = odd if odd.size <= MAX_RECORDS_SKIPPED_UP_FRONT else skip

    def parse(leaving_out: np.ndarray) -> tuple[list[tuple[int, str, int | None, str]], int]:
        positions = positions_sql(parse_index, first_data, leaving_out)
        lf_only = parse_index.crlf_endings == 0
        return parse_with_duckdb(
            parse_path, parsed, dialect, columns, parse_rows, positions, lf_only
        )

    try:
        reject_positions, parsed_rows = parse(skip)
    except QuotingError:
        if not skip.size:
            raise
        # DuckDB let a ragged record through (an extra empty last field): join them all.
        skip = np.zeros(0, dtype=np.int64)
        reject_positions, parsed_rows = parse(skip)
    rejects = parse_rejects(parse_index, reject_positions, first_data, locate)
    duckdb_rejects = rejects.height
    rejects = with_misaligned(rejects, parse_index, first_data, fields)
    if parsed_rows + duckdb_rejects != parse_rows:
        raise QuotingError(
            f"the parser read {parsed_rows} records and rejected {duckdb_rejects} where the "
            f"file has {parse_rows}; check the quote and escape characters "
            f"(sniffed {dialect.as_dict()})"
        )
    with_nul = no_rejects()
    lined_up = rejects["__by_duckdb"].all() and np.array_equal(
        np.sort(rejects["__record"].to_numpy()), skip
    )
    if lined_up and parse_index.nul_bytes == 0:
        # DuckDB rejected exactly the records left out of the positions: they line up.
        parsed.replace(records_out)
    else:
        # DuckDB's output lacks the records it rejected: leave those out of the positions to
        # join them by position, then drop the records whose fields do not line up.
        skipped = np.sort(rejects.filter(pl.col("__by_duckdb"))["__record"].to_numpy())
        good = parse_index.write_positions(scratch / "good.parquet", first_data, skipped)
        with_nul = attach_positions(
            parsed, records_out, good, columns, parse_index.nul_bytes > 0, fields
        )
    parts = [rejects.drop("__record", "__by_duckdb"), with_nul]
    return pl.concat(parts)


def records_or_plan(
    planned: bool,
    parsed: tuple[Path, RecordIndex, RecordIndex],
    dialect: Dialect,
    columns: list[str],
    data: tuple[int, int],
    outputs: tuple[Path, Path],
    scratch: Path,
    early: EarlyCount | None = None,
) -> tuple[pl.DataFrame, dict[str, Any] | None]:
    """Return the parse rejects and, where the records may stay in the source (``planned``,
    and ``source_plan`` agrees), the plan to read it again; else parse the records into the
    checkpoint (``parsed_records``). ``parsed``: the text parsed, its index with the
    original positions and its own; ``data``: the first data record and the fields a record
    must have; ``outputs``: the records checkpoint and where a plan keeps the index;
    ``early``: a count begun meanwhile (``EarlyCount``)."""
    (parse_path, parse_index, locate), (first_data, fields) = parsed, data
    records_out, index_out = outputs
    if planned and dialect.quoting:
        plan = source_plan(
            parse_path, parse_index, dialect, columns, first_data, fields, index_out, early
        )
        if plan is not None:
            return plan.pop("rejects"), plan
    records = parsed_records(
        parse_path, parse_index, locate, dialect, columns, first_data, fields, records_out, scratch
    )
    return records, None
