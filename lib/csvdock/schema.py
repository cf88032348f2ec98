"""Schemas as typed data: columns with a logical type, detected from a whole file's records.

Detection uses Polars' casts (see ``csvdock.types``) over every record, not a sample. A column takes
the narrowest type of the first family (boolean, numeric, temporal) whose values all fit some member
of the family, up to ``outlier_share`` of values that fit no member at all: those rows are rejected
by Transform instead of turning the column into text. Codes with leading zeros stay text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from csvdock import types as t
from csvdock.errors import CsvdockError

FAMILIES: tuple[tuple[str, ...], ...] = (
    (t.BOOLEAN,),
    (t.INTEGER, t.BIGINT, "decimal", t.DOUBLE),
    (t.DATE, t.TIMESTAMP),
)
SAMPLE_COUNT = 3


class SchemaError(CsvdockError):
    """A schema file is malformed or a schema cannot be applied."""


@dataclass
class Column:
    """One column: its name in the table, its header text in the file, its type and evidence."""

    name: str
    source: str
    type: str
    nullable: bool = True
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableSchema:
    """A table's columns, optionally versioned in the registry."""

    table: str
    columns: list[Column]
    version: int | None = None
    previous_version: int | None = None
    origin: str = "detected"
    primary_key: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """Return the column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column | None:
        """Return the column called ``name``, if any."""
        return next((c for c in self.columns if c.name == name), None)

    def to_json(self) -> str:
        """Return the schema as pretty JSON."""
        return json.dumps(asdict(self), indent=2, default=str) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "schema") -> TableSchema:
        """Build a schema from parsed JSON, raising ``SchemaError`` with ``where`` on bad input."""
        try:
            columns = [
                Column(
                    name=c["name"],
                    source=c.get("source", c["name"]),
                    type=c["type"],
                    nullable=bool(c.get("nullable", True)),
                    evidence=c.get("evidence", {}),
                )
                for c in data["columns"]
            ]
            schema = cls(
                table=data["table"],
                columns=columns,
                version=data.get("version"),
                previous_version=data.get("previous_version"),
                origin=data.get("origin", "declared"),
                primary_key=list(data.get("primary_key", [])),
                changes=list(data.get("changes", [])),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"{where}: missing or malformed field {exc}") from None
        for column in columns:
            if not t.is_known_type(column.type):
                raise SchemaError(
                    f"{where}: column {column.name!r} has unknown type {column.type!r}"
                )
        return schema

    @classmethod
    def read(cls, path: Path) -> TableSchema:
        """Read a schema JSON file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SchemaError(f"{path}: {exc}") from None
        return cls.from_dict(data, str(path))


def detect_schema(
    records: Path,
    table: str,
    columns: list[str],
    source_columns: list[str],
    null_tokens: tuple[str, ...],
    outlier_share: float,
) -> TableSchema:
    """Return the schema of the text ``records`` (a Parquet file of Extract), from every row.

    A first look at the first rows rules out the families a column cannot have (more misfits
    there than the whole file may hold); only the remaining candidates are checked on every row.
    """
    frame = pl.scan_parquet(records)
    rows = frame.select(pl.len()).collect().item()
    everything = {name: set(ALL_CHECKS) for name in columns}
    sample = frame.head(SAMPLE_ROWS).select(_type_stats(everything, null_tokens))
    first_look = sample.collect(engine="streaming").row(0, named=True)
    candidates = {
        name: _possible_checks(name, first_look, int(rows * outlier_share)) for name in columns
    }
    stats = (
        frame.select(_type_stats(candidates, null_tokens))
        .collect(engine="streaming")
        .row(0, named=True)
    )
    chosen = {name: _choose_type(name, stats, outlier_share) for name in columns}
    evidence = _evidence(frame, chosen, null_tokens, rows)
    return TableSchema(
        table=table,
        columns=[
            Column(name, source, chosen[name], True, evidence[name])
            for name, source in zip(columns, source_columns, strict=True)
        ],
    )


SAMPLE_ROWS = 10_000
NUMERIC_CHECKS = (t.INTEGER, t.BIGINT, t.DOUBLE, "decimal", "zeros", "scale", "whole")
ALL_CHECKS = (t.BOOLEAN, *NUMERIC_CHECKS, t.DATE, t.TIMESTAMP)


