"""Replay: a table's dead letters (edited or not) written back as CSV files with their original
header, to be ingested again; the records replayed are marked in the dead letters."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from csvdock.core.runs import OK_STATUSES, RunSummary, new_run_id
from csvdock.core.settings import Settings, load_settings
from csvdock.core.workspace import Workspace
from csvdock.pipeline.run import UsageError, ingest, normalised_table
from csvdock.rejects.deadletter import (
    dead_letter_dir,
    locked,
    read_dead_letters,
    tables_with_dead_letters,
    target_key,
    write_dead_letters,
)
from csvdock.targets.url import masked_url


def replay_files(
    workspace: Workspace, table: str, target: str, replay_id: str, run: str | None
) -> list[Path]:
    """Write the not-yet-replayed dead letters of ``table`` (of one ``run`` if given) as CSV files,
    one per original file (its header, then the raw records as they stand in the dead-letter
    CSV, edits included). Return their paths."""
    folder = dead_letter_dir(workspace, table, target)
    pending = _pending(read_dead_letters(workspace, table, target), run)
    out_dir = folder / "replay" / replay_id
    paths: list[Path] = []
    for (sha256,), group in pending.group_by(["file_sha256"], maintain_order=True):
        header = (folder / "headers" / f"{sha256}.txt").read_bytes()
        body = b"\n".join(str(raw).encode("utf-8") for raw in group["raw"])
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{str(sha256)[:12]}.csv"
        path.write_bytes(header + b"\n" + body + b"\n")
        paths.append(path)
    return paths


def mark_replayed(
    workspace: Workspace,
    table: str,
    target: str,
    replay_id: str,
    run: str | None,
    shas: set[str],
) -> int:
    """Mark the pending dead letters of the original files ``shas`` as replayed in
    ``replay_id``: in the target's ``csvdock.replays`` first (the truth), then in the CSV
    derived from it; return how many were marked."""
    _mark_in_target(target, table, replay_id, run, shas)
    folder = dead_letter_dir(workspace, table, target)
    with locked(folder):
        letters = read_dead_letters(workspace, table, target)
        pending = pl.col("replayed_in").is_null() & pl.col("file_sha256").is_in(list(shas))
        if run:
            pending &= pl.col("run_id") == run
        marked = letters.filter(pending).height
        letters = letters.with_columns(
            pl.when(pending)
            .then(pl.lit(replay_id))
            .otherwise(pl.col("replayed_in"))
            .alias("replayed_in")
        )
        write_dead_letters(folder, letters)
    return marked


def _mark_in_target(
    target: str, table: str, replay_id: str, run: str | None, shas: set[str]
) -> None:
    from csvdock.core.naming import qualified_name
    from csvdock.targets import connect, parse_target
    from csvdock.targets.base import METADATA_SCHEMA, REJECTS_TABLE, REPLAYS_TABLE

    rejects = qualified_name(METADATA_SCHEMA, REJECTS_TABLE)
    replays = qualified_name(METADATA_SCHEMA, REPLAYS_TABLE)
    with connect(parse_target(target)) as warehouse:
        warehouse.ensure_ledger()
        warehouse.begin()
        try:
            for sha in sorted(shas):
                params = [replay_id, table, sha]
                only_run = ""
                if run:
                    only_run, params = " AND r.run_id = $4", [*params, run]
                warehouse.execute(
                    f"INSERT INTO {replays} (table_name, file_sha256, line, replayed_in) "
                    f"SELECT r.table_name, r.file_sha256, r.line, $1 FROM {rejects} r "
                    f"WHERE r.table_name = $2 AND r.file_sha256 = $3{only_run} AND NOT EXISTS "
                    f"(SELECT 1 FROM {replays} p WHERE p.table_name = r.table_name "
                    "AND p.file_sha256 = r.file_sha256 AND p.line = r.line)",
                    params,
                )
            warehouse.commit()
        except BaseException:
            warehouse.rollback()
            raise


def _pending(letters: pl.DataFrame, run: str | None) -> pl.DataFrame:
    pending = letters.filter(pl.col("replayed_in").is_null())
    return pending.filter(pl.col("run_id") == run) if run else pending


def replay(
    table: str,
    target: str | None = None,
    *,
    run: str | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> RunSummary:
    """Ingest ``table``'s dead letters waiting for replay (of one ``run``, if given) again, as
    they stand in the dead-letter CSV (edits included), and mark the replayed ones; return the
    replay's run summary. The table's latest schema is the contract (``evolution = freeze``):
    a replay never widens or adds columns. ``UsageError`` when nothing waits for replay."""
    settings = (settings or load_settings()).with_overrides(target=target)
    table = normalised_table(table, settings.target)
    workspace = Workspace(settings.workspace)
    replay_id = run_id or new_run_id()
    files = replay_files(workspace, table, settings.target, replay_id, run)
    if not files:
        old_layout = workspace.root / "deadletter" / table / "DeadLetterQueue.csv"
        if old_layout.exists():
            new = dead_letter_dir(workspace, table, settings.target)
            raise UsageError(
                f"table {table!r} has dead letters in {old_layout.parent}, kept before they were "
                f"told apart by target: move that folder to {new} if they are "
                f"{masked_url(settings.target)}'s, then replay again"
            )
        elsewhere = [
            key
            for key in tables_with_dead_letters(workspace, table)
            if key != target_key(settings.target)
        ]
        if elsewhere:
            raise UsageError(
                f"table {table!r} has no rejected records waiting for replay on "
                f"{masked_url(settings.target)}; it has dead letters of another target "
                f"({', '.join(elsewhere)}): give that target with --target"
            )
        raise UsageError(f"table {table!r} has no rejected records waiting for replay")
    # Polars ran in this process (reading the dead letters): its tasks are not forked.
    summary = ingest(files, table, evolution="freeze", settings=settings, run_id=replay_id)
    replayed = {f.path for f in summary.files if f.status in OK_STATUSES}
    originals = {p.stem for p in files if str(p) in replayed}
    pending = read_dead_letters(workspace, table, settings.target)
    pending = pending.filter(pl.col("replayed_in").is_null())
    shas = {s for s in pending["file_sha256"].unique().to_list() if s[:12] in originals}
    mark_replayed(workspace, table, settings.target, replay_id, run, shas)
    return summary
