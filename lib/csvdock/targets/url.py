"""Target URLs: ``duckdb:///relative.duckdb``, ``duckdb:////abs/path.duckdb``, ``postgresql://...``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from csvdock.core.errors import ConfigError

DEFAULT_TARGET = "duckdb:///warehouse.duckdb"


@dataclass(frozen=True)
class Target:
    """A parsed target: which engine, and where."""

    kind: Literal["duckdb", "postgresql"]
    url: str
    duckdb_path: Path | None = None

    @property
    def display(self) -> str:
        """The URL with any password masked, safe for logs and summaries."""
        return masked_url(self.url)


def parse_target(url: str) -> Target:
    """Parse a target URL, raising ``ConfigError`` with a readable message when it is not one."""
    if url.startswith("duckdb://"):
        rest = url[len("duckdb://") :]
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(
                f"target {masked_url(url)!r}: use duckdb:///relative/path.duckdb "
                "or duckdb:////absolute/path.duckdb"
            )
        return Target("duckdb", url, Path(rest[1:]))
    if url.startswith(("postgresql://", "postgres://")):
        return Target("postgresql", url)
    raise ConfigError(
        f"target {masked_url(url)!r} is not supported: use duckdb:///PATH or postgresql://..."
    )


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
