"""Rejects say why as a typed code (``csvdock.rejects.codes``), in the target, the dead letters
and the reports; a target or a dead-letter CSV made before codes existed still works."""

from pathlib import Path

import csvdock
import polars as pl
from csvdock.core.workspace import Workspace
from csvdock.rejects.codes import REJECT_CODES, REJECT_KINDS, offending_value
from csvdock.rejects.deadletter import DEAD_LETTER_FILE, dead_letter_dir, read_dead_letters
from csvdock.report.data import reject_samples, rejects_by_reason

from tests.conftest import open_warehouse


def test_every_code_has_words_for_the_reports():
    assert set(REJECT_KINDS) == set(REJECT_CODES)


def test_a_target_made_before_codes_gains_the_column(workdir: Path, target_url: str):
    (workdir / "old.csv").write_text("id,n\n1,2\n2,x\n3\n")
    with open_warehouse(target_url) as warehouse:
        warehouse.ensure_ledger()
        warehouse.begin()
        warehouse.execute("ALTER TABLE csvdock.rejects DROP COLUMN code")
        warehouse.commit()
        assert "code" not in (warehouse.table_types("csvdock", "rejects") or {})
    table = f"old_{workdir.name[-12:].replace('-', '_')}".lower()
    summary = csvdock.ingest(workdir / "old.csv", table=table, target=target_url)
    assert summary.ok and summary.files[0].rows_rejected == 1
    with open_warehouse(target_url) as warehouse:
        rows = warehouse.execute(
            "SELECT line, stage, code FROM csvdock.rejects WHERE table_name = $1", [table]
        )
    assert rows == [(4, "parse", "field_count")]


def test_dead_letters_written_before_codes_read_and_report(workdir: Path):
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    folder = dead_letter_dir(Workspace(workdir / ".csvdock"), "t", target)
    folder.mkdir(parents=True)
    (folder / DEAD_LETTER_FILE).write_text(
        "run_id,file,file_sha256,line,stage,column,reason,raw,replayed_in\n"
        "r1,a.csv,abc,3,cast,age,column 'age': 'x' is not integer,\"2,x\",\n"
    )
    letters = read_dead_letters(Workspace(workdir / ".csvdock"), "t", target)
    assert letters["code"].to_list() == [None]
    # No code: the report shows the reason's start, and marks no value (it cannot know it).
    assert rejects_by_reason(letters)["reason"].to_list() == ["column 'age': 'x' is not integer"]
    assert reject_samples(letters)["value"].to_list() == [None]


def test_the_reports_group_by_code_and_mark_the_value_the_reason_names():
    rejects = pl.DataFrame(
        {
            "file": ["a.csv"] * 3,
            "line": [2, 3, 4],
            "stage": ["cast", "cast", "parse"],
            "code": ["type_mismatch", "type_mismatch", "field_count"],
            "column": ["age", "age", None],
            "reason": [
                "column 'age': 'x' is not integer",
                "column 'age': 'y: 'z' is not integer",  # the value itself holds the words
                "expected 2 fields, found 1",
            ],
            "raw": ["1,x", "2,y: 'z", "3"],
        }
    )
    by_reason = rejects_by_reason(rejects)
    assert by_reason.rows() == [
        ("cast", "column 'age': a value not of the column's type", 2),
        ("parse", "fields do not line up with the header", 1),
    ]
    assert reject_samples(rejects)["value"].to_list() == ["x", None]
    assert offending_value("type_mismatch", "age", rejects["reason"][1]) == "y: 'z"
