"""Target URLs: ``duckdb:///relative.duckdb``, ``duckdb:////abs/path.duckdb``, ``postgresql://...``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from csvdock.errors import ConfigError

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
    """Replace the password of a URL (``user:secret@host``) or a ``password=`` option by ``***``."""
    masked = re.sub(r"(://[^:/@]*:)[^@]*(@)", r"\1***\2", url)
    return re.sub(r"(password=)[^&\s]*", r"\1***", masked, flags=re.IGNORECASE)
