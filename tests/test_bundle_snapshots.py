"""benchmarks/bundle_checkpoints.py's snapshot choice: the bundled history keeps both sides of the
run's measured jump, its first and last epochs, whatever epoch the jump came at."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bundle_checkpoints import pick_snapshots  # noqa: E402


def _epochs(chosen: list[Path]) -> list[int]:
    return [int(p.stem) for p in chosen]


def _curve(jump_at: int, epochs: int) -> list[float]:
    """A run that creeps, jumps by 0.4 at epoch ``jump_at``, then flattens."""
    return [0.01 * e + (0.4 if e >= jump_at else 0.0) for e in range(epochs)]


SNAPS = [Path(f"{e}") for e in range(24)]


@pytest.mark.parametrize("jump_at", [1, 4, 9, 17, 23])
def test_five_snapshots_hold_both_sides_of_the_jump_and_both_ends(jump_at):
    chosen = _epochs(pick_snapshots(SNAPS, _curve(jump_at, 24), keep=5))
    assert len(chosen) == 5 == len(set(chosen)) and chosen == sorted(chosen)
    assert {jump_at - 1, jump_at, 0, 23} <= set(chosen)


def test_four_keep_the_jump_the_last_and_the_first():
    assert _epochs(pick_snapshots(SNAPS, _curve(9, 24), keep=4)) == [0, 8, 9, 23]
    assert _epochs(pick_snapshots(SNAPS, _curve(9, 24), keep=3)) == [8, 9, 23]


def test_gaps_are_filled_when_the_jump_is_at_an_end():
    # jump at epoch 1: epochs 0, 1, 23, 22 then the middle of the widest gap (1..22)
    assert _epochs(pick_snapshots(SNAPS, _curve(1, 24), keep=5)) == [0, 1, 11, 22, 23]
    assert _epochs(pick_snapshots(SNAPS, _curve(1, 24), keep=7)) == [0, 1, 6, 11, 16, 22, 23]


def test_short_runs_and_small_budgets():
    assert _epochs(pick_snapshots(SNAPS[:4], _curve(2, 4), keep=5)) == [0, 1, 2, 3]
    assert _epochs(pick_snapshots(SNAPS, _curve(9, 24), keep=1)) == [23]
    assert _epochs(pick_snapshots(SNAPS, _curve(9, 24), keep=2)) == [22, 23]


def test_metrics_and_snapshots_must_agree():
    with pytest.raises(ValueError, match="24 snapshots but 20 epochs"):
        pick_snapshots(SNAPS, _curve(3, 20), keep=5)
