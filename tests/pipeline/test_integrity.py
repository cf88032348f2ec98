"""The integrity guarantees: no column narrows, no record loads shifted, failures are visible,
counts agree, text is decoded right. Each test failed on the code before the integrity issue."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from csvdock.edges.cli import main

from tests.conftest import dead_letter_csv, ingest, open_warehouse, unique_table


def rows(url: str, sql: str) -> list[tuple]:
    """The rows of ``sql``; decimals as Decimal on both targets (ADBC reads numeric as text)."""
    with open_warehouse(url) as warehouse:
        found = warehouse.execute(sql)
    return [
        tuple(Decimal(v) if isinstance(v, str) and v[:1].isdigit() and "." in v else v for v in r)
        for r in found
    ]


NINE = "id,code,ref,name,qty,price,description,url,comments\n"


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_a_record_with_an_extra_empty_field_is_a_parse_reject(
    workdir: Path, target_url: str, mode: str
):
    good = "".join(f"{i},A{i},CC-{i},n{i},{i},1.5,desc {i},http://x/{i},\n" for i in range(1, 9))
    shifted = "9,,CC-9259,boots,3,2.5,a description,http://x/9,,\n"
    source = workdir / "orders.csv"
    source.write_text(NINE + good + shifted, encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url, "--mode", mode)
    result = summary["files"][0]
    assert code == 0
    assert (result["rows_read"], result["rows_loaded"], result["rows_rejected"]) == (9, 8, 1)
    assert result["dialect"]["trailing_delimiter"] is False
    assert rows(target_url, f"SELECT count(*) FROM {table} WHERE url LIKE '%description%'") == [
        (0,)
    ]
    rejects = Path(result["rejects_path"]).read_text(encoding="utf-8")
    assert "expected 9 fields, found 10" in rejects and "9,,CC-9259" in rejects


def test_a_trailing_delimiter_on_every_record_is_the_dialect(workdir: Path, target_url: str):
    source = workdir / "trailing.csv"
    source.write_text("a,b,c\n1,2,3,\n4,5,6,\n", encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url)
    result = summary["files"][0]
    assert code == 0 and result["rows_loaded"] == 2 and result["rows_rejected"] == 0
    assert result["dialect"]["trailing_delimiter"] is True
    assert rows(target_url, f"SELECT a, b, c FROM {table} ORDER BY a") == [(1, 2, 3), (4, 5, 6)]


def test_a_short_record_and_a_long_record_are_rejects(workdir: Path, target_url: str):
    source = workdir / "ragged.csv"
    source.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n", encoding="utf-8")
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url)
    result = summary["files"][0]
    assert (result["rows_loaded"], result["rows_rejected"]) == (2, 2)
    assert rows(target_url, f"SELECT a FROM {table} ORDER BY a") == [(1,), (10,)]


DOWN = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_an_old_checkpoint_never_narrows_a_widened_column(
    workdir: Path, target_url: str, mode: str
):
    (workdir / "f1.csv").write_text("id,age\n1,30\n2,7\n", encoding="utf-8")
    (workdir / "f2.csv").write_text("id,age\n3,30.5\n4,7.25\n", encoding="utf-8")
    table = unique_table()
    common = ["--table", table, "--mode", mode]
    code, first = ingest(str(workdir / "f1.csv"), *common, "--target", DOWN)
    assert code == 1 and first["files"][0]["status"] == "failed"
    assert not (workdir / "schemas" / table / "v1.json").exists()  # no orphan version
    code, second = ingest(str(workdir / "f2.csv"), *common, "--target", target_url)
    assert code == 0 and second["files"][0]["schema_version"] == 1
    code, third = ingest(str(workdir / "f1.csv"), *common, "--target", target_url)
    result = third["files"][0]
    assert code == 0 and result["status"] == "loaded"
    assert rows(target_url, f"SELECT id, age FROM {table} ORDER BY id") == [
        (1, Decimal("30.00")),
        (2, Decimal("7.00")),
        (3, Decimal("30.50")),
        (4, Decimal("7.25")),
    ]
    with open_warehouse(target_url) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
    assert types == {"id": "integer", "age": "decimal(38,2)"}
    assert result["schema_version"] == 1


def test_a_file_typed_against_an_older_version_is_resolved_again(workdir: Path, target_url: str):
    """f1 is cast as v1 (integer); f2 widens the table to v2 (decimal) before f1 loads."""
    (workdir / "f0.csv").write_text("id,age\n0,1\n", encoding="utf-8")
    (workdir / "f1.csv").write_text("id,age\n1,30\n2,7\n", encoding="utf-8")
    (workdir / "f2.csv").write_text("id,age\n3,30.5\n", encoding="utf-8")
    table = unique_table()
    assert ingest(str(workdir / "f0.csv"), "--table", table, "--target", target_url)[0] == 0
    code, first = ingest(str(workdir / "f1.csv"), "--table", table, "--target", DOWN)
    assert code == 1
    code, second = ingest(str(workdir / "f2.csv"), "--table", table, "--target", target_url)
    assert second["files"][0]["schema_version"] == 2
    code, third = ingest(str(workdir / "f1.csv"), "--table", table, "--target", target_url)
    result = third["files"][0]
    assert (code, result["status"], result["schema_version"]) == (0, "loaded", 2)
    versions = sorted(p.name for p in (workdir / "schemas" / table).iterdir())
    assert versions == ["v1.json", "v2.json"]
    assert rows(target_url, f"SELECT id, age FROM {table} ORDER BY id") == [
        (0, Decimal("1.0")),
        (1, Decimal("30.0")),
        (2, Decimal("7.0")),
        (3, Decimal("30.5")),
    ]


@pytest.fixture(autouse=True)
def quick_retries(workdir: Path) -> None:
    """Transient errors are retried quickly here (the DOWN target is refused every time)."""
    (workdir / "luigi.cfg").write_text("[csvdock]\nretries = 2\nretry_delay = 0.01\n")


def declare_primary_key(workdir: Path, table: str) -> None:
    (workdir / "schemas" / table).mkdir(parents=True)
    declared = {
        "table": table,
        "origin": "declared",
        "primary_key": ["id"],
        "columns": [{"name": "id", "type": "integer", "nullable": False}],
    }
    (workdir / "schemas" / table / "v1.json").write_text(json.dumps(declared))


def test_a_failed_file_fails_its_luigi_task_and_the_run_goes_on(workdir: Path, target_url: str):
    import luigi
    from csvdock.core.settings import load_settings

    from luigi_tasks import IngestRun
    from luigi_tasks.tasks import IngestSmallFile

    table = unique_table()
    declare_primary_key(workdir, table)
    (workdir / "good.csv").write_text("id\n1\n2\n")
    (workdir / "dup.csv").write_text("id\n3\n3\n")  # the database refuses the duplicate key
    paths = [str(workdir / "good.csv"), str(workdir / "dup.csv")]
    settings = load_settings().with_overrides(target=target_url)
    run = IngestRun(paths=paths, run_id="r1", table=table, target=settings.target)
    outcome = luigi.build([run], local_scheduler=True, detailed_summary=True)
    assert outcome.status != luigi.execution_summary.LuigiStatusCode.SUCCESS
    loads = {Path(t.path).name: t.requires() for t in run.requires()}
    assert isinstance(loads["dup.csv"], IngestSmallFile)  # a small file: one task
    assert not loads["dup.csv"].complete() and loads["good.csv"].complete()
    assert not run.complete()
    failed = outcome.worker._scheduler.task_list("FAILED", "")
    assert loads["dup.csv"].task_id in failed and loads["good.csv"].task_id not in failed
    # `csvdock ingest` over the same files: every file listed with its status, exit 1.
    code, summary = ingest(*paths, "--table", table, "--target", target_url)
    statuses = {Path(f["path"]).name: (f["status"], f["reason"]) for f in summary["files"]}
    assert code == 1
    assert statuses["good.csv"] == ("skipped", None)
    assert statuses["dup.csv"][0] == "failed" and "uplicate" in statuses["dup.csv"][1]
    dup = next(f for f in summary["files"] if f["path"].endswith("dup.csv"))
    assert (dup["rows_read"], dup["rows_loaded"], dup["rows_rejected"]) == (2, 0, 0)
    assert dup["retryable"] is False
    assert rows(target_url, f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,)]


def test_a_day_with_a_failed_file_is_not_complete(workdir: Path):
    import luigi

    from luigi_tasks.daily import IngestDay

    table = "daily"
    declare_primary_key(workdir, table)
    day = workdir / "data" / "input" / "2026-11-26"
    day.mkdir(parents=True)
    (day / "daily.csv").write_text("id\n1\n1\n")
    with (workdir / "luigi.cfg").open("a") as cfg:
        cfg.write("report = false\n")
    task = IngestDay(date=__import__("datetime").date(2026, 11, 26))
    assert not luigi.build([task], local_scheduler=True)
    assert not task.complete()
    (day / "daily.csv").write_text("id\n1\n2\n")  # fixed: the day loads on its next attempt
    luigi.task_register.Register.clear_instance_cache()  # as a new process would see it
    assert luigi.build([IngestDay(date=task.date)], local_scheduler=True)
    assert IngestDay(date=task.date).complete()


def test_a_run_built_in_chunks_lists_every_file_and_fails_only_the_bad_one(
    workdir: Path, target_url: str, monkeypatch: pytest.MonkeyPatch
):
    import luigi_tasks.runner

    # Small files are built a chunk at a time (Luigi's scheduler slows with the square of a
    # build's tasks): a failed file in the first chunk must not stop the later chunks.
    monkeypatch.setattr(luigi_tasks.runner, "CHUNK_FILES", 2)
    table = unique_table()
    declare_primary_key(workdir, table)
    names = ["a.csv", "b_dup.csv", "c.csv", "d.csv", "e.csv"]
    for number, name in enumerate(names):
        keys = (10 * number, 10 * number) if "dup" in name else (10 * number, 10 * number + 1)
        (workdir / name).write_text("id\n" + "".join(f"{k}\n" for k in keys))
    code, summary = ingest(
        *[str(workdir / n) for n in names], "--table", table, "--target", target_url
    )
    statuses = {Path(f["path"]).name: f["status"] for f in summary["files"]}
    assert code == 1
    assert statuses == {n: "failed" if "dup" in n else "loaded" for n in names}
    assert rows(target_url, f"SELECT count(*) FROM {table}") == [(8,)]


def ingest_folder_of_small_files(
    workdir: Path, files: int, records: int, *options: str, report: bool | None = None
) -> subprocess.CompletedProcess[str]:
    """Write ``files`` small files (``t000.csv``...: id, v) into ``workdir/in`` and ingest the
    folder with the ``csvdock`` command (a real process, which forks its workers)."""
    folder = workdir / "in"
    folder.mkdir()
    for i in range(files):
        body = "".join(f"{i},{j}\n" for j in range(records))
        (folder / f"t{i:03d}.csv").write_text("id,v\n" + body)
    environment = {k: v for k, v in os.environ.items() if k != "CSVDOCK_ISOLATE_TASKS"}
    if report is not None:
        environment["CSVDOCK_REPORT"] = str(report).lower()
    command = [str(Path(sys.executable).parent / "csvdock"), "ingest", "in", *options, "--json"]
    done = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=600
    )
    statuses = [f["status"] for f in json.loads(done.stdout)["files"]]
    assert (done.returncode, statuses) == (0, ["loaded"] * files), done.stderr[-2000:]
    return done


def test_two_workers_into_one_duckdb_file_never_fail_a_good_file(workdir: Path):
    done = ingest_folder_of_small_files(workdir, 24, 20, "--workers", "2", "--table", "many")
    assert "lock" not in done.stderr.lower() and "retry" not in done.stderr
    assert rows("duckdb:///warehouse.duckdb", "SELECT count(*) FROM many") == [(480,)]


def test_transient_or_permanent_comes_from_the_error_type_and_sqlstate(pg_dsn: str):
    from csvdock.core.retry import is_transient
    from csvdock.targets import WarehouseError, WarehouseUnavailable, connect, parse_target

    with pytest.raises(WarehouseUnavailable) as refused:
        connect(parse_target(DOWN))
    assert is_transient(refused.value) and refused.value.__cause__ is not None
    with connect(parse_target(pg_dsn)) as warehouse:
        with pytest.raises(WarehouseError) as missing:
            warehouse.execute("SELECT * FROM no_such_table_anywhere")
        warehouse.rollback()
        # A permanent error whose text speaks of a lock is still permanent.
        with pytest.raises(WarehouseError) as worded:
            warehouse.execute('SELECT * FROM "lock timeout connection refused"')
        warehouse.rollback()
        table = unique_table("locked")
        warehouse.execute(f"CREATE TABLE {table} (a INTEGER)")
        warehouse.commit()
        warehouse.execute(f"LOCK TABLE {table}")  # held until this transaction ends
        with connect(parse_target(pg_dsn)) as other:
            other.execute("SET lock_timeout = '50ms'")
            with pytest.raises(WarehouseError) as busy:
                other.execute(f"LOCK TABLE {table}")
        warehouse.rollback()
    assert missing.value.sqlstate == "42P01" and not is_transient(missing.value)
    assert not is_transient(worded.value)
    assert missing.value.__cause__ is not None  # the driver's error, with its SQLSTATE
    assert busy.value.sqlstate == "55P03" and is_transient(busy.value)


def test_the_dead_letters_hold_exactly_the_rejected_records_even_after_a_crash(
    workdir: Path, target_url: str
):

    source = workdir / "scores.csv"
    source.write_text(
        "id,score\n1,10\n2,x\n3,30\n4,40\n5,\n"
        + "".join(f"{i},{i}\n" for i in range(6, 6000))
        + "9999,y\n"
    )
    table = unique_table()
    code, summary = ingest(str(source), "--table", table, "--target", target_url)
    result = summary["files"][0]
    assert result["rows_rejected"] == 2
    stored = rows(
        target_url,
        f"SELECT line, raw FROM csvdock.rejects WHERE table_name = '{table}' ORDER BY line",
    )
    assert stored == [(3, "2,x"), (6001, "9999,y")]
    ledger = dead_letter_csv(workdir, table, target_url)
    # A crash between the commit and the CSV: the file's dead letters are missing or partial.
    lines = ledger.read_text(encoding="utf-8").splitlines()
    ledger.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    code, again = ingest(str(source), "--table", table, "--target", target_url)
    assert again["files"][0]["status"] == "skipped"
    restored = ledger.read_text(encoding="utf-8")
    assert restored.count(result["sha256"]) == 2 and "9999,y" in restored


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_counts_are_defined_once_for_every_status(workdir: Path, target_url: str, mode: str):
    from csvdock.core.runs import FileResult, run_totals

    # Two values that fit no integer, one record with a field too many: three rejects.
    (workdir / "bad.csv").write_text("id,n\n1,1\n2,x\n3,y\n4,4,4\n" + "5,5\n" * 9996)
    (workdir / "ok.csv").write_text("id,n\n1,1\n2,2\n")
    table = unique_table()
    common = ["--table", table, "--target", target_url, "--mode", mode]
    code, first = ingest(str(workdir / "bad.csv"), *common, "--max-rejects", "1")
    bad = first["files"][0]
    assert (bad["status"], bad["rows_read"], bad["rows_loaded"], bad["rows_rejected"]) == (
        "quarantined",
        10000,
        0,
        0,
    )
    assert "3 of 10000 records rejected" in bad["reason"]
    ingest(str(workdir / "ok.csv"), *common)
    code, second = ingest(
        str(workdir / "ok.csv"), str(workdir / "bad.csv"), *common, "--max-rejects", "1"
    )
    files = [FileResult(**f) for f in second["files"]]
    assert [f.status for f in files] == ["skipped", "quarantined"]
    totals = run_totals(files)
    assert totals == {"read": 10002, "loaded": 0, "rejected": 0, "not_loaded": 10002}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Zq@Wk@host/db",
        "postgresql://u:Zq:Wk@host:5432/db",
        "postgresql://u:Zq%40Wk@host/db?sslmode=require&password=Zq@Wk",
    ],
)
def test_no_part_of_a_password_is_shown(url: str):
    from csvdock.targets.url import masked_url

    shown = masked_url(url)
    assert "Zq" not in shown and "Wk" not in shown
    assert shown.startswith("postgresql://u:***@host")


def test_a_scheduler_url_where_nothing_answers_is_a_one_line_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
):
    (workdir / "a.csv").write_text("a\n1\n")
    code = main(["ingest", "a.csv", "--scheduler-url", "http://127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("csvdock: error: no Luigi scheduler answers at http://127.0.0.1:1")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


CYRILLIC = "имя,город\nПривет,Москва\nДмитрий,Санкт-Петербург\nАнна,Новосибирск\n"


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("cyrillic.csv", CYRILLIC.encode("cp1251"), "cp1251"),
        ("utf16.csv", CYRILLIC.encode("utf-16"), "utf-16"),
        ("utf16be.csv", codecs.BOM_UTF16_BE + CYRILLIC.encode("utf-16-be"), "utf-16"),
        ("western.csv", "name,city\nJosé,Zürich\nFrançois,Besançon\n".encode("cp1252"), "cp1252"),
    ],
)
def test_text_is_decoded_with_its_own_encoding(
    workdir: Path, name: str, data: bytes, encoding: str
):
    (workdir / name).write_bytes(data)
    code, summary = ingest(name, "--table", "texts")
    result = summary["files"][0]
    assert (code, result["status"], result["dialect"]["encoding"]) == (0, "loaded", encoding)
    expected = data.decode(encoding).splitlines()[1].split(",")[0]
    found = rows("duckdb:///warehouse.duckdb", "SELECT * FROM texts")
    assert found[0][0] == expected


def test_random_bytes_are_quarantined_as_binary(workdir: Path):
    import random

    (workdir / "blob.csv").write_bytes(random.Random(7).randbytes(4096))
    code, summary = ingest("blob.csv")
    result = summary["files"][0]
    assert (code, result["status"]) == (1, "quarantined")
    assert "binary" in result["reason"]
    assert not (workdir / "warehouse.duckdb").exists() or rows(
        "duckdb:///warehouse.duckdb",
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'blob'",
    ) == [(0,)]


def test_an_escaped_backslash_before_a_closing_quote(workdir: Path):
    (workdir / "esc.csv").write_text('id,note\n1,"ends \\\\"\n2,"say \\"hi\\""\n3,plain\n')
    code, summary = ingest("esc.csv", "--escape", "\\")
    result = summary["files"][0]
    assert (code, result["status"], result["rows_loaded"]) == (0, "loaded", 3)
    assert rows("duckdb:///warehouse.duckdb", "SELECT note FROM esc ORDER BY id") == [
        ("ends \\",),
        ('say "hi"',),
        ("plain",),
    ]


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_concurrent_loads_of_evolving_files_never_narrow_and_record_every_version(
    workdir: Path, pg_dsn: str, kind: str
):
    import os
    import subprocess
    import sys

    target = pg_dsn if kind == "postgresql" else f"duckdb:///{workdir / 'w.duckdb'}"
    table = unique_table("evolving")
    bodies = {
        "ints.csv": "id,v\n1,7\n2,8\n",
        "decimals.csv": "id,v\n3,7.25\n4,8.5\n",
        "texts.csv": "id,v\n5,seven\n6,8\n",
        "extra.csv": "id,v,w\n7,9,x\n",
    }
    for name, body in bodies.items():
        (workdir / name).write_text(body)
    environment = dict(os.environ)
    environment.pop("CSVDOCK_ISOLATE_TASKS", None)
    command = [str(Path(sys.executable).parent / "csvdock"), "ingest", "--json"]
    runs = [
        subprocess.Popen(
            [*command, "--table", table, "--target", target, name],
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for name in bodies
    ]
    results = [json.loads(run.communicate(timeout=300)[0])["files"][0] for run in runs]
    assert [r["status"] for r in results] == ["loaded"] * 4
    with open_warehouse(target) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
        ledger = warehouse.execute(
            "SELECT schema_version FROM csvdock.ledger WHERE table_name = $1", [table]
        )
    assert types == {"id": "integer", "v": "text", "w": "text"}
    versions = sorted(int(p.stem[1:]) for p in (workdir / "schemas" / table).glob("v*.json"))
    assert versions == list(range(1, len(versions) + 1))
    assert {v for (v,) in ledger} <= set(versions)
    with open_warehouse(target) as warehouse:
        assert warehouse.execute(f"SELECT v FROM {table} WHERE id = 3") == [("7.25",)]


def test_a_run_of_many_small_files_takes_a_process_per_core_by_default(tmp_path: Path):
    from csvdock.core.settings import Settings
    from csvdock.pipeline.run import FILES_PER_DEFAULT_WORKER, default_workers

    files = []
    for i in range(2 * FILES_PER_DEFAULT_WORKER):
        files.append(tmp_path / f"f{i:03d}.csv")
        files[-1].write_text(f"id\n{i}\n")
    settings = Settings()
    cores = len(os.sched_getaffinity(0))
    assert default_workers(files, settings, None) == min(cores, 2)
    assert default_workers(files[:-1], settings, None) == 1  # too few to share
    assert default_workers(files, settings, "http://localhost:8082") == 1  # luigid's to scale
    files[0].write_bytes(b"id\n" + b"1\n" * (settings.small_file_bytes // 2 + 1))
    assert default_workers(files, settings, None) == 1  # a big file: one worker


def test_a_folder_of_many_small_files_loads_each_once_with_default_workers(workdir: Path):
    ingest_folder_of_small_files(workdir, 100, 5, report=False)
    counts = rows(
        "duckdb:///warehouse.duckdb",
        "SELECT count(*), count(DISTINCT table_name), sum(rows_loaded) FROM csvdock.ledger",
    )
    assert counts == [(100, 100, 500)]
    assert rows("duckdb:///warehouse.duckdb", "SELECT sum(v) FROM t042") == [(10,)]
