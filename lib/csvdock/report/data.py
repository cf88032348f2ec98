"""The data behind the run reports, as Polars frames: the notebooks only display these.

Everything comes from the run summary, the dead-letter ledger and the schema registry; the column
profiles read the first rows of the run's Extract checkpoints (no CSV is parsed again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from csvdock.core.runs import run_seconds
from csvdock.core.workspace import Workspace
from csvdock.rejects.codes import REJECT_KINDS, offending_value
from csvdock.rejects.deadletter import read_dead_letters
from csvdock.schema.registry import SchemaRegistry
from csvdock.schema.table import TableSchema


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


def type_decisions(summary: dict[str, Any]) -> pl.DataFrame:
    """Return the columns whose type was decided with misfits, per file: the type, how many
    values misfit it, examples and the decision (values rejected, or the column made text)."""
    rows = [
        {
            "file": Path(f["path"]).name,
            "table": f["table"],
            "column": column["name"],
            "type": column["type"],
            "misfits": column["misfits"],
            "examples": ", ".join(column["examples"]),
            "decision": column["decision"],
        }
        for f in summary["files"]
        for column in f.get("columns") or []
    ]
    schema = {
        "file": pl.String,
        "table": pl.String,
        "column": pl.String,
        "type": pl.String,
        "misfits": pl.Int64,
        "examples": pl.String,
        "decision": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def loaded_schemas(summary: dict[str, Any]) -> list[TableSchema]:
    """Return, per table the run loaded into (in order), the newest schema version its files
    were loaded with (a run whose files moved the table from v1 to v2 shows the table once)."""
    newest: dict[str, TableSchema] = {}
    for f in summary["files"]:
        path = f.get("schema_path")
        if not path or not Path(path).exists():
            continue
        schema = TableSchema.read(Path(path))
        held = newest.get(schema.table)
        if held is None or (schema.version or 0) > (held.version or 0):
            newest[schema.table] = schema
    return list(newest.values())


def run_versions(summary: dict[str, Any], table: str) -> list[int]:
    """Return the schema versions of ``table`` the run's loaded files were loaded with."""
    found = {
        int(f["schema_version"])
        for f in summary["files"]
        if f["table"] == table and f["status"] == "loaded" and f.get("schema_version") is not None
    }
    return sorted(found)


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


def run_rejects(summary: dict[str, Any], workspace: str | Path) -> pl.DataFrame:
    """Return the dead letters recorded by this run, for every table it touched."""
    space = Workspace(Path(workspace))
    frames = [
        read_dead_letters(space, table, summary["target"]).filter(
            pl.col("run_id") == summary["run_id"]
        )
        for table in sorted({f["table"] for f in summary["files"]})
    ]
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return read_dead_letters(space, "\0none", summary["target"])
    return pl.concat(frames)


def rejects_by_reason(rejects: pl.DataFrame) -> pl.DataFrame:
    """Return reject counts by stage and kind (the code's words, with the column): stage,
    reason, rejects."""
    return (
        rejects.with_columns(_kind_label().alias("reason"))
        .group_by("stage", "reason")
        .len("rejects")
        .sort("rejects", "stage", descending=[True, False])
    )


def _kind_label() -> pl.Expr:
    """A reject's kind as a report shows it: ``column 'age': a value not of the column's type``
    (a reject stored before codes: the start of its reason)."""
    kind = pl.col("code").replace_strict(REJECT_KINDS, default=None, return_dtype=pl.String)
    with_column = pl.format("column '{}': {}", pl.col("column"), kind)
    labelled = pl.when(pl.col("column").is_not_null()).then(with_column).otherwise(kind)
    return pl.when(kind.is_null()).then(pl.col("reason").str.slice(0, 70)).otherwise(labelled)


# -- at a glance ---------------------------------------------------------------------------------
PROFILE_ROWS = 50_000  # rows of a table's loaded files the column profiles look at
TOP_VALUES = 5


