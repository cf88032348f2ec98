"""Messy input: every case file of tests/corpus has one exact expected outcome."""

import csv
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from csvdock.pipeline.stages import NO_TABLE_YET

from tests.conftest import dead_letter_csv, open_warehouse, unique_table
from tests.edges.test_cli import run_cli

CORPUS = Path(__file__).parent / "corpus"
QUARANTINED, SKIPPED = "quarantined", "skipped"

# file: (status, rows_read, rows_loaded, rows_rejected, reason, [(line, stage, code, column)])
EXPECTED = {
    "semicolon.csv": ("loaded", 2, 2, 0, None, []),
    "tab.csv": ("loaded", 2, 2, 0, None, []),
    "pipe.csv": ("loaded", 2, 2, 0, None, []),
    "crlf.csv": ("loaded", 2, 2, 0, None, []),
    "mixed_endings.csv": ("loaded", 3, 2, 1, None, [(5, "parse", "field_count", None)]),
    "bom.csv": ("loaded", 1, 1, 0, None, []),
    "latin1.csv": ("loaded", 2, 2, 0, None, []),
    "header_only.csv": ("loaded", 0, 0, 0, None, []),  # a new table from the header alone
    "hostile_header.csv": ("loaded", 1, 1, 0, None, []),
    "ragged.csv": (
        "loaded",
        5,
        2,
        3,
        None,
        [
            (3, "parse", "field_count", None),
            (4, "parse", "field_count", None),
            (8, "parse", "field_count", None),
        ],
    ),
    "stray_quote.csv": ("loaded", 3, 2, 1, None, [(3, "parse", "quoting", None)]),
    "nul_in_value.csv": ("loaded", 3, 2, 1, None, [(3, "parse", "nul_character", "name")]),
    "casts.csv": (
        "loaded",
        2002,
        2000,
        2,
        None,
        [(2002, "cast", "type_mismatch", "amount"), (2003, "cast", "type_mismatch", "day")],
    ),
    # No records and no table yet: nothing to create the table from (issue 24, item 13).
    "empty.csv": (SKIPPED, 0, 0, 0, NO_TABLE_YET, []),
    "blank_lines_only.csv": (SKIPPED, 0, 0, 0, NO_TABLE_YET, []),
    "compressed.csv": (QUARANTINED, 0, 0, 0, "the file is gzip-compressed, not CSV text", []),
    # UTF-8 with one stray byte: that record is set aside (raw keeps the byte as \xff).
    "broken_utf8.csv": ("loaded", 2, 1, 1, None, [(3, "parse", "not_utf8", None)]),
    # The quoted field that never closes damages its own record only: reading resumes after it.
    "unterminated_quote.csv": (
        "loaded",
        4,
        3,
        1,
        None,
        [(3, "parse", "unterminated_quote", None)],
    ),
}


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, dict]]:
    """Ingest the whole corpus folder once (one run, DuckDB)."""
    import os

    workdir = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, workdir / "in")
    old = os.getcwd()
    os.chdir(workdir)
    try:
        code, out, _ = run_cli("ingest", "in", "--json")
    finally:
        os.chdir(old)
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    return workdir, code, files


def test_the_corpus_is_covered(corpus_run):
    _, code, files = corpus_run
    assert set(files) == {p.name for p in CORPUS.glob("*.csv")} == set(EXPECTED)
    assert code == 1  # some files are quarantined


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_case_has_its_exact_outcome(corpus_run, name):
    workdir, _, files = corpus_run
    status, read, loaded, rejected, reason, rejects = EXPECTED[name]
    entry = files[name]
    assert (entry["status"], entry["rows_read"], entry["rows_loaded"], entry["rows_rejected"]) == (
        status,
        read,
        loaded,
        rejected,
    )
    assert entry["reason"] == reason
    ledger = dead_letter_csv(workdir, entry["table"])
    dead = pl.read_csv(ledger, infer_schema=False) if ledger.exists() else None
    mine = (
        []
        if dead is None
        else dead.filter(pl.col("file_sha256") == entry["sha256"]).rows(named=True)
    )
    assert len(mine) == entry["rows_rejected"]
    assert [(int(r["line"]), r["stage"], r["code"], r["column"]) for r in mine] == rejects
    if status == QUARANTINED:
        copy = Path(entry["quarantine_path"])
        assert copy.read_bytes() == (CORPUS / name).read_bytes()
        assert json.loads(Path(str(copy) + ".REASON.json").read_text())["reason"] == reason
    else:
        assert entry["rows_read"] == entry["rows_loaded"] + entry["rows_rejected"]


