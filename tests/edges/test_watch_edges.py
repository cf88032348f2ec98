"""Watch mode at its edges (issue 25, items 2, 6 and 11): an appending writer is taken once,
complete; a file replaced while it loads keeps the loaded bytes whole and the replacement is
loaded next; one file's error never stops the inbox."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import open_warehouse
from tests.edges.test_operations import BIN, env, wait_for


def start_watcher(workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "csvdock"), "watch", "inbox"],
        cwd=workdir,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(watcher: subprocess.Popen[str]) -> str:
    watcher.send_signal(signal.SIGINT)
    try:
        _, err = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    return err


def count(workdir: Path, table: str) -> int:
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        return int(warehouse.execute(f'SELECT count(*) FROM "{table}"')[0][0])


def test_an_appending_writer_is_taken_once_when_complete(workdir: Path):
    inbox = workdir / "inbox"
    inbox.mkdir()
    watcher = start_watcher(workdir)
    try:
        time.sleep(1.0)
        for part in ("id,name\n", "1,a\n", "2,b\n3,c\n"):  # echo >> file, three times
            with (inbox / "appended.csv").open("a") as handle:
                handle.write(part)
            time.sleep(0.4)
        wait_for(lambda: (inbox / "processed" / "appended.csv").exists(), timeout=60)
    finally:
        err = stop(watcher)
    assert "Traceback" not in err
    assert count(workdir, "appended") == 3
    assert [p.name for p in (workdir / "schemas" / "appended").glob("v*.json")] == ["v1.json"]
    assert len(list((workdir / ".csvdock" / "runs").glob("*/summary.json"))) == 1


def test_a_file_replaced_while_it_loads_keeps_both_versions_whole(workdir: Path):
    inbox = workdir / "inbox"
    inbox.mkdir()
    rows = 300_000
    big = workdir / "big.csv.tmp"
    big.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in range(rows)))
    size = big.stat().st_size
    replacement = workdir / "one.csv.tmp"
    replacement.write_text("id,name\n999999999,replacement\n")
    watcher = start_watcher(workdir)
    try:
        time.sleep(1.0)
        big.rename(inbox / "data.csv")
        wait_for(lambda: any((inbox / ".taking").rglob("data.csv")), timeout=30, every=0.01)
        replacement.rename(inbox / "data.csv")  # mv over the name during the load
        wait_for(lambda: len(list((inbox / "processed").glob("data*.csv"))) == 2, timeout=120)
    finally:
        err = stop(watcher)
    assert "Traceback" not in err
    sizes = sorted(p.stat().st_size for p in (inbox / "processed").glob("data*.csv"))
    assert sizes[-1] == size  # the loaded bytes, moved whole
    assert count(workdir, "data") == rows + 1


def test_one_file_that_cannot_be_moved_does_not_stop_the_inbox(workdir: Path):
    from csvdock import ingest
    from csvdock.edges.watch import watch

    inbox = workdir / "inbox"
    inbox.mkdir()
    (inbox / "stuck.gz.csv").write_bytes(b"\x1f\x8b\x08\x00\x00\x00")  # quarantined
    (inbox / "good.csv").write_text("a\n1\n")

    def dead_letter(path: Path, reason: str) -> None:
        raise PermissionError(f"cannot move {path.name}")

    halt = threading.Event()
    seen: dict[str, bool] = {}

    def stop_when_good_is_processed() -> None:
        try:
            wait_for(lambda: (inbox / "processed" / "good.csv").exists(), timeout=60)
            seen["good"] = True
        finally:
            halt.set()

    helper = threading.Thread(target=stop_when_good_is_processed, daemon=True)
    helper.start()
    watch(inbox, lambda files: ingest(files), dead_letter, halt)  # Luigi wants the main thread
    helper.join(5)
    assert seen.get("good")  # the watcher went on after the file it could not move
    assert (inbox / "stuck.gz.csv").exists()  # left where it was, logged
