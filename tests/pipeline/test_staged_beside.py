"""ELT into PostgreSQL of a file whose every value LoadRaw checked on its source: the load stages
its records in chunks on a second connection while its own connection casts each committed chunk
in the load's one transaction (``csvdock.pipeline.staged_beside``). The table must be the one the
copied path gives, no chunk may stay behind (a chunk that fails, a kill at any moment), and a
file killed during its load must be loaded exactly once after a rerun."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import csvdock
import pytest
from csvdock.core.settings import TableSettings
from csvdock.pipeline import staged_beside
from csvdock.read.extract import extract_file
from csvdock.read.source import SourcePlan
from csvdock.targets import parse_target
from csvdock.targets.load import LoadError
from csvdock.transform.sql_cast import staging_table

from tests.conftest import open_warehouse, unique_table
from tests.pipeline.test_in_source import (
    ROWS,
    killable_ingest,
    ledger_rows,
    loaded,
    settings_for,
    started,
    write_users,
)


def staging_left(dsn: str) -> list[str]:
    """Return the tables left in the staging schema."""
    with open_warehouse(dsn) as warehouse:
        found = warehouse.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'csvdock_staging' ORDER BY 1"
        )
    return [name for (name,) in found]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Chunks of 2,048 records read in batches of 1,024: a test file is staged in several."""
    monkeypatch.setattr(staged_beside, "BATCH_ROWS", 1024)
    monkeypatch.setattr(staged_beside, "STAGE_CHUNK_ROWS", 2048)
    return 2048


