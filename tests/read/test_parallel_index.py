"""The record index of a file without quote bytes is built from chunks read two at a time: it is
the index the chunks read one after another give (records, lines, fields, line endings, stray
bytes), chunk boundaries falling anywhere (chunks of a few KB here)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from csvdock.read import records, scan
from csvdock.read.records import index_records


def _lines(rng: random.Random, features: str) -> list[str]:
    lines = ["id,name,amount"]
    for i in range(3_000):
        k = rng.random()
        if "blank" in features and k < 0.02:
            lines.append("")
        if "ragged" in features and k > 0.99:
            lines.append(f"{i},x,1,2")
        elif "cr" in features and 0.3 < k < 0.31:
            lines.append(f"{i},a\rb,1")
        elif "nul" in features and 0.5 < k < 0.51:
            lines.append(f"{i},a\x00b,1")
        elif "trailing" in features and 0.6 < k < 0.62:
            lines.append(f"{i},abc,1,")
        else:
            lines.append(f"{i},name {i % 97},{i}.{i % 100:02d}")
    return lines


FILES = {
    "plain LF": ("\n", ""),
    "CRLF": ("\r\n", ""),
    "every oddity": ("\n", "blank ragged cr nul trailing"),
    "CRLF oddities, no last newline": ("\r\n", "blank ragged trailing noend"),
    "mixed endings": ("mixed", "blank"),
}


def _index(path: Path, out: Path, delimiter: str):
    found = index_records(path, '"', '"', out, delimiter)
    attributes = {k: v for k, v in vars(found).items() if k != "path"}
    return attributes, pq.read_table(out).to_pydict()


@pytest.mark.parametrize("kind", FILES)
def test_chunks_read_in_parallel_give_the_index_read_in_order(
    workdir: Path, kind: str, monkeypatch: pytest.MonkeyPatch
):
    ending, features = FILES[kind]
    lines = _lines(random.Random(kind), features)
    if ending == "mixed":
        text = "".join(line + ("\r\n" if i % 3 else "\n") for i, line in enumerate(lines))
    else:
        text = ending.join(lines) + ("" if "noend" in features else ending)
    source = workdir / "f.csv"
    source.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(scan, "CHUNK_BYTES", 4099)  # (about 25 chunks)
    monkeypatch.setattr(records, "CHUNK_BYTES", 4099)
    read_apart: list[int] = []
    one_chunk = scan.ChunksApart.chunk_at

    def spied(self, position):
        read_apart.append(position)
        return one_chunk(self, position)

    monkeypatch.setattr(scan.ChunksApart, "chunk_at", spied)
    for delimiter in (",", "\t"):
        parallel = _index(source, workdir / "parallel.parquet", delimiter)
        assert sorted(read_apart) == list(range(0, len(text.encode()), 4099))
        read_apart.clear()
        with monkeypatch.context() as patch:
            patch.setattr(records, "holds_any", lambda *_: True)  # (as a file with quotes)
            in_order = _index(source, workdir / "in_order.parquet", delimiter)
        assert not read_apart
        assert parallel == in_order
