"""A file's SHA-256 (its identity in the ledger), and digests begun early.

``csvdock ingest`` names its files before it loads its libraries (about half a second of imports
on one core): ``hash_early`` starts hashing the large ones then, in a thread on the other core,
so a 5M-record file's 0.6 s of hashing leaves the run's critical path. ``file_sha256`` takes an
early digest only while the file is the version it hashed (device, inode, size and mtime before
and after the read, and when asked), else it hashes the file again. Standard library only: it
runs before the libraries load.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

# Blocks of 16 MB: the hashing thread takes the GIL back once a block, and the imports beside it
# hold it for up to 5 ms at a time: 5M records (533 MB) were hashed 0.8-0.9 s into the run with
# blocks of 1 MB, 0.6-0.7 s (as the imports end) with blocks of 16 MB.
BLOCK_BYTES = 16 << 20
EARLY_BYTES = 8 << 20  # a smaller file is hashed when asked (milliseconds)

Identity = tuple[int, int, int, int]


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes (an early digest of this version, if any)."""
    early = _early.get(os.path.realpath(path))
    digest = early.result() if early is not None else None
    return digest if digest is not None else _sha256(path)


def hash_early(paths: Iterable[str]) -> None:
    """Start hashing, one after the other in one thread, those of ``paths`` that are regular
    files of at least ``EARLY_BYTES`` (anything else is left alone: it may be no file at all)."""
    digests = []
    for name in paths:
        try:
            found = os.stat(name)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(found.st_mode) and found.st_size >= EARLY_BYTES:
            early = _EarlyDigest(name)
            _early[os.path.realpath(name)] = early
            digests.append(early)
    if digests:
        threading.Thread(target=_compute, args=(digests,), name="csvdock-hash", daemon=True).start()


def _compute(digests: list[_EarlyDigest]) -> None:
    for digest in digests:
        digest.compute()


def _sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            digest.update(block)  # (hashlib lets other threads run while it hashes a block)
    return digest.hexdigest()


def _identity(path: str) -> Identity:
    found = os.stat(path)
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


class _EarlyDigest:
    """One file's digest, computed in the hashing thread, with the version it is of."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = threading.Event()
        self.digest: str | None = None
        self.identity: Identity | None = None

    def compute(self) -> None:
        try:
            before = _identity(self.path)
            digest = _sha256(self.path)
            if _identity(self.path) == before:
                self.identity, self.digest = before, digest
        except OSError:
            pass  # asked for, the file is hashed again (and its error raised there)
        finally:
            self.done.set()

    def result(self) -> str | None:
        """Return the digest where the file is still the version hashed, else None."""
        self.done.wait()
        try:
            return self.digest if _identity(self.path) == self.identity else None
        except OSError:
            return None


_early: dict[str, _EarlyDigest] = {}


def _forget_in_child() -> None:
    """A forked child has no hashing thread (only the forking thread lives on): it hashes the
    files itself rather than wait for a digest that never comes."""
    _early.clear()


os.register_at_fork(after_in_child=_forget_in_child)
