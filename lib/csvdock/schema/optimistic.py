"""Detection in one SQL pass, for a file whose records stay in its source (``csvdock.read.source``).

``detect_schema`` looks at the first rows, proposes a type per column, then checks each proposal
on every row with Polars. Here the first look is the same (the same function, over the same first
rows), and the check of the proposals on every row is one aggregate query that the engine reading
the source runs: each column's misfits of its proposal, leading zeros, a decimal's digits, the
present values and the extremes, under the type registry's SQL checks.

The result is ``detect_schema``'s, or nothing: a proposal is confirmed only where
``detect_schema`` would confirm it (no misfit at all, as ``confirmed_type`` decides), a column
with no proposal is text only where the first look ruled every family out, and its samples come
from the first look only where they are the file's. Anything else (a misfit, a column the first
look could not decide, a text column that may hold formatted numbers or dates) returns None: the
caller copies the records and runs ``detect_schema``. A SQL check stricter than Polars' only
sends more files that way; the registry's parity tests keep it from being laxer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from csvdock.schema import types as t
from csvdock.schema.detect import (
    ALL_CHECKS,
    SAMPLE_KEYS,
    SAMPLE_SCAN,
    column_statistics,
    confirmed_type,
    possible_checks,
    proposed_type,
    stat_key,
)
from csvdock.schema.evidence import columns_evidence
from csvdock.schema.formats import plausible_formats
from csvdock.schema.table import Column, TableSchema


@dataclass(frozen=True)
class Proposal:
    """The first look's type for each column, to confirm on every row (text: nothing to
    confirm), and the first look's statistics (its samples are the file's)."""

    types: dict[str, str]
    first_look: dict[str, Any]
    rows: int  # the file's records
    # a text column whose samples could be numbers or dates in a source format: each such
    # format with its rival (the values only one of them reads are counted on every row)
    formats: dict[str, list[tuple[str, str]]]
    known_formats: dict[str, str]  # the table's columns' formats already

    def format_checks(self) -> dict[str, list[str]]:
        """Return, for each text column with plausible formats, the formats whose values only
        they read are counted on every row."""
        return format_checks(self.formats)


def format_checks(
    formats: dict[str, list[tuple[str, str]]] | dict[str, list[list[str]]],
) -> dict[str, list[str]]:
    """Return, for each column of ``formats`` (its plausible formats, each with its rival), the
    formats whose values only they read are counted on every row."""
    return {name: sorted({f for pair in pairs for f in pair}) for name, pairs in formats.items()}


def proposal_from_head(
    head: pl.DataFrame,
    rows: int,
    columns: list[str],
    null_tokens: tuple[str, ...],
    outlier_share: float,
    known_formats: dict[str, str] | None = None,
) -> Proposal | None:
    """Return the first look's proposal for a file of ``rows`` records whose first records are
    ``head`` (``first_look_rows`` of them), or None when some column needs ``detect_schema``.
    ``known_formats``: the source formats of the table's columns (``detect_schema``'s)."""
    everything = {name: set(ALL_CHECKS) for name in columns}
    allowed = int(rows * outlier_share)
    first_look = column_statistics(head, everything, null_tokens, len(head))
    types: dict[str, str] = {}
    formats: dict[str, list[tuple[str, str]]] = {}
    for name in columns:
        if any(len(first_look[stat_key(name, k)]) < SAMPLE_SCAN for k in SAMPLE_KEYS):
            return None  # too few values up front: the samples would not be the file's
        possible = possible_checks(name, first_look, allowed)
        proposal = proposed_type(name, first_look, possible)
        if proposal is not None:
            types[name] = proposal
        elif possible == {t.BOOLEAN}:
            types[name] = t.BOOLEAN
        elif not possible:
            types[name] = t.TEXT
            samples = [str(s) for s in first_look[stat_key(name, "text_samples")]]
            plausible = plausible_formats(samples)
            if plausible:
                formats[name] = [(f.name, f.rival) for f in plausible]
        else:
            return None
    return Proposal(types, first_look, rows, formats, dict(known_formats or {}))


def confirmed_schema(
    table: str,
    columns: list[str],
    source_columns: list[str],
    proposal: Proposal,
    found: dict[str, Any],
) -> TableSchema | None:
    """Return the schema ``detect_schema`` gives, from ``proposal`` and the statistics ``found``
    on every row (``proposal_statistics_sql``), or None when a proposal does not hold."""
    stats = {**found}
    for name in columns:
        first = proposal.first_look
        stats.update({stat_key(name, k): first[stat_key(name, k)] for k in SAMPLE_KEYS})
    types: dict[str, str] = {}
    for name, proposed in proposal.types.items():
        if proposed in CHECKED_ALONE:  # text: no format may apply; boolean: no misfit
            if stats.get(stat_key(name, t.BOOLEAN)) or _may_have_format(name, proposal, stats):
                return None
            types[name] = proposed
            continue
        kind = confirmed_type(name, proposed, stats)
        if kind is None or kind == t.TEXT:
            return None
        types[name] = kind
    evidence = columns_evidence(types, stats, proposal.rows)
    if any("min" not in evidence[n] for n, kind in types.items() if kind not in CHECKED_ALONE):
        return None  # a decimal too long for the evidence's exact extremes
    return TableSchema(
        table=table,
        columns=[
            Column(name, source, types[name], True, evidence[name], None)
            for name, source in zip(columns, source_columns, strict=True)
        ],
    )


CHECKED_ALONE = (t.TEXT, t.BOOLEAN)  # types without extremes in the evidence


def _may_have_format(name: str, proposal: Proposal, stats: dict[str, Any]) -> bool:
    counts = {f: stats[stat_key(name, f)] for f in proposal.format_checks().get(name, [])}
    return may_have_format(proposal.formats.get(name, []), proposal.known_formats.get(name), counts)


def may_have_format(
    pairs: list[tuple[str, str]] | list[list[str]], known: str | None, counts: dict[str, int]
) -> bool:
    """Return whether ``detect_schema`` would try a text column in a source format: some
    values only that format reads (``counts``: per format of its plausible ``pairs`` with their
    rivals), none only its rival, or it is the column's ``known`` format. (Trying it takes the
    records: the file goes the usual way.)"""
    for candidate, rival in pairs:
        alone, against = counts[candidate], counts[rival]
        if not against and (alone or candidate == known):
            return True
    return False


def provisional_schema(
    table: str, columns: list[str], source_columns: list[str], proposal: Proposal
) -> TableSchema | None:
    """Return the schema ``detect_schema`` gives when ``proposal`` holds on every row with the
    first look's own decimal scales, or None when the first look has a misfit or a leading zero
    already. The load checks the types as it casts (``optimistic_rows_sql``: a value that does
    not fit fails the statement), checks the text columns' formats, and gives the columns their
    evidence from what it stored (``schema_with_evidence``; the first look's samples stand)."""
    types: dict[str, str] = {}
    for name, proposed in proposal.types.items():
        if proposed in CHECKED_ALONE:
            types[name] = proposed
            continue
        kind = confirmed_type(name, proposed, proposal.first_look)
        if kind is None or kind == t.TEXT:
            return None
        types[name] = kind
    return TableSchema(
        table=table,
        columns=[
            Column(name, source, types[name], True, {"rows": proposal.rows}, None)
            for name, source in zip(columns, source_columns, strict=True)
        ],
    )


def first_look_samples(proposal: Proposal) -> dict[str, dict[str, list[Any]]]:
    """Return each column's samples from the first look (they are the file's), for
    ``schema_with_evidence``."""
    first = proposal.first_look
    return {
        name: {key: list(first[stat_key(name, key)]) for key in SAMPLE_KEYS}
        for name in proposal.types
    }


def schema_with_evidence(
    provisional: TableSchema,
    samples: dict[str, dict[str, list[Any]]],
    rows: int,
    loaded: dict[str, dict[str, Any]],
) -> TableSchema:
    """Return ``provisional`` with each column's evidence as ``detect_schema`` gives it, from the
    statistics of the values the load stored (``loaded``: per column, ``present`` and, for a
    type with extremes, ``min`` and ``max``; a text column's ``present`` counts its non-empty
    values), the first look's ``samples`` and the file's ``rows``."""
    stats: dict[str, Any] = {}
    for column in provisional.columns:
        name, kind, found = column.name, column.type, loaded[column.name]
        for key in SAMPLE_KEYS:
            stats[stat_key(name, key)] = samples[name][key]
        stats[stat_key(name, "text_present" if kind == t.TEXT else "present")] = found["present"]
        if kind in CHECKED_ALONE:
            continue
        family = t.DECIMAL if t.decimal_scale(kind) is not None else kind
        stats[stat_key(name, f"{family}|min")] = found["min"]
        stats[stat_key(name, f"{family}|max")] = found["max"]
        if family == t.DECIMAL:  # the longest whole part: the larger extreme's
            ends = [abs(v) for v in (found["min"], found["max"]) if v is not None]
            stats[stat_key(name, "whole")] = max(len(str(int(v))) for v in ends) if ends else 0
    evidence = columns_evidence({c.name: c.type for c in provisional.columns}, stats, rows)
    columns = [replace(c, evidence=evidence[c.name]) for c in provisional.columns]
    return replace(provisional, columns=columns)
