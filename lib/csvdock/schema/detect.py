"""Schema detection: the logical type of every column, from every record of a file.

Detection uses Polars' casts (see ``csvdock.types``). A column takes the narrowest type of the
first family (boolean, numeric, temporal, time) whose values all fit some member of the family,
up to ``outlier_share`` of values that fit no member at all: those rows are rejected by Transform
instead of turning the column into text. Codes with leading zeros stay text. A text column whose
values are numbers or dates in a source format (``csvdock.schema.formats``) takes that type.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import polars as pl

from csvdock.read.parquet import Records, record_batches, record_count, scan_records
from csvdock.schema import types as t
from csvdock.schema.evidence import columns_evidence, extremes_as_text
from csvdock.schema.formats import only_this_expr, plausible_formats, rewritten_expr
from csvdock.schema.statistics import (
    HEAD,
    MAX,
    MIN,
    SUM,
    Statistic,
    empty_statistic,
    fold_statistic,
    folded_statistics,
    stat_key,
)
from csvdock.schema.table import Column, TableSchema

FAMILIES = t.families()  # boolean; integer, bigint, decimal, double; date, timestamp
# What a proposal needs checked on every row (numeric ones: leading zeros rule the family out).
PROPOSAL_CHECKS = {
    t.INTEGER: {t.INTEGER, "zeros"},
    t.BIGINT: {t.BIGINT, "zeros"},
    t.DECIMAL: {t.DECIMAL, "zeros", "scale", "whole"},
    t.DOUBLE: {t.DOUBLE, "zeros"},
    t.DATE: {t.DATE},
    t.TIMESTAMP: {t.TIMESTAMP},
    t.TIME: {t.TIME},
}


def detect_schema(
    records: Records,
    table: str,
    columns: list[str],
    source_columns: list[str],
    null_tokens: tuple[str, ...],
    outlier_share: float,
    known_formats: dict[str, str] | None = None,
) -> TableSchema:
    """Return the schema of the text ``records`` (Extract's Parquet file, or a small one read
    into memory), from every row.

    ``known_formats`` are the source formats the table's columns already have: a column whose
    values read in its known format takes it without needing values that only it reads.

    A first look at the first rows rules out the families a column cannot have (more misfits
    there than the whole file may hold) and proposes the narrowest member that fits all of them.
    One pass over every row then checks each proposal and gathers the evidence (nulls, samples,
    min and max); a column whose proposal misfits somewhere gets every remaining candidate
    checked in a second pass, so the result is what checking every candidate would give.
    """
    rows = record_count(records)
    everything = {name: set(ALL_CHECKS) for name in columns}
    allowed = int(rows * outlier_share)
    first_rows = first_look_rows(rows, outlier_share)
    small = rows <= SMALL_ROWS
    first_look = column_statistics(records, everything, null_tokens, first_rows, small)
    candidates = {name: possible_checks(name, first_look, allowed) for name in columns}
    proposed = {name: proposed_type(name, first_look, candidates[name]) for name in columns}
    if rows <= first_rows:
        # The first look saw every row with every check: the passes below would repeat it
        # (a family it rules out misfits more than allowed, so the choice skips it alike).
        stats = dict(first_look)
        chosen = {name: confirmed_type(name, proposed[name], stats) for name in columns}
    else:
        stats, chosen = _checked_proposals(records, first_look, candidates, proposed, null_tokens)
    types = {
        name: kind or _choose_type(name, stats, outlier_share) for name, kind in chosen.items()
    }
    formats: dict[str, str] = {}
    for name in columns:
        if types[name] == t.TEXT and stats[stat_key(name, "text_present")]:
            samples = [str(s) for s in stats[stat_key(name, "text_samples")]]
            known = (known_formats or {}).get(name)
            found = _formatted_type(records, name, samples, null_tokens, outlier_share, known)
            if found is not None:
                types[name], formats[name], stats_of_format = found
                stats.update(stats_of_format)
    evidence = columns_evidence(types, stats, rows)
    _note_misfits(records, columns, types, formats, stats, evidence, null_tokens)
    inexact = {name: types[name] for name in columns if "min" not in evidence[name]}
    inexact = {name: kind for name, kind in inexact.items() if kind not in (t.TEXT, t.BOOLEAN)}
    if inexact:
        for name, extremes in _min_max(records, inexact, formats).items():
            evidence[name].update(extremes)
    return TableSchema(
        table=table,
        columns=[
            Column(name, source, types[name], True, evidence[name], formats.get(name))
            for name, source in zip(columns, source_columns, strict=True)
        ],
    )


def first_look_rows(rows: int, outlier_share: float) -> int:
    """Return how many first rows the first look reads. Only more misfits than the whole file
    may hold rule a family out, so the first look must be several times larger than that
    allowance to rule anything out in a big file."""
    return max(SAMPLE_ROWS, FIRST_LOOK_FACTOR * int(rows * outlier_share))


def _checked_proposals(
    records: Records,
    first_look: dict[str, Any],
    candidates: dict[str, set[str]],
    proposed: dict[str, str | None],
    null_tokens: tuple[str, ...],
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Return the statistics of every row and each column's type where its proposal holds
    (None elsewhere): one pass checks each proposal (a column without one: every candidate),
    and only a column whose proposal misfits gets its other candidates checked, in a second."""
    checks = {
        name: PROPOSAL_CHECKS[kind] if kind else candidates[name] for name, kind in proposed.items()
    }
    # A column's samples are the first present values of the file: when the first look found
    # enough of them, they are the file's, and the passes need not gather them again
    # (collecting them filters every value of the column).
    sampled = {
        name
        for name in proposed
        if all(len(first_look[stat_key(name, k)]) >= SAMPLE_SCAN for k in SAMPLE_KEYS)
    }
    stats = column_statistics(records, checks, null_tokens, sampled=sampled)
    stats.update({stat_key(n, k): first_look[stat_key(n, k)] for n in sampled for k in SAMPLE_KEYS})
    chosen = {name: confirmed_type(name, kind, stats) for name, kind in proposed.items()}
    unconfirmed = [n for n, kind in proposed.items() if chosen[n] is None and kind is not None]
    if unconfirmed:
        rest = {name: candidates[name] for name in unconfirmed}
        stats.update(column_statistics(records, rest, null_tokens, sampled=sampled))
    return stats, chosen