def _possible_checks(name: str, first_look: dict[str, Any], allowed: int) -> set[str]:
    """Return the checks still worth running on every row for column ``name``."""
    possible: set[str] = set()
    if first_look[f"{name}|{t.BOOLEAN}"] <= allowed:
        possible.add(t.BOOLEAN)
    if first_look[f"{name}|zeros"] == 0 and first_look[f"{name}|{t.DOUBLE}"] <= allowed:
        possible.update(NUMERIC_CHECKS)
    if first_look[f"{name}|{t.TIMESTAMP}"] <= allowed:
        possible.update((t.DATE, t.TIMESTAMP))
    return possible


def _type_stats(checks: dict[str, set[str]], null_tokens: tuple[str, ...]) -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    for name, wanted in checks.items():
        value = pl.col(name).str.strip_chars(t.WHITESPACE)
        present = ~t.is_null_expr(name, t.BIGINT, null_tokens)
        exprs.append(present.sum().alias(f"{name}|present"))
        for candidate in (t.BOOLEAN, t.INTEGER, t.BIGINT, t.DOUBLE, t.DATE, t.TIMESTAMP):
            if candidate in wanted:
                misfit = present & t.typed_expr(name, candidate).is_null()
                exprs.append(misfit.sum().alias(f"{name}|{candidate}"))
        if "decimal" in wanted:
            misfit = present & ~value.str.contains(t.DECIMAL_PATTERN)
            exprs.append(misfit.sum().alias(f"{name}|decimal"))
            zeros = present & value.str.contains(t.LEADING_ZERO_PATTERN)
            exprs.append(zeros.sum().alias(f"{name}|zeros"))
            scale = value.str.extract(r"\.([0-9]+)$", 1).str.len_chars().max()
            exprs.append(scale.alias(f"{name}|scale"))
            whole = value.str.extract(r"^[+-]?([0-9]+)", 1).str.len_chars().max()
            exprs.append(whole.alias(f"{name}|whole"))
    return exprs


def _choose_type(name: str, stats: dict[str, Any], outlier_share: float) -> str:
    present = stats[f"{name}|present"]
    if present == 0:
        return t.TEXT
    allowed = int(present * outlier_share)
    scale = stats.get(f"{name}|scale") or 0
    whole = stats.get(f"{name}|whole") or 0
    decimal_fits = 0 < scale <= t.MAX_DECIMAL_SCALE and whole + scale <= t.DECIMAL_PRECISION
    for family in FAMILIES:
        members = [m for m in family if m != "decimal" or decimal_fits]
        if any(f"{name}|{m}" not in stats for m in members):
            continue  # ruled out by the first look
        if t.INTEGER in members and stats[f"{name}|zeros"] > 0:
            continue
        misfits = {m: stats[f"{name}|{m}"] for m in members}
        floor = misfits[members[-1]]
        if floor > allowed:
            continue
        narrowest = next(m for m in members if misfits[m] == floor)
        return t.decimal_type(scale) if narrowest == "decimal" else narrowest
    return t.TEXT


def _evidence(
    frame: pl.LazyFrame, chosen: dict[str, str], null_tokens: tuple[str, ...], rows: int
) -> dict[str, dict[str, Any]]:
    exprs: list[pl.Expr] = []
    for name, logical in chosen.items():
        is_null = t.is_null_expr(name, logical, null_tokens)
        exprs.append(is_null.sum().alias(f"{name}|nulls"))
        exprs.append(
            pl.col(name)
            .filter(~is_null)
            .head(200)
            .unique(maintain_order=True)
            .head(SAMPLE_COUNT)
            .implode()
            .alias(f"{name}|samples")
        )
        if logical not in (t.TEXT, t.BOOLEAN):
            typed = t.typed_expr(name, logical)
            exprs.append(typed.min().cast(pl.String).alias(f"{name}|min"))
            exprs.append(typed.max().cast(pl.String).alias(f"{name}|max"))
    stats = frame.select(exprs).collect(engine="streaming").row(0, named=True)
    result: dict[str, dict[str, Any]] = {}
    for name in chosen:
        entry: dict[str, Any] = {
            "rows": rows,
            "null_count": stats[f"{name}|nulls"],
            "samples": list(stats[f"{name}|samples"] or []),
        }
        if f"{name}|min" in stats:
            entry["min"], entry["max"] = stats[f"{name}|min"], stats[f"{name}|max"]
        result[name] = entry
    return result
