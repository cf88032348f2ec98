"""ELT parity: for any input, ETL and ELT give the same table, rejects, ledger and versions."""

import json
import random
import re
import secrets
import shutil
from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import load_settings
from csvdock.edges.demo import write_users_csv
from csvdock.pipeline import elt, stages
from csvdock.read.extract import file_sha256
from csvdock.schema import types as t
from csvdock.targets.postgres import without_bounded_repeats
from csvdock.transform.sql_cast import staging_table

from tests.conftest import dead_letter_csv, open_warehouse, unique_table
from tests.edges.test_cli import run_cli
from tests.pipeline.test_evolution import FILES as EVOLVING_FILES
from tests.rejects.test_bad_input import CORPUS

PATTERNS = (t.DATE_PATTERN, t.TIMESTAMP_PATTERN, t.DOUBLE_PATTERN, t.DECIMAL_PATTERN)


def _ingest_folder(folder: Path, target: str, mode: str) -> dict[str, dict]:
    code, out, err = run_cli("ingest", str(folder), "--target", target, "--mode", mode, "--json")
    assert code in (0, 1), err
    summary = json.loads(out)
    assert summary["mode"] == mode
    return {Path(f["path"]).name.rsplit("_", 1)[0]: f for f in summary["files"]}


def _copy_as(sources: dict[str, bytes], folder: Path, suffix: str) -> None:
    folder.mkdir()
    for stem, data in sources.items():
        (folder / f"{stem}_{suffix}.csv").write_bytes(data)


def _table_state(target: str, table: str) -> tuple[dict | None, list]:
    with open_warehouse(target) as warehouse:
        types = warehouse.table_types(warehouse.default_schema, table)
        if types is None:
            return None, []
        order = ", ".join(f"{i + 1}" for i in range(len(types)))
        rows = warehouse.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
    return types, [tuple(str(v) for v in row) for row in rows]


def _dead_letters(workdir: Path, table: str, target: str) -> list[tuple]:
    ledger = dead_letter_csv(workdir, table, target)
    if not ledger.exists():
        return []
    frame = pl.read_csv(ledger, infer_schema=False)
    return frame.select("line", "stage", "column", "reason", "raw").rows()


def _assert_parity(workdir: Path, target: str, sources: dict[str, bytes]) -> int:
    token = secrets.token_hex(3)
    _copy_as(sources, workdir / "etl", f"{token}e")
    _copy_as(sources, workdir / "elt", f"{token}l")
    etl = _ingest_folder(workdir / "etl", target, "etl")
    elt = _ingest_folder(workdir / "elt", target, "elt")
    assert etl.keys() == elt.keys()
    compared = 0
    for stem, a in etl.items():
        b = elt[stem]
        keys = ("status", "rows_read", "rows_loaded", "rows_rejected", "schema_version", "reason")
        assert [a[k] for k in keys] == [b[k] for k in keys], stem
        assert (a["mode"], b["mode"]) == ("etl", "elt")
        state_a, state_b = _table_state(target, a["table"]), _table_state(target, b["table"])
        assert state_a == state_b, stem
        assert _dead_letters(workdir, a["table"], target) == _dead_letters(
            workdir, b["table"], target
        ), stem
        compared += 1
    return compared


def test_parity_over_the_whole_corpus(workdir: Path, target_url: str):
    sources = {p.stem: p.read_bytes() for p in CORPUS.glob("*.csv")}
    assert _assert_parity(workdir, target_url, sources) == len(sources)


def test_parity_over_generated_data(workdir: Path, target_url: str):
    write_users_csv(workdir / "users.csv", rows=3000, seed=11)
    typed = (
        "i,f,d,b,dt,ts,s\n"
        "1,1.5e3,12.50,yes,2024-02-29,2024-02-29 23:59:58.5,x\n"
        " 2 ,-0.25,+3.10,N, 2024-03-01 ,2024-03-01T00:00,NA\n"
        ",,,,,,\n"
        'NA,1e999,1.234,maybe,2023-02-29,2024-13-01 00:00,""\n'
    ) * 400
    sources = {"users": (workdir / "users.csv").read_bytes(), "typed": typed.encode()}
    assert _assert_parity(workdir, target_url, sources) == 2


def test_parity_of_schema_evolution_and_freeze(workdir: Path, target_url: str):
    for mode in ("etl", "elt"):
        table = unique_table(f"evo{mode}")
        for policy in ("evolve", "freeze"):
            name = f"{table}_{policy}"
            versions = []
            for file_name, text in EVOLVING_FILES.items():
                (workdir / file_name).write_text(text)
                code, out, _ = run_cli(
                    "ingest",
                    file_name,
                    "--target",
                    target_url,
                    "--table",
                    name,
                    "--mode",
                    mode,
                    "--evolution",
                    policy,
                    "--json",
                )
                entry = json.loads(out)["files"][0]
                versions.append(
                    (entry["schema_version"], entry["rows_loaded"], entry["rows_rejected"])
                )
            expected = (
                [(1, 2, 0), (2, 2, 0), (3, 2, 0)]
                if policy == "evolve"
                else [(1, 2, 0), (1, 0, 2), (1, 1, 1)]
            )
            assert versions == expected, (mode, policy)


