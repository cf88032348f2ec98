"""ELT of a file whose every value was checked on its source (LoadRaw's check), into a target
that does not read CSV itself (PostgreSQL): the staging and the cast side by side. A thread
stages the text records in chunks, each committed into a staging table of its own by a second
connection, while the load's connection casts each chunk staged into the table, in the load's
one transaction with the ledger row, and drops it there. Each runs on a backend of its own:
staged first and cast after, one of two cores idled through the cast (2M records, PostgreSQL 15:
the staging 2.4 s beside the check, then the cast 2.9 s; side by side 4.3-4.6 s against
5.2-5.3 s, the check alone first 0.76 s of it).

A chunk the load did not drop (a load that failed, rolled back or was killed) stays a committed
table: ``discard`` drops them, and a load staging again drops those of an earlier attempt first.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator

import pyarrow as pa

from csvdock.core.naming import qualified_name
from csvdock.pipeline.in_source import BATCH_ROWS
from csvdock.read.parse import limit_memory
from csvdock.read.scratch import scratch_duckdb
from csvdock.read.source import SourcePlan, check_same_source
from csvdock.targets import Target, Warehouse, connect
from csvdock.targets.load import LoadError
from csvdock.transform.sql_cast import create_staging, drop_staging

log = logging.getLogger("csvdock")

STAGE_CHUNK_ROWS = 250_000  # records a staging chunk holds (about 0.3 s of COPY at 2 cores)
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL cuts a longer name (NAMEDATALEN - 1)
CHUNK_NUMBER_BYTES = 6  # a chunk's number: up to 999,999 chunks (250 billion records)

Table = tuple[str, str]  # a staging table (a file's, or one chunk's): (schema, name)


def chunk_table(staging: Table, index: int) -> Table:
    """Return the staging table of chunk ``index`` of a file staged as ``staging``."""
    return staging[0], f"{_chunk_base(staging)}__{index}"


def chunk_tables(warehouse: Warehouse, staging: Table) -> list[Table]:
    """Return the chunk tables of ``staging`` that exist in ``warehouse`` (committed)."""
    base = _chunk_base(staging)
    found = warehouse.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = $1 AND starts_with(CAST(table_name AS TEXT), $2)",
        [staging[0], base],
    )
    pattern = re.compile(re.escape(base) + r"__[0-9]+")
    return [(staging[0], name) for (name,) in found if pattern.fullmatch(name)]


def _chunk_base(staging: Table) -> str:
    """Return the name every chunk of ``staging`` starts with: the staging table's, cut so that
    a chunk's number (``__`` and up to ``CHUNK_NUMBER_BYTES`` digits) survives PostgreSQL's
    limit on names, the same for every chunk."""
    room = MAX_IDENTIFIER_BYTES - len("__") - CHUNK_NUMBER_BYTES
    return staging[1].encode("utf-8")[:room].decode("utf-8", "ignore")


def cast_while_staging(
    warehouse: Warehouse,
    target: Target,
    plan: SourcePlan,
    staging: Table,
    cast_chunk: Callable[[str], int],
) -> int:
    """Stage ``plan``'s text records (without positions) in chunks on a second connection to
    ``target`` while ``cast_chunk`` casts each committed chunk (its qualified name) into the
    table on ``warehouse``, the load's connection, which then drops the chunk in the load's
    transaction; return the rows cast (raise ``LoadError`` when they are not the records the
    plan parses). What the staging raises is raised here."""
    ready: queue.Queue[Table | BaseException | None] = queue.Queue()
    stop = threading.Event()
    stager = threading.Thread(
        target=_stage_chunks,
        args=(target, plan, staging, ready, stop),
        name="csvdock-staging",
        daemon=True,
    )
    stager.start()
    cast = 0
    try:
        while (chunk := ready.get()) is not None:
            if isinstance(chunk, BaseException):
                raise chunk
            cast += cast_chunk(qualified_name(*chunk))
            drop_staging(warehouse, chunk)
    finally:
        stop.set()
        stager.join()
    if cast != plan.parsed_records:  # (nothing lost: every record DuckDB parses is cast)
        expected = plan.parsed_records
        raise LoadError(f"{plan.path}: {cast} records cast where the file has {expected}")
    return cast


def _stage_chunks(
    target: Target,
    plan: SourcePlan,
    staging: Table,
    ready: queue.Queue[Table | BaseException | None],
    stop: threading.Event,
) -> None:
    """Stage the chunks, putting each committed one on ``ready``, then None (or what failed)."""
    started, chunks = time.perf_counter(), 0
    try:
        check_same_source(plan)
        with connect(target) as stager, scratch_duckdb() as con:
            for left in chunk_tables(stager, staging):  # (an earlier attempt's)
                drop_staging(stager, left)
            stager.commit()
            limit_memory(con, len(plan.columns))
            reader = con.sql(plan.records_sql()).to_arrow_reader(BATCH_ROWS)
            for rows in _chunks(reader, STAGE_CHUNK_ROWS):
                if stop.is_set():
                    return
                chunk = chunk_table(staging, chunks)
                create_staging(stager, chunk, plan.columns)
                stager.ingest_batches(*chunk, rows)
                stager.commit()
                ready.put(chunk)
                chunks += 1
        log.info(
            "%s: staged in %d chunks beside the cast (%.2f s)",
            plan.path,
            chunks,
            time.perf_counter() - started,
        )
        ready.put(None)
    except BaseException as exc:  # raised again by the load's thread
        ready.put(exc)


def _chunks(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.RecordBatchReader]:
    """Yield readers of about ``rows`` rows each, in order, over ``reader``'s batches (each
    must be read to its end before the next is asked for)."""
    batches = iter(reader)
    for first in batches:

        def chunk(first: pa.RecordBatch = first) -> Iterator[pa.RecordBatch]:
            yield first
            taken = first.num_rows
            while taken < rows and (batch := next(batches, None)) is not None:
                taken += batch.num_rows
                yield batch

        yield pa.RecordBatchReader.from_batches(reader.schema, chunk())
