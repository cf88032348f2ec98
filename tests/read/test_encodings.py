"""Legacy encodings are told by how plausible their text reads, never decoded into mojibake
(issue 24, items 3, 6 and 7)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest
from csvdock.core.settings import TableSettings
from csvdock.read.encoding import implausible_share
from csvdock.read.extract import RECORDS_FILE, REJECTS_FILE, ExtractError, extract_file


def extracted(tmp_path: Path, data: bytes):
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    result = extract_file(source, tmp_path / "out", TableSettings())
    return result, pl.read_parquet(tmp_path / "out" / RECORDS_FILE)


def test_mac_roman_is_read_as_mac_roman_not_as_windows_text(tmp_path):
    names = ["Chloë Sevigny", "Stellan Skarsgård", "Not much ", "Zoë Kravitz", "Björk"]
    lines = ["id,name,score"] + [f"{n},{names[n % 5]},{n * 3}" for n in range(40)]
    result, records = extracted(tmp_path, "\n".join(lines).encode("mac_roman") + b"\n")
    assert result.dialect["encoding"] == "mac-roman"
    assert records["name"].to_list()[:5] == names


def test_cp1251_with_yo_is_read_as_cp1251(tmp_path):
    names = ["Пётр", "Королёв", "Иванов", "Сергей", "Фёдор"]
    lines = ["id,name"] + [f"{n},{names[n % 5]} {n}" for n in range(30)]
    data = "\n".join(lines).encode("cp1251") + b"\n"
    assert "Пё".encode("cp1251").decode("utf-8")  # some cp1251 byte pairs are valid UTF-8
    result, records = extracted(tmp_path, data)
    assert result.dialect["encoding"] == "cp1251"
    assert records["name"][0] == "Пётр 0" and records["name"][1] == "Королёв 1"


def test_a_few_stray_bytes_reject_only_their_records_whatever_their_share(tmp_path):
    lines = ["id,name"] + [f"{n},naïve café {n}" for n in range(378)]
    data = ("\n".join(lines) + "\n").encode()
    for n in range(10):
        line = f"\n{n * 30},naïve"
        data = data.replace(line.encode(), line.encode("latin-1"))
    result, records = extracted(tmp_path, data)
    rejects = pl.read_parquet(tmp_path / "out" / REJECTS_FILE)
    assert result.dialect["encoding"] == "utf-8"
    assert records.height == 368 and rejects.height == 10  # 10 of 378 (2.6%): still recovered
    assert "naïve café 1" in records["name"].to_list()


def test_random_bytes_are_not_text_in_any_encoding(tmp_path):
    rng = random.Random(7)
    high = bytes(rng.randrange(0x80, 0x100) for _ in range(4096))
    with pytest.raises(ExtractError):
        extracted(tmp_path, high)


def test_plausibility_tells_mojibake_from_text():
    assert implausible_share("Chloë, Skarsgård, Ærø, Hélène, naïve") == 0
    assert implausible_share("Пётр Королёв") == 0
    assert implausible_share("Chlo‘ SkarsgŒrd") == 1
    assert implausible_share("Ï¸òð Êîðîë¸â") > 0.5
    assert implausible_share("cafÃ© Ã¼ber") > 0.5


def test_two_readings_equally_plausible_quarantine_with_both_in_the_reason(monkeypatch):
    """Neither reading clearly right (both a little implausible, equally): never a guess."""
    from csvdock.read import encoding

    # The guess (cp1250: "naďve") reads worse; the rest are equally a little implausible.
    monkeypatch.setattr(encoding, "implausible_share", lambda text: 0.2 if "ď" in text else 0.1)
    sample = "naïve,Zoë\n".encode("cp1252") * 20
    with pytest.raises(encoding.AmbiguousEncoding) as caught:
        encoding._legacy_encoding(sample, "cp1250", set())
    assert "reads" in str(caught.value) and "set `encoding`" in str(caught.value)


BIG_LINES = ["id,name,city"] + [f"{n},user {n},Oslo" for n in range(400_000)]  # 10 MB, ASCII


@pytest.mark.parametrize(
    ("kind", "encoding", "loaded"),
    [
        ("UTF-8 throughout", "utf-8", 400_000),
        ("Windows-1252 past the first megabytes", "cp1252", 400_000),
        ("UTF-8 with a stray byte", "utf-8", 399_999),
    ],
)
def test_a_big_file_read_as_utf8_while_checked_is_read_again_in_its_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, encoding: str, loaded: int
):
    """A big file that starts as UTF-8 is read as UTF-8 while its encoding is checked beside it
    (``extract._extract``); where it turns out to be in another, or to hold a stray byte, that
    reading is dropped and the file is read again: its text is never decoded wrongly."""
    from csvdock.read import extract

    lines = list(BIG_LINES)
    if kind == "UTF-8 with a stray byte":  # (UTF-8 text throughout, one byte of Latin-1)
        lines = [line.replace("Oslo", "Tromsø") for line in lines]
    if kind != "UTF-8 throughout":
        lines[300_001] = "300000,Zoë Café,Zürich"
    data = ("\n".join(lines) + "\n").encode("cp1252" if "1252" in kind else "utf-8")
    if kind == "UTF-8 with a stray byte":
        data = data.replace("Zoë".encode(), b"Zo\xeb")
    assert len(data) >= extract.SPECULATE_BYTES
    readings: list[str] = []
    read_as = extract._extract_as

    def spied(path, out_dir, settings, sha256, plan_only, encoding_, stray):
        readings.append(encoding_)
        return read_as(path, out_dir, settings, sha256, plan_only, encoding_, stray)

    monkeypatch.setattr(extract, "_extract_as", spied)
    result, records = extracted(tmp_path, data)
    assert result.dialect["encoding"] == encoding and records.height == loaded
    assert readings == ["utf-8"] if kind == "UTF-8 throughout" else ["utf-8", encoding]
    if kind == "Windows-1252 past the first megabytes":
        assert records.filter(pl.col("id") == "300000")["name"].to_list() == ["Zoë Café"]