def test_a_failure_inside_the_sql_transform_leaves_nothing(workdir: Path, target_url: str):
    source = workdir / "boom.csv"
    source.write_text("a,b\n1,x\n2,y\n3,zz\n", encoding="utf-8")
    table = unique_table("eltboom")
    settings = load_settings().with_overrides(target=target_url, mode="elt")
    sha = file_sha256(source)
    stages.extract_stage(source, sha, table, settings, workdir / "e")
    elt.load_raw_stage(sha, table, settings, workdir / "e", workdir / "r")
    staging = staging_table(table, sha)
    with open_warehouse(target_url) as warehouse:
        assert warehouse.execute(f'SELECT count(*) FROM "{staging[0]}"."{staging[1]}"') == [(3,)]

    def explode() -> None:
        raise RuntimeError("injected failure inside the SQL transform")

    with pytest.raises(RuntimeError, match="injected failure"):
        elt.transform_in_target_stage(
            source, sha, table, "run-1", settings, workdir / "e", workdir / "r", explode
        )
    with open_warehouse(target_url) as warehouse:
        assert warehouse.table_types(warehouse.default_schema, table) is None
        assert warehouse.table_types(*staging) is None
        assert warehouse.execute(
            "SELECT count(*) FROM csvdock.ledger WHERE table_name = $1", [table]
        ) == [(0,)]


def test_keep_raw_archives_the_staged_text(workdir: Path, target_url: str):
    (workdir / "luigi.cfg").write_text("[csvdock]\nkeep_raw = true\nmode = elt\n")
    (workdir / "k.csv").write_text("a,b\n1,x\nforty,y\n" + "".join(f"{i},z\n" for i in range(2000)))
    table = unique_table("keep")
    code, out, _ = run_cli("ingest", "k.csv", "--target", target_url, "--table", table, "--json")
    (entry,) = json.loads(out)["files"]
    assert (code, entry["mode"], entry["rows_loaded"], entry["rows_rejected"]) == (
        0,
        "elt",
        2001,
        1,
    )
    with open_warehouse(target_url) as warehouse:
        raw = warehouse.execute(
            f'SELECT __line, a, b FROM "{table}__raw" WHERE __line <= 3 ORDER BY 1'
        )
    assert raw == [(2, "1", "x"), (3, "forty", "y")]


def test_the_luigi_graph_has_loadraw_and_transformintarget(workdir: Path):
    import luigi

    from luigi_tasks.tasks import IngestFile, IngestSmallFile, LoadRaw, TransformInTarget

    (workdir / "g.csv").write_text("a\n1\n")
    task = IngestFile(path=str(workdir / "g.csv"), run_id="graph", options={"mode": "elt"})
    small = task.requires()  # a small file: its stages in one task, in ELT's way
    assert isinstance(small, IngestSmallFile) and small.file_mode == "elt"
    (workdir / "luigi.cfg").write_text("[csvdock]\nsmall_file_kb = 0\n")
    task = IngestFile(path=str(workdir / "g.csv"), run_id="graph2", options={"mode": "elt"})
    top = task.requires()
    assert isinstance(top, TransformInTarget)
    assert any(isinstance(t, LoadRaw) for t in luigi.task.flatten(top.requires()))
    shutil.rmtree(workdir / "schemas", ignore_errors=True)


def test_bounded_repeats_are_written_out_without_changing_what_matches():
    expanded = {p: without_bounded_repeats(p) for p in PATTERNS}
    assert expanded[t.DATE_PATTERN] == r"^[1-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$"
    assert all("{" not in p for p in expanded.values())
    rng = random.Random(5)
    alphabet = "0123456789+-.:eET 1"
    samples = ["2024-02-29", "2024-02-29T23:59:58.123456", "2024-02-29 23:59:58.1234567", "1e999"]
    samples += ["".join(rng.choices(alphabet, k=rng.randint(1, 28))) for _ in range(20_000)]
    for original, written_out in expanded.items():
        for text in samples:
            assert bool(re.search(original, text)) == bool(re.search(written_out, text)), text


def test_a_file_gone_before_its_chunk_is_prepared_is_left_to_its_load(workdir: Path):
    """Loads into a DuckDB file in turns: a process first prepares its chunk's files; one that
    cannot be read any more is not prepared (its load's build reports it), nor does it stop
    the chunk."""
    from luigi_tasks.runner import _prepared
    from luigi_tasks.tasks import Extract, IngestFile, Transform

    turns = {"small_file_bytes": 0}
    gone = IngestFile(path=str(workdir / "gone.csv"), run_id="r", options=turns)
    assert _prepared(gone) is None
    (workdir / "here.csv").write_text("a\n1\n")
    here = IngestFile(path=str(workdir / "here.csv"), run_id="r", options=turns)
    assert isinstance(_prepared(here), Transform)
    staged = IngestFile(
        path=str(workdir / "here.csv"), run_id="r", options={**turns, "mode": "elt"}
    )
    assert isinstance(_prepared(staged), Extract)  # ELT stages into the target: Extract only
