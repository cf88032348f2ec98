"""A second dialect corpus the detector is never tuned on (issue 24, item 10): small files (2-20
lines) of real-shaped values written by the standard library's ``csv.writer`` and by hand-rolled
writers, with free text holding punctuation and other delimiters, numbers with separators,
quoted delimiters, names written "Last, First", URLs with query strings, and several quoting
styles. Made by a generator of its own (not ``tests/read/pollution.py``, which the detector was
tuned on); its figures are reported beside the pollution corpus and nothing is changed to make
them better.

    python benchmarks/untuned.py [--files 600] [--seed 2024] [--out benchmarks/results/untuned.json]

Per reader (csvdock's detector, DuckDB's ``sniff_csv``, ``csv.Sniffer``): the share of files
whose delimiter and quote are right; for csvdock also the share whose every value and name
reads back as written (through the whole extract).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import platform
import random
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pollution import duckdb_dialect, stdlib_dialect  # noqa: E402  (the same readers)

DELIMITERS = (",", ",", ",", ";", "\t", "|")  # commas as common as in the wild
WORDS = (
    "alpha beta gamma delta river stone market harbour station library garden orchard bridge "
    "tower meadow valley summit forest canyon island village castle museum theatre"
).split()
FIRST = ("Ann", "Bo", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hélène", "Ivan", "Jo")
LAST = ("Smith", "O'Neil", "García", "Nguyen", "Müller", "Kowalski", "Li", "Okafor")


@dataclass
class Case:
    """One generated file and its truth."""

    name: str
    data: bytes
    delimiter: str
    quote: str  # "" when no field is quoted
    rows: list[list[str]]  # header first


def _sentence(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(2, 7))
    text = " ".join(words).capitalize()
    for mark in rng.sample([",", ";", ":", " |", " -", " (note)", "!", "?", " & co."], 2):
        at = rng.randint(1, len(text))
        text = text[:at] + mark + text[at:]
    return text + rng.choice([".", "", "...", "!"])


def _value(kind: str, rng: random.Random) -> str:
    if kind == "text":
        return _sentence(rng)
    if kind == "name":
        return f"{rng.choice(LAST)}, {rng.choice(FIRST)}"
    if kind == "count":
        return str(rng.randint(0, 5000))
    if kind == "thousands":
        return f"{rng.randint(1000, 9_999_999):,}"
    if kind == "money":
        return f"${rng.randint(1, 99999) / 100:,.2f}"
    if kind == "decimal":
        return f"{rng.uniform(-500, 500):.{rng.randint(1, 4)}f}"
    if kind == "date":
        day = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3000))
        return day.strftime(rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"]))
    if kind == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if kind == "url":
        return f"https://example.org/{rng.choice(WORDS)}?id={rng.randint(1, 99)}&ref=a|b"
    if kind == "percent":
        return f"{rng.uniform(0, 100):.1f}%"
    if kind == "flag":
        return rng.choice(["yes", "no", "TRUE", "FALSE", ""])
    return rng.choice(["", "n/a", "-"])


KINDS = ("text", "name", "count", "thousands", "money", "decimal", "date", "time", "url", "percent")


def _table(rng: random.Random) -> list[list[str]]:
    columns = rng.randint(2, 8)
    kinds = [rng.choice(KINDS + ("flag", "empty")) for _ in range(columns)]
    header = [f"{rng.choice(WORDS).title()} {k}" if rng.random() < 0.3 else k for k in kinds]
    header = [f"{h}_{i}" for i, h in enumerate(header)]
    body = [[_value(k, rng) for k in kinds] for _ in range(rng.randint(1, 19))]
    return [header, *body]


def _written(rows: list[list[str]], delimiter: str, rng: random.Random) -> tuple[str, str]:
    """Write ``rows`` in one of several styles; return the text and the quote used ("" none)."""
    style = rng.choice(["minimal", "minimal", "all", "nonnumeric", "single"])
    newline = rng.choice(["\n", "\n", "\r\n"])
    buffer = io.StringIO()
    if style == "single":
        writer = csv.writer(
            buffer,
            delimiter=delimiter,
            quotechar="'",
            lineterminator=newline,
            quoting=csv.QUOTE_MINIMAL,
        )
        quote = "'"
    else:
        quoting = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL}.get(
            style, csv.QUOTE_NONNUMERIC
        )
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting)
        quote = '"'
    if style == "nonnumeric":
        writer.writerows([[_number_or_text(v) for v in row] for row in rows])
    else:
        writer.writerows(rows)
    text = buffer.getvalue()
    return text, quote if quote in text else ""


def _number_or_text(value: str) -> str | float:
    try:
        return float(value) if value.replace(".", "", 1).lstrip("-").isdigit() else value
    except ValueError:
        return value


def cases(count: int, seed: int) -> list[Case]:
    """Return ``count`` generated files (the same ones for the same seed)."""
    rng = random.Random(seed)
    found = []
    for number in range(count):
        delimiter = rng.choice(DELIMITERS)
        rows = _table(rng)
        text, quote = _written(rows, delimiter, rng)
        found.append(Case(f"untuned-{number:04d}", text.encode(), delimiter, quote, rows))
    return found


def _right(got: tuple[str, str] | None, case: Case) -> bool:
    return got is not None and got[0] == case.delimiter and (not case.quote or got[1] == case.quote)


def _values_right(case: Case, folder: Path) -> tuple[bool, bool]:
    """Return whether csvdock's dialect is right and whether every value reads back."""
    import polars as pl
    from csvdock.core.settings import TableSettings
    from csvdock.read.extract import RECORDS_FILE, ExtractError, extract_file

    path = folder / f"{case.name}.csv"
    try:
        result = extract_file(path, folder / case.name, TableSettings())
    except ExtractError:
        return False, False
    dialect = (result.dialect["delimiter"], result.dialect["quote"])
    records = pl.read_parquet(folder / case.name / RECORDS_FILE)
    values = [
        ["" if v is None else v for v in row] for row in records.select(result.columns).rows()
    ]
    right_values = result.source_columns == case.rows[0] and _same(values, case.rows[1:])
    return _right(dialect, case), right_values