def run_kpis(summary: dict[str, Any]) -> dict[str, Any]:
    """Return the run's headline figures: files by status, rows read / loaded / rejected, the
    reject rate, lines outside the table, quarantined and failed files, duration and rows/s."""
    files = summary["files"]
    statuses: dict[str, int] = {}
    for f in files:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    read = sum(f["rows_read"] for f in files)
    loaded = sum(f["rows_loaded"] for f in files)
    rejected = sum(f["rows_rejected"] for f in files)
    seconds = run_seconds(summary)
    return {
        "files": len(files),
        "statuses": statuses,
        "read": read,
        "loaded": loaded,
        "rejected": rejected,
        "reject_rate": rejected / read if read else 0.0,
        "outside": sum(f.get("lines_outside_table", 0) for f in files),
        "quarantined": statuses.get("quarantined", 0),
        "failed": statuses.get("failed", 0),
        "seconds": seconds,
        "rows_per_s": loaded / seconds if seconds else None,
    }


def table_counts(summary: dict[str, Any]) -> pl.DataFrame:
    """Return one row per table: files, rows read / loaded / rejected, schema version."""
    frame = file_counts(summary)
    if frame.is_empty():
        return frame.select("table", "rows read", "loaded", "rejected").with_columns(
            pl.lit(0).alias("files"), pl.lit("").alias("schema")
        )
    return (
        frame.group_by("table", maintain_order=True)
        .agg(
            pl.len().alias("files"),
            pl.col("rows read").sum(),
            pl.col("loaded").sum(),
            pl.col("rejected").sum(),
            pl.col("schema").filter(pl.col("schema") != "").last().fill_null(""),
        )
        .select("table", "files", "rows read", "loaded", "rejected", "schema")
    )


def version_timeline(schemas_dir: str | Path, table: str) -> pl.DataFrame:
    """Return every version of ``table`` in the registry: version, origin, columns, changes."""
    registry = SchemaRegistry(Path(schemas_dir))
    rows = []
    for version in registry.versions(table):
        schema = registry.read(table, version)
        kinds: dict[str, int] = {}
        for change in schema.changes:
            kinds[change["change"]] = kinds.get(change["change"], 0) + 1
        rows.append(
            {
                "version": version,
                "origin": schema.origin,
                "columns": len(schema.columns),
                "changes": ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "first",
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "version": pl.Int64,
            "origin": pl.String,
            "columns": pl.Int64,
            "changes": pl.String,
        },
    )


def _first_records(checkpoints: Path, source: Path, rows: int) -> pl.DataFrame | None:
    """Return a file's first ``rows`` text records: from its Extract checkpoint, or from the
    file itself where its records stayed there (``csvdock.read.source``; None when it is gone
    or changed since, or no checkpoint is left)."""
    from csvdock.core.errors import CsvdockError
    from csvdock.read.source import SourcePlan

    for part in sorted(checkpoints.glob("extract*/records.parquet"))[:1]:
        return pl.read_parquet(part, n_rows=rows)
    for folder in sorted(checkpoints.glob("extract*"))[:1]:
        try:
            plan = SourcePlan.of(folder, source)
            return plan.head(rows) if plan is not None else None
        except (CsvdockError, OSError):
            return None
    return None


def column_profiles(
    summary: dict[str, Any], workspace: str | Path, schema: TableSchema
) -> dict[str, dict[str, Any]]:
    """Return a profile of each column of ``schema`` from the first ``PROFILE_ROWS`` records of
    the run's files loaded into its table (their Extract checkpoints, cast as the load cast
    them): null share, distinct values, min, max, and the values for a small distribution
    (numbers and dates) or the most frequent values (text). Empty when no checkpoint is left."""
    from csvdock.core.settings import DEFAULT_NULL_TOKENS
    from csvdock.rejects.format import REJECT_COLUMN
    from csvdock.schema import types as t
    from csvdock.transform.typed import typed_frame

    root = Path(workspace) / "checkpoints" / schema.table
    # The first files' records up to PROFILE_ROWS (a run of 1,000 small files planned a scan
    # of each at once: 5 s).
    heads: list[pl.DataFrame] = []
    wanted = PROFILE_ROWS
    for f in summary["files"]:
        if f["table"] != schema.table or f["status"] != "loaded":
            continue
        head = _first_records(root / f["sha256"], Path(f["path"]), wanted)
        if head is not None:
            heads.append(head)
            wanted -= head.height
        if wanted <= 0:
            break
    if not heads:
        return {}
    records = pl.concat(heads, how="diagonal").lazy()
    checked = typed_frame(records, schema, DEFAULT_NULL_TOKENS)
    # The rows loaded: a record rejected (a value that does not fit) is not in the table.
    typed = checked.filter(pl.col(REJECT_COLUMN).is_null()).select(schema.names).collect()
    profiles: dict[str, dict[str, Any]] = {}
    for column in schema.columns:
        values = typed[column.name]
        kept = values.drop_nulls()
        profile: dict[str, Any] = {
            "rows": typed.height,
            "null_share": values.null_count() / typed.height if typed.height else 0.0,
            "distinct": kept.n_unique(),
            "min": None,
            "max": None,
            "numbers": [],
            "top": [],
        }
        if kept.len() and column.type != t.TEXT and kept.dtype != pl.Boolean:
            profile["min"], profile["max"] = str(kept.min()), str(kept.max())
            if kept.dtype.is_numeric():
                profile["numbers"] = kept.cast(pl.Float64).to_list()
            elif kept.dtype.is_temporal():
                profile["numbers"] = kept.cast(pl.Date).cast(pl.Int32).cast(pl.Float64).to_list()
        if kept.len() and (column.type == t.TEXT or kept.dtype == pl.Boolean):
            top = kept.cast(pl.String).value_counts(sort=True).head(TOP_VALUES)
            profile["top"] = list(zip(top[:, 0].to_list(), top["count"].to_list(), strict=True))
        profiles[column.name] = profile
    return profiles


