"""Digests begun early (``csvdock ingest`` hashes its files while its libraries load): taken only
while the file is the version hashed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from csvdock.core import digests


@pytest.fixture(autouse=True)
def _every_file_early(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(digests, "EARLY_BYTES", 0)
    monkeypatch.setattr(digests, "_early", {})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_early_digest_is_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n" * 1000)
    digests.hash_early([str(path), "--json", str(tmp_path / "missing.csv"), str(tmp_path)])
    assert list(digests._early) == [os.path.realpath(path)]  # files only, the rest left alone
    digests._early[os.path.realpath(path)].done.wait()

    def hashed_again(path: Path) -> str:
        raise AssertionError("the early digest was not taken")

    monkeypatch.setattr(digests, "_sha256", hashed_again)
    assert digests.file_sha256(path) == sha(b"id\n1\n" * 1000)


def test_a_file_changed_after_its_early_digest_is_hashed_again(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n")
    digests.hash_early([str(path)])
    digests._early[os.path.realpath(path)].done.wait()
    path.write_bytes(b"id\n2\n")  # the same size, another version
    os.utime(path, ns=(1, 1))  # (even within the clock's tick)
    assert digests.file_sha256(path) == sha(b"id\n2\n")


def test_a_file_replaced_after_its_early_digest_is_hashed_again(tmp_path: Path):
    path, other = tmp_path / "a.csv", tmp_path / "b.csv"
    path.write_bytes(b"id\n1\n")
    digests.hash_early([str(path)])
    digests._early[os.path.realpath(path)].done.wait()
    other.write_bytes(b"id\n3\n")
    stat = path.stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size and time
    other.replace(path)  # another inode
    assert digests.file_sha256(path) == sha(b"id\n3\n")


def test_a_file_gone_after_its_early_digest_raises_when_asked(tmp_path: Path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n")
    digests.hash_early([str(path)])
    path.unlink()
    with pytest.raises(FileNotFoundError):
        digests.file_sha256(path)


def test_a_forked_child_hashes_the_file_itself(tmp_path: Path):
    """The hashing thread does not live on in a forked child (a task's process): the child must
    not wait for its digest."""
    import multiprocessing

    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n")
    digests._early[os.path.realpath(path)] = digests._EarlyDigest(str(path))  # never computed
    with multiprocessing.get_context("fork").Pool(1) as pool:
        found = pool.apply_async(digests.file_sha256, (path,)).get(timeout=30)
    assert found == sha(b"id\n1\n")
