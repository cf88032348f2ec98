"""``csvdock consume``: a real Kafka-compatible broker (Tansu), real confluent-kafka, real targets.

Exactly once is checked by counts and keys: every good record once, every malformed one once in
the dead letters under ``kafka://TOPIC/PARTITION`` and its offset, across restarts, kill -9,
two consumers of one group, and a target that goes away in the middle.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from csvdock.core.positions import StreamPosition
from csvdock.edges.batches import not_one_record
from csvdock.edges.cli import main

from tests.conftest import open_warehouse, unique_table

BROKEN = {
    7: b'8,"a quote never closed,1.5',
    13: b"\xff\xfe,not utf-8,1",
    21: b"",
    30: b"31,too,many,fields",
    44: b"45,two records,1\n46,in one message,2",
}


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    from csvdock.edges.kafka_demo import local_broker

    try:
        from csvdock.edges.kafka_demo import broker_binary

        broker_binary()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no Kafka-compatible broker here: {exc}")
    with local_broker() as bootstrap:
        yield bootstrap


def new_topic(bootstrap: str, partitions: int = 2) -> str:
    from csvdock.edges.kafka_demo import create_topic

    topic = f"t-{secrets.token_hex(4)}"
    create_topic(bootstrap, topic, partitions)
    return topic


def records(first: int, count: int, partitions: int = 2) -> list[tuple[int, bytes]]:
    """Messages ``id,name,amount``; a few of them malformed (``BROKEN``, by id)."""
    out = []
    for i in range(first, first + count):
        value = BROKEN.get(i, f"{i},name {i},{i}.25".encode())
        out.append((i % partitions, value))
    return out


def send(bootstrap: str, topic: str, messages: list[tuple[int, bytes]]) -> None:
    from csvdock.edges.kafka_demo import produce

    assert produce(bootstrap, topic, messages) == len(messages)


def consume_args(bootstrap: str, topic: str, table: str, target: str, *extra: str) -> list[str]:
    from csvdock.edges.kafka_demo import consume_args as local

    return local(
        bootstrap,
        topic,
        table,
        "id,name,amount",
        2,
        "--target",
        target,
        "--batch-seconds",
        "1",
        *extra,
    )


def consume_here(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--json"])
    return code, json.loads(out.getvalue())


def table_ids(target: str, table: str) -> list[int]:
    with open_warehouse(target) as warehouse:
        rows = warehouse.execute(f'SELECT id FROM "{table}" ORDER BY id')
    return [int(r[0]) for r in rows]


def dead_letters(target: str, table: str) -> list[tuple[str, int, str, str]]:
    with open_warehouse(target) as warehouse:
        rows = warehouse.execute(
            "SELECT file_path, line, stage, raw FROM csvdock.rejects WHERE table_name = $1 "
            "ORDER BY file_path, line",
            [table],
        )
    return [(str(f), int(line), str(s), str(r)) for f, line, s, r in rows]


def good_ids(first: int, count: int) -> list[int]:
    return [i for i in range(first, first + count) if i not in BROKEN]


def test_records_load_once_and_malformed_ones_are_dead_letters_by_offset(
    broker: str, workdir: Path, target_url: str
) -> None:
    topic, table = new_topic(broker), unique_table("k")
    send(broker, topic, records(0, 60))
    code, summary = consume_here(*consume_args(broker, topic, table, target_url))
    assert code == 0, summary
    assert table_ids(target_url, table) == good_ids(0, 60)
    letters = dead_letters(target_url, table)
    # message i went to partition i % 2 at offset i // 2
    expected = sorted(
        (f"kafka://{topic}/{i % 2}", i // 2, "parse", raw.decode("utf-8", "backslashreplace"))
        for i, raw in BROKEN.items()
    )
    assert letters == expected
    paths = sorted(f["path"] for f in summary["files"])
    assert paths == [f"kafka://{topic}/0/0-29", f"kafka://{topic}/1/0-29"]
    assert sum(f["rows_read"] for f in summary["files"]) == 60
    assert sum(f["rows_loaded"] + f["rows_rejected"] for f in summary["files"]) == 60

    # Again, in another consumer group (Kafka's committed offsets say nothing there): the
    # ledger's offsets hold, nothing is loaded twice; then only the new records load.
    code, summary = consume_here(*consume_args(broker, topic, table, target_url, "--group", "x"))
    assert code == 0 and summary["files"] == []
    send(broker, topic, records(60, 40))
    code, summary = consume_here(*consume_args(broker, topic, table, target_url))
    assert code == 0
    assert table_ids(target_url, table) == good_ids(0, 100)
    assert sorted(f["path"] for f in summary["files"]) == [
        f"kafka://{topic}/0/30-49",
        f"kafka://{topic}/1/30-49",
    ]


def test_identical_batches_at_other_offsets_are_both_loaded(broker: str, workdir: Path) -> None:
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    topic, table = new_topic(broker, 1), unique_table("same")
    send(broker, topic, [(0, b"1,same,1.5")] * 3)
    assert consume_here(*consume_args(broker, topic, table, target))[0] == 0
    send(broker, topic, [(0, b"1,same,1.5")] * 3)
    assert consume_here(*consume_args(broker, topic, table, target))[0] == 0
    assert table_ids(target, table) == [1] * 6


def test_file_messages_are_files_and_a_garbage_one_is_quarantined(
    broker: str, workdir: Path
) -> None:
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    topic, table = new_topic(broker, 1), unique_table("files")
    files = [
        (0, b"id,city\n1,Oslo\n2,Lima\n"),
        (0, bytes(range(256)) * 40),
        (0, b"id,city\n3,Kyiv\n"),
    ]
    send(broker, topic, files)
    args = [a for a in consume_args(broker, topic, table, target) if a != "id,name,amount"]
    args.remove("--columns")
    code, summary = consume_here(*args, "--message", "file")
    statuses = [(f["path"], f["status"]) for f in summary["files"]]
    assert statuses == [
        (f"kafka://{topic}/0/0-0", "loaded"),
        (f"kafka://{topic}/0/1-1", "quarantined"),
        (f"kafka://{topic}/0/2-2", "loaded"),
    ]
    assert code == 1  # a quarantined file is a file problem, as for ingest
    assert table_ids(target, table) == [1, 2, 3]
    with open_warehouse(target) as warehouse:
        rows = warehouse.execute("SELECT last_offset FROM csvdock.stream_offsets")
    assert rows == [(2,)]  # the quarantined message is behind the offset: not read again


def test_record_messages_need_column_names(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(
        ["consume", "--bootstrap-servers", "127.0.0.1:9", "--topic", "t", "--table", "nothing"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--columns" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"1,plain,2", None),
        (b'1,"quoted, with comma",2', None),
        (b'1,"a line\nbreak in quotes",2', None),
        (b'1,"never closed', "not one CSV record"),
        (b"1,a\n2,b", "2 CSV records"),
        (b"", "empty message"),
        (b"\xff,1", "not UTF-8"),
        (b"1,\x00,2", "NUL"),
    ],
)
def test_a_message_is_exactly_one_record(message: bytes, reason: str | None) -> None:
    found = not_one_record(message, ",", '"', '"')
    assert found is None if reason is None else reason in (found.reason if found else "")


def test_a_batch_overlapping_loaded_offsets_is_refused_and_a_loaded_one_skipped(
    workdir: Path, target_url: str
) -> None:
    """The guard itself, without a broker: batch files with positions through ``ingest``."""
    import csvdock

    table = unique_table("guard")

    def batch(name: str, first: int, ids: list[int]) -> Path:
        path = workdir / f"{name}.csv"
        path.write_text("id,name,amount\n" + "".join(f"{i},n,{i}.5\n" for i in ids))
        lines = list(range(2, 2 + len(ids)))
        offsets = list(range(first, first + len(ids)))
        StreamPosition("kafka://g/0", first, first + len(ids) - 1, lines, offsets).write(path)
        return path

    first = csvdock.ingest(batch("a", 0, [0, 1, 2]), table, target_url)
    assert [f.status for f in first.files] == ["loaded"]
    again = csvdock.ingest(batch("b", 0, [0, 1]), table, target_url)  # offsets 0-1: loaded
    assert [f.status for f in again.files] == ["skipped"]
    overlap = csvdock.ingest(batch("c", 2, [2, 3]), table, target_url)  # 2 is loaded, 3 is not
    assert overlap.files[0].status == "failed" and "loaded already" in str(overlap.files[0].reason)
    after = csvdock.ingest(batch("d", 3, [3, 4]), table, target_url)
    assert [f.status for f in after.files] == ["loaded"]
    assert table_ids(target_url, table) == [0, 1, 2, 3, 4]


# -- processes: kill -9, two consumers, a target that goes away ---------------------------------


def consumer_process(args: list[str], workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(workdir / "ws")}
    env.pop("CSVDOCK_ISOLATE_TASKS", None)
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "csvdock.edges.cli", *args, "--json"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=handle,
    )


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def loaded_offsets(target: str, table: str) -> int:
    try:
        with open_warehouse(target) as warehouse:
            rows = warehouse.execute(
                "SELECT coalesce(sum(last_offset + 1), 0) FROM csvdock.stream_offsets "
                "WHERE table_name = $1",
                [table],
            )
    except Exception:  # noqa: BLE001 - the ledger's tables are not made yet
        return 0
    return int(rows[0][0] or 0)


def test_kill_9_at_any_point_then_restart_loads_every_record_once(
    broker: str, workdir: Path, pg_dsn: str
) -> None:
    topic, table = new_topic(broker), unique_table("kill")
    total = 40_000
    send(broker, topic, records(0, total))
    args = consume_args(broker, topic, table, pg_dsn, "--batch-rows", "3000")
    log = workdir / "consumer.log"
    progress = []
    for pause in (0.0, 0.3, 0.8):  # killed after a commit, a bit later, later still
        before = loaded_offsets(pg_dsn, table)
        consumer = consumer_process(args, workdir, log)
        wait_for(lambda b=before: loaded_offsets(pg_dsn, table) > b)  # type: ignore[misc]
        time.sleep(pause)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        progress.append(loaded_offsets(pg_dsn, table))
    assert progress[0] < total  # killed before the end
    consumer = consumer_process(args, workdir, log)
    assert consumer.wait(180) == 0, log.read_text()
    assert table_ids(pg_dsn, table) == good_ids(0, total)
    assert len(dead_letters(pg_dsn, table)) == len(BROKEN)


def test_two_consumers_of_one_group_share_the_partitions_and_load_each_record_once(
    broker: str, workdir: Path, pg_dsn: str
) -> None:
    topic, table = new_topic(broker, 4), unique_table("group")
    total = 20_000
    send(broker, topic, records(0, total, partitions=4))
    args = consume_args(broker, topic, table, pg_dsn, "--batch-rows", "2000", "--group", "g")
    args[args.index("--until-idle") + 1] = "4"
    log = workdir / "consumers.log"
    both = [consumer_process(args, workdir, log) for _ in range(2)]
    assert [c.wait(180) for c in both] == [0, 0], log.read_text()
    assert table_ids(pg_dsn, table) == good_ids(0, total)
    journal = (workdir / "ws" / "logs" / "csvdock.log").read_text()
    assignments = {
        line.split("assigned ", 1)[1] for line in journal.splitlines() if "assigned" in line
    }
    assert len(assignments) >= 2, assignments  # both consumers had partitions
    assert len(dead_letters(pg_dsn, table)) == len(BROKEN)


class Proxy:
    """A TCP proxy to PostgreSQL that can be closed (connections cut, new ones refused) and
    opened again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        # A host that is a folder is PostgreSQL's Unix socket (the throwaway server's).
        self.upstream: tuple[str, int] | str = (
            f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        )
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = True
        self.links: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            if not self.open:
                client.close()
                continue
            if isinstance(self.upstream, str):
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.upstream)
            else:
                upstream = socket.create_connection(self.upstream)
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.open = False
        for link in self.links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
        self.links.clear()


