"""Connections that fail (issue 25, items 8, 9 and 10): a password never printed, a server that
never answers is a transient failure after the connect timeout, a server that refuses the role
or the database is a permanent one (its SQLSTATE asked of the server, not read from text)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.edges.test_cli import run_cli

FAST_RETRIES = "[csvdock]\nretries = 1\nretry_delay = 0.1\n"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for sock in held:
            sock.close()
        listener.close()


def ingest(workdir: Path, target: str) -> tuple[int, dict, str]:
    (workdir / "luigi.cfg").write_text(FAST_RETRIES, encoding="utf-8")
    (workdir / "f.csv").write_text("id\n1\n", encoding="utf-8")
    code, out, err = run_cli("ingest", "f.csv", "--target", target, "--json")
    return code, (json.loads(out)["files"][0] if out.strip() else {}), err


def test_a_server_that_never_answers_is_a_transient_failure(workdir: Path, silent_server: int):
    started = time.monotonic()
    code, result, _ = ingest(workdir, f"postgresql://postgres@127.0.0.1:{silent_server}/test")
    assert time.monotonic() - started < 60
    assert code == 1 and result["status"] == "failed" and result["retryable"] is True


def test_a_missing_database_is_a_permanent_failure(workdir: Path, pg_dsn: str):
    parts = urlsplit(pg_dsn)
    missing = parts._replace(path="/csvdock_no_such_database").geturl()
    code, result, _ = ingest(workdir, missing)
    assert code == 1 and result["status"] == "failed"
    assert result["retryable"] is False, result["reason"]


@pytest.mark.parametrize("password", ["pa#ss", "pa?ss", "pa/ss", "p@ss"])
def test_a_raw_special_character_in_a_password_is_refused_and_never_printed(
    workdir: Path, password: str
):
    code, result, err = ingest(workdir, f"postgresql://postgres:{password}@127.0.0.1:5432/test")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "percent-encode the password" in err
    logged = "".join(p.read_text() for p in (workdir / ".csvdock").rglob("*.log"))
    for text in (err, json.dumps(result), logged):
        assert password not in text and "ss@" not in text
