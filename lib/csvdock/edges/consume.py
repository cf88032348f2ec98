"""Kafka source: CSV records (or whole CSV files) from a topic into a table, exactly once.

Messages are gathered per partition into micro-batches (``batch_rows`` records or
``batch_seconds``, whichever comes first). Each batch becomes a CSV file in the workspace with a
position sidecar (``csvdock.core.positions``) and goes through the public ``ingest`` path: the
same Extract, schema, Transform and Load as any file, one transaction per batch. That transaction
also moves the partition's offset on in the target's ledger (``csvdock.stream_offsets``); the
ledger is the only truth. On every partition assignment the consumer seeks to the ledger's offset
+ 1 (Kafka's committed offsets are only a hint, committed after each load), and a batch that
overlaps offsets loaded meanwhile (another consumer of the group) is refused inside the
transaction and read again from the ledger. A batch that failed for a transient reason is tried
again (its partitions paused meanwhile), never skipped; a lasting failure stops the consumer with
the reason, its offset unmoved.

``message="record"``: a message is one CSV record without header, in the table's dialect; a
message that is not exactly one record (a quote never closed, two records, bytes that are not
UTF-8, nothing at all) is set aside as a reject of stage ``parse`` before the batch file is
written, so it can never run into the next message. Rejects are stored with ``file`` =
``kafka://TOPIC/PARTITION`` and ``line`` = the offset. ``message="file"``: a message is a whole
CSV file with its header, one batch each (handled like an upload).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from csvdock.core.errors import ConfigError, CsvdockError
from csvdock.core.positions import StreamPosition, sidecar
from csvdock.core.runs import (
    FAILED,
    LOADED,
    QUARANTINED,
    SKIPPED,
    FileResult,
    RunSummary,
    new_run_id,
)
from csvdock.core.settings import Settings
from csvdock.core.workspace import Workspace
from csvdock.edges.batches import file_batch, record_batch, stream_name
from csvdock.pipeline.run import UsageError, ingest
from csvdock.targets import connect, parse_target
from csvdock.targets.load import STALE_BATCH, record_stream_offset, stream_offsets

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message, TopicPartition

log = logging.getLogger("csvdock")
MessageKind = Literal["record", "file"]
MAX_RETRY_SECONDS = 60.0
FETCH_MESSAGES = 10_000  # messages taken from the client at once


class ConsumerStopped(CsvdockError):
    """A batch failed for a lasting reason: the consumer stops, the partition's offset unmoved."""


ERROR_LOG_EVERY = 10.0  # seconds between two log lines of the same client error


class _ClientErrors:
    """The Kafka client's errors (its error callback and error messages): each kind logged at
    most once every ``ERROR_LOG_EVERY`` seconds with how many were left out, the last kept to
    say why the consumer never got a partition."""

    def __init__(self) -> None:
        self.last: Any = None
        self.logged: dict[str, float] = {}
        self.left_out: dict[str, int] = {}

    def __call__(self, error: Any) -> None:
        self.last = error
        name, now = str(error.name()), time.monotonic()
        if now - self.logged.get(name, -ERROR_LOG_EVERY) < ERROR_LOG_EVERY:
            self.left_out[name] = self.left_out.get(name, 0) + 1
            return
        more = self.left_out.pop(name, 0)
        log.warning("kafka: %s%s", error, f" ({more} more like it)" if more else "")
        self.logged[name] = now


