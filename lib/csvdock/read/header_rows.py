"""Is a row a header? The kinds of value in the body's columns against those of a row (a header
is not typed like the body), the finer shapes of numbers (a year over other integers is a name),
and a header spread over several rows (merged cells) joined into one name per column."""

from __future__ import annotations

import itertools
import re
from collections import Counter

from csvdock.read.value_shapes import value_kind

MAX_NAME_CHARS = 200  # over text columns only, a longer first-row cell is a value, not a name
YEARS = (1800, 2100)  # a four-digit integer in this range reads as a year (a column named 2021)
MIN_RUN_NAMES = 3  # consecutive integers across a first row (0,1,2 or 2019,2020,2021): names
TYPED_SHARE = 0.9  # share of a column's body values of one kind for the column to be typed


def column_kinds(body: list[list[str]], width: int) -> list[str | None]:
    """Return, per column, the kind most of its body values share (None: text or mixed)."""
    kinds: list[str | None] = []
    for column in range(width):
        found = Counter(value_kind(row[column]) for row in body)
        found.pop("empty", None)
        total = sum(found.values())
        kind, n = found.most_common(1)[0] if found else ("text", 0)
        kinds.append(kind if kind != "text" and total and n >= TYPED_SHARE * total else None)
    return kinds


def header_like(
    row: list[str], kinds: list[str | None], shapes: list[str | None], body: list[list[str]]
) -> bool:
    """Whether ``row`` may be a header: not typed like the body. A row whose numbers are names
    (``state,2021``; ``team,0,1,2,...``) is typed like the body's number columns, so numbers
    are compared finer: a year over a column of other integers, an integer over a column of
    fractions, or a run of consecutive integers across the row that no body row has. The
    length of a cell decides only where the body has no typed column to compare with (a
    survey's header cells are whole questions; a paragraph over text columns is a value)."""
    typed = typed_like(row, kinds)
    if typed is None:
        return all(len(cell) <= MAX_NAME_CHARS for cell in row)
    if typed is False:
        return True
    numbers = [(row[c], shape) for c, shape in enumerate(shapes) if shape and c < len(row)]
    unlike = sum(1 for cell, shape in numbers if not _fits_shape(cell, shape))
    if numbers and unlike * 2 > len(numbers):
        return True
    return _integer_run(row) and not any(_integer_run(other) for other in body)


def _number_shape(value: str) -> str | None:
    value = value.strip()
    if not re.fullmatch(r"[-+]?\d+", value):
        return "fraction" if value_kind(value) == "number" else None
    return "year" if len(value) == 4 and YEARS[0] <= int(value) <= YEARS[1] else "integer"


def number_shapes(body: list[list[str]], kinds: list[str | None]) -> list[str | None]:
    """Return, per number column of the body, the shape most of its values share: ``year``,
    ``integer`` (other integers) or ``fraction`` (None: not a number column, or mixed)."""
    shapes: list[str | None] = []
    for column, kind in enumerate(kinds):
        if kind != "number":
            shapes.append(None)
            continue
        found = Counter(
            _number_shape(row[column]) for row in body if column < len(row) and row[column].strip()
        )
        shape, n = found.most_common(1)[0] if found else (None, 0)
        shapes.append(shape if n >= TYPED_SHARE * sum(found.values()) else None)
    return shapes


def _fits_shape(cell: str, shape: str) -> bool:
    """Whether a first-row number ``cell`` could be a value of a column of ``shape`` (a year
    over other integers, or an integer over fractions, is a name)."""
    return _number_shape(cell) == shape


def _integer_run(row: list[str]) -> bool:
    """Whether ``row`` holds ``MIN_RUN_NAMES`` or more integers in a row, each one more than
    the last (0,1,2 or 2019,2020,2021: names of columns, not values)."""
    numbers = [int(c) for c in (cell.strip() for cell in row) if re.fullmatch(r"[-+]?\d{1,9}", c)]
    run = best = 1 if numbers else 0
    for before, after in itertools.pairwise(numbers):
        run = run + 1 if after == before + 1 else 1
        best = max(best, run)
    return best >= MIN_RUN_NAMES


def typed_like(row: list[str], kinds: list[str | None]) -> bool | None:
    """Whether ``row`` holds the kinds of value of the body in every typed column (None: the
    body has no typed column, so nothing tells)."""
    typed = [(c, k) for c, k in enumerate(kinds) if k is not None and c < len(row)]
    if not typed:
        return None
    return all(value_kind(row[c]) in (k, "empty") for c, k in typed) and any(
        value_kind(row[c]) == k for c, k in typed
    )


def continues_header(
    header: list[list[str]], row: list[str], kinds: list[str | None], first_filled: bool
) -> bool:
    """Whether ``row`` is one more header row: the names so far are blank or repeated (merged
    cells), ``row`` fills them, and it is not a data row."""
    names = joined_names([*header, []])  # every row so far filled as merged cells are
    seen = Counter(names)
    unclear = [c for c, name in enumerate(names) if not name or seen[name] > 1]
    if not any(c < len(row) and row[c].strip() for c in unclear):
        return False
    return _names_like(row, kinds) or (not row[0].strip() and first_filled)


def _names_like(row: list[str], kinds: list[str | None]) -> bool:
    """Whether ``row`` reads as names, not values: most of its cells in the body's typed
    columns are not of the column's kind."""
    cells = [(row[c], k) for c, k in enumerate(kinds) if k and c < len(row) and row[c].strip()]
    unlike = sum(1 for cell, kind in cells if value_kind(cell) != kind)
    return bool(cells) and unlike > len(cells) / 2


def joined_names(rows: list[list[str]]) -> list[str]:
    """Return one name per column: each row's cells (blank ones filled from the left in all but
    the last row, as merged cells are) joined with ``_``."""
    filled: list[list[str]] = []
    for number, row in enumerate(rows):
        cells = [cell.strip() for cell in row]
        if number < len(rows) - 1:
            for c in range(1, len(cells)):
                if not cells[c] and cells[c - 1]:
                    cells[c] = cells[c - 1]
        filled.append(cells)
    width = max(len(row) for row in filled)
    return ["_".join(row[c] for row in filled if c < len(row) and row[c]) for c in range(width)]
