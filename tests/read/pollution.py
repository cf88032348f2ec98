"""Generated pollutions of a clean table, each with what a reader must find in it.

One clean table (an id, a name, a price, a date, a note with commas and apostrophes) written in
many dialects and spoiled the ways files from the wild are: preambles, multi-row headers,
footers, a second table, no header, CR line ends, legacy encodings, stray quotes. Used by the
tests (tests/read/test_pollution.py) and the benchmark (benchmarks/pollution.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

COLUMNS = ["id", "name", "price", "day", "note"]
WORDS = ["alpha", "beta", "gamma", "delta", "Men's boots", "north", "south", "Zoë", "Ærø"]
LEGACY_WORDS = {  # text in legacy encodings (a few words: the hard case for detection)
    "shift_jis": ["東京", "大阪", "京都", "札幌", "福岡", "名古屋"],
    "gb2312": ["北京", "上海", "广州", "深圳", "杭州", "南京"],
    "cp1251": ["Москва", "Киев", "Минск", "Казань", "Омск"],
    "koi8_r": ["Москва", "Самара", "Тула", "Казань", "Омск"],
}
DELIMITERS = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "pipe": "|",
    "space": " ",
    "comma-space": ", ",
    "hash": "#",
    "colon": ":",
    "tilde": "~",
    "caret": "^",
}


@dataclass
class Polluted:
    """A generated file and what reading it must give."""

    name: str
    data: bytes
    delimiter: str  # as the detector reports it (", " is "," with space_after_delimiter)
    quote: str
    rows: int  # data records of the table (loaded or rejected)
    rejected: int = 0
    lines_outside: int = 0
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    encoding: str = "utf-8"
    space_after: bool = False
    values: list[list[str]] | None = None  # the records' values, when not the clean table's


def clean_rows(count: int, seed: int = 0) -> list[list[str]]:
    """Return ``count`` rows of the clean table."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, count + 1):
        rows.append(
            [
                str(i),
                f"{rng.choice(WORDS)} {i}",
                f"{rng.randrange(1, 9999)}.{rng.randrange(0, 99):02d}",
                f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                f"{rng.choice(WORDS)}",
            ]
        )
    return rows


def written(
    rows: list[list[str]],
    delimiter: str = ",",
    quote: str = '"',
    newline: str = "\n",
    quote_text: bool = False,
) -> str:
    """Return ``rows`` as CSV text: a field holding the delimiter, the quote or a space (when
    the delimiter is one), or any text with ``quote_text``, is quoted, its quotes doubled."""
    out = []
    bare = delimiter.strip() or delimiter
    for row in rows:
        cells = []
        for cell in row:
            text = quote_text and any(ch.isalpha() for ch in cell)
            if text or bare in cell or quote in cell or (delimiter == " " and " " in cell):
                cell = quote + cell.replace(quote, quote * 2) + quote
            cells.append(cell)
        out.append(delimiter.join(cells))
    return newline.join(out) + newline


def expected_values(case: Polluted, seed: int = 0) -> list[list[str]]:
    """Return the values the records of ``case`` (made with ``seed``) must have."""
    if case.values is not None:
        return case.values
    rows = clean_rows(case.rows, seed)
    if case.quote == "'":
        return without_apostrophes(rows)
    if case.name == "values-european":
        return [european_row(row) for row in rows]
    return rows