def test_a_batch_that_fails_on_the_target_is_retried_not_skipped(
    broker: str, workdir: Path, pg_dsn: str
) -> None:
    parts = urlsplit(pg_dsn)
    socket_dir = dict(parse_qsl(parts.query)).get("host", "")
    proxy = Proxy(socket_dir or parts.hostname or "127.0.0.1", parts.port or 5432)
    query = "&".join(f"{k}={v}" for k, v in parse_qsl(parts.query) if k != "host")
    through_proxy = parts._replace(
        netloc=f"{parts.username}@127.0.0.1:{proxy.port}", query=query
    ).geturl()
    topic, table = new_topic(broker), unique_table("outage")
    send(broker, topic, records(0, 100))
    args = consume_args(broker, topic, table, through_proxy)
    args[args.index("--until-idle") + 1] = "30"
    log = workdir / "consumer.log"
    consumer = consumer_process(args, workdir, log)
    try:
        wait_for(lambda: loaded_offsets(pg_dsn, table) == 100)
        proxy.close()  # the target goes away; the next batch fails
        send(broker, topic, records(100, 100))
        # The load's own retries give up; the consumer keeps the batch and tries it again.
        wait_for(lambda: "failed for a transient reason" in log.read_text(), 90)
        assert loaded_offsets(pg_dsn, table) == 100
        proxy.open = True  # back: the same batch is tried again and loads
        wait_for(lambda: loaded_offsets(pg_dsn, table) == 200, 90)
    finally:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(60)
    assert consumer.returncode == 0, log.read_text()
    assert table_ids(pg_dsn, table) == good_ids(0, 200)


