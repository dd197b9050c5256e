"""A training run folder: atomic checkpoints, snapshot history and a JSON-lines metrics log.

Layout of ``RUN/``::

    config.json            the recipe and arguments the run was started with
    last.pt                full state (model, optimiser, scheduler, epoch, RNG) after the last finished epoch
    history/epoch_003.pt   model weights after each epoch (for the convergence view)
    metrics.jsonl          one JSON object per line: {"epoch", "step", "split", ...metrics}

Every file is written to a temporary name in the same folder, flushed, fsynced and then
moved into place with ``os.replace``; a run killed at any moment leaves either the old
or the new file, never a torn one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sdpose_core.io.atomic import atomic_torch_save, atomic_write_bytes


class RunDir:
    """The files of one training run. Creating it never deletes anything already there."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"run folder {self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "history").mkdir(exist_ok=True)

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    def snapshot_path(self, epoch: int) -> Path:
        return self.root / "history" / f"epoch_{epoch:03d}.pt"

    def write_config(self, config: dict) -> None:
        atomic_write_bytes(self.root / "config.json", json.dumps(config, indent=2, sort_keys=True).encode())

    def read_config(self) -> dict | None:
        path = self.root / "config.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save_state(self, state: dict) -> None:
        atomic_torch_save(state, self.last)

    def load_state(self) -> dict | None:
        """The last finished epoch's state, or None for a fresh run."""
        if not self.last.exists():
            return None
        return torch.load(self.last, map_location="cpu", weights_only=True)

    def save_snapshot(self, epoch: int, payload: dict) -> Path:
        path = self.snapshot_path(epoch)
        atomic_torch_save(payload, path)
        return path

    def snapshots(self) -> list[Path]:
        return sorted((self.root / "history").glob("epoch_*.pt"))

    def log(self, record: dict) -> None:
        """Append one metrics record (flushed and fsynced: a kill loses at most the line being written)."""
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_metrics(self) -> list[dict]:
        """Every complete line of the metrics log (a torn last line from a kill is skipped)."""
        if not self.metrics_path.exists():
            return []
        records = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_metrics_after(self, epoch: int) -> None:
        """On resume, drop records of an epoch that never finished (epoch > last finished)."""
        if not self.metrics_path.exists():
            return
        kept = [r for r in self.read_metrics() if r.get("epoch", -1) <= epoch]
        atomic_write_bytes(self.metrics_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())
