"""The reject format, in one place: a rejected record's line, byte span, stage, code (why, typed:
``csvdock.rejects.codes``), column and reason, in the shapes the same fact takes:
- a stage's rejects (``REJECT_SCHEMA``), as Extract and Transform write them in checkpoints;
- the target's rejects table (``STORED_COLUMNS``), written in the load's transaction with the
  record's raw text (``RAW_REJECT_SCHEMA``: rejects that came with it, a stream's messages);
- the dead-letter CSV a person opens and edits (``DEAD_LETTER_SCHEMA``), derived from the target,
  and a run's rejects CSV of one file (``RUN_REJECTS_SCHEMA``).
Every module builds and converts rejects with these functions, never by spelling the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import polars as pl

from csvdock.read.records import END, LINE, START, record_text
from csvdock.rejects.codes import RejectCode

Stage = Literal["parse", "cast", "contract"]

# What every shape says of a reject: its line, stage, code, column and reason.
LINE_TYPE: dict[str, pl.DataType] = {"line": pl.Int64()}
WHY: dict[str, pl.DataType] = {
    "stage": pl.String(),
    "code": pl.String(),
    "column": pl.String(),
    "reason": pl.String(),
}
RAW: dict[str, pl.DataType] = {"raw": pl.String()}
REJECT_SCHEMA = pl.Schema({**LINE_TYPE, "byte_start": pl.Int64(), "byte_end": pl.Int64(), **WHY})
# The first failing check of a record, beside its typed columns (Polars and SQL casts alike):
# the column, the reason, the stage and the code; NULL where the record fits.
REJECT_COLUMN, REJECT_REASON, REJECT_STAGE = "__reject_column", "__reject_reason", "__reject_stage"
REJECT_CODE = "__reject_code"
# The target's rejects table: the load's ledger entry, the reject and the record's raw text.
STORED_COLUMNS = (
    "table_name",
    "file_sha256",
    "run_id",
    "file_path",
    "line",
    "stage",
    "code",
    "column_name",
    "reason",
    "raw",
)
DEAD_LETTER_SCHEMA = pl.Schema(
    {
        "run_id": pl.String(),
        "file": pl.String(),
        "file_sha256": pl.String(),
        **LINE_TYPE,
        **WHY,
        **RAW,
        "replayed_in": pl.String(),
    }
)
# A run's rejects CSV of one file (runs/<id>/rejects/...): what ``RunSummary.rejects()`` reads.
RUN_REJECTS_SCHEMA = pl.Schema({"file": pl.String(), **LINE_TYPE, **WHY, **RAW})
# What the dead letters hold of the target's rejects table, in DEAD_LETTER_SCHEMA's order.
STORED_AS_DEAD_LETTER = {
    "run_id": "run_id",
    "file": "file_path",
    "file_sha256": "file_sha256",
    "line": "line",
    "stage": "stage",
    "code": "code",
    "column": "column_name",
    "reason": "reason",
    "raw": "raw",
}


def no_rejects() -> pl.DataFrame:
    """Return an empty frame of rejects."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def reject_frame(
    lines: Sequence[int] | pl.Series,
    byte_starts: Sequence[int] | pl.Series,
    byte_ends: Sequence[int] | pl.Series,
    stage: Stage,
    columns: Sequence[str | None],
    reasons: Sequence[str],
    codes: Sequence[RejectCode],
) -> pl.DataFrame:
    """Return rejects of one ``stage``: one row per record, in the order given."""
    return pl.DataFrame(
        {
            "line": lines,
            "byte_start": byte_starts,
            "byte_end": byte_ends,
            "stage": [stage] * len(reasons),
            "code": list(codes),
            "column": list(columns),
            "reason": list(reasons),
        },
        schema=REJECT_SCHEMA,
    )


# Rejects with their raw text, without byte spans (a stream's messages set aside before parsing).
RAW_REJECT_SCHEMA = pl.Schema({**LINE_TYPE, **WHY, **RAW})


def raw_reject_frame(
    lines: Sequence[int],
    stage: Stage,
    reasons: Sequence[str],
    raws: Sequence[str],
    codes: Sequence[RejectCode],
) -> pl.DataFrame:
    """Return rejects that carry their raw text already (no column), in the order given."""
    return pl.DataFrame(
        {
            "line": list(lines),
            "stage": [stage] * len(reasons),
            "code": list(codes),
            "column": [None] * len(reasons),
            "reason": list(reasons),
            "raw": list(raws),
        },
        schema=RAW_REJECT_SCHEMA,
    )