def _formatted_type(
    records: Records,
    name: str,
    samples: list[str],
    null_tokens: tuple[str, ...],
    outlier_share: float,
    known: str | None,
) -> tuple[str, str, dict[str, Any]] | None:
    """Return the type, source format and statistics of text column ``name`` when its values
    are numbers or dates written in one of the source formats (``csvdock.schema.formats``):
    the values read in that format fit a type of the format's family, and some values can only
    be read in that format (none only in its rival), unless it is the column's ``known``
    format. None when no format does."""
    plausible = plausible_formats(samples)
    if not plausible:
        return None
    plausible.sort(key=lambda f: f.name != known)
    value = pl.col(name).str.strip_chars(t.WHITESPACE)
    # One pass counts, for every format in question, the values only it reads.
    asked = sorted({f for c in plausible for f in (c.name, c.rival)})
    only = [Statistic(only_this_expr(value, f).alias(stat_key(name, f)), SUM) for f in asked]
    evidence = folded_statistics(record_batches(records, [name]), only)
    for candidate in plausible:
        alone, rival = (evidence[stat_key(name, f)] for f in (candidate.name, candidate.rival))
        if rival or not (alone or candidate.name == known):
            continue
        rewritten = (
            batch.with_columns(rewritten_expr(value, candidate.name).alias(name))
            for batch in record_batches(records, [name])
        )
        stats = folded_statistics(rewritten, _type_stats({name: set(ALL_CHECKS)}, null_tokens))
        kind = _choose_type(name, stats, outlier_share)
        if kind != t.TEXT and t.type_of(kind).family == candidate.family:
            return kind, candidate.name, stats
    return None


def proposed_type(name: str, first_look: dict[str, Any], possible: set[str]) -> str | None:
    """Return the narrowest member of the one family left possible for column ``name`` that
    fits every value of the first look, or None (several families left, or none fits)."""
    families = [f for f in FAMILIES if any(m in possible for m in f)]
    if len(families) != 1 or families[0] == (t.BOOLEAN,):
        return None
    return next((m for m in families[0] if first_look[stat_key(name, m)] == 0), None)


