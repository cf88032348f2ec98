"""Target URLs: the default, and masking a password before a URL reaches a log or summary."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

DEFAULT_TARGET = "duckdb:///warehouse.duckdb"


def masked_url(url: str) -> str:
    """Return ``url`` with its password (``user:secret@host``, a ``password=`` option) replaced
    by ``***``. The URL is split with a real parser: the user info ends at the LAST ``@`` of the
    authority, so a password holding ``@`` or ``:`` is masked whole."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a target URL that cannot be parsed>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else netloc
    prefix = f"{parts.scheme}://"
    rest = url[len(prefix) + len(parts.netloc) :] if url.startswith(prefix) else url
    rest = re.sub(r"(password=)[^&#]*", r"\1***", rest, flags=re.IGNORECASE)
    return f"{prefix}{netloc}{rest}" if url.startswith(prefix) else rest