def with_raw_rejects(rejects: pl.DataFrame, more: pl.DataFrame) -> pl.DataFrame:
    """Return ``rejects`` (with ``raw``) and ``more`` (``RAW_REJECT_SCHEMA``) in line order."""
    return pl.concat([rejects.select(RAW_REJECT_SCHEMA.names()), more]).sort("line")


def rejects_of_checked(checked: pl.LazyFrame) -> pl.LazyFrame:
    """Return the rejects of a checked frame (record positions plus the first failing check)."""
    return (
        checked.filter(pl.col(REJECT_COLUMN).is_not_null())
        .select(
            pl.col(LINE).alias("line"),
            pl.col(START).alias("byte_start"),
            pl.col(END).alias("byte_end"),
            pl.col(REJECT_STAGE).alias("stage"),
            pl.col(REJECT_CODE).alias("code"),
            pl.col(REJECT_COLUMN).alias("column"),
            pl.col(REJECT_REASON).alias("reason"),
        )
        .cast(REJECT_SCHEMA)
    )


def checked_rejects_sql(checked: str) -> str:
    """Return a SELECT of the rejects of a checked SQL query, in ``REJECT_SCHEMA``'s order."""
    columns = [LINE, START, END, REJECT_STAGE, REJECT_CODE, REJECT_COLUMN, REJECT_REASON]
    return (
        f"SELECT {', '.join(columns)} FROM ({checked}) AS checked "
        f"WHERE {REJECT_COLUMN} IS NOT NULL ORDER BY 1"
    )


def rejects_from_rows(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    """Return the rows of ``checked_rejects_sql`` as rejects."""
    return pl.DataFrame(rows, schema=REJECT_SCHEMA.names(), orient="row").cast(REJECT_SCHEMA)


def rejects_with_raw_text(rejects: pl.DataFrame, source: Path) -> pl.DataFrame:
    """Return ``rejects`` with a ``raw`` column: each record's original text, read from ``source``.

    Bytes that are not UTF-8, and NUL (no database text holds it), are kept as ``\\xNN``
    escapes so nothing is silently altered.
    """
    raw = [
        raw_text(record_text(source, start, end))
        for start, end in zip(rejects["byte_start"], rejects["byte_end"], strict=True)
    ]
    return rejects.with_columns(pl.Series("raw", raw, dtype=pl.String)).sort("line")


def raw_text(record: bytes) -> str:
    """Return a rejected record's bytes as the rejects store them: UTF-8, with bytes that are not
    UTF-8, and NUL (no database text holds it), as ``\\xNN`` escapes."""
    return record.decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")


def stored_rows(
    rejects: pl.DataFrame, table: str, sha256: str, run_id: str, path: str
) -> pl.DataFrame:
    """Return ``rejects`` (with ``raw``) as rows of the target's rejects table."""
    return rejects.select(
        pl.lit(table).alias("table_name"),
        pl.lit(sha256).alias("file_sha256"),
        pl.lit(run_id).alias("run_id"),
        pl.lit(path).alias("file_path"),
        pl.col("line").cast(pl.Int64),
        pl.col("stage").cast(pl.String),
        pl.col("code").cast(pl.String),
        pl.col("column").cast(pl.String).alias("column_name"),
        pl.col("reason").cast(pl.String),
        pl.col("raw").cast(pl.String),
    )


def dead_letters_from_stored(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    """Return rows of the target's rejects table (``STORED_AS_DEAD_LETTER``'s columns, in its
    order, then the replay that took each, or NULL) as dead letters."""
    names = [*STORED_AS_DEAD_LETTER, "replayed_in"]
    return pl.DataFrame(rows, schema=names, orient="row").cast(DEAD_LETTER_SCHEMA)


def run_rejects_csv_frame(dead_letters: pl.DataFrame, source: Path) -> pl.DataFrame:
    """Return one file's dead letters as the run's rejects CSV holds them."""
    columns = [c for c in RUN_REJECTS_SCHEMA.names() if c != "file"]
    return dead_letters.sort("line").select(pl.lit(str(source)).alias("file"), *columns)


def read_rejects_csv(path: Path, schema: pl.Schema) -> pl.DataFrame:
    """Read a rejects CSV of ``schema`` (dead letters, a run's rejects); a CSV written before a
    column was added (``code``) reads it as NULL."""
    found = pl.read_csv(path, infer_schema=False)
    missing = [pl.lit(None).alias(c) for c in schema if c not in found.columns]
    return found.with_columns(missing).select(schema.names()).cast(schema)
