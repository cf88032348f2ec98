"""Recover, don't quarantine: stray quotes are text, an unterminated quoted field damages its own
record only, and every line of the file is still accounted for."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import TableSettings
from csvdock.read.extract import RECORDS_FILE, REJECTS_FILE, extract_file


def _extract(tmp_path: Path, text: str) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    source = tmp_path / "in.csv"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = extract_file(source, out, TableSettings())
    records = pl.read_parquet(out / RECORDS_FILE)
    rejects = pl.read_parquet(out / REJECTS_FILE)
    assert result.rows_read == records.height + rejects.height  # every record accounted for
    return result.rows_read, records, rejects


def test_a_quote_inside_an_unquoted_field_is_text(tmp_path: Path):
    read, records, rejects = _extract(tmp_path, 'id,name,size\n1,Men"s boots,10\n2,Hat,5\n')
    assert (read, rejects.height) == (2, 0)
    assert records["name"].to_list() == ['Men"s boots', "Hat"]


def test_quotes_inside_a_quoted_field_are_text_when_the_field_closes_on_its_line(tmp_path: Path):
    text = 'id,name\n1,"the "best" one"\n2,"a ""doubled"" quote"\n3,"x",\n'
    _, records, rejects = _extract(tmp_path, text.replace('"x",\n', '"x"\n'))
    assert rejects.height == 0
    assert records["name"].to_list() == ['the "best" one', 'a "doubled" quote', "x"]


def test_an_unterminated_quote_damages_only_its_own_record(tmp_path: Path):
    text = 'id,name\n1,Ann\n2,"oops\n3,Cy\n4,"again\n5,Ed\n'
    read, records, rejects = _extract(tmp_path, text)
    assert read == 5
    assert records["id"].to_list() == ["1", "3", "5"]
    assert rejects.select("line", "stage").rows() == [(3, "parse"), (5, "parse")]
    assert rejects["reason"].str.starts_with("unterminated quote").all()


def test_too_many_unterminated_quotes_mean_the_quotes_are_text(tmp_path: Path):
    """Over 100 quoted fields that never close: the quote character quotes nothing in this
    file, so it is read as text (not quarantined)."""
    text = "id,name\n" + "".join(f'{i},"x\n' for i in range(150))
    read, records, rejects = _extract(tmp_path, text)
    assert (read, rejects.height) == (150, 0)
    assert set(records["name"].to_list()) == {'"x'}
    dialect = json.loads((tmp_path / "out" / "extract.json").read_text())["dialect"]
    assert (dialect["quote"], dialect["quoting"]) == ("", False)


@pytest.mark.parametrize("seed", range(6))
def test_a_stray_quote_anywhere_loses_no_line(tmp_path: Path, seed: int):
    """A clean file with one quote put at a random place of a random line: every line is a
    record that is parsed or rejected; nothing is quarantined."""
    rng = random.Random(seed)
    lines = [f"{i},name {i},{i * 7 % 100}.5,note {i}" for i in range(40)]
    for _ in range(3):
        row = rng.randrange(len(lines))
        at = rng.randrange(len(lines[row]) + 1)
        lines[row] = lines[row][:at] + '"' + lines[row][at:]
    read, records, rejects = _extract(tmp_path, "id,name,price,note\n" + "\n".join(lines) + "\n")
    assert read == len(lines)
    assert records.height + rejects.height == len(lines)
    kept = set(records["id"].to_list())
    for line in lines:
        if '"' not in line:
            assert line.split(",")[0] in kept  # a clean line is never damaged


def test_backslash_escapes_outside_quotes_are_read(tmp_path: Path):
    """A file escaping delimiters, quotes, line ends and backslashes with a backslash, also
    outside quotes (MySQL's INTO OUTFILE style): each value as meant, each line accounted for."""
    text = (
        'id,name,note\n1,Smith\\, John,plain\n2,"say \\"hi\\"",a\\\\b\n3,two\\\nlines,x\n4,ok,y\n'
    )
    read, records, rejects = _extract(tmp_path, text)
    assert (read, rejects.height) == (4, 0)
    assert records["name"].to_list() == ["Smith, John", 'say "hi"', "two\nlines", "ok"]
    assert records["note"].to_list() == ["plain", "a\\b", "x", "y"]
    assert records["__line"].to_list() == [2, 3, 4, 6]


def test_a_file_whose_quoting_cannot_be_read_is_read_with_quotes_as_text(tmp_path: Path):
    """IMDb-style TSV: quote characters are text, and quoted-looking fields span no lines. When
    the quote character cannot read the file, reading it without one loads every record."""
    rows = [
        f'tt{i}\tmovie\t"Title {i}\t{i % 3}' if i % 7 == 0 else f"tt{i}\tmovie\tT {i}\t1"
        for i in range(1, 60)
    ]
    rows[10] = 'tt11\tmovie\tA "quoted\tpart\n'.rstrip("\n")
    text = "id\ttype\ttitle\tn\n" + "\n".join(rows) + '\ntt99\tshort\t"Say "hi" twice\t2\n'
    read, records, rejects = _extract(tmp_path, text)
    assert read == 60
    assert rejects.height == 0
    assert records.filter(pl.col("id") == "tt7")["title"].to_list() == ['"Title 7']


def test_a_header_with_junk_after_a_quoted_name_is_the_header(tmp_path: Path):
    """``"URL"Comments`` (a quoted name with text after it): the header still names the
    columns, and every record loads."""
    text = '"URL"Comments,id,"Name"\nhttp://x.org,1,Ann\nhttp://y.org,2,Bob\n'
    read, records, rejects = _extract(tmp_path, text)
    assert (read, rejects.height) == (2, 0)
    assert records.columns[:3] == ["urlcomments", "id", "name"]
    assert records["name"].to_list() == ["Ann", "Bob"]


def test_a_one_column_file_with_blank_lines_loads_every_value(tmp_path: Path):
    """A list of values with blank lines between and after them (the parser would read each
    blank line as an empty value): the values, each on its line; the blank lines are blank."""
    read, records, rejects = _extract(tmp_path, 'email\na@x.org\n"q""uoted"\n\n\nb@y.org\n\n')
    assert (read, rejects.height) == (3, 0)
    assert records["email"].to_list() == ["a@x.org", 'q"uoted', "b@y.org"]
    assert records["__line"].to_list() == [2, 3, 6]