def confirmed_type(name: str, proposal: str | None, stats: dict[str, Any]) -> str | None:
    """Return column ``name``'s type when its ``proposal`` fits every present value of the file
    (the narrower members misfit in the first look already), else None."""
    if proposal is None or stats[stat_key(name, proposal)] > 0:
        return None
    if stats[stat_key(name, "present")] == 0:
        return t.TEXT
    if proposal in FAMILIES[1] and stats[stat_key(name, "zeros")] > 0:
        return None  # leading zeros: the numeric family is out
    if proposal == t.DECIMAL:
        scale = _fitting_decimal_scale(name, stats)
        return t.decimal_type(scale) if scale is not None else None
    return proposal


SAMPLE_ROWS, FIRST_LOOK_FACTOR = 10_000, 4
SAMPLE_SCAN = 200  # samples are the first distinct values among this many present ones
SAMPLE_KEYS = ("samples", "text_samples")
NUMERIC_CHECKS = (t.INTEGER, t.BIGINT, t.DOUBLE, t.DECIMAL, "zeros", "scale", "whole")
ALL_CHECKS = (t.BOOLEAN, *NUMERIC_CHECKS, t.DATE, t.TIMESTAMP, t.TIME)
# Decimal evidence is gathered at the widest scale and rounded to the chosen one afterwards.
EVIDENCE_DECIMAL = pl.Decimal(t.DECIMAL_PRECISION, t.MAX_DECIMAL_SCALE)


def possible_checks(name: str, first_look: dict[str, Any], allowed: int) -> set[str]:
    """Return the checks still worth running on every row for column ``name``."""
    possible: set[str] = set()
    if first_look[stat_key(name, t.BOOLEAN)] <= allowed:
        possible.add(t.BOOLEAN)
    numeric_misfits = min(first_look[stat_key(name, m)] for m in (t.BIGINT, t.DOUBLE))
    if first_look[stat_key(name, "zeros")] == 0 and numeric_misfits <= allowed:
        possible.update(NUMERIC_CHECKS)
    if first_look[stat_key(name, t.TIMESTAMP)] <= allowed:
        possible.update((t.DATE, t.TIMESTAMP))
    if first_look[stat_key(name, t.TIME)] <= allowed:
        possible.add(t.TIME)
    return possible


WIDE_COLUMNS = 48  # more columns than this are checked as one long (column, value) frame
SMALL_ROWS = 500  # and so is a file of at most this many rows (100 x 8: 28 -> 14 ms)
COLUMN, VALUE = "__column", "__value"  # the long frame's two columns (no data column starts "__")


def column_statistics(
    records: Records,
    checks: dict[str, set[str]],
    null_tokens: tuple[str, ...],
    limit: int | None = None,
    small: bool = False,
    sampled: Collection[str] = (),
) -> dict[str, Any]:
    """Return the ``checks`` of each column over ``records`` (the first ``limit`` rows); the
    ``sampled`` columns without their samples (the caller has them).

    A file of a few columns is checked with one aggregate per column and check. A wide one
    (more than ``WIDE_COLUMNS``), or a ``small`` one (its planning would cost more than its
    data: a 100-row file is checked in half the time), is unpivoted batch by batch into
    (column, value) rows and each check is one aggregate grouped by column: the same
    statistics, at a cost linear in cells (thousands of columns otherwise plan tens of
    thousands of aggregates at once)."""
    if len(checks) <= WIDE_COLUMNS and not small:
        batches = record_batches(records, list(checks), limit=limit)
        return folded_statistics(batches, _type_stats(checks, null_tokens, sampled=sampled))
    by_checks: dict[tuple[frozenset[str], bool], list[str]] = {}
    for name, wanted in checks.items():
        by_checks.setdefault((frozenset(wanted), name in sampled), []).append(name)
    found: dict[str, Any] = {}
    for (group_checks, has_samples), names in by_checks.items():
        no_samples = {VALUE} if has_samples else set()
        stats = _type_stats(
            {VALUE: set(group_checks)}, null_tokens, grouped=True, sampled=no_samples
        )
        suffixes = {stat.name: stat.name.removeprefix(stat_key(VALUE, "")) for stat in stats}
        for name in names:
            for stat in stats:
                found[stat_key(name, suffixes[stat.name])] = empty_statistic(stat)
        for batch in record_batches(records, names, limit=limit):
            long = batch.unpivot(on=names, variable_name=COLUMN, value_name=VALUE)
            grouped = long.group_by(COLUMN, maintain_order=True).agg([s.expr for s in stats])
            for row in grouped.collect(engine="in-memory").iter_rows(named=True):
                for stat in stats:
                    key = stat_key(row[COLUMN], suffixes[stat.name])
                    found[key] = fold_statistic(stat, found[key], row[stat.name])
    return found


