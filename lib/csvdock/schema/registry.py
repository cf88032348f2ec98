"""The schema registry: ``<schemas_dir>/<table>/v1.json, v2.json, ...``.

A hand-written version (origin ``declared``) wins over detection for its columns."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import replace
from pathlib import Path

from csvdock.schema.evolution import Resolution, resolve
from csvdock.schema.table import SchemaError, TableSchema

_VERSION_FILE = re.compile(r"^v(\d+)\.json$")


class SchemaRegistry:
    """Versioned schemas of every table, one folder per table."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, table: str) -> Path:
        """Return the folder of ``table``'s versions."""
        return self.root / table

    def versions(self, table: str) -> list[int]:
        """Return the version numbers of ``table``, ascending."""
        folder = self.folder(table)
        if not folder.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, table: str, version: int) -> Path:
        """Return the file of one version."""
        return self.folder(table) / f"v{version}.json"

    def read(self, table: str, version: int) -> TableSchema:
        """Read one version; declared (hand-written) files get their version from the name."""
        path = self.path(table, version)
        if not path.exists():
            raise SchemaError(f"table {table!r} has no schema version {version}")
        schema = TableSchema.read(path)
        if schema.origin == "declared":
            for column in schema.columns:
                column.evidence.setdefault("declared", True)
        return replace(schema, table=table, version=version)

    def latest(self, table: str) -> TableSchema | None:
        """Return the newest version of ``table``, or None when it has none."""
        versions = self.versions(table)
        return self.read(table, versions[-1]) if versions else None

    def propose(self, detected: TableSchema, policy: str) -> Resolution:
        """Resolve a file's ``detected`` schema against the latest version under ``policy``
        without recording anything: a changed schema gets the next version number, which the
        load records (in the target, in its transaction, then here) once it commits.
        ``resolution.base_version`` is the version it was resolved against."""
        latest = self.latest(detected.table)
        resolution = resolve(latest, detected, policy)
        resolution.base_version = latest.version if latest else None
        if resolution.changed:
            resolution.schema = replace(
                resolution.schema,
                version=(latest.version or 0) + 1 if latest else 1,
                previous_version=latest.version if latest else None,
                origin="detected" if latest is None else "evolved",
                changes=resolution.changes,
            )
        return resolution

    def record(self, schema: TableSchema) -> bool:
        """Write ``schema`` as its version's file unless that file exists (a load committed it);
        return whether this call wrote it."""
        assert schema.version is not None
        path = self.path(schema.table, schema.version)
        return not path.exists() and _create_exclusively(path, schema.to_json())

    def resolve_and_record(self, detected: TableSchema, policy: str) -> Resolution:
        """Resolve a file's ``detected`` schema against the latest version under ``policy``,
        writing the next version when the table's schema changes. Safe against a concurrent
        writer: a version file is created exclusively and the resolution retried on a clash."""
        for _ in range(20):
            latest = self.latest(detected.table)
            resolution = resolve(latest, detected, policy)
            if not resolution.changed:
                return resolution
            version = (latest.version or 0) + 1 if latest else 1
            schema = replace(
                resolution.schema,
                version=version,
                previous_version=latest.version if latest else None,
                origin="detected" if latest is None else "evolved",
                changes=resolution.changes,
            )
            path = self.path(detected.table, version)
            if not _create_exclusively(path, schema.to_json()):
                continue
            resolution.schema = schema
            return resolution
        raise SchemaError(f"could not record a new schema version of {detected.table!r}")


def _create_exclusively(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` unless it exists; return whether this call created it.

    The text is written to a private file first and hard-linked into place, so a concurrent
    reader never sees a version file half written, and only one writer wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    private.write_text(text, encoding="utf-8")
    try:
        os.link(private, path)
    except FileExistsError:
        return False
    finally:
        private.unlink()
    return True


def diff(old: TableSchema, new: TableSchema) -> list[dict[str, str]]:
    """Return what changed from ``old`` to ``new``: added, removed and retyped columns."""
    changes: list[dict[str, str]] = []
    for column in new.columns:
        before = old.column(column.name)
        if before is None:
            changes.append({"change": "added", "column": column.name, "type": column.type})
        elif before.type != column.type:
            changes.append(
                {"change": "retyped", "column": column.name, "from": before.type, "to": column.type}
            )
        elif before.format != column.format:
            changes.append(
                {"change": "format", "column": column.name, "format": str(column.format)}
            )
    for column in old.columns:
        if new.column(column.name) is None:
            changes.append({"change": "removed", "column": column.name, "type": column.type})
    return changes
