"""A stateful test: ingests of evolving files, failed loads, reruns, replays and `--workers`
interleaved at random on both targets, with the integrity invariants checked after every step:
no column ever narrows, every stored value equals its source text's value, the ledger, the table
and the dead letters agree, and no file is loaded twice."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl
import pytest
from csvdock.core.workspace import Workspace
from csvdock.edges.cli import main
from csvdock.rejects.deadletter import read_dead_letters
from csvdock.schema.evolution import widened_type
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.conftest import open_warehouse, unique_table

DOWN = "postgresql://postgres@127.0.0.1:1/nowhere"
VALUES = {
    "integer": st.integers(-1000, 1000).map(str),
    "decimal": st.decimals(-1000, 1000, places=2, allow_nan=False).map(str),
    "text": st.sampled_from(["abc", "Zürich", "x y", "007"]),
}


def cli(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--json"])
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else {}


def same_value(stored: object, source: str) -> bool:
    """Whether a stored value is the value of its source text (numbers compared as numbers)."""
    if stored is None:
        return source == ""
    if isinstance(stored, int | float | Decimal) or isinstance(stored, str):
        try:
            return Decimal(str(stored)) == Decimal(source)
        except InvalidOperation:
            return str(stored) == source
    return False


def machine_for(target_of):  # noqa: C901 - one class, its rules and invariants
    class Ingests(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.home = Path(tempfile.mkdtemp(prefix="csvdock-stateful-"))
            self.previous = Path.cwd()
            os.chdir(self.home)
            Path("luigi.cfg").write_text("[csvdock]\nretries = 0\nreport = false\n")
            self.target = target_of(self.home)
            self.table = unique_table("state")
            self.next_id = 0
            self.files: dict[str, dict[int, str]] = {}  # name -> id -> source text of v
            self.loaded: set[str] = set()  # files whose rows are in the table
            self.types: dict[str, str] = {}  # the table's column types seen so far

        def teardown(self) -> None:
            os.chdir(self.previous)

        def _write(self, kind: str, values: list[str], ragged: bool) -> str:
            name = f"f{len(self.files)}.csv"
            ids = {}
            lines = ["id,v"]
            for value in values:
                self.next_id += 1
                ids[self.next_id] = value
                quoted = '"' + value.replace('"', '""') + '"' if kind == "text" else value
                lines.append(f"{self.next_id},{quoted}")
            if ragged:
                self.next_id += 1
                lines.append(f"{self.next_id},1,extra")  # a parse reject
            Path(name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.files[name] = ids
            return name

        @rule(
            kind=st.sampled_from(sorted(VALUES)),
            data=st.data(),
            ragged=st.booleans(),
            mode=st.sampled_from(["etl", "elt"]),
        )
        def ingest_a_new_file(
            self, kind: str, data: st.DataObject, ragged: bool, mode: str
        ) -> None:
            values = data.draw(st.lists(VALUES[kind], min_size=1, max_size=4))
            name = self._write(kind, values, ragged)
            target = ["--table", self.table, "--target", self.target, "--mode", mode]
            code, summary = cli("ingest", name, *target)
            (result,) = summary["files"]
            assert result["status"] == "loaded", result
            self.loaded.add(name)

        @rule(kind=st.sampled_from(sorted(VALUES)), data=st.data())
        def a_load_fails(self, kind: str, data: st.DataObject) -> None:
            """The target is down: the file fails (a later rerun loads it)."""
            values = data.draw(st.lists(VALUES[kind], min_size=1, max_size=3))
            name = self._write(kind, values, ragged=False)
            code, summary = cli("ingest", name, "--table", self.table, "--target", DOWN)
            assert code == 1 and summary["files"][0]["status"] == "failed"

        @rule()
        def rerun_everything(self) -> None:
            if not self.files:
                return
            names = sorted(self.files)
            code, summary = cli("ingest", *names, "--table", self.table, "--target", self.target)
            for result in summary["files"]:
                name = Path(result["path"]).name
                expected = "skipped" if name in self.loaded else "loaded"
                assert result["status"] == expected, result
                self.loaded.add(name)

        @rule()
        def replay_the_dead_letters(self) -> None:
            pending = read_dead_letters(Workspace(Path(".csvdock")), self.table, self.target)
            if pending.filter(pl.col("replayed_in").is_null()).is_empty():
                return
            code, summary = cli("replay", self.table, "--target", self.target)
            # The ragged records are still ragged: they come back as dead letters.
            assert all(f["rows_loaded"] == 0 for f in summary["files"]), summary

        @rule(kind=st.sampled_from(sorted(VALUES)), data=st.data())
        def two_workers(self, kind: str, data: st.DataObject) -> None:
            names = [
                self._write(kind, data.draw(st.lists(VALUES[kind], min_size=1, max_size=3)), False)
                for _ in range(2)
            ]
            environment = {k: v for k, v in os.environ.items() if k != "CSVDOCK_ISOLATE_TASKS"}
            done = subprocess.run(
                [str(Path(sys.executable).parent / "csvdock"), "ingest", *names, "--workers", "2"]
                + ["--table", self.table, "--target", self.target, "--json"],
                env=environment,
                capture_output=True,
                text=True,
                timeout=300,
            )
            statuses = [f["status"] for f in json.loads(done.stdout)["files"]]
            assert statuses == ["loaded", "loaded"], done.stderr[-2000:]
            self.loaded.update(names)

        @invariant()
        def no_column_narrows(self) -> None:
            with open_warehouse(self.target) as warehouse:
                now = warehouse.table_types(warehouse.default_schema, self.table) or {}
            for column, kind in now.items():
                before = self.types.get(column)
                assert before is None or widened_type(before, kind) == kind, (before, kind)
            self.types = now

        @invariant()
        def stored_values_are_the_source_values_and_loaded_once(self) -> None:
            if not self.loaded:
                return
            with open_warehouse(self.target) as warehouse:
                stored = warehouse.execute(f"SELECT id, v FROM {self.table}")
            by_id = dict(stored)
            assert len(by_id) == len(stored)  # no record twice
            expected = {i: v for n in self.loaded for i, v in self.files[n].items()}
            assert set(by_id) == set(expected)
            for record, source in expected.items():
                assert same_value(by_id[record], source), (record, by_id[record], source)

        @invariant()
        def ledger_table_and_dead_letters_agree(self) -> None:
            with open_warehouse(self.target) as warehouse:
                warehouse.ensure_ledger()  # before the first load there is none yet
                ledger = warehouse.execute(
                    "SELECT file_sha256, rows_read, rows_loaded, rows_rejected "
                    "FROM csvdock.ledger WHERE table_name = $1",
                    [self.table],
                )
                stored_rejects = dict(
                    warehouse.execute(
                        "SELECT file_sha256, count(*) FROM csvdock.rejects "
                        "WHERE table_name = $1 GROUP BY file_sha256",
                        [self.table],
                    )
                )
                count = warehouse.execute(f"SELECT count(*) FROM {self.table}") if ledger else []
            dead = read_dead_letters(Workspace(Path(".csvdock")), self.table, self.target)
            for sha, read, loaded, rejected in ledger:
                assert read == loaded + rejected
                assert stored_rejects.get(sha, 0) == rejected
                assert dead.filter(pl.col("file_sha256") == sha).height == rejected
            if ledger:
                assert count == [(sum(row[2] for row in ledger),)]

    return Ingests


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_integrity_holds_through_any_interleaving(kind: str, pg_dsn: str):
    def target_of(home: Path) -> str:
        return pg_dsn if kind == "postgresql" else f"duckdb:///{home / 'warehouse.duckdb'}"

    run_state_machine_as_test(
        machine_for(target_of),
        settings=settings(
            max_examples=4,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
