"""Every column whose type was decided with misfits says so (issue 24, items 8 and 11): in the
run summary (``columns``), on the terminal and in both reports; each reject names the value
and the column's type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.edges.test_cli import run_cli


def money_file(path: Path, bad: int) -> Path:
    lines = ["id,amount,year"]
    for n in range(2000):
        amount = "n/a-bad" if n % (2000 // bad) == 7 else f"{n}.{n % 100:02d}"
        year = "SONGFACTS.COM" if n == 1500 else str(1950 + n % 70)
        lines.append(f"{n},{amount},{year}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["etl", "elt"])
def test_a_column_made_text_by_its_misfits_says_so(workdir: Path, mode: str):
    money_file(workdir / "money.csv", bad=4)  # 0.2%: more than the default outlier share
    code, out, err = run_cli("ingest", "money.csv", "--json", "--mode", mode)
    assert code == 0, err
    (result,) = json.loads(out)["files"]
    columns = {c["name"]: c for c in result["columns"]}
    assert columns["amount"]["type"] == "text"
    assert columns["amount"]["misfits"] == 4
    assert columns["amount"]["examples"] == ["n/a-bad"] * 3
    assert "not decimal(38,2)" in columns["amount"]["decision"]
    assert columns["year"]["type"] == "integer" and columns["year"]["misfits"] == 1
    assert "SONGFACTS.COM" in columns["year"]["decision"]
    assert result["rows_rejected"] == 1
    rejects = Path(result["rejects_path"]).read_text(encoding="utf-8")
    assert "'SONGFACTS.COM' is not integer" in rejects  # the value and the column's type


def test_the_terminal_and_both_reports_name_the_decision(workdir: Path, monkeypatch):
    monkeypatch.setenv("CSVDOCK_REPORT", "true")
    money_file(workdir / "money.csv", bad=4)
    code, out, err = run_cli("ingest", "money.csv")
    assert code == 0, err
    assert re.search(r"column amount: text: 4 value\(s\) are not decimal\(38,2\)", out)
    reports = dict(re.findall(r"report (\w+): (\S+)", out))
    for name in ("errors", "schema"):
        text = Path(reports[name]).read_text(encoding="utf-8")
        assert "Types decided with misfits" in text and "n/a-bad" in text, name