def test_each_chunk_is_cast_once_committed_and_dropped_in_the_load(
    workdir: Path, pg_dsn: str, small_chunks: int
):
    source = write_users(workdir / "users.csv", rows=10_000)
    extract_file(source, workdir / "extract", TableSettings(), plan_only=True)
    plan = SourcePlan.of(workdir / "extract", source)
    assert plan is not None and plan.parsed_records == 9_998  # (two ragged records)
    table, target = unique_table("chunks"), parse_target(pg_dsn)
    staging = staging_table(table, "ab" * 32)
    cast: list[str] = []
    with open_warehouse(pg_dsn) as warehouse:
        warehouse.execute(f'CREATE TABLE "{table}" (id bigint, city text)')
        warehouse.commit()

        def cast_chunk(chunk: str) -> int:
            cast.append(chunk)  # committed by the staging connection, seen by this one
            select = f'SELECT CAST("id" AS BIGINT), "city" FROM {chunk}'
            return warehouse.execute_rowcount(f'INSERT INTO "{table}" {select}')

        rows = staged_beside.cast_while_staging(warehouse, target, plan, staging, cast_chunk)
        assert staged_beside.chunk_tables(warehouse, staging) == []  # dropped in the load
        warehouse.commit()
        stored = warehouse.execute(f'SELECT count(*), count(DISTINCT id), max(id) FROM "{table}"')
    assert rows == 9_998 and stored == [(9_998, 9_998, 10_000)]
    assert len(cast) == -(-9_998 // small_chunks) == 5
    assert staging_left(pg_dsn) == []


def test_a_cast_that_loses_records_fails_the_load(workdir: Path, pg_dsn: str, small_chunks: int):
    source = write_users(workdir / "users.csv", rows=5_000)
    extract_file(source, workdir / "extract", TableSettings(), plan_only=True)
    plan = SourcePlan.of(workdir / "extract", source)
    assert plan is not None
    table, target = unique_table("lossy"), parse_target(pg_dsn)
    staging = staging_table(table, "cd" * 32)
    with open_warehouse(pg_dsn) as warehouse:
        warehouse.execute(f'CREATE TABLE "{table}" (id text)')

        def losing_one(chunk: str) -> int:  # a cast that leaves a record out of each chunk
            select = f'SELECT "id" FROM {chunk} WHERE "id" <> (SELECT min("id") FROM {chunk})'
            return warehouse.execute_rowcount(f'INSERT INTO "{table}" {select}')

        with pytest.raises(LoadError, match="4996 records cast where the file has 4999"):
            staged_beside.cast_while_staging(warehouse, target, plan, staging, losing_one)
        warehouse.rollback()
        left = staged_beside.chunk_tables(warehouse, staging)
        assert len(left) == 3  # committed by the staging connection: the load's discard drops them
        for chunk in left:
            warehouse.execute(f'DROP TABLE "{chunk[0]}"."{chunk[1]}"')
        warehouse.commit()


def test_a_chunk_name_keeps_its_number_under_postgresqls_limit():
    staging = ("csvdock_staging", "é" * 40 + "__" + "0" * 12)  # 94 bytes
    names = [staged_beside.chunk_table(staging, i)[1] for i in (0, 7, 12, 1234)]
    assert all(len(n.encode("utf-8")) <= 63 for n in names)
    assert [n.rsplit("__", 1)[1] for n in names] == ["0", "7", "12", "1234"]
    assert len(set(names)) == 4
    # one base for every chunk: the sweep of an earlier attempt's chunks finds them all
    assert len({n.rsplit("__", 1)[0] for n in names}) == 1


def test_elt_stages_in_the_load_and_loads_what_the_copied_path_loads(
    workdir: Path, pg_dsn: str, small_chunks: int
):
    source = write_users(workdir / "users.csv")
    results, timings = {}, {}
    for name, in_place, mode in (("source", True, "elt"), ("copied", False, "etl")):
        table = unique_table(name)
        settings = settings_for(workdir, name, pg_dsn, in_place)
        (result,) = csvdock.ingest([source], table=table, settings=settings, mode=mode).files
        assert result.status == "loaded", result.reason
        results[name], timings[name] = loaded(pg_dsn, table), result.timings or {}
    assert results["source"] == results["copied"]
    assert len(results["source"][0]) == ROWS - 2
    # LoadRaw checked every value and staged nothing: the load staged beside its cast
    assert "check_proposal" in timings["source"] and "stage_raw" not in timings["source"]
    assert staging_left(pg_dsn) == []


def test_a_chunk_that_fails_fails_the_file_and_leaves_nothing(
    workdir: Path, pg_dsn: str, small_chunks: int, monkeypatch: pytest.MonkeyPatch
):
    source = write_users(workdir / "users.csv")
    table = unique_table("failing")
    settings = settings_for(workdir, "failing", pg_dsn, True)
    made: list[object] = []
    create = staged_beside.create_staging

    def failing_third(warehouse, chunk, columns):  # the staging of the third chunk fails
        made.append(chunk)
        if len(made) == 3:
            raise LoadError("the third chunk could not be staged")
        create(warehouse, chunk, columns)

    monkeypatch.setattr(staged_beside, "create_staging", failing_third)
    (result,) = csvdock.ingest([source], table=table, settings=settings, mode="elt").files
    assert result.status == "failed"
    assert "the third chunk could not be staged" in (result.reason or "")
    assert ledger_rows(pg_dsn, table) == 0
    assert staging_left(pg_dsn) == []  # the two chunks committed before it are dropped
    with open_warehouse(pg_dsn) as warehouse:
        assert (warehouse.table_types(warehouse.default_schema, table) or {}) == {}

    monkeypatch.setattr(staged_beside, "create_staging", create)
    (again,) = csvdock.ingest([source], table=table, settings=settings, mode="elt").files
    assert again.status == "loaded", again.reason
    assert (again.rows_loaded, ledger_rows(pg_dsn, table)) == (ROWS - 2, 1)
    assert staging_left(pg_dsn) == []


def test_an_elt_load_killed_while_it_stages_and_casts_loads_once_after_a_rerun(
    workdir: Path, pg_dsn: str
):
    """Kill -9 once the load stages and casts (a chunk staged, or one an earlier attempt
    left), at a different moment each time, then run again: the file is in the table once,
    with its rejects, and no staging chunk is left."""
    rows = 600_000
    source = write_users(workdir / "big.csv", rows=rows)
    table = unique_table("killed_elt")
    command, environment = killable_ingest(workdir, source, pg_dsn, table, "--mode", "elt")
    rng = random.Random(26)
    for attempt in range(3):
        run = started(command, workdir, environment)
        deadline = time.monotonic() + 120
        while not staging_left(pg_dsn):
            assert run.poll() is None and time.monotonic() < deadline, "no chunk was staged"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4) * attempt)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        if attempt == 0:  # killed as the first chunk was staged: nothing is in the table
            assert ledger_rows(pg_dsn, table) == 0
    again = subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    (result,) = json.loads(again.stdout)["files"]
    assert result["status"] in ("loaded", "skipped")  # (skipped: a kill fell after the commit)
    with open_warehouse(pg_dsn) as warehouse:
        (count,) = warehouse.execute(f'SELECT count(*) FROM "{table}"')[0]
        rejected = warehouse.execute(
            "SELECT count(*) FROM csvdock.rejects WHERE table_name = $1", [table]
        )[0][0]
    assert (count, rejected, ledger_rows(pg_dsn, table)) == (rows - 2, 2, 1)
    assert staging_left(pg_dsn) == []
