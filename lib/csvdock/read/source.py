"""A file whose records stay in the source: Extract checked that DuckDB, reading the file itself,
gives exactly the records the record index positions (``ExtractResult.plan``), so Transform and
the load read the source again instead of a text copy of it.

The run reads one version of the file: the load checks the source's identity (device, inode,
size, modification time) against Extract's before it reads it (``check_same_source``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from csvdock.core.naming import quote_identifier
from csvdock.read.dialect import Dialect
from csvdock.read.errors import SourceChanged, source_identity
from csvdock.read.extract import ExtractResult, file_sha256
from csvdock.read.parse import (
    PARSED,
    SHORT_LINE_BYTES,
    limit_memory,
    parse_with_duckdb,
    positions_sql,
    sql_path,
    text_records_select,
)
from csvdock.read.records import END, LINE, START, RecordIndex
from csvdock.read.scratch import scratch_duckdb


@dataclass(frozen=True)
class SourcePlan:
    """How to read a file's text records from the file itself."""

    path: Path
    columns: list[str]
    dialect: Dialect
    index: Path  # the record index Extract kept (positions of every record)
    first_data: int  # the index's first data record (1 after a header)
    skip: tuple[int, ...]  # the records DuckDB refuses (their field count is off)
    lf_only: bool
    identity: tuple[int, int, int, int]  # the version of the source Extract read
    sha256: str
    parsed_records: int  # the records DuckDB parses (the data records less ``skip``)

    @classmethod
    def of(cls, extract_dir: Path, source: Path) -> SourcePlan | None:
        """Return the plan Extract left in ``extract_dir`` for ``source`` (None: it copied the
        records into its checkpoint)."""
        extracted = ExtractResult.read(extract_dir)
        plan = extracted.plan
        if not plan:
            return None
        identity = plan["identity"]
        return cls(
            source,
            extracted.columns,
            Dialect(**plan["dialect"]),
            extract_dir / plan["index"],
            int(plan["first_data"]),
            tuple(int(r) for r in plan["skip"]),
            bool(plan["lf_only"]),
            (identity[0], identity[1], identity[2], identity[3]),
            extracted.sha256,
            extracted.rows_read - len(plan["skip"]),
        )

    def text_records_sql(self) -> str:
        """Return a SELECT of the text records (the file's column names, no positions)."""
        path = f"'{sql_path(self.path)}'"
        select = text_records_select(
            self.columns, self.dialect, self.lf_only, path, SHORT_LINE_BYTES
        )
        names = ", ".join(quote_identifier(c) for c in self.columns)
        return f"SELECT {names} FROM ({select}) AS parsed WHERE {PARSED}"

    def records_sql(self, positions: bool = False) -> str:
        """Return a SELECT of the text records with their line and byte positions, as in
        Extract's checkpoint (NULL without ``positions``: joining them costs a read of the
        index, worth it only for the rejects)."""
        names = ", ".join(quote_identifier(c) for c in [*self.columns, LINE, START, END])
        if positions:
            return (
                f"SELECT {names} FROM ({self.text_records_sql()}) AS records "
                f"POSITIONAL JOIN {self._positions()}"
            )
        nothing = ", ".join(f"NULL::BIGINT AS {quote_identifier(c)}" for c in (LINE, START, END))
        return f"SELECT *, {nothing} FROM ({self.text_records_sql()}) AS records"

    def _positions(self) -> str:
        index = RecordIndex(self.index, 0)
        return positions_sql(index, self.first_data, np.array(self.skip, dtype=np.int64))

    def head(self, rows: int) -> pl.DataFrame:
        """Return the first ``rows`` text records, shaped as Extract's checkpoint (without
        their positions: NULL)."""
        check_same_source(self)
        with scratch_duckdb() as con:
            limit_memory(con, len(self.columns))
            table = con.sql(f"{self.records_sql()} LIMIT {int(rows)}").to_arrow_table()
        frame = pl.DataFrame(table)
        return frame.cast({**dict.fromkeys(self.columns, pl.String), LINE: pl.Int64})

    def copy_records(self, out: Path, rows: int) -> None:
        """Write the text records with their positions to ``out`` (the checkpoint Extract
        would have written), for the paths that need the copy."""
        check_same_source(self)
        positions = self._positions()
        parse_with_duckdb(self.path, out, self.dialect, self.columns, rows, positions, self.lf_only)


def check_same_source(plan: SourcePlan) -> tuple[int, int, int, int]:
    """Return the source's identity when it holds the bytes Extract read: the same version of
    the file, or (another path, a copy: Extract's checkpoint is keyed by the bytes) the same
    SHA-256. Raise ``SourceChanged`` otherwise (the file is read again, from Extract on)."""
    try:
        now = source_identity(plan.path)
        if now == plan.identity or file_sha256(plan.path) == plan.sha256:
            return now
    except FileNotFoundError:
        pass
    raise SourceChanged(f"{plan.path} is not the file extracted any more; it is read again")