class _OncePerInterval(logging.Filter):
    """Lets each distinct message of the Kafka client's own log through once per interval."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = record.getMessage()[:120], time.monotonic()
        if now - self.seen.get(key, -ERROR_LOG_EVERY) < ERROR_LOG_EVERY:
            return False
        self.seen[key] = now
        return True


@dataclass(frozen=True)
class ConsumeOptions:
    """What ``consume`` reads and how it batches (validated by ``consume``)."""

    bootstrap_servers: str
    topic: str
    table: str
    group: str | None = None
    message: MessageKind = "record"
    columns: tuple[str, ...] = ()
    batch_rows: int = 100_000
    batch_seconds: float = 5.0
    until_idle: float | None = None
    session_timeout_ms: int = 10_000
    ingest_options: dict[str, Any] = field(default_factory=dict)  # mode, dialect


@dataclass
class _Pending:
    """Messages of one partition waiting for their batch."""

    messages: list[tuple[int, bytes]] = field(default_factory=list)
    since: float = 0.0


def consume(
    options: ConsumeOptions,
    settings: Settings,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Consume ``options.topic`` into ``options.table`` until idle (``until_idle``) or SIGINT /
    SIGTERM; return the summary, one entry per batch. Raises ``UsageError`` for bad options,
    ``ConsumerStopped`` when a batch fails for a lasting reason."""
    from confluent_kafka import Consumer

    _check(options)
    settings = _stream_settings(settings)
    delimiter, quote, escape = _dialect(settings, options)
    columns = list(options.columns) or _schema_columns(settings, options.table)
    if options.message == "record" and not columns:
        raise UsageError(
            f"--message record needs the column names: give --columns, or load a file into "
            f"{options.table} first so that it has a schema version"
        )
    run_id = new_run_id()
    folder = Workspace(settings.workspace).root / "kafka" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    errors = _ClientErrors()
    client_log = logging.getLogger("csvdock.kafka")
    if not any(isinstance(f, _OncePerInterval) for f in client_log.filters):
        client_log.addFilter(_OncePerInterval())
    consumer = Consumer(
        {
            "error_cb": errors,
            "bootstrap.servers": options.bootstrap_servers,
            "group.id": options.group or f"csvdock-{options.table}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "session.timeout.ms": options.session_timeout_ms,
            "heartbeat.interval.ms": max(options.session_timeout_ms // 5, 100),
            "max.poll.interval.ms": 3_600_000,
            "logger": logging.getLogger("csvdock.kafka"),
        }
    )
    state = _State(options, settings, consumer, folder, columns, (delimiter, quote, escape))
    state.errors = errors
    stop = _stop_on_signals()
    consumer.subscribe([options.topic], on_assign=state.assigned, on_revoke=state.revoked)
    try:
        state.run(stop, progress)
    finally:
        consumer.close()
    target = parse_target(settings.target).display
    mode = str(options.ingest_options.get("mode") or settings.for_table(options.table).mode)
    return RunSummary(run_id, mode, target, state.results)


class _State:
    def __init__(
        self,
        options: ConsumeOptions,
        settings: Settings,
        consumer: Consumer,
        folder: Path,
        columns: list[str],
        dialect: tuple[str, str, str],
    ) -> None:
        self.options, self.settings, self.consumer = options, settings, consumer
        self.folder, self.columns, self.dialect = folder, columns, dialect
        self.pending: dict[int, _Pending] = {}
        self.owned: set[int] = set()
        self.results: list[FileResult] = []
        self.started = self.last_message = time.monotonic()
        self.assigned_once = False
        self.records = 0
        self.errors = _ClientErrors()

    # -- rebalances: the ledger says where each partition goes on -------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        loaded = self._ledger_offsets()
        for partition in partitions:
            last = loaded.get(stream_name(self.options.topic, partition.partition))
            partition.offset = OFFSET_BEGINNING if last is None else last + 1
            self.owned.add(partition.partition)
            self.pending.pop(partition.partition, None)
        log.info(
            "assigned %s",
            ", ".join(f"{self.options.topic}/{p.partition} from {p.offset}" for p in partitions),
        )
        consumer.assign(partitions)
        # Idle counts from the first assignment (a group join takes seconds), not from the start.
        self.last_message = time.monotonic()
        self.assigned_once = True

    def revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            # Not loaded: whoever gets the partition reads them again from the ledger.
            self.pending.pop(partition.partition, None)
            self.owned.discard(partition.partition)
        consumer.unassign()

    def _ledger_offsets(self) -> dict[str, int]:
        delay = self.settings.retry_delay
        while True:
            try:
                with connect(parse_target(self.settings.target)) as warehouse:
                    return stream_offsets(warehouse, self.options.table)
            except CsvdockError as exc:
                log.warning("cannot read the ledger's offsets (%s); again in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _seek_to_ledger(self, partition: int) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        last = self._ledger_offsets().get(stream_name(self.options.topic, partition))
        offset = OFFSET_BEGINNING if last is None else last + 1
        self.pending.pop(partition, None)
        try:
            self.consumer.seek(TopicPartition(self.options.topic, partition, offset))
        except Exception as exc:  # the partition went to another consumer meanwhile
            log.info("%s/%d: not sought again: %s", self.options.topic, partition, exc)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: Callable[[], bool], progress: Callable[[str], None] | None) -> None:
        shown, counted = time.monotonic(), 0
        while True:
            now = time.monotonic()
            for message in self.consumer.consume(FETCH_MESSAGES, 0.2):
                self._take(message, now)
            if self._due(now) or (stop() and self.pending):
                self._flush()
            if stop() and not self.pending:
                return
            idle = self.options.until_idle
            if idle is not None and self.assigned_once and now - self.last_message >= idle:
                if self.pending:
                    self._flush()
                    continue
                return
            # Idle counts from start-up too, with the time a group takes to give partitions: a
            # killed member's come back after the session timeout, and a join takes about half
            # of it. Never assigned by then, the broker or the topic is not there.
            join = 2 * self.options.session_timeout_ms / 1000
            if idle is not None and not self.assigned_once and now - self.started >= idle + join:
                raise ConsumerStopped(self._never_assigned(now - self.started))
            if progress is not None and now - shown >= 1.0:
                rate = (self.records - counted) / (now - shown)
                shown, counted = now, self.records
                progress(
                    f"{self.records:,} records, {len(self.results)} batches, "
                    f"{rate:,.0f} records/s, lag {self._lag()}"
                )

    def _never_assigned(self, waited: float) -> str:
        """Say why no partition came in ``waited`` seconds (the client's last error, if any)."""
        where = f"{self.options.topic} at {self.options.bootstrap_servers}"
        if self.errors.last is not None:
            return f"no partition of {where} in {waited:.0f} s: {self.errors.last}"
        return f"no partition of {where} in {waited:.0f} s (does the topic exist?)"

    def _lag(self) -> str:
        """The messages behind the partitions' ends, from the client's cached watermarks
        ("?" when it has none yet)."""
        behind = 0
        try:
            for position in self.consumer.position(self.consumer.assignment()):
                _, high = self.consumer.get_watermark_offsets(position, cached=True)
                if position.offset >= 0 and high >= 0:
                    behind += max(high - position.offset, 0)
        except Exception:  # noqa: BLE001 - a progress line must never stop the consumer
            return "?"
        return f"{behind:,}"

    def _take(self, message: Message, now: float) -> None:
        error = message.error()
        if error is not None:
            from confluent_kafka import KafkaError

            if error.code() != KafkaError._PARTITION_EOF:
                self.errors(error)
            return
        partition, offset = message.partition(), message.offset()
        if partition is None or offset is None or partition not in self.owned:
            return
        self.last_message = now
        pending = self.pending.setdefault(partition, _Pending(since=now))
        if not pending.messages:
            pending.since = now
        pending.messages.append((offset, message.value() or b""))
        self.records += 1

    def _due(self, now: float) -> bool:
        waiting = sum(len(p.messages) for p in self.pending.values())
        if waiting >= self.options.batch_rows or (self.options.message == "file" and waiting):
            return True
        return any(
            p.messages and now - p.since >= self.options.batch_seconds
            for p in self.pending.values()
        )

    def _flush(self) -> None:
        """Load every partition's pending messages, one batch (and transaction) each; try a
        batch that failed for a transient reason again until it loads."""
        batches = self._batches()
        delay = self.settings.retry_delay
        while batches:
            files = [path for path, _ in batches]
            summary = ingest(files, self.options.table, settings=self.settings, **self._ingest())
            again: list[tuple[Path, StreamPosition]] = []
            for (path, position), result in zip(batches, summary.files, strict=True):
                outcome = self._outcome(path, position, result)
                if outcome == "again":
                    again.append((path, position))
            batches = again
            if batches:
                log.warning(
                    "%d batch(es) failed for a transient reason; trying again in %.0f s",
                    len(batches),
                    delay,
                )
                self._wait(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _wait(self, seconds: float) -> None:
        """Wait while the group goes on (rebalance callbacks run), receiving nothing new."""
        assignment = self.consumer.assignment()
        self.consumer.pause(assignment)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for message in self.consumer.consume(FETCH_MESSAGES, 0.2):
                    self._take(message, time.monotonic())  # fetched before the pause: kept
        finally:
            self.consumer.resume(self.consumer.assignment())

    def _outcome(self, path: Path, position: StreamPosition, result: FileResult) -> str:
        from confluent_kafka import TopicPartition

        partition = int(position.stream.rsplit("/", 1)[1])
        result.path = position.name
        if result.status == FAILED and result.retryable:
            return "again"
        if result.status == FAILED and STALE_BATCH in (result.reason or ""):
            log.info("%s: %s", position.name, result.reason)
            self._seek_to_ledger(partition)
            return "reread"
        if result.status == FAILED:
            self.results.append(result)
            raise ConsumerStopped(
                f"{position.name} could not be loaded: {result.reason}; the consumer stopped "
                f"with the partition's offset at {position.first - 1} (nothing skipped)"
            )
        if result.status == QUARANTINED:
            with connect(parse_target(self.settings.target)) as warehouse:
                record_stream_offset(
                    warehouse, self.options.table, position.stream, position.last, result.sha256
                )
        self.results.append(result)
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.options.topic, partition, position.last + 1)],
                asynchronous=True,
            )
        except Exception as exc:  # only a hint: the ledger is the truth
            log.debug("offset commit (a hint) failed: %s", exc)
        if result.status in (LOADED, SKIPPED):
            path.unlink(missing_ok=True)  # csvdock's own copy of what Kafka and the target hold
            sidecar(path).unlink(missing_ok=True)
        if result.status == SKIPPED:  # loaded before (another consumer): go on from the ledger
            self._seek_to_ledger(partition)
        return "done"

    def _ingest(self) -> dict[str, Any]:
        delimiter, quote, escape = self.dialect
        options = dict(self.options.ingest_options)
        if self.options.message == "record":
            options.update(delimiter=delimiter, quote=quote, escape=escape, header=True)
            options.setdefault("encoding", "utf-8")
        return options

    def _batches(self) -> list[tuple[Path, StreamPosition]]:
        batches = []
        for partition, pending in sorted(self.pending.items()):
            if not pending.messages:
                continue
            stream = stream_name(self.options.topic, partition)
            if self.options.message == "file":
                for offset, value in pending.messages:
                    batches.append(file_batch(self.folder, stream, partition, offset, value))
            else:
                batches.append(
                    record_batch(
                        self.folder, stream, partition, pending.messages, self.dialect, self.columns
                    )
                )
        self.pending.clear()
        return batches


