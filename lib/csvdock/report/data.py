"""The data behind the run reports, as Polars frames: the notebooks only display these.

Everything comes from the run summary, the dead-letter ledger and the schema registry; no CSV is
read again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from csvdock.core.workspace import Workspace
from csvdock.rejects.deadletter import read_ledger
from csvdock.schema.table import TableSchema

FIRST_REJECTS = 20


def read_summary(summary_path: str | Path) -> dict[str, Any]:
    """Return a run summary as a dict."""
    return dict(json.loads(Path(summary_path).read_text(encoding="utf-8")))


def file_counts(summary: dict[str, Any]) -> pl.DataFrame:
    """Return one row per file: status, table, rows read / loaded / rejected, schema version."""
    rows = [
        {
            "file": Path(f["path"]).name,
            "table": f["table"],
            "status": f["status"],
            "rows read": f["rows_read"],
            "loaded": f["rows_loaded"],
            "rejected": f["rows_rejected"],
            "outside table": f.get("lines_outside_table", 0),
            "schema": f"v{f['schema_version']}" if f.get("schema_version") else "",
        }
        for f in summary["files"]
    ]
    schema = {
        "file": pl.String,
        "table": pl.String,
        "status": pl.String,
        "rows read": pl.Int64,
        "loaded": pl.Int64,
        "rejected": pl.Int64,
        "outside table": pl.Int64,
        "schema": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def lines_outside_table(summary: dict[str, Any]) -> pl.DataFrame:
    """Return the lines of each file that are not its table: file, first and last line, how
    many, and why (preamble, comment, header row, footer, second table at line N)."""
    rows = [
        {
            "file": Path(f["path"]).name,
            "first line": span["first_line"],
            "last line": span["last_line"],
            "lines": span["lines"],
            "reason": span["reason"],
        }
        for f in summary["files"]
        for span in f.get("outside_table") or []
    ]
    schema = {
        "file": pl.String,
        "first line": pl.Int64,
        "last line": pl.Int64,
        "lines": pl.Int64,
        "reason": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def loaded_schemas(summary: dict[str, Any]) -> list[TableSchema]:
    """Return the schema versions the run's files were loaded with (each once, in order)."""
    seen: dict[str, TableSchema] = {}
    for f in summary["files"]:
        path = f.get("schema_path")
        if path and path not in seen and Path(path).exists():
            seen[path] = TableSchema.read(Path(path))
    return list(seen.values())


def column_table(schema: TableSchema) -> pl.DataFrame:
    """Return a schema's columns with their evidence: type, nullable, null ratio, samples, range."""
    rows = []
    for c in schema.columns:
        ev = c.evidence
        total = ev.get("rows") or 0
        rows.append(
            {
                "column": c.name,
                "in file": c.source,
                "type": c.type,
                "format": c.format or "",
                "nullable": c.nullable,
                "null ratio": (ev.get("null_count", 0) / total) if total else None,
                "samples": ", ".join(str(s) for s in ev.get("samples", [])),
                "min": ev.get("min"),
                "max": ev.get("max"),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "column": pl.String,
            "in file": pl.String,
            "type": pl.String,
            "format": pl.String,
            "nullable": pl.Boolean,
            "null ratio": pl.Float64,
            "samples": pl.String,
            "min": pl.String,
            "max": pl.String,
        },
    )


def schema_changes(schema: TableSchema) -> pl.DataFrame:
    """Return what changed from the previous version: change, column, from, to."""
    rows = [
        {
            "change": ch["change"],
            "column": ch["column"],
            "from": ch.get("from", ""),
            "to": ch.get("to", ch.get("type", "")),
        }
        for ch in schema.changes
    ]
    names = ["change", "column", "from", "to"]
    return pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String))


def run_rejects(summary: dict[str, Any], workspace: str | Path) -> pl.DataFrame:
    """Return the dead letters recorded by this run, for every table it touched."""
    space = Workspace(Path(workspace))
    frames = [
        read_ledger(space, table).filter(pl.col("run_id") == summary["run_id"])
        for table in sorted({f["table"] for f in summary["files"]})
    ]
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return read_ledger(space, "\0none")
    return pl.concat(frames)


def rejects_by_reason(rejects: pl.DataFrame) -> pl.DataFrame:
    """Return reject counts by stage and a reason with the offending value taken out."""
    kind = pl.col("reason").str.replace(r": '.*' is not ", ": value is not ")
    return (
        rejects.with_columns(kind.str.slice(0, 70).alias("reason"))
        .group_by("stage", "reason")
        .len("rejects")
        .sort("rejects", "stage", descending=[True, False])
    )


def first_rejects(rejects: pl.DataFrame, limit: int = FIRST_REJECTS) -> pl.DataFrame:
    """Return the first rejected records: file, line, stage, column, reason, raw."""
    return (
        rejects.with_columns(pl.col("file").map_elements(lambda p: Path(p).name, pl.String))
        .sort("file", "line")
        .select("file", "line", "stage", "column", "reason", "raw")
        .head(limit)
    )


def quarantined_files(summary: dict[str, Any]) -> pl.DataFrame:
    """Return the run's quarantined and failed files with their reasons."""
    rows = [
        {
            "file": Path(f["path"]).name,
            "status": f["status"],
            "reason": f["reason"] or "",
            "kept at": f.get("quarantine_path") or "",
        }
        for f in summary["files"]
        if f["status"] in ("quarantined", "failed")
    ]
    return pl.DataFrame(
        rows, schema=dict.fromkeys(["file", "status", "reason", "kept at"], pl.String)
    )
