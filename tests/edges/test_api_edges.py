"""The upload API at its edges (issue 25, items 7 and 14): a killed server's unfinished uploads
are queued again when it starts; a stalled body gets 408 and frees its slot; the whole body is
bounded, not only the file part; a part header split across reads is read whole."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.edges.test_operations import BIN, _get, env, free_port, wait_for

AUTH = {"Authorization": "Bearer s3cret-token"}
CONFIG = "[csvdock]\nmax_upload_mb = 1\nreport = false\nupload_read_timeout = 1\n"


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [str(BIN / "csvdock"), "serve", "--port", str(port)],
        cwd=workdir,
        env=env(CSVDOCK_API_TOKEN="s3cret-token"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: kill -9 takes its children too
    )
    wait_for(lambda: _get(f"http://127.0.0.1:{port}/health"))
    return server


def kill_group(server: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=10)


@pytest.fixture
def served(workdir: Path) -> Iterator[tuple[str, Path, list[subprocess.Popen[bytes]]]]:
    (workdir / "luigi.cfg").write_text(CONFIG)
    port = free_port()
    servers = [start_server(workdir, port)]
    try:
        yield f"http://127.0.0.1:{port}", workdir, servers
    finally:
        for server in servers:
            kill_group(server)


def test_a_killed_servers_upload_is_queued_again_on_start(served):
    base, workdir, servers = served
    rows = "id,name\n" + "".join(f"{i},n{i}\n" for i in range(40_000))
    files = {"file": ("big.csv", rows.encode(), "text/csv")}
    answer = httpx.post(f"{base}/upload_csv?wait=false&table=later", files=files, headers=AUTH)
    assert answer.status_code == 202
    run_id = answer.json()["run_id"]
    wait_for(
        lambda: (
            httpx.get(f"{base}/runs/{run_id}", headers=AUTH).json().get("status")
            in ("running", None)
        ),
        timeout=30,
        every=0.02,
    )
    kill_group(servers.pop())  # kill -9 of the server and its ingest
    if (workdir / ".csvdock" / "runs" / run_id / "summary.json").exists():
        pytest.skip("the ingest finished before the kill")
    servers.append(start_server(workdir, int(base.rsplit(":", 1)[1])))
    done = wait_for(
        lambda: (
            (r := httpx.get(f"{base}/runs/{run_id}", headers=AUTH)).status_code == 200 and r.json()
        ),
        timeout=120,
    )
    assert done["files"][0]["status"] == "loaded"
    assert done["files"][0]["rows_loaded"] == 40_000
    inbox = workdir / ".csvdock" / "inbox"
    wait_for(lambda: not list(inbox.glob("*.csv")), timeout=30)  # nothing orphaned


def test_a_stalled_body_gets_408_and_frees_its_slot(served):
    base, _, _ = served
    host, port = base.removeprefix("http://").split(":")
    stalled = []
    for _ in range(20):  # more than the slots: each stalls mid-body
        sock = socket.create_connection((host, int(port)))
        sock.sendall(
            b"POST /upload_csv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n"
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na\n'
        )
        stalled.append(sock)
    try:
        answers = []
        for sock in stalled[:3]:
            sock.settimeout(20)
            answers.append(sock.recv(200))
        assert all(b" 408 " in a for a in answers), answers
        time.sleep(1.5)
        files = {"file": ("ok.csv", b"a\n1\n", "text/csv")}
        assert httpx.post(f"{base}/upload_csv", files=files, headers=AUTH).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


def test_the_whole_body_is_bounded_not_only_the_file(served):
    base, _, _ = served
    big_field = {"note": "x" * (3 * 1024 * 1024)}
    files = {"file": ("a.csv", b"a\n1\n", "text/csv")}
    answer = httpx.post(f"{base}/upload_csv", data=big_field, files=files, headers=AUTH)
    assert answer.status_code == 413


def test_a_part_header_split_across_reads_is_read_whole(served):
    base, _, _ = served
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\na\n1\n2\n\r\n--B--\r\n"
    )

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(body), 5):
            yield body[at : at + 5]
            time.sleep(0.01)

    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=B"}
    answer = httpx.post(f"{base}/upload_csv?table=split", content=pieces(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["files"][0]["rows_loaded"] == 2


@pytest.mark.parametrize(
    ("child", "ended", "kept"),
    [
        ("import sys; sys.exit(2)", "failed", True),  # ended without a summary
        ('print(\'{"files": [{"status": "failed"}]}\')', "done", True),  # a file failed
        ('print(\'{"files": [{"status": "loaded"}]}\')', "done", False),  # loaded: gone
    ],
)
def test_an_upload_is_where_it_belongs_before_its_run_is_seen_to_end(
    tmp_path: Path, child: str, ended: str, kept: bool
):
    """A client that sees a run end finds its file where the docs say: in inbox/failed/ when it
    failed, gone when it loaded (the record used to be written first: a race CI met)."""
    import sys
    import threading

    from csvdock.edges import api

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stored = inbox / "a.csv"
    stored.write_text("a\n1\n")
    seen: dict[str, tuple[bool, bool]] = {}

    class Watched(api.RunRecord):
        def write(self, state: str, **details: object) -> None:
            seen[state] = (stored.exists(), (inbox / "failed" / "a.csv").exists())
            super().write(state, **details)

    record = Watched(tmp_path / "run" / api.API_FILE, "run-1")
    slots = threading.BoundedSemaphore(1)
    slots.acquire()
    api._ingest_upload([sys.executable, "-c", child], stored, inbox, record, slots)
    assert (record.read() or {}).get("status") == ended
    assert seen[ended] == (False, kept)  # moved (or removed) before the end was written