def _same(got: list[list[str]], expected: list[list[str]]) -> bool:
    if len(got) != len(expected):
        return False
    for row, truth in zip(got, expected, strict=True):
        for value, want in zip(row, truth, strict=True):
            if value != want and value.strip() != want.strip():
                try:
                    if float(value) != float(want):
                        return False
                except ValueError:
                    return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "untuned.json")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    scores: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    wrong: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for case in cases(args.files, args.seed):
            (folder / f"{case.name}.csv").write_bytes(case.data)
            group = {"\t": "tab"}.get(case.delimiter, case.delimiter)
            ours, values = _values_right(case, folder)
            for reader, right in (
                ("csvdock", ours),
                ("csvdock values", values),
                ("duckdb", _right(duckdb_dialect(folder / f"{case.name}.csv"), case)),
                ("csv.Sniffer", _right(stdlib_dialect(case.data, "utf-8"), case)),
            ):
                scores[reader]["all"].append(right)
                scores[reader][f"delimiter {group}"].append(right)
                size = "2-5 lines" if len(case.rows) <= 5 else "6-20 lines"
                scores[reader][size].append(right)
            if not ours and len(wrong) < 40:
                wrong.append({"file": case.name, "delimiter": case.delimiter, "quote": case.quote})
    shares = {
        reader: {group: round(sum(v) / len(v), 4) for group, v in sorted(groups.items())}
        for reader, groups in scores.items()
    }
    report = {
        "about": __doc__.splitlines()[0],
        "files": args.files,
        "seed": args.seed,
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "shares": shares,
        "csvdock_wrong_examples": wrong,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for reader, groups in shares.items():
        print(f"{reader:>15}: " + ", ".join(f"{g} {s:.1%}" for g, s in groups.items()))


if __name__ == "__main__":
    main()
