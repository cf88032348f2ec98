"""Dialect detection: DuckDB's sniffer first, the standard library's ``csv.Sniffer`` as a second
opinion when DuckDB sees a single column in a line that plainly has delimiters."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from csvdock.core.settings import TableSettings

SAMPLE_BYTES = 64 * 1024
CANDIDATE_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    newline: str = "\\n"
    trailing_delimiter: bool = False  # every data record ends with one more, empty, field

    def as_dict(self) -> dict[str, Any]:
        """Return the dialect as a JSON-ready dict."""
        return asdict(self)


def sniff_dialect(path: Path, pinned: TableSettings) -> Dialect:
    """Return the dialect of ``path``; values pinned in ``pinned`` win over what is sniffed."""
    sniffed = _duckdb_sniff(path)
    sample = _sample_text(path)
    first_line = sample.splitlines()[0] if sample else ""
    if sniffed.get("columns", 0) <= 1 and any(d in first_line for d in CANDIDATE_DELIMITERS):
        sniffed.update(_stdlib_sniff(sample))
    newline = "\\r\\n" if "\r\n" in sample else "\\n"
    return Dialect(
        delimiter=pinned.delimiter or sniffed.get("delimiter") or ",",
        quote=pinned.quote or sniffed.get("quote") or '"',
        escape=pinned.escape or sniffed.get("escape") or pinned.quote or '"',
        header=pinned.header if pinned.header is not None else True,
        newline=newline,
    )


def _duckdb_sniff(path: Path) -> dict[str, Any]:
    try:
        with duckdb.connect() as con:
            row = con.execute(
                "SELECT Delimiter, Quote, Escape, len(Columns) "
                "FROM sniff_csv(?, sample_size = 20480)",
                [str(path)],
            ).fetchone()
    except duckdb.Error:
        return {}
    if row is None:
        return {}

    def clean(value: str) -> str | None:
        return None if value in ("", "(empty)") or len(value) != 1 else value

    return {
        "delimiter": clean(row[0]),
        "quote": clean(row[1]),
        "escape": clean(row[2]),
        "columns": row[3],
    }


def _stdlib_sniff(sample: str) -> dict[str, Any]:
    try:
        found = csv.Sniffer().sniff(sample, delimiters=CANDIDATE_DELIMITERS)
    except csv.Error:
        counts = {d: sample.splitlines()[0].count(d) for d in CANDIDATE_DELIMITERS}
        return {"delimiter": max(counts, key=lambda d: counts[d])}
    return {"delimiter": found.delimiter, "quote": found.quotechar or '"'}


def _sample_text(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(SAMPLE_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
