"""Identifiers: CSV header names are data, so they are normalised and always quoted."""

from __future__ import annotations

import re
import unicodedata

MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's limit; DuckDB accepts longer.
# PostgreSQL's system columns: a table cannot have a column of these names (a GIS bounding box
# is xmin,ymin,xmax,ymax), so they take a trailing underscore on every target alike.
SYSTEM_COLUMNS = ("xmin", "xmax", "cmin", "cmax", "ctid", "tableoid", "oid")


def snake_case_name(raw: str) -> str:
    """Return ``raw`` as a lower snake_case identifier of letters, digits and underscores.

    Accents are folded to ASCII where possible; other characters become ``_``. An empty result
    becomes ``""`` (the caller names it by position).
    """
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text.strip())
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if text and text[0].isdigit():
        text = f"c_{text}"
    return text[:MAX_IDENTIFIER_LENGTH]


def unique_column_names(raw_names: list[str]) -> list[str]:
    """Return normalised, unique, non-empty column names for a header, in order.

    A name that normalises to nothing becomes ``column_N`` (N its 1-based position); a system
    column's name of PostgreSQL (``xmin``, ``ctid``...) takes a trailing ``_``; a repeated name
    gets a ``_2``, ``_3``... suffix.
    """
    seen: set[str] = set()
    result: list[str] = []
    for position, raw in enumerate(raw_names, start=1):
        base = snake_case_name(raw or "") or f"column_{position}"
        if base in SYSTEM_COLUMNS:
            base = f"{base}_"
        name, suffix = base, 2
        while name in seen or name.startswith("__"):
            name = f"{base[: MAX_IDENTIFIER_LENGTH - 4]}_{suffix}"
            suffix += 1
        seen.add(name)
        result.append(name)
    return result


def table_name_from_stem(stem: str) -> str:
    """Return the default table name for a file stem (``Users 2024.csv`` -> ``users_2024``)."""
    return snake_case_name(stem) or "csv_import"


def split_table_name(name: str) -> tuple[str | None, str]:
    """Split ``schema.table`` into its parts; each part is normalised. ``None`` means default."""
    parts = name.split(".")
    if len(parts) > 2 or not all(p.strip() for p in parts):
        raise ValueError(f"table name {name!r} must be TABLE or SCHEMA.TABLE")
    normalised = [snake_case_name(p) or "t" for p in parts]
    if len(normalised) == 1:
        return None, normalised[0]
    return normalised[0], normalised[1]


def quote_identifier(name: str) -> str:
    """Quote an identifier for SQL (DuckDB and PostgreSQL): ``a"b`` -> ``"a""b"``."""
    if "\x00" in name:
        raise ValueError("identifier contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def qualified_name(schema: str | None, table: str) -> str:
    """Return the quoted ``"schema"."table"`` (or ``"table"``) for SQL."""
    if schema is None:
        return quote_identifier(table)
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"