def _type_stats(
    checks: dict[str, set[str]],
    null_tokens: tuple[str, ...],
    grouped: bool = False,
    sampled: Collection[str] = (),
) -> list[Statistic]:
    stats: list[Statistic] = []
    for name, wanted in checks.items():
        value = pl.col(name).str.strip_chars(t.WHITESPACE)
        present = ~t.is_null_expr(name, t.BIGINT, null_tokens)
        text_present = ~t.is_null_expr(name, t.TEXT, null_tokens)
        stats.append(Statistic(present.sum().alias(stat_key(name, "present")), SUM))
        stats.append(Statistic(text_present.sum().alias(stat_key(name, "text_present")), SUM))
        if name not in sampled:
            stats.append(_samples(name, present, "samples", grouped))
            stats.append(_samples(name, text_present, "text_samples", grouped))
        for candidate in (t.BOOLEAN, t.INTEGER, t.BIGINT, t.DOUBLE, t.DATE, t.TIMESTAMP, t.TIME):
            if candidate in wanted:
                typed = t.typed_expr(name, candidate)
                misfits = (present & typed.is_null()).sum()
                stats.append(Statistic(misfits.alias(stat_key(name, candidate)), SUM))
                if candidate != t.BOOLEAN:
                    stats.extend(_min_max_stats(typed, name, candidate))
        if "zeros" in wanted:
            zeros = (present & value.str.contains(t.LEADING_ZERO_PATTERN)).sum()
            stats.append(Statistic(zeros.alias(stat_key(name, "zeros")), SUM))
        if t.DECIMAL in wanted:
            is_decimal = value.str.contains(t.DECIMAL_PATTERN)
            misfits = (present & ~is_decimal).sum()
            scale = value.str.extract(r"\.([0-9]+)$", 1).str.len_chars().max()
            whole = value.str.extract(r"^[+-]?([0-9]+)", 1).str.len_chars().max()
            exact = pl.when(is_decimal).then(value.cast(EVIDENCE_DECIMAL, strict=False))
            stats += [
                Statistic(misfits.alias(stat_key(name, t.DECIMAL)), SUM),
                Statistic(scale.alias(stat_key(name, "scale")), MAX),
                Statistic(whole.alias(stat_key(name, "whole")), MAX),
                *_min_max_stats(exact, name, t.DECIMAL),
            ]
    return stats


def _samples(name: str, present: pl.Expr, key: str, grouped: bool = False) -> Statistic:
    first = pl.col(name).filter(present).head(SAMPLE_SCAN)
    first = first if grouped else first.implode()  # (a group's head is a list already)
    return Statistic(first.alias(stat_key(name, key)), HEAD, SAMPLE_SCAN)


def _min_max_stats(typed: pl.Expr, name: str, check: str) -> list[Statistic]:
    return [
        Statistic(typed.min().alias(stat_key(name, f"{check}|min")), MIN),
        Statistic(typed.max().alias(stat_key(name, f"{check}|max")), MAX),
    ]


def _choose_type(name: str, stats: dict[str, Any], outlier_share: float) -> str:
    present = stats[stat_key(name, "present")]
    if present == 0:
        return t.TEXT
    allowed = int(present * outlier_share)
    scale = _fitting_decimal_scale(name, stats)
    for family in FAMILIES:
        members = [m for m in family if m != t.DECIMAL or scale is not None]
        if any(stat_key(name, m) not in stats for m in members):
            continue  # ruled out by the first look
        if t.INTEGER in members and stats[stat_key(name, "zeros")] > 0:
            continue
        misfits = {m: stats[stat_key(name, m)] for m in members}
        # The fewest misfits (a double cannot hold a long id exactly: it may misfit more than
        # bigint), then the narrowest member with that many.
        floor = min(misfits.values())
        if floor > allowed:
            continue
        narrowest = next(m for m in members if misfits[m] == floor)
        return t.decimal_type(scale) if narrowest == t.DECIMAL and scale is not None else narrowest
    return t.TEXT