def test_raw_text_of_rejects_is_the_original_record(corpus_run):
    workdir, _, files = corpus_run
    ledger = dead_letter_csv(workdir, "ragged")
    with ledger.open(newline="", encoding="utf-8") as handle:
        raws = [row["raw"] for row in csv.DictReader(handle)]
    assert raws == ["2,Bo", "3,Cy,41,x", "5,Ed"]
    nul = dead_letter_csv(workdir, "nul_in_value")
    assert b"2,A\\x00n" in nul.read_bytes()  # NUL kept as an escape: no database holds it


def test_dialect_and_encoding_are_in_the_summary(corpus_run):
    _, _, files = corpus_run
    assert files["semicolon.csv"]["dialect"]["delimiter"] == ";"
    assert files["tab.csv"]["dialect"]["delimiter"] == "\t"
    assert files["pipe.csv"]["dialect"]["delimiter"] == "|"
    assert files["crlf.csv"]["dialect"]["newline"] == "\\r\\n"
    assert files["mixed_endings.csv"]["dialect"]["newline"] == "mixed"
    assert files["latin1.csv"]["dialect"]["encoding"] == "cp1252"
    assert files["bom.csv"]["dialect"]["encoding"] == "utf-8"


def test_hostile_headers_become_safe_columns_on_both_targets(workdir: Path, target_url: str):
    shutil.copy(CORPUS / "hostile_header.csv", workdir / "h.csv")
    table = unique_table("hostile")
    code, _, _ = run_cli("ingest", "h.csv", "--target", target_url, "--table", table, "--json")
    assert code == 0
    with open_warehouse(target_url) as warehouse:
        columns = list(warehouse.table_types(warehouse.default_schema, table) or {})
    assert columns == [
        "a_b",
        "x_drop_table_t",
        "column_3",
        "select",
        "spaced_name",
        "dup",
        "dup_2",
        "uni",
    ]


def test_text_decoded_from_latin1_is_stored_correctly(workdir: Path, target_url: str):
    shutil.copy(CORPUS / "latin1.csv", workdir / "l.csv")
    table = unique_table("latin")
    run_cli("ingest", "l.csv", "--target", target_url, "--table", table)
    with open_warehouse(target_url) as warehouse:
        assert warehouse.execute(f'SELECT name FROM "{table}" ORDER BY id') == [
            ("café",),
            ("naïve",),
        ]


def test_pinned_dialect_and_encoding_win(workdir: Path):
    (workdir / "p.csv").write_bytes(b"a;b\n1;x,y\n")
    code, out, _ = run_cli("ingest", "p.csv", "--delimiter", ";", "--encoding", "latin-1", "--json")
    (entry,) = json.loads(out)["files"]
    assert code == 0
    assert entry["dialect"]["delimiter"] == ";"
    assert entry["dialect"]["encoding"] == "iso8859-1"


def test_a_bad_pinned_option_is_a_usage_error(workdir: Path):
    (workdir / "p.csv").write_text("a\n1\n")
    code, _, err = run_cli("ingest", "p.csv", "--delimiter", ";;")
    assert (code, err) == (
        2,
        "csvdock: error: options: delimiter must be one character, not ';;'\n",
    )


def test_reject_thresholds_quarantine_the_whole_file(workdir: Path):
    shutil.copy(CORPUS / "casts.csv", workdir / "casts.csv")
    code, out, _ = run_cli("ingest", "casts.csv", "--max-rejects", "1", "--json")
    (entry,) = json.loads(out)["files"]
    assert code == 1
    assert entry["status"] == "quarantined"
    assert entry["reason"] == "2 of 2002 records rejected, over max_rejects = 1"
    assert entry["rows_loaded"] == 0
    code, out, _ = run_cli("ingest", "casts.csv", "--max-reject-ratio", "0.0005", "--json")
    (entry,) = json.loads(out)["files"]
    assert entry["reason"] == "2 of 2002 records rejected (0.1%), over max_reject_ratio = 0.0005"
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.table_types("main", "casts") is None
    code, out, _ = run_cli("ingest", "casts.csv", "--max-reject-ratio", "0.01", "--json")
    assert json.loads(out)["files"][0]["status"] == "loaded"


