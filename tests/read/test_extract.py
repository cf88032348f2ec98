from pathlib import Path

import numpy as np
import polars as pl
import pytest
from csvdock.core.settings import TableSettings
from csvdock.read.extract import ExtractError, extract_file
from csvdock.read.records import index_records


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


MESSY = (
    'id,name,amount\n1,"a\nb",1.5\n2,bob,2\n3,carl\n4,"x""y",3,extra\n\n5,eve,7\n6,"p\nq\nr",8\n7\n'
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_rejects_carry_editor_line_numbers_after_quoted_newlines(tmp_path, newline):
    source = write(tmp_path / "messy.csv", MESSY, newline)
    result = extract_file(source, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / "records.parquet")
    rejects = pl.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert result.rows_read == 7
    assert records["id"].to_list() == ["1", "2", "5", "6"]
    assert records["__line"].to_list() == [2, 4, 8, 9]
    assert rejects["line"].to_list() == [5, 6, 12]
    assert rejects["stage"].unique().to_list() == ["parse"]
    assert rejects["reason"][0].startswith("missing columns")
    assert rejects["reason"][1].startswith("too many columns")
    assert result.rows_read == records.height + rejects.height


@pytest.mark.parametrize(
    "ragged",
    [
        ["1,2,3,4", "5,6"],  # DuckDB rejects both: left out of the positions up front
        ["1,2,3,", "5,6"],  # an extra empty last field DuckDB may let through
        ["1,2,3," * 3, '"q,"x'],  # a long one and a quote DuckDB rejects for its own reason
    ],
)
def test_every_good_record_keeps_its_own_line_around_ragged_records(tmp_path, ragged):
    lines = ["a,b,c"]
    expected_lines = []
    for number in range(2, 40):
        if number in (7, 23):
            lines.append(ragged[0] if number == 7 else ragged[1])
        else:
            lines.append(f"{number},x{number},y{number}")
            expected_lines.append(number)
    source = write(tmp_path / "r.csv", "\n".join(lines) + "\n")
    extract_file(source, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / "records.parquet")
    rejects = pl.read_parquet(tmp_path / "out" / "rejects.parquet")
    assert records["__line"].to_list() == expected_lines
    assert records["a"].to_list() == [str(n) for n in expected_lines]  # values with their line
    assert records["c"].to_list() == [f"y{n}" for n in expected_lines]
    assert rejects["line"].to_list() == [7, 23]


def test_record_index_is_the_same_across_chunk_and_row_group_boundaries(tmp_path, monkeypatch):
    source = write(tmp_path / "m.csv", MESSY)
    whole = pl.read_parquet(index_records(source, '"', '"', tmp_path / "whole.parquet").path)
    monkeypatch.setattr("csvdock.read.scan.CHUNK_BYTES", 3)
    monkeypatch.setattr("csvdock.read.records.INDEX_ROW_GROUP", 2)
    index = index_records(source, '"', '"', tmp_path / "chunked.parquet")
    chunked = pl.read_parquet(index.path)
    assert chunked.equals(whole)
    assert chunked["__line"].to_list() == [1, 2, 4, 5, 6, 8, 9, 12]
    assert chunked["__end"].to_list() == [*chunked["__start"].to_list()[1:], source.stat().st_size]
    starts = chunked["__start"].to_list()
    probes = np.array([0, starts[3], starts[3] + 1, starts[7] + 1])
    assert index.records_at_or_after(probes).tolist() == [0, 3, 4, 8]
    assert index.positions_of(np.array([1, 6]))["__line"].tolist() == [2, 9]
    kept = pl.read_parquet(index.write_positions(tmp_path / "kept.parquet", 1, np.array([3, 4])))
    assert kept["__line"].to_list() == [2, 4, 8, 9, 12]


def test_header_only_file_has_no_records(tmp_path):
    result = extract_file(write(tmp_path / "h.csv", "a,b\n"), tmp_path / "out", TableSettings())
    assert (result.rows_read, result.rows_rejected, result.columns) == (0, 0, ["a", "b"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty: no header and no records"),
        (b"\x1f\x8b\x08\x00\x00\x00", "the file is gzip-compressed, not CSV text"),
        (b"PK\x03\x04rest", "the file is zip-compressed, not CSV text"),
        (b"\x00\x01\x00\x02" * 100, "the file is binary (NUL bytes), not CSV text"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path, content, message):
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    with pytest.raises(ExtractError) as caught:
        extract_file(source, tmp_path / "out", TableSettings())
    assert str(caught.value) == message


def test_semicolon_files_are_sniffed(tmp_path):
    source = write(tmp_path / "s.csv", "a;b\n1;2\n3;4\n")
    result = extract_file(source, tmp_path / "out", TableSettings())
    assert result.dialect["delimiter"] == ";"
    assert result.columns == ["a", "b"]
    assert result.rows_read == 2


def test_the_record_index_is_the_same_whatever_its_row_groups(tmp_path, monkeypatch):
    """Records wait for the next one to know where they end, across chunks and row groups:
    an index written in row groups of 37 records equals one written in a single group."""
    import pyarrow.parquet as pq
    from csvdock.read import records

    path = tmp_path / "groups.csv"
    body = "".join(f'{i},"x\n{i}",z\n' if i % 7 == 0 else f"{i},y\n\n" for i in range(1000))
    path.write_text("id,a\n" + body)
    whole = records.index_records(path, '"', '"', tmp_path / "whole.parquet", ",")
    monkeypatch.setattr(records, "INDEX_ROW_GROUP", 37)
    monkeypatch.setattr("csvdock.read.scan.CHUNK_BYTES", 1000)
    grouped = records.index_records(path, '"', '"', tmp_path / "grouped.parquet", ",")
    assert len(whole) == len(grouped) == 1001
    assert pq.ParquetFile(tmp_path / "grouped.parquet").num_row_groups > 1
    assert pq.read_table(tmp_path / "grouped.parquet").equals(
        pq.read_table(tmp_path / "whole.parquet")
    )
