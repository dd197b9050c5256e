"""Shared test fixtures: paths to ../shared (read in place, never copied)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
OFFICIAL = SHARED / "fixtures" / "official"
REAL = SHARED / "real"


@pytest.fixture(scope="session")
def official_dir() -> Path:
    if not OFFICIAL.is_dir():
        pytest.fail(f"official fixtures not found at {OFFICIAL}: clone the project with ../shared beside it")
    return OFFICIAL


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.fail(f"real photos not found at {REAL}: clone the project with ../shared beside it")
    return REAL


def write_random_checkpoints(folder: Path, names=("synth-teacher", "synth-student", "synth-regression")) -> Path:
    """Random-weight zoo checkpoints ``folder/<name>.pt`` (seeded): plumbing tests of the explorer."""
    import torch

    from sdpose_core.io.checkpoint import save_model
    from sdpose_core.models.zoo import build_model

    torch.manual_seed(0)
    for name in names:
        save_model(build_model(name), folder / f"{name}.pt")
    return folder