def _check(options: ConsumeOptions) -> None:
    if not options.topic:
        raise UsageError("--topic is required")
    if options.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if options.batch_seconds <= 0:
        raise UsageError("--batch-seconds must be more than 0")
    if options.until_idle is not None and options.until_idle <= 0:
        raise UsageError("--until-idle must be more than 0")
    if options.message not in ("record", "file"):
        raise UsageError("--message is record or file")
    if len(set(options.columns)) != len(options.columns):
        raise UsageError("--columns names a column twice")


def _stream_settings(settings: Settings) -> Settings:
    """The settings of a consumer: no reports per batch, and no reject threshold (a batch is
    never quarantined for its malformed records)."""
    no_limits = dataclasses.replace(settings.defaults, max_rejects=None, max_reject_ratio=None)
    tables = {
        name: dataclasses.replace(ts, max_rejects=None, max_reject_ratio=None)
        for name, ts in settings.tables.items()
    }
    return dataclasses.replace(settings, report=False, defaults=no_limits, tables=tables)


def _dialect(settings: Settings, options: ConsumeOptions) -> tuple[str, str, str]:
    table = settings.for_table(options.table)
    given = options.ingest_options
    delimiter = given.get("delimiter") or table.delimiter or ","
    quote = given.get("quote") or table.quote or '"'
    escape = given.get("escape") or table.escape or quote
    for name, value in (("delimiter", delimiter), ("quote", quote), ("escape", escape)):
        if len(value) != 1:
            raise ConfigError(f"--{name} must be one character for --message record")
    return delimiter, quote, escape


def _schema_columns(settings: Settings, table: str) -> list[str]:
    from csvdock.schema.registry import SchemaRegistry

    latest = SchemaRegistry(settings.schemas_dir).latest(table)
    return list(latest.names) if latest else []


def _stop_on_signals() -> Callable[[], bool]:
    """Return a function telling whether SIGINT or SIGTERM arrived (then the consumer finishes
    its batch and stops)."""
    stopped: list[int] = []

    def note(signum: int, _frame: object) -> None:
        if stopped:  # a second signal: stop now (the open transaction rolls back)
            raise KeyboardInterrupt
        stopped.append(signum)
        print("csvdock: stopping after the current batch", file=sys.stderr)

    try:
        signal.signal(signal.SIGINT, note)
        signal.signal(signal.SIGTERM, note)
    except ValueError:  # not the main thread: the caller stops by until_idle
        pass
    return lambda: bool(stopped)
