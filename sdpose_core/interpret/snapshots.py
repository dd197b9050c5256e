"""A training run's saved snapshots, each run on one photo (the "distillation stages" view)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from sdpose_core.evaluate.inference import PoseResult, run_pose
from sdpose_core.io.checkpoint import model_from_checkpoint, read_checkpoint
from sdpose_core.train.run_dir import RunDir


@dataclass
class SnapshotPrediction:
    """One snapshot's prediction: ``label`` (e.g. 'epoch 3'), its file, and the pose result."""

    label: str
    path: Path
    result: PoseResult


def open_run(root: str | Path) -> RunDir:
    """An existing run folder (one with ``history/``); never creates anything."""
    root = Path(root)
    if not (root / "history").is_dir():
        raise ValueError(f"{root} is not a training run folder (no history/ snapshots inside)")
    return RunDir(root)


def snapshot_predictions(root: str | Path, image: np.ndarray, bbox: Sequence[float] | None = None,
                         max_snapshots: int = 12) -> list[SnapshotPrediction]:
    """Load each ``history/epoch_*.pt`` of a run (evenly thinned to ``max_snapshots``) and run it."""
    paths = open_run(root).snapshots()
    if not paths:
        raise ValueError(f"{root} has no saved snapshots yet")
    if len(paths) > max_snapshots:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_snapshots).round().astype(int))
        paths = [paths[i] for i in keep]
    out = []
    for path in paths:
        obj = read_checkpoint(path)
        label = obj.get("label") or f"epoch {int(path.stem.split('_')[-1]) + 1}"  # bundled: "stage 2 epoch 1"
        out.append(SnapshotPrediction(str(label), path, run_pose(model_from_checkpoint(obj, str(path)), image, bbox)))
    return out


def run_metrics(root: str | Path) -> list[dict]:
    """The run's metrics.jsonl records (complete lines only)."""
    return open_run(root).read_metrics()