def european_row(row: list[str]) -> list[str]:
    """A clean row as a European export writes it: ``28/01/2024`` dates (day first),
    ``1.234,56`` decimals."""
    whole, fraction = row[2].split(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    year, month, day = row[3].split("-")
    return [row[0], row[1], f"{grouped},{fraction}", f"{day}/{month}/{year}", row[4]]


def without_apostrophes(rows: list[list[str]]) -> list[list[str]]:
    """The rows with a note free of apostrophes (for files quoted with ``'``)."""
    return [[c.replace("'", "") for c in row] for row in rows]


def pollutions(rows: int = 30, seed: int = 0) -> Iterator[Polluted]:
    """Yield every pollution of a clean table of ``rows`` records."""
    body = clean_rows(rows, seed)
    table = [COLUMNS, *body]

    for label, delimiter in DELIMITERS.items():
        text = written(table, delimiter)
        yield Polluted(
            f"delimiter-{label}",
            text.encode(),
            delimiter.strip() or delimiter,
            '"',
            rows,
            space_after=delimiter == ", ",
        )

    yield Polluted(
        "quote-single",
        written(without_apostrophes(table), ",", "'", quote_text=True).encode(),
        ",",
        "'",
        rows,
    )
    yield Polluted("crlf", written(table, newline="\r\n").encode(), ",", '"', rows)
    yield Polluted("cr-only", written(table, newline="\r").encode(), ",", '"', rows)
    mixed = written(table).replace("\n", "\r\n", rows // 2)
    yield Polluted("mixed-line-ends", mixed.encode(), ",", '"', rows)

    for lines in range(1, 6):
        preamble = ["Sales export", "Generated: 2024-01-31", "Region: all", "", "Units: EUR"]
        text = "\n".join(preamble[:lines]) + "\n" + written(table)
        outside = sum(1 for line in preamble[:lines] if line)
        yield Polluted(f"preamble-{lines}", text.encode(), ",", '"', rows, lines_outside=outside)
    padded = "Sales export,,,,\nGenerated 2024-01-31,,,,\n" + written(table)
    yield Polluted("preamble-padded", padded.encode(), ",", '"', rows, lines_outside=2)

    two = [["item", "", "sale", "", ""], COLUMNS, *body]
    yield Polluted(
        "header-2-rows",
        written(two).encode(),
        ",",
        '"',
        rows,
        columns=["item_id", "item_name", "sale_price", "sale_day", "sale_note"],
    )
    three = [["shop", "", "online", "", ""], ["item", "", "sale", "", ""], COLUMNS, *body]
    names = ["shop_item_id", "shop_item_name", "online_sale_price", "online_sale_day"]
    yield Polluted(
        "header-3-rows",
        written(three).encode(),
        ",",
        '"',
        rows,
        columns=[*names, "online_sale_note"],
    )

    footer = written(table) + "\nTotal,,12345.67,,\nSource: internal ledger\n"
    yield Polluted("footer-totals-notes", footer.encode(), ",", '"', rows, lines_outside=2)
    yield Polluted(
        "footer-note", (written(table) + "Generated by hand\n").encode(), ",", '"', rows, 0, 1
    )

    second = written(table) + "\n" + written([["code", "label"], ["a", "first"], ["b", "x"]])
    yield Polluted("second-table", second.encode(), ",", '"', rows, lines_outside=3)

    yield Polluted(
        "no-header",
        written(body).encode(),
        ",",
        '"',
        rows,
        columns=[f"column_{i}" for i in range(1, 6)],
    )

    for encoding in (
        "cp1252",
        "latin-1",
        "utf-16",
        "utf-8-sig",
        "utf-16-le",
        "utf-16-be",
        "utf-32-le",
    ):
        text = written(table, ";")
        yield Polluted(
            f"encoding-{encoding}", text.encode(encoding), ";", '"', rows, encoding=encoding
        )

    for encoding, words in LEGACY_WORDS.items():
        local = [
            [r[0], f"{words[i % len(words)]} {r[0]}", r[2], r[3], words[i % 3]]
            for i, r in enumerate(body)
        ]
        yield Polluted(
            f"encoding-{encoding}",
            written([COLUMNS, *local]).encode(encoding),
            ",",
            '"',
            rows,
            encoding=encoding,
            values=local,
        )

    european = [COLUMNS, *(european_row(row) for row in body)]
    yield Polluted("values-european", written(european, ";").encode(), ";", '"', rows)

    rng = random.Random(seed)
    for n in range(3):
        lines = written(table).splitlines()
        row = rng.randrange(1, len(lines))
        at = rng.randrange(len(lines[row]) + 1)
        lines[row] = lines[row][:at] + '"' + lines[row][at:]
        # A stray quote is text, or opens a field that never closes: its record is rejected.
        yield Polluted(
            f"stray-quote-{n}", ("\n".join(lines) + "\n").encode(), ",", '"', rows, rejected=-1
        )
