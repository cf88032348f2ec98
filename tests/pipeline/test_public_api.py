"""The public Python API: ``csvdock.ingest`` and ``csvdock.replay``, typed results, clear errors."""

from __future__ import annotations

import inspect
from pathlib import Path

import csvdock
import polars as pl
import pytest

from tests.conftest import dead_letter_csv

ROWS = 2000  # enough for detection to take one misfit as a reject (outlier_share 0.001)


def _users(folder: Path) -> Path:
    """users.csv: ROWS records, the second's date impossible (2024-02-30)."""
    path = folder / "users.csv"
    lines = [f"{i},name {i},2024-01-{1 + i % 28:02d}" for i in range(1, ROWS + 1)]
    lines[1] = "2,Bo,2024-02-30"
    path.write_text("id,name,joined\n" + "\n".join(lines) + "\n")
    return path


def test_ingest_returns_a_typed_summary_with_rejects_and_schema(workdir: Path):
    summary = csvdock.ingest(_users(workdir), table="people", target="duckdb:///w.duckdb")
    assert isinstance(summary, csvdock.RunSummary) and summary.ok
    (result,) = summary.files
    assert (result.status, result.table, result.mode) == ("loaded", "people", "etl")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (ROWS, ROWS - 1, 1)
    assert summary.counts() == {"read": ROWS, "loaded": ROWS - 1, "rejected": 1, "not_loaded": 0}
    rejects = summary.rejects()
    assert isinstance(rejects, pl.DataFrame)
    assert rejects.select("line", "stage", "column").rows() == [(3, "cast", "joined")]
    assert rejects["raw"].to_list() == ["2,Bo,2024-02-30"]
    schema = result.schema
    assert isinstance(schema, csvdock.TableSchema) and schema.version == 1
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "integer"),
        ("name", "text"),
        ("joined", "date"),
    ]
    # The same bytes again: skipped, nothing loaded twice.
    again = csvdock.ingest(_users(workdir), table="people", target="duckdb:///w.duckdb")
    assert again.files[0].status == "skipped" and again.rejects().is_empty()


def test_ingest_in_elt_mode_and_replay_of_an_edited_reject(workdir: Path):
    summary = csvdock.ingest(
        [_users(workdir)], table="people", target="duckdb:///w.duckdb", mode="elt"
    )
    assert summary.mode == "elt" and summary.files[0].rows_rejected == 1
    letters = dead_letter_csv(workdir, "people", "duckdb:///w.duckdb")
    letters.write_text(letters.read_text().replace("2024-02-30", "2024-02-28"))
    replayed = csvdock.replay("people", "duckdb:///w.duckdb")
    assert replayed.ok and replayed.files[0].rows_loaded == 1
    with pytest.raises(csvdock.UsageError, match="no rejected records waiting"):
        csvdock.replay("people", "duckdb:///w.duckdb")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda p: csvdock.ingest(p / "missing.csv"), csvdock.UsageError, "no such file"),
        (lambda p: csvdock.ingest([]), csvdock.UsageError, "no files"),
        (lambda p: csvdock.ingest(_users(p), mode="fast"), csvdock.ConfigError, "mode must be"),
        (lambda p: csvdock.ingest(_users(p), target="mysql://x"), csvdock.ConfigError, "not supp"),
        (lambda p: csvdock.ingest(_users(p), delimitr=";"), csvdock.ConfigError, "unknown opt"),
        (lambda p: csvdock.ingest(_users(p), table="a.b.c"), csvdock.UsageError, "table"),
        (lambda p: csvdock.ingest(_users(p), orchestrator="nope"), csvdock.ConfigError, "nope"),
    ],
)
def test_bad_arguments_raise_a_clear_csvdock_error(workdir: Path, call, error, message):
    with pytest.raises(error, match=message):
        call(workdir)


def test_every_public_name_is_exported_and_documented():
    for name in csvdock.__all__:
        value = getattr(csvdock, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name
    doc = inspect.getdoc(csvdock.ingest) or ""
    for word in ("paths", "table", "target", "mode", "evolution", "failed"):
        assert word in doc
    assert list(inspect.signature(csvdock.ingest).parameters)[:5] == [
        "paths",
        "table",
        "target",
        "mode",
        "evolution",
    ]


def test_csvdock_s_own_orchestrator_is_the_one_its_entry_point_registers():
    """``find_orchestrator`` imports csvdock's own orchestrator directly (no scan of every
    package's entry points): it must be the function pyproject.toml registers."""
    from importlib.metadata import entry_points

    from csvdock.pipeline.run import ORCHESTRATOR_GROUP, OWN_ORCHESTRATOR, find_orchestrator

    name, value = OWN_ORCHESTRATOR
    (registered,) = [ep for ep in entry_points(group=ORCHESTRATOR_GROUP) if ep.name == name]
    assert registered.value == value
    assert find_orchestrator(name) is registered.load()
