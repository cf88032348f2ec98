"""Kafka source benchmark (`make bench-kafka`): `csvdock consume` from a local Tansu broker.

- Throughput: a topic of RECORDS records (2 partitions) into DuckDB and into PostgreSQL, at the
  default batch settings; records per second from the consumer's start to its last commit (the
  group join and the idle wait at the end left out), and the consumer's peak RSS.
- Latency: records produced at a steady rate into one partition, default batch settings; the
  time from a record's produce to its row being visible in PostgreSQL (median, p95, max).
Writes results/kafka.json; the figures go to README.md by hand with the machine and date.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from csvdock.edges.kafka_demo import consume_args, create_topic, local_broker, produce
from csvdock.targets import connect, parse_target

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RECORDS = int(os.environ.get("BENCH_KAFKA_RECORDS", "1000000"))
DSN = os.environ.get("CSVDOCK_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IDLE = 3.0
COLUMNS = "id,name,amount,signup"


def values(count: int, partitions: int):  # type: ignore[no-untyped-def]
    for i in range(count):
        yield (
            i % partitions,
            f"{i},customer {i},{i % 1000}.{i % 100:02d},2024-01-{1 + i % 28:02d}".encode(),
        )


def consume(bootstrap: str, topic: str, table: str, target: str, work: Path, *extra: str) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(work / "ws")}
    command = [
        str(BIN / "csvdock"),
        *consume_args(bootstrap, topic, table, COLUMNS, IDLE, "--target", target, "--json", *extra),
    ]
    # The consumer runs under a fresh Python that reports its peak RSS (its own children's).
    rss = work / "peak_rss_kb"
    measured = [
        sys.executable,
        "-c",
        "import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
        "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss));"
        " sys.exit(code)",
        str(rss),
        *command,
    ]
    started = time.perf_counter()
    done = subprocess.run(measured, env=env, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    summary = json.loads(done.stdout)
    log = (work / "ws" / "logs" / "csvdock.log").read_text()
    assigned = _log_time([line for line in log.splitlines() if "assigned" in line][-1])
    last = max(_log_time(line) for line in log.splitlines() if "rows into" in line)
    loaded = sum(f["rows_loaded"] for f in summary["files"])
    busy = (last - assigned).total_seconds()
    return {
        "records": loaded,
        "batches": len(summary["files"]),
        "wall_s": round(wall, 2),
        "assigned_to_last_commit_s": round(busy, 2),
        "records_per_s": round(loaded / busy),
        "peak_rss_mb": round(int(rss.read_text()) / 1024),
    }


def consume_in_group(
    bootstrap: str, topic: str, table: str, target: str, work: Path, n: int
) -> dict:
    """``n`` consumers of one group, started at once, until idle; one workspace (one log)."""
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(work / "ws")}
    command = [
        str(BIN / "csvdock"),
        *consume_args(
            bootstrap, topic, table, COLUMNS, IDLE, "--target", target, "--json", "--group", table
        ),
    ]
    started = time.perf_counter()
    consumers = [
        subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    outputs = [c.communicate()[0] for c in consumers]
    wall = time.perf_counter() - started
    loaded = sum(f["rows_loaded"] for out in outputs for f in json.loads(out)["files"])
    log = (work / "ws" / "logs" / "csvdock.log").read_text().splitlines()
    # from the last (settled) assignment of the group to the last commit
    assigned = max(_log_time(line) for line in log if "assigned" in line)
    last = max(_log_time(line) for line in log if "rows into" in line)
    busy = (last - assigned).total_seconds()
    return {
        "consumers": n,
        "records": loaded,
        "wall_s": round(wall, 2),
        "assigned_to_last_commit_s": round(busy, 2),
        "records_per_s": round(loaded / busy),
    }


def _log_time(line: str) -> dt.datetime:
    return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def latency(bootstrap: str, work: Path, rate: int = 1000, seconds: int = 20) -> dict:
    topic, table = f"lat-{secrets.token_hex(3)}", f"bench_lat_{secrets.token_hex(3)}"
    target = DSN  # PostgreSQL: the poll reads beside the consumer's loads (DuckDB would lock)
    create_topic(bootstrap, topic, 1)
    sent: list[float] = []

    def producer() -> None:
        time.sleep(8)  # the consumer joins its group first
        start = time.perf_counter()
        for second in range(seconds):
            batch = [(0, f"{second * rate + i},x,{i}.5,2024-01-01".encode()) for i in range(rate)]
            produce(bootstrap, topic, batch)
            sent.extend([time.time()] * rate)
            time.sleep(max(0.0, start + second + 1 - time.perf_counter()))

    seen: list[tuple[float, int]] = []
    thread = threading.Thread(target=producer)
    thread.start()
    env = {**os.environ, "CSVDOCK_REPORT": "false", "CSVDOCK_WORKSPACE": str(work / "lat-ws")}
    consumer = subprocess.Popen(
        [
            str(BIN / "csvdock"),
            *consume_args(bootstrap, topic, table, COLUMNS, 8, "--target", target, "--json"),
        ],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while consumer.poll() is None:
        try:
            with connect(parse_target(target)) as warehouse:
                count = int(warehouse.execute(f'SELECT count(*) FROM "{table}"')[0][0])
            seen.append((time.time(), count))
        except Exception:  # noqa: BLE001 - the table is not there yet, or the file is busy
            pass
        time.sleep(0.05)
    thread.join()
    visible: list[float] = []
    for index, produced in enumerate(sent):
        at = next((t for t, count in seen if count > index), None)
        if at is not None:
            visible.append(at - produced)
    visible.sort()
    if not visible:
        return {"error": "no row was seen"}
    return {
        "rate_per_s": rate,
        "records": len(sent),
        "observed": len(visible),
        "median_s": round(visible[len(visible) // 2], 2),
        "p95_s": round(visible[int(len(visible) * 0.95)], 2),
        "max_s": round(visible[-1], 2),
    }


def main() -> None:
    results: dict[str, object] = {"date": dt.date.today().isoformat(), "records": RECORDS}
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as scratch, local_broker() as bootstrap:
        work = Path(scratch)
        topic = f"bench-{secrets.token_hex(3)}"
        create_topic(bootstrap, topic, 2)
        started = time.perf_counter()
        produce(bootstrap, topic, values(RECORDS, 2))
        results["produce_s"] = round(time.perf_counter() - started, 2)
        duck = f"duckdb:///{work / 'warehouse.duckdb'}"
        results["duckdb"] = consume(
            bootstrap, topic, f"bench_k_{secrets.token_hex(3)}", duck, work / "d"
        )
        results["postgresql"] = consume(
            bootstrap, topic, f"bench_k_{secrets.token_hex(3)}", DSN, work / "p"
        )
        wide = f"bench4-{secrets.token_hex(3)}"
        create_topic(bootstrap, wide, 4)
        produce(bootstrap, wide, values(RECORDS, 4))
        for n in (1, 2):
            table = f"bench_g{n}_{secrets.token_hex(3)}"
            results[f"postgresql, 4 partitions, {n} consumer(s)"] = consume_in_group(
                bootstrap, wide, table, DSN, work / f"g{n}", n
            )
        results["latency"] = latency(bootstrap, work)
    out = HERE / "results" / "kafka.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
