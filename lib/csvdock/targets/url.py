"""Target URLs: the default, and masking a password before a URL reaches a log or summary."""

from __future__ import annotations

import re

DEFAULT_TARGET = "duckdb:///warehouse.duckdb"


def masked_url(url: str) -> str:
    """Return ``url`` with its password (``user:secret@host``, a ``password=`` option) replaced
    by ``***``. The user info ends at the LAST ``@`` of the URL, so a password holding ``@``,
    ``:``, ``#``, ``?`` or ``/`` (raw, not percent-encoded) is masked whole."""
    scheme, sep, rest = url.partition("://")
    at = _userinfo_end(rest) if sep else -1
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    rest = re.sub(r"(password=)[^&#]*", r"\1***", rest, flags=re.IGNORECASE)
    return f"{scheme}{sep}{rest}"


def _userinfo_end(rest: str) -> int:
    """Return where the user info of a URL's ``rest`` (after ``://``) ends: its last ``@``
    before the query, or, where none is there (a raw ``?`` or ``#`` in the password), the last
    ``@`` of all; -1 when it has none."""
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    return head.rfind("@") if "@" in head else rest.rfind("@")


def url_password(url: str) -> str:
    """Return the password in ``url`` (as written: raw or percent-encoded), or ""."""
    _, sep, rest = url.partition("://")
    at = _userinfo_end(rest) if sep else -1
    found = rest[:at].partition(":")[2] if at >= 0 else ""
    option = re.search(r"password=([^&#]*)", url, flags=re.IGNORECASE)
    return found or (option.group(1) if option else "")


SECRET_FRAGMENT = 3  # fragments of a password this long or longer are masked in messages


def without_secret(text: str, url: str) -> str:
    """Return ``text`` (a driver's message) with the password of ``url`` masked, whole and each
    fragment of it that a parser may have split off at ``@ : / ? #`` (libpq names a host
    "ss@127.0.0.1" when the password is "pa#ss")."""
    password = url_password(url)
    if not password:
        return text
    pieces = [password, *re.split(r"[@:/?#&]", password)]
    for piece in sorted({p for p in pieces if len(p) >= SECRET_FRAGMENT}, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def ambiguous_password(url: str) -> bool:
    """Whether ``url`` holds a raw ``#``, ``?``, ``/`` or ``@`` in its password: libpq would read
    part of it as the host, path or query (it must be percent-encoded)."""
    _, sep, rest = url.partition("://")
    at = _userinfo_end(rest) if sep else -1
    userinfo = rest[:at] if at >= 0 else ""
    return ":" in userinfo and any(ch in userinfo for ch in "#?/@")