def test_column_names_come_from_the_tables_schema_and_elt_gives_the_same_table(
    broker: str, workdir: Path
) -> None:
    target = f"duckdb:///{workdir / 'w.duckdb'}"
    table = unique_table("schema")
    (workdir / "first.csv").write_text("id,name,amount\n-1,seed,0.5\n")
    assert main(["ingest", str(workdir / "first.csv"), "--table", table, "--target", target]) == 0
    topic = new_topic(broker, 1)
    send(broker, topic, [(0, b"1,a,1.5"), (0, b"2,too few"), (0, b"3,c,2.5")])
    args = [a for a in consume_args(broker, topic, table, target) if a != "id,name,amount"]
    args.remove("--columns")
    code, summary = consume_here(*args, "--mode", "elt")
    assert code == 0 and summary["mode"] == "elt"
    assert table_ids(target, table) == [-1, 1, 3]
    letters = dead_letters(target, table)
    assert letters == [(f"kafka://{topic}/0", 1, "parse", "2,too few")]


def test_until_idle_stops_with_one_line_when_the_broker_is_unreachable(workdir: Path):
    """Issue 25, item 13: idle counts from start-up; repeated client errors are rate-limited."""
    import subprocess
    import sys
    import time

    from tests.edges.test_operations import env, free_port

    port = free_port()  # nothing listens there
    command = [
        sys.executable,
        "-m",
        "csvdock.edges.cli",
        "consume",
        "--bootstrap-servers",
        f"127.0.0.1:{port}",
        "--topic",
        "t",
        "--table",
        "nothing",
        "--columns",
        "a",
        "--until-idle",
        "3",
        "--session-timeout-ms",
        "2000",
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=workdir, env=env(), capture_output=True, text=True, timeout=120
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("csvdock: error:")]
    assert len(errors) == 1 and "no partition of t at 127.0.0.1" in errors[0]
    assert len(done.stderr.splitlines()) < 20  # not 20 lines a second
    assert "Traceback" not in done.stderr


def test_a_message_set_aside_says_why_as_a_code() -> None:
    codes = {
        b"": "not_one_record",
        b"1,a\n2,b": "not_one_record",
        b"\xff,1": "not_utf8",
        b"1,\x00,2": "nul_character",
    }
    for message, code in codes.items():
        found = not_one_record(message, ",", '"', '"')
        assert found is not None and found.code == code, message
