"""RunDir: atomic checkpoint files, snapshot history and a metrics log that survives a kill."""
from __future__ import annotations

import json

import pytest
import torch

from sdpose_core.io.atomic import atomic_torch_save
from sdpose_core.train.run_dir import RunDir


def test_state_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.load_state() is None
    state = {"epoch": 3, "model": {"w": torch.arange(6.0).view(2, 3)}, "rng": torch.get_rng_state()}
    run.save_state(state)
    loaded = run.load_state()
    assert loaded["epoch"] == 3
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert torch.equal(loaded["rng"], state["rng"])
    # no temporary files left behind
    assert sorted(p.name for p in run.root.iterdir()) == ["history", "last.pt"]


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save({"v": torch.tensor(1.0)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_torch_save({"v": Unpicklable()}, path)
    assert torch.load(path, weights_only=True)["v"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_metrics_log_skips_torn_line_and_truncates(tmp_path):
    run = RunDir(tmp_path)
    for epoch in range(3):
        run.log({"epoch": epoch, "AP": epoch / 10})
    with open(run.metrics_path, "a") as handle:  # a kill in the middle of a write
        handle.write('{"epoch": 3, "AP"')
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1, 2]
    run.truncate_metrics_after(1)
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]
    assert all(json.loads(line) for line in run.metrics_path.read_text().splitlines())


def test_snapshots_sorted_and_file_root_refused(tmp_path):
    run = RunDir(tmp_path / "r")
    for epoch in (2, 0, 1):
        run.save_snapshot(epoch, {"epoch": epoch})
    assert [p.name for p in run.snapshots()] == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        RunDir(tmp_path / "file")
