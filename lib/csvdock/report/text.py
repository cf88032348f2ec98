"""Plain-text renderings for the terminal: schema versions and their differences."""

from __future__ import annotations

from typing import Any

from csvdock.schema.table import TableSchema


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Return ``rows`` as an aligned text table under ``headers``."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def format_schema(schema: TableSchema) -> str:
    """Return a schema version as a readable table with its evidence."""
    title = f"{schema.table} v{schema.version} ({schema.origin}"
    title += f", from v{schema.previous_version})" if schema.previous_version else ")"
    rows = []
    for c in schema.columns:
        ev = c.evidence
        samples = ", ".join(str(s) for s in ev.get("samples", []))
        range_ = f"{ev['min']} .. {ev['max']}" if ev.get("min") is not None else ""
        nulls = f"{ev['null_count']}/{ev['rows']}" if "rows" in ev else ""
        rows.append(
            [c.name, c.source, c.type, "yes" if c.nullable else "no", nulls, range_, samples]
        )
    text = format_table(
        ["column", "in file", "type", "nullable", "nulls", "min .. max", "samples"], rows
    )
    if schema.primary_key:
        text += f"\nprimary key: {', '.join(schema.primary_key)}"
    if schema.changes:
        text += f"\nchanges from v{schema.previous_version}:\n" + "\n".join(
            "  " + describe_change(ch) for ch in schema.changes
        )
    return f"{title}\n{text}"


def format_diff(table: str, a: int, b: int, changes: list[dict[str, Any]]) -> str:
    """Return the differences between two versions, one line each."""
    if not changes:
        return f"{table}: v{a} and v{b} have the same columns and types"
    return f"{table}: v{a} -> v{b}\n" + "\n".join("  " + describe_change(c) for c in changes)


def describe_change(change: dict[str, Any]) -> str:
    """Return one schema change as a phrase."""
    kind, column = change["change"], change["column"]
    if kind in ("widened", "retyped"):
        return f"{kind:<8} {column}: {change['from']} -> {change['to']}"
    if kind == "format":
        return f"format   {column}: values read as {change.get('format')}"
    if kind == "missing":
        return f"missing  {column} (absent from the file; reads NULL)"
    return f"{kind:<8} {column} {change.get('type', '')}".rstrip()
