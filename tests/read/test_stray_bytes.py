"""A UTF-8 file with a few stray bytes loads; the records holding them are set aside. A file with
many is not UTF-8 with strays, and is never decoded with a guessed encoding."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import TableSettings
from csvdock.read.extract import RECORDS_FILE, REJECTS_FILE, ExtractError, extract_file


def test_a_stray_byte_in_a_utf8_file_rejects_its_record_only(tmp_path: Path):
    body = "".join(f"{i},café {i}\n" for i in range(200)).encode()
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,name\n" + body.replace(b"5,caf\xc3\xa9 5\n", b"5,caf\xe9 5\n"))
    result = extract_file(source, tmp_path / "out", TableSettings())
    records = pl.read_parquet(tmp_path / "out" / RECORDS_FILE)
    rejects = pl.read_parquet(tmp_path / "out" / REJECTS_FILE)
    assert (result.dialect["encoding"], result.rows_read) == ("utf-8", 200)
    assert rejects.select("line", "stage").rows() == [(7, "parse")]
    assert "not valid UTF-8" in rejects["reason"][0]
    assert records.height == 199 and "café 6" in records["name"].to_list()


def test_many_stray_bytes_are_not_strays(tmp_path: Path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,name\n" + b"".join(b"%d,\xfd\xfd \xf0\xfd\n" % i for i in range(50)))
    with pytest.raises(ExtractError, match="not valid UTF-8"):
        extract_file(source, tmp_path / "out", TableSettings())


def _invalid_offsets(data: bytes) -> list[int]:
    """Where Python's UTF-8 decoder finds each invalid sequence (the reference)."""
    found, at = [], 0
    while True:
        try:
            data[at:].decode("utf-8")
            return found
        except UnicodeDecodeError as exc:
            found.append(at + exc.start)
            at += exc.end


def test_the_utf8_scan_finds_what_the_decoder_finds(tmp_path, monkeypatch):
    """The scan checks a valid block with Arrow and decodes only a block that is not: across
    block edges cutting characters in two, it finds the stray bytes where the decoder does."""
    import random

    from csvdock.read import encoding

    monkeypatch.setattr(encoding, "CHUNK_BYTES", 7)  # characters cut at block edges
    rng = random.Random(5)
    pieces = ["a", "é", "€", "𝄞", "中", ",", "\n"]
    for case in range(300):
        data = bytearray("".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))).encode())
        for _ in range(rng.randint(0, 3)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"{case}.csv"
        path.write_bytes(bytes(data))
        scan = encoding._scan_utf8(path)
        assert list(scan.invalid) == _invalid_offsets(bytes(data)), bytes(data)