def reject_samples(rejects: pl.DataFrame) -> pl.DataFrame:
    """Return the first reject of each stage and kind: stage, reason (the kind), rejects, file,
    line, column, raw, detail (the sample's own reason) and the offending value when the reject
    names one."""
    if rejects.is_empty():
        return pl.DataFrame(
            schema=dict.fromkeys(
                ["stage", "reason", "file", "column", "raw", "detail", "value"], pl.String
            )
            | {"rejects": pl.UInt32, "line": pl.Int64}
        )
    firsts = (
        rejects.sort("file", "line")
        .with_columns(_kind_label().alias("kind"))
        .group_by("stage", "kind", maintain_order=True)
        .agg(
            pl.len().alias("rejects"),
            *(pl.col(c).first() for c in ("file", "line", "column", "raw", "code", "reason")),
        )
    )
    values = [
        offending_value(code, column, reason)
        for code, column, reason in firsts.select("code", "column", "reason").iter_rows()
    ]
    return (
        firsts.with_columns(pl.Series("value", values, dtype=pl.String))
        .drop("code")
        .rename({"reason": "detail", "kind": "reason"})
        .sort("rejects", descending=True)
    )


def waiting_dead_letters(summary: dict[str, Any], workspace: str | Path) -> pl.DataFrame:
    """Return, per table of the run, the dead letters waiting for replay (all runs)."""
    space = Workspace(Path(workspace))
    rows = []
    for table in sorted({f["table"] for f in summary["files"]}):
        ledger = read_dead_letters(space, table, summary["target"])
        waiting = ledger.filter(pl.col("replayed_in").is_null()).height
        if waiting:
            command = f"csvdock replay {table} --target '{summary['target']}'"
            rows.append({"table": table, "waiting": waiting, "replay": command})
    return pl.DataFrame(rows, schema={"table": pl.String, "waiting": pl.Int64, "replay": pl.String})


def what_to_do(result: dict[str, Any]) -> str:
    """Return what a person can do about a quarantined or failed file."""
    path = result["path"]
    if result["status"] == "failed" and result.get("retryable"):
        return f"a transient failure (the target down or busy): run again: csvdock ingest {path}"
    if result["status"] == "failed":
        return f"fix the cause above, then: csvdock ingest {path}"
    code = result.get("code")
    if code == "over_threshold":
        return (
            "look at its rejects, or raise --max-rejects / --max-reject-ratio: "
            f"csvdock ingest {path}"
        )
    if code == "not_text":
        return f"not CSV text: export it again as CSV, then: csvdock ingest {path}"
    if code == "encoding":
        return f"pin the encoding: csvdock ingest {path} --encoding cp1252"
    if code == "too_many_columns":
        return f"split its columns, or load it into DuckDB: csvdock ingest {path} --target duckdb:///PATH"
    return (
        f"if it is CSV after all, pin the dialect: csvdock ingest {path} "
        "--delimiter ';' --quote '\"' (and --no-header when it has none)"
    )
