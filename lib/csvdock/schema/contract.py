"""The frozen contract: under ``evolution = freeze`` the latest schema version is a contract, and
a record that breaks it (a value in an unknown column, a column the file lacks) is rejected."""

from __future__ import annotations

from dataclasses import dataclass

from csvdock.schema.evolution import Resolution


@dataclass(frozen=True)
class ContractRules:
    """Rows that break the frozen contract: a value in an unknown column, a missing column."""

    unknown_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()
    version: int | None = None


def contract_rules(resolution: Resolution, policy: str) -> ContractRules | None:
    """Return the frozen contract's rules for a resolution (None unless ``policy`` is freeze)."""
    if policy != "freeze":
        return None
    return ContractRules(
        tuple(resolution.unknown_columns),
        tuple(resolution.missing_columns),
        resolution.schema.version,
    )
