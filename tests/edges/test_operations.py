"""Operations: luigid with workers, concurrent ingests, retries, the upload API, watch mode and
daily backfills — each against the real thing (luigid, uvicorn, inotify, PostgreSQL, DuckDB)."""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.conftest import open_warehouse, unique_table
from tests.edges.test_cli import run_cli

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "CSVDOCK_ISOLATE_TASKS"}
    return {**clean, "CSVDOCK_REPORT": "false", **extra}


def run_csvdock(
    workdir: Path, *args: str, environment: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``csvdock`` command in ``workdir`` (a fresh process: it may fork tasks)."""
    return subprocess.run(
        [str(BIN / "csvdock"), *args],
        cwd=workdir,
        env=environment or env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_files(folder: Path, count: int, prefix: str = "f") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i}.csv"
        path.write_text("id,v\n" + "".join(f"{i * 100 + j},{j}\n" for j in range(50)))
        paths.append(path)
    return paths


def test_luigid_runs_the_files_with_two_workers(workdir: Path):
    port = free_port()
    (workdir / "state").mkdir()
    luigid = subprocess.Popen(
        [
            str(BIN / "luigid"),
            "--port",
            str(port),
            "--state-path",
            str(workdir / "state" / "s.pickle"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(f"{base}/api/task_list?data=%7B%7D") is not None)
        write_files(workdir / "in", 3)
        # A real process: Luigi forks its workers, which a test process full of threads must not.
        done = run_csvdock(
            workdir,
            "ingest",
            "in",
            "--scheduler-url",
            base,
            "--workers",
            "2",
            "--table",
            "shared",
            "--json",
        )
        assert done.returncode == 0, done.stderr
        assert [f["status"] for f in json.loads(done.stdout)["files"]] == ["loaded"] * 3
        # Two processes loading into one DuckDB file take turns: each prepares its files
        # (Extract, Transform), then holds the file for their loads.
        families = _done_families(base)
        assert families.count("Load") == 3
        assert families.count("Extract") == 3 and families.count("Transform") == 3
        # One process: a small file is one task (extract, transform and load in one go).
        (workdir / "more").mkdir()
        for i in range(3):
            (workdir / "more" / f"g{i}.csv").write_text(f"id,v\n{1000 + i},{i}\n")
        more = ["ingest", "more", "--scheduler-url", base, "--table", "shared", "--json"]
        done = run_csvdock(workdir, *more)
        assert done.returncode == 0, done.stderr
        assert _done_families(base).count("IngestSmallFile") == 3
        # A file that fails is a failed (red) task in luigid, not a done one.
        (workdir / "bad").mkdir()
        (workdir / "bad" / "dup.csv").write_text("a\n1\n1\n")
        (workdir / "schemas" / "dup").mkdir(parents=True)
        declared = {
            "table": "dup",
            "origin": "declared",
            "primary_key": ["a"],
            "columns": [{"name": "a", "type": "integer", "nullable": False}],
        }
        (workdir / "schemas" / "dup" / "v1.json").write_text(json.dumps(declared))
        failing = run_csvdock(workdir, "ingest", "bad", "--scheduler-url", base, "--json")
        assert failing.returncode == 1
        assert json.loads(failing.stdout)["files"][0]["status"] == "failed"
        failed = _get(f"{base}/api/task_list?data=" + urllib.request.quote('{"status":"FAILED"}'))
        assert [name.split("_")[0] for name in failed["response"]] == ["IngestSmallFile"]
        assert "Traceback" not in failing.stderr
    finally:
        luigid.terminate()
        luigid.wait(timeout=10)


def _done_families(base: str) -> list[str]:
    done = _get(f"{base}/api/task_list?data=" + urllib.request.quote('{"status":"DONE"}'))
    return [name.split("_")[0] for name in done["response"]]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.mark.parametrize("kind", ["postgresql", "duckdb"])
def test_two_concurrent_ingests_load_each_file_once(workdir: Path, pg_dsn: str, kind: str):
    target = pg_dsn if kind == "postgresql" else f"duckdb:///{workdir / 'w.duckdb'}"
    table = unique_table("race")
    write_files(workdir / "in", 4)
    command = [str(BIN / "csvdock"), "ingest", "in", "--table", table, "--target", target, "--json"]
    runs = [
        subprocess.Popen(
            command,
            cwd=workdir,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [json.loads(run.communicate(timeout=300)[0]) for run in runs]
    statuses = sorted(f["status"] for out in outputs for f in out["files"])
    assert statuses == ["loaded"] * 4 + ["skipped"] * 4
    with open_warehouse(target) as warehouse:
        assert warehouse.execute(f'SELECT count(*), count(DISTINCT id) FROM "{table}"') == [
            (200, 200)
        ]
        assert warehouse.execute(
            "SELECT count(*) FROM csvdock.ledger WHERE table_name = $1", [table]
        ) == [(4,)]


def test_a_transient_failure_is_retried_and_succeeds(workdir: Path, caplog):
    """Another program holds the DuckDB file until csvdock has retried once, then lets go."""
    (workdir / "luigi.cfg").write_text("[csvdock]\nretries = 5\nretry_delay = 0.5\n")
    database = workdir / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.readline()",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"

    def release_after_the_first_retry() -> None:
        wait_for(lambda: "transient error, retry 1 of 5" in caplog.text, timeout=120)
        holder.communicate("go\n", timeout=10)

    releaser = threading.Thread(target=release_after_the_first_retry)
    releaser.start()
    (workdir / "a.csv").write_text("a\n1\n2\n")
    try:
        code, out, _ = run_cli("ingest", "a.csv", "--target", f"duckdb:///{database}", "--json")
    finally:
        releaser.join(timeout=130)
        holder.kill()
    (entry,) = json.loads(out)["files"]
    assert (code, entry["status"], entry["rows_loaded"]) == (0, "loaded", 2)
    assert "transient error, retry 1 of 5" in caplog.text


def test_permanent_errors_are_not_retried(workdir: Path, caplog):
    (workdir / "schemas" / "a").mkdir(parents=True)
    declared = {
        "table": "a",
        "origin": "declared",
        "primary_key": ["a"],
        "columns": [{"name": "a", "type": "integer", "nullable": False}],
    }
    (workdir / "schemas" / "a" / "v1.json").write_text(json.dumps(declared))
    (workdir / "a.csv").write_text("a\n1\n1\n")  # a duplicate key: the database refuses it
    code, out, _ = run_cli("ingest", "a.csv", "--json")
    (entry,) = json.loads(out)["files"]
    assert (code, entry["status"]) == (1, "failed")
    assert "nothing was committed" in entry["reason"] and "uplicate key" in entry["reason"]
    assert "retry" not in caplog.text


@pytest.fixture
def api(workdir: Path):
    (workdir / "luigi.cfg").write_text("[csvdock]\nmax_upload_mb = 1\nreport = false\n")
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "csvdock"), "serve", "--port", str(port)],
        cwd=workdir,
        env=env(CSVDOCK_API_TOKEN="s3cret-token"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{base}/health"))
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


AUTH = {"Authorization": "Bearer s3cret-token"}


def test_the_api_needs_its_token(api: str):
    files = {"file": ("a.csv", b"a\n1\n", "text/csv")}
    assert httpx.post(f"{api}/upload_csv", files=files).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{api}/upload_csv", files=files, headers=wrong).status_code == 401
    assert httpx.get(f"{api}/health").json() == {"status": "ok"}
    assert "/upload_csv" in httpx.get(f"{api}/openapi.json").json()["paths"]


def test_an_upload_is_stored_under_a_server_name_and_loaded(api: str, workdir: Path):
    files = {"file": ("../../etc/passwd", b"id,name\n1,Ann\n2,Bo\n3\n", "text/csv")}
    response = httpx.post(
        f"{api}/upload_csv", params={"table": "people"}, files=files, headers=AUTH, timeout=120
    )
    assert response.status_code == 200, response.text
    (entry,) = response.json()["files"]
    assert (entry["status"], entry["table"], entry["rows_loaded"], entry["rows_rejected"]) == (
        "loaded",
        "people",
        2,
        1,
    )
    stored = Path(entry["path"])
    assert stored.parent == workdir / ".csvdock" / "inbox"
    assert "passwd" not in stored.name and ".." not in stored.name
    assert not (workdir.parent / "etc").exists()
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute('SELECT name FROM "people" ORDER BY id') == [("Ann",), ("Bo",)]


def test_a_large_upload_gets_413_and_is_not_kept(api: str, workdir: Path):
    big = b"a\n" + b"1\n" * (1024 * 1024)
    response = httpx.post(
        f"{api}/upload_csv", files={"file": ("big.csv", big, "text/csv")}, headers=AUTH, timeout=60
    )
    assert response.status_code == 413
    inbox = workdir / ".csvdock" / "inbox"
    kept = list(inbox.glob("*")) if inbox.exists() else []
    assert kept == []


def test_an_upload_without_waiting_can_be_polled(api: str):
    response = httpx.post(
        f"{api}/upload_csv",
        params={"wait": "false", "table": "later"},
        files={"file": ("x.csv", b"a\n1\n", "text/csv")},
        headers=AUTH,
    )
    assert response.status_code == 202
    run_id = response.json()["run_id"]

    def finished():
        got = httpx.get(f"{api}/runs/{run_id}", headers=AUTH)
        return got.json() if got.status_code == 200 else None

    summary = wait_for(finished, timeout=120, every=0.5)
    assert summary["files"][0]["status"] == "loaded"
    assert httpx.get(f"{api}/runs/..%2F..%2Fetc", headers=AUTH).status_code == 404


def test_the_server_refuses_to_start_without_a_token(workdir: Path):
    clean = {k: v for k, v in env().items() if k != "CSVDOCK_API_TOKEN"}
    done = run_csvdock(workdir, "serve", environment=clean, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        "csvdock: error: the API needs a token: set CSVDOCK_API_TOKEN or api_token in "
        "luigi.cfg [csvdock]\n"
    )


def test_watch_mode_takes_complete_files_only(workdir: Path):
    inbox = workdir / "inbox"
    inbox.mkdir()
    (inbox / "early.csv").write_text("a\n1\n")  # arrived while the watcher was down
    watcher = subprocess.Popen(
        [str(BIN / "csvdock"), "watch", "inbox"],
        cwd=workdir,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    processed = inbox / "processed"
    try:
        wait_for(lambda: (processed / "early.csv").exists())
        with (inbox / "slow.csv").open("w") as handle:  # written slowly, then closed
            handle.write("a\n1\n")
            handle.flush()
            time.sleep(1.5)
            assert (inbox / "slow.csv").exists()  # not taken while still open
            handle.write("2\n3\n")
        outside = workdir / "renamed.csv.tmp"
        outside.write_text("a\n7\n")
        outside.rename(inbox / "renamed.csv")
        (inbox / "zipped.csv").write_bytes(gzip.compress(b"a\n1\n"))
        wait_for(lambda: (processed / "slow.csv").exists() and (processed / "renamed.csv").exists())
        wait_for(lambda: not (inbox / "zipped.csv").exists())
    finally:
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert "Traceback" not in err
    quarantined = list((workdir / ".csvdock" / "deadletter" / "files").glob("*zipped.csv"))
    assert len(quarantined) == 1
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute('SELECT count(*) FROM "slow"') == [(3,)]
        assert warehouse.execute('SELECT a FROM "renamed"') == [(7,)]


def test_a_three_day_backfill_ingests_each_day_once(workdir: Path):
    (workdir / "luigi.cfg").write_text(
        "[csvdock]\nreport = false\ndaily_input = data/{date:%Y-%m-%d}/*.csv\n"
        "[core]\nautoload_range = false\n"
    )
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        folder = workdir / "data" / day
        folder.mkdir(parents=True)
        for n in (1, 2):
            (folder / f"sales_{n}.csv").write_text(f"day,n\n{day},{n}\n")
    command = [
        str(BIN / "luigi"),
        "--module",
        "luigi_tasks",
        "RangeDaily",
        "--of",
        "IngestDay",
        "--start",
        "2026-11-01",
        "--stop",
        "2026-11-04",
        "--local-scheduler",
    ]
    for _ in range(2):  # the second run finds every day done
        done = subprocess.run(
            command, cwd=workdir, env=env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        counts = warehouse.execute(
            "SELECT table_name, count(*) FROM csvdock.ledger GROUP BY 1 ORDER BY 1"
        )
        rows = warehouse.execute('SELECT count(*) FROM "sales_1"')
    assert counts == [("sales_1", 3), ("sales_2", 3)]
    assert rows == [(3,)]
    markers = sorted(p.name for p in (workdir / ".csvdock" / "daily").iterdir())
    assert markers == ["2026-11-01.json", "2026-11-02.json", "2026-11-03.json"]


def test_a_password_in_the_target_never_reaches_output_or_logs(workdir: Path, pg_dsn: str):
    from urllib.parse import urlsplit

    parts = urlsplit(pg_dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = (parts.username or "postgres") if "@" in parts.netloc else "postgres"
    secret_dsn = parts._replace(netloc=f"{user}:hunter2secret@{host}").geturl()
    (workdir / "a.csv").write_text("a\n1\n")
    done = run_csvdock(
        workdir,
        "ingest",
        "a.csv",
        "--target",
        secret_dsn,
        "--table",
        unique_table("secret"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"].startswith(f"postgresql://{user}:***@")
    logs = (workdir / ".csvdock" / "logs" / "csvdock.log").read_text()
    everything = (
        done.stdout
        + done.stderr
        + logs
        + "".join(p.read_text() for p in (workdir / ".csvdock").rglob("*.json"))
    )
    assert "hunter2secret" not in everything


def test_the_api_takes_only_the_file_part_and_passes_values_as_values(api: str, workdir: Path):
    # A part named "other" whose file name is "file" is not the file.
    decoy = {"other": ("file", b"a\n1\n", "text/csv")}
    response = httpx.post(f"{api}/upload_csv", files=decoy, headers=AUTH, timeout=120)
    assert response.status_code == 422 and "no file part" in response.text
    # A table that looks like an option reaches the child as a value, not an option.
    files = {"file": ("a.csv", b"a\n1\n", "text/csv")}
    response = httpx.post(
        f"{api}/upload_csv", params={"table": "-x"}, files=files, headers=AUTH, timeout=120
    )
    assert response.status_code == 200, response.text
    assert response.json()["files"][0]["table"] == "x"
    # A loaded upload leaves the inbox.
    assert not [p for p in (workdir / ".csvdock" / "inbox").iterdir() if p.is_file()]


def test_a_run_whose_child_fails_ends_failed_with_its_stderr(api: str, workdir: Path):
    # The child reads luigi.cfg itself: a broken one makes it exit at once, without a summary.
    (workdir / "luigi.cfg").write_text("[csvdock]\nretries = many\nreport = false\n")
    response = httpx.post(
        f"{api}/upload_csv",
        params={"wait": "false"},
        files={"file": ("a.csv", b"a\n1\n", "text/csv")},
        headers=AUTH,
    )
    assert response.status_code == 202
    run_id = response.json()["run_id"]

    def ended():
        got = httpx.get(f"{api}/runs/{run_id}", headers=AUTH)
        return got if got.status_code != 202 else None

    got = wait_for(ended, timeout=120, every=0.3)
    assert got.status_code == 500
    state = got.json()
    assert state["status"] == "failed" and state["exit_code"] == 2
    assert "retries" in state["stderr"]
    kept = list((workdir / ".csvdock" / "inbox" / "failed").iterdir())
    assert len(kept) == 1  # never deleted: it can be ingested again


def test_watch_mode_keeps_a_file_over_an_outage_and_loads_it_after(workdir: Path):
    """The warehouse is held by another program: the file waits in the inbox, then loads."""
    (workdir / "luigi.cfg").write_text(
        "[csvdock]\nretries = 0\nretry_delay = 0.2\nreport = false\n"
    )
    inbox = workdir / "inbox"
    inbox.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.readline()",
            str(workdir / "warehouse.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    log = workdir / "watch.log"
    with log.open("w") as err:
        watcher = subprocess.Popen(
            [str(BIN / "csvdock"), "watch", "inbox"],
            cwd=workdir,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    try:
        (inbox / "late.csv").write_text("a\n1\n2\n")
        wait_for(lambda: log.read_text().count("kept in the inbox") >= 2, timeout=120)
        assert (inbox / "late.csv").exists()
        assert not (workdir / ".csvdock" / "deadletter" / "files").exists() or not list(
            (workdir / ".csvdock" / "deadletter" / "files").iterdir()
        )
        holder.communicate("go\n", timeout=10)
        wait_for(lambda: (inbox / "processed" / "late.csv").exists(), timeout=120)
    finally:
        holder.kill()
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute('SELECT count(*) FROM "late"') == [(2,)]
