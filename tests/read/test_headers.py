"""The header is decided by comparing the first row with the body's values per column, never by
the length of a cell (issue 24, item 1): survey headers that are whole questions, and headers
whose names are numbers (a year, a run of integers), are headers."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from csvdock.core.settings import TableSettings
from csvdock.read.extract import extract_file

QUESTION = (
    "How satisfied were you with the service you received during your most recent visit to one"
    " of our branches, taking into account the waiting time, the friendliness of the staff and"
    " the clarity of the information you were given?"
)
CHOICES = (
    "Which of the following products would you consider buying from us in the next twelve"
    " months, if they were offered at a price comparable to what you pay today elsewhere?"
)


def extracted(tmp_path: Path, name: str, rows: list[list[str]]):
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return extract_file(path, tmp_path / f"out_{name}", TableSettings())


def test_a_survey_header_of_whole_questions_is_a_header(tmp_path):
    rng = random.Random(1)
    header = ["Respondent ID", "Start Date", QUESTION, "Did you visit again?", CHOICES, "", ""]
    second = ["", "", "Response", "Response", "Savings", "Loans", "Other (please specify)"]
    body = [
        [
            str(11400000 + i),
            f"2024-01-{i % 28 + 1:02d}",
            rng.choice(["Satisfied", "Unsatisfied"]),
            rng.choice(["Yes", "No"]),
            rng.choice(["Savings", ""]),
            rng.choice(["Loans", ""]),
            "",
        ]
        for i in range(40)
    ]
    result = extracted(tmp_path, "survey.csv", [header, second, *body])
    assert result.rows_read == 40  # neither the questions nor the "Response" row are data
    assert result.columns[0] == "respondent_id"
    assert QUESTION in result.source_columns[2] and len(QUESTION) > 200
    assert len(set(result.columns)) == 7 and all(len(c) <= 63 for c in result.columns)


def test_a_year_as_a_column_name_is_a_header(tmp_path):
    rng = random.Random(2)
    body = [[f"State {i}", str(rng.randint(500_000, 39_000_000))] for i in range(50)]
    result = extracted(tmp_path, "years.csv", [["state", "2021"], *body])
    assert result.rows_read == 50
    assert result.source_columns == ["state", "2021"]


def test_integers_in_a_row_as_column_names_are_a_header(tmp_path):
    rng = random.Random(3)
    body = [[f"T{t}", *(f"{rng.random():.3f}" for _ in range(49))] for t in range(30)]
    result = extracted(tmp_path, "teams.csv", [["team", *map(str, range(49))], *body])
    assert result.rows_read == 30
    assert result.source_columns[:3] == ["team", "0", "1"]


def test_a_file_without_a_header_still_reads_its_first_row_as_data(tmp_path):
    rng = random.Random(4)
    body = [[f"S{i}", str(rng.randint(1900, 2000)), f"{rng.random():.2f}"] for i in range(30)]
    result = extracted(tmp_path, "noheader.csv", body)
    assert result.rows_read == 30
    assert result.columns == ["column_1", "column_2", "column_3"]


BODY = "".join(
    f"2024-01-{i % 28 + 1:02d},10:{i % 60:02d},{i},P{i},{i % 97},x{i},y,{i * 2},z\n"
    for i in range(83)
)


def mended(tmp_path: Path, header: str):
    path = tmp_path / "orders.csv"
    path.write_text(header + "\n" + BODY, encoding="utf-8")
    return extract_file(path, tmp_path / "out", TableSettings())


def test_an_empty_extra_name_in_the_header_is_dropped(tmp_path):
    result = mended(tmp_path, "DATE,TIME,Qty,,PRODUCTID,A,B,C,D,E")
    assert (result.rows_read, result.rows_rejected) == (83, 0)
    assert result.source_columns == ["DATE", "TIME", "Qty", "PRODUCTID", "A", "B", "C", "D", "E"]
    assert "field 4" in result.dialect["header_mended"]


def test_a_missing_name_in_the_header_is_added(tmp_path):
    result = mended(tmp_path, "DATE,TIME,Qty,PRODUCTID,A,B,C,D")
    assert (result.rows_read, result.rows_rejected) == (83, 0)
    assert result.columns[-1] == "column_9" and result.dialect["header_mended"]


def test_a_stray_quote_that_swallows_the_header_is_text(tmp_path):
    result = mended(tmp_path, 'DATE,TIME,"Qty,PRODUCTID,A,B,C,D,E')
    assert (result.rows_read, result.rows_rejected) == (83, 0)
    assert result.source_columns[2:4] == ["Qty", "PRODUCTID"]


def test_a_stray_carriage_return_in_the_header_keeps_its_names(tmp_path):
    """Found by the damage fuzzer: a CR before the header (not a line end) made Python's reader
    end the header there, so the file read as having no names ("empty") and was skipped."""
    for text in (b"\rid,a,b\n\n", b"\rid,a,b\n1,2,3\n", b"id,a\rx,b\n1,2,3\n"):
        path = tmp_path / "stray.csv"
        path.write_bytes(text)
        result = extract_file(path, tmp_path / f"out_{len(text)}_{text[1]}", TableSettings())
        assert len(result.source_columns) == 3, (text, result.source_columns)
        assert result.rows_read == text.count(b"\n") - 1 - text.endswith(b"\n\n")
