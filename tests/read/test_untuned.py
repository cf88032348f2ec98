"""The second dialect corpus (benchmarks/untuned.py), never tuned on: a floor, not a target.
Where the dialect is right, every value and name reads back as written."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import untuned  # noqa: E402


def test_the_untuned_corpus_reads_right_almost_always(tmp_path: Path):
    outcomes = []
    for case in untuned.cases(120, seed=7):
        (tmp_path / f"{case.name}.csv").write_bytes(case.data)
        outcomes.append(untuned._values_right(case, tmp_path))
    dialects = sum(1 for dialect, _ in outcomes if dialect)
    assert dialects >= 0.95 * len(outcomes)
    assert all(values for dialect, values in outcomes if dialect)
