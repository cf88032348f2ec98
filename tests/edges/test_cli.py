"""The CLI contract: exit codes, the JSON summary, one-line errors; and the luigi CLI path."""

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from csvdock.edges.cli import main

SUMMARY_KEYS = {"run_id", "mode", "target", "files"}
FILE_KEYS = {
    "path",
    "sha256",
    "table",
    "status",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
    "rejects_path",
    "quarantine_path",
    "reason",
    "schema_version",
    "schema_path",
}


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_json_summary_and_exit_zero(workdir: Path):
    (workdir / "Users List.csv").write_text("id,name\n1,a\n2,b\n3\n", encoding="utf-8")
    code, out, _ = run_cli("ingest", "Users List.csv", "--json")
    summary = json.loads(out)
    assert code == 0
    assert SUMMARY_KEYS <= set(summary)
    assert summary["mode"] == "etl"
    assert summary["target"] == "duckdb:///warehouse.duckdb"
    (entry,) = summary["files"]
    assert FILE_KEYS <= set(entry)
    assert entry["table"] == "users_list"
    assert (entry["rows_read"], entry["rows_loaded"], entry["rows_rejected"]) == (3, 2, 1)
    rejects = Path(entry["rejects_path"]).read_text(encoding="utf-8").splitlines()
    assert rejects[0] == "file,line,stage,code,column,reason,raw"
    assert rejects[1].startswith("Users List.csv,4,parse,field_count,,missing columns")
    assert rejects[1].endswith(",3")
    written = workdir / ".csvdock" / "runs" / summary["run_id"] / "summary.json"
    assert json.loads(written.read_text(encoding="utf-8")) == summary


def test_a_quarantined_file_exits_one_and_the_others_load(workdir: Path):
    (workdir / "in").mkdir()
    (workdir / "in" / "good.csv").write_text("a\n1\n", encoding="utf-8")
    (workdir / "in" / "zipped.csv").write_bytes(b"\x1f\x8b\x08\x00\x00")
    code, out, _ = run_cli("ingest", "in", "--json")
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert code == 1
    assert files["good.csv"]["status"] == "loaded"
    bad = files["zipped.csv"]
    assert bad["status"] == "quarantined"
    assert bad["reason"] == "the file is gzip-compressed, not CSV text"
    assert Path(bad["quarantine_path"]).read_bytes() == b"\x1f\x8b\x08\x00\x00"
    reason = json.loads(Path(bad["quarantine_path"] + ".REASON.json").read_text("utf-8"))
    assert reason["reason"] == bad["reason"]


def test_an_unreachable_target_is_retried_then_fails_the_file(workdir: Path, caplog):
    (workdir / "luigi.cfg").write_text("[csvdock]\nretries = 2\nretry_delay = 0.05\n")
    (workdir / "a.csv").write_text("a\n1\n", encoding="utf-8")
    code, out, _ = run_cli(
        "ingest", "a.csv", "--json", "--target", "postgresql://u:pw@127.0.0.1:1/none"
    )
    (entry,) = json.loads(out)["files"]
    assert code == 1
    assert entry["status"] == "failed"
    assert entry["reason"].startswith("cannot connect to postgresql://u:***@127.0.0.1:1/none: ")
    assert "transient error, retry 2 of 2" in caplog.text
    assert "pw@" not in out and "pw@" not in caplog.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing.csv"], "csvdock: error: no such file or folder: missing.csv\n"),
        (
            ["ingest", "a.csv", "--target", "mysql://x"],
            "csvdock: error: target 'mysql://x' is not supported: use duckdb:///PATH or "
            "postgresql://...\n",
        ),
        (
            ["ingest", "a.csv", "--table", "a.b.c"],
            "csvdock: error: table name 'a.b.c' must be TABLE or SCHEMA.TABLE\n",
        ),
    ],
)
def test_usage_errors_exit_two_with_one_line(workdir: Path, args, message):
    (workdir / "a.csv").write_text("a\n1\n", encoding="utf-8")
    code, out, err = run_cli(*args)
    assert (code, out) == (2, "")
    assert err == message


def test_the_luigi_command_line_ingests_a_file(workdir: Path):
    (workdir / "people.csv").write_text("id,name\n1,Ann\n2,Bo\n", encoding="utf-8")
    luigi = Path(sys.executable).with_name("luigi")
    done = subprocess.run(
        [
            str(luigi),
            "--module",
            "luigi_tasks",
            "IngestFile",
            "--path",
            "people.csv",
            "--local-scheduler",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CSVDOCK_TARGET": ""},
    )
    assert done.returncode == 0, done.stderr
    (result,) = (workdir / ".csvdock" / "runs").glob("*/files/people--*.json")
    entry = json.loads(result.read_text(encoding="utf-8"))
    assert (entry["status"], entry["rows_loaded"], entry["table"]) == ("loaded", 2, "people")
    import duckdb

    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT name FROM people ORDER BY id").fetchall() == [("Ann",), ("Bo",)]


def test_the_library_does_not_import_luigi():
    # Every module of the library, imported: none of them brings Luigi in.
    code = (
        "import sys, pkgutil, importlib, csvdock; "
        "names = [m.name for m in pkgutil.walk_packages(csvdock.__path__, 'csvdock.')]; "
        "[importlib.import_module(n) for n in names]; "
        "print(len(names) > 40, 'luigi' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True False"


def test_tasks_fork_only_for_a_run_holding_a_large_file(tmp_path: Path, monkeypatch):
    """A fork per Luigi task bounds a big file's memory; small files stay in one process."""
    from csvdock.edges.cli import ISOLATE_FROM_BYTES, isolated_tasks

    monkeypatch.delenv("CSVDOCK_ISOLATE_TASKS", raising=False)
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text("a\n1\n")
    with large.open("wb") as handle:
        handle.truncate(ISOLATE_FROM_BYTES)
    assert not isolated_tasks([small])
    assert isolated_tasks([small, large])
    monkeypatch.setenv("CSVDOCK_ISOLATE_TASKS", "false")
    assert not isolated_tasks([large])


def test_every_argument_has_help_and_every_command_an_example():
    """Issue 27, item 4: positional arguments explained, an example under each --help."""
    import argparse

    from csvdock.edges.parser import build_parser

    def parsers(parser: argparse.ArgumentParser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    for parser in parsers(build_parser()):
        has_commands = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, (parser.prog, action.dest)
        if not has_commands or parser.prog == "csvdock":
            assert parser.epilog and "example" in parser.epilog, parser.prog


def test_version_answers():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("csvdock ")