def test_replay_loads_fixed_records_once(workdir: Path):
    shutil.copy(CORPUS / "casts.csv", workdir / "casts.csv")
    run_cli("ingest", "casts.csv")
    code, out, _ = run_cli("deadletter", "show", "casts")
    assert code == 0
    assert out.splitlines()[0] == "casts: 2 rejected records"
    assert "column 'amount': 'lots' is not decimal(38,2)" in out
    ledger = dead_letter_csv(workdir, "casts")
    ledger.write_text(ledger.read_text().replace("2001,lots,", "2001,7.25,"))
    code, out, _ = run_cli("replay", "casts", "--json")
    (entry,) = json.loads(out)["files"]
    assert code == 0
    assert (entry["rows_read"], entry["rows_loaded"], entry["rows_rejected"]) == (2, 1, 1)
    dead = pl.read_csv(ledger, infer_schema=False)
    original = dead.filter(pl.col("file") == "casts.csv")
    assert original["replayed_in"].to_list() == [json.loads(out)["run_id"]] * 2
    assert dead.filter(pl.col("replayed_in").is_null())["reason"].to_list() == [
        "column 'day': '2024-02-30' is not date"
    ]
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert (
            warehouse.execute("SELECT count(*), sum(amount) FILTER (WHERE id = 2001) FROM casts")[
                0
            ][0]
            == 2001
        )
    _, out, _ = run_cli("replay", "casts", "--json")
    assert json.loads(out)["files"][0]["rows_loaded"] == 0  # still bad: rejected again, not loaded
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute("SELECT count(*) FROM casts WHERE id = 2001") == [(1,)]


def test_replay_without_rejects_is_a_usage_error(workdir: Path):
    code, _, err = run_cli("replay", "nothing")
    assert (code, err) == (
        2,
        "csvdock: error: table 'nothing' has no rejected records waiting for replay\n",
    )


def test_huge_fields_and_wide_rows_load(workdir: Path):
    big = "x" * (5 * 1024 * 1024)
    (workdir / "big.csv").write_text(f"id,blob\n1,{big}\n2,small\n", encoding="utf-8")
    header = ",".join(f"c{i}" for i in range(2000))
    (workdir / "wide.csv").write_text(header + "\n" + ",".join("1" * 1 for _ in range(2000)) + "\n")
    code, out, _ = run_cli("ingest", "big.csv", "wide.csv", "--json")
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert code == 0
    assert files["big.csv"]["rows_loaded"] == 2
    assert files["wide.csv"]["rows_loaded"] == 1
    with open_warehouse(f"duckdb:///{workdir / 'warehouse.duckdb'}") as warehouse:
        assert warehouse.execute("SELECT length(blob) FROM big WHERE id = 1") == [(len(big),)]


def test_too_wide_for_postgresql_fails_cleanly(workdir: Path, pg_dsn: str):
    header = ",".join(f"c{i}" for i in range(1700))
    (workdir / "wide.csv").write_text(header + "\n" + ",".join("1" for _ in range(1700)) + "\n")
    code, out, err = run_cli(
        "ingest", "wide.csv", "--target", pg_dsn, "--table", unique_table(), "--json"
    )
    (entry,) = json.loads(out)["files"]
    assert code == 1
    assert entry["status"] == "quarantined"  # the same limit in both modes (issue 25, item 16)
    assert "1700 columns; the target holds at most 1597" in entry["reason"]
    assert "Traceback" not in err


def test_a_quarantined_file_says_why_as_a_code(corpus_run):
    """The summary's code is what reports and suggested commands decide on (never the text)."""
    _, _, files = corpus_run
    assert files["compressed.csv"]["code"] == "not_text"
    assert all(f["code"] is None for f in files.values() if f["status"] != QUARANTINED)