def _fitting_decimal_scale(name: str, stats: dict[str, Any]) -> int | None:
    """Return the scale of the exact decimal that holds column ``name``'s decimal values (its
    longest fraction), or None when they have no fraction or need more digits than it has."""
    scale = stats.get(stat_key(name, "scale")) or 0
    whole = stats.get(stat_key(name, "whole")) or 0
    fits = 0 < scale <= t.MAX_DECIMAL_SCALE and whole + scale <= t.DECIMAL_PRECISION
    return scale if fits else None


MISFIT_EXAMPLES = 3
NEAR_SHARE = 0.5  # a text column most of whose values fit a type was demoted by its misfits


def _note_misfits(
    records: Records,
    columns: list[str],
    types: dict[str, str],
    formats: dict[str, str],
    stats: dict[str, Any],
    evidence: dict[str, dict[str, Any]],
    null_tokens: tuple[str, ...],
) -> None:
    """Record in ``evidence`` each column whose type was decided with misfits: a type kept
    with values that will be rejects, or text because too many values did not fit the type
    most of them fit (``misfits``, ``misfit_examples``, ``decision``). A column no value
    misfits says nothing (one more pass, over those columns only, finds the examples)."""
    noted: dict[str, tuple[str, int, bool]] = {}  # column -> (type checked, misfits, demoted)
    for name in columns:
        kind = types[name]
        if kind == t.TEXT:
            near = _nearest_type(name, stats)
            present = stats[stat_key(name, "present")]
            if near is not None and 0 < near[1] <= NEAR_SHARE * present:
                noted[name] = (near[0], near[1], True)
        elif name not in formats and kind != t.BOOLEAN:
            key = stat_key(name, t.DECIMAL if t.decimal_scale(kind) is not None else kind)
            if stats.get(key):
                noted[name] = (kind, stats[key], False)
    if not noted:
        return
    firsts = [
        pl.col(name)
        .filter(~t.is_null_expr(name, kind, null_tokens) & t.typed_expr(name, kind).is_null())
        .head(MISFIT_EXAMPLES)
        .implode()
        .alias(name)
        for name, (kind, _, _) in noted.items()
    ]
    found = scan_records(records).select(firsts).collect()
    for name, (kind, misfits, demoted) in noted.items():
        examples = [str(v) for v in found[name][0]]
        shown = ", ".join(repr(v) for v in examples)
        evidence[name]["misfits"] = misfits
        evidence[name]["misfit_examples"] = examples
        evidence[name]["decision"] = (
            f"text: {misfits} value(s) are not {kind} ({shown}), more than the outlier share"
            if demoted
            else f"{kind}: {misfits} value(s) that are not {kind} ({shown}) are rejected"
        )


def _nearest_type(name: str, stats: dict[str, Any]) -> tuple[str, int] | None:
    """Return the non-text type (its family's narrowest with the fewest misfits) that the
    fewest values of column ``name`` misfit, and how many, or None (no type checked)."""
    best: tuple[str, int] | None = None
    scale = _fitting_decimal_scale(name, stats)
    for family in FAMILIES:
        members = [m for m in family if stat_key(name, m) in stats]
        members = [m for m in members if m != t.DECIMAL or scale is not None]
        if not members or (t.INTEGER in members and stats.get(stat_key(name, "zeros"))):
            continue
        floor = min(stats[stat_key(name, m)] for m in members)
        member = next(m for m in members if stats[stat_key(name, m)] == floor)
        if member == t.DECIMAL and scale is not None:
            member = t.decimal_type(scale)
        if best is None or floor < best[1]:
            best = (member, floor)
    return best


def _min_max(
    records: Records, chosen: dict[str, str], formats: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Return the exact min and max of the ``chosen`` columns (a pass of its own), each read in
    its source format, if any."""
    stats = [
        stat
        for name, kind in chosen.items()
        for stat in _min_max_stats(t.typed_expr(name, kind, formats.get(name)), name, "")
    ]
    found = folded_statistics(record_batches(records, list(chosen)), stats)
    extremes = {
        name: {end: found[stat_key(name, f"|{end}")] for end in ("min", "max")} for name in chosen
    }
    extremes_as_text(extremes, chosen)
    return extremes
