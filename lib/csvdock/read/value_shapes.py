"""What a value looks like, in any common spelling: the one place for the shapes that finding the
table (is a row a header, a footer, typed like the body?) and sniffing the dialect (does a
reading give cells that look like values?) recognise.

These are deliberately looser than the type registry's patterns (``csvdock.schema.types``): a
number here may carry a currency sign, thousands separators or a percent sign, a date may be
day-first with slashes; they tell the *look* of a value, never its type. Whether a column is a
``decimal`` or a ``date`` is decided by the registry alone, over every value of the column.
"""

from __future__ import annotations

import re

NUMBER_SHAPE = (
    r"[-+]?[$€£¥]?\s?[-+]?(?:\d+(?:[.,'\u00a0]\d{3})*(?:[.,]\d+)?|[.,]\d+)(?:[eE][-+]?\d+)?\s?%?"
)
DATE_SHAPE = (
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s?(?:Z|[AaPp][Mm]|[-+]\d{2}:?\d{2})?)?"
)
TIME_SHAPE = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s?(?:[AaPp][Mm])?"
# The registry's boolean words of more than one letter ("t" or "y" alone look like text); spelt
# here, not imported: reading a file comes before the schema and does not depend on it.
BOOLEAN_SHAPE = r"(?i:true|false|yes|no)"
MISSING_SHAPE = r"(?i:null|none|nan|n/?a|-+)"

KIND_SHAPES = {
    "number": re.compile(NUMBER_SHAPE),
    "date": re.compile(DATE_SHAPE),
    "time": re.compile(TIME_SHAPE),
    "boolean": re.compile(BOOLEAN_SHAPE),
}


# The shapes as one pattern, tried in ``KIND_SHAPES``' order: one match a value, not four (finding
# the table of 54 x 1,093 values classified 59,000 of them).
_ANY_SHAPE = re.compile("|".join(f"(?P<{kind}>{s.pattern})" for kind, s in KIND_SHAPES.items()))


def value_kind(value: str) -> str:
    """Return the kind a value looks like: ``number``, ``date``, ``time``, ``boolean``,
    ``empty`` or ``text``."""
    value = value.strip()
    if not value:
        return "empty"
    found = _ANY_SHAPE.fullmatch(value)
    return found.lastgroup or "text" if found else "text"
