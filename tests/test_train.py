"""The trainer: every recipe trains, runs resume, teachers stay frozen, a SIGKILL loses nothing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sdpose_core import load_model
from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.io.checkpoint import save_model
from sdpose_core.models.zoo import build_model, get_config
from sdpose_core.train.run_dir import RunDir
from sdpose_core.train.trainer import TrainOptions, train

TINY = dict(epochs=2, batch_size=8, max_steps_per_epoch=4, progress=False)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    return {"train": generate_dataset(root / "train", num=48, seed=1, progress=False),
            "val": generate_dataset(root / "val", num=16, seed=2, progress=False)}


def _teacher(tmp_path: Path, zoo_name: str, **overrides) -> Path:
    torch.manual_seed(0)
    return save_model(build_model(get_config(zoo_name, **overrides)), tmp_path / f"{zoo_name}-teacher.pt")


@pytest.mark.parametrize("recipe,model", [("teacher", None), ("teacher", "synth-cnn-teacher"), ("baseline", None),
                                          ("sdpose", None), ("regression", None), ("simcc", None)])
def test_recipe_trains_and_writes_run(recipe, model, synth, tmp_path):
    history = train(TrainOptions(recipe=recipe, data=synth["train"], val=synth["val"], out=tmp_path, model=model,
                                 **TINY))
    assert [r["epoch"] for r in history] == [0, 1]
    assert all(0.0 <= r["AP"] <= 1.0 and torch.isfinite(torch.tensor(r["total"])) for r in history)
    run = RunDir(tmp_path)
    assert [p.name for p in run.snapshots()] == ["epoch_000.pt", "epoch_001.pt"]
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]
    expected = {"teacher": "synth-teacher", "regression": "synth-regression", "simcc": "synth-simcc"}
    assert load_model(tmp_path / "model.pt").config.name == (model or expected.get(recipe, "synth-student"))


def test_sdpose_logs_token_terms_and_baseline_does_not(synth, tmp_path):
    sd = train(TrainOptions(recipe="sdpose", data=synth["train"], out=tmp_path / "sd", **TINY))
    base = train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path / "b", **TINY))
    assert sd[0]["kpt_dist_loss"] > 0 and sd[0]["vis_dist_loss"] > 0
    assert "kpt_dist_loss" not in base[0]


def test_loss_goes_down(synth, tmp_path):
    history = train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, epochs=3, batch_size=8,
                                 max_steps_per_epoch=6, lr=2e-3, progress=False))
    assert history[-1]["total"] < history[0]["total"]


def test_distilpose_teacher_stays_frozen(synth, tmp_path):
    teacher_path = _teacher(tmp_path, "synth-teacher")
    before = torch.load(teacher_path, weights_only=True)["state_dict"]
    history = train(TrainOptions(recipe="distilpose", data=synth["train"], out=tmp_path / "run",
                                 teacher=teacher_path, **TINY))
    for key in ("reg_loss", "reg2hm_loss", "score_loss", "kpt_dist_loss", "vis_dist_loss"):
        assert key in history[0]
    after = torch.load(teacher_path, weights_only=True)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_dwpose_two_stages(synth, tmp_path):
    teacher_path = _teacher(tmp_path, "synth-simcc", depth=6)
    s1 = train(TrainOptions(recipe="dwpose-s1", data=synth["train"], out=tmp_path / "s1",
                            teacher=teacher_path, **TINY))
    assert s1[1]["decay"] == pytest.approx(0.5)  # r(t) = 1 - t / T with 0-based t, T = 2
    s2 = train(TrainOptions(recipe="dwpose-s2", data=synth["train"], out=tmp_path / "s2",
                            teacher=tmp_path / "s1" / "model.pt", **TINY))
    assert set(s2[0]) >= {"loss_logit", "total"} and "loss_kpt" not in s2[0]
    stage1 = load_model(tmp_path / "s1" / "model.pt").state_dict()
    stage2 = load_model(tmp_path / "s2" / "model.pt").state_dict()
    assert all(torch.equal(stage1[k], stage2[k]) for k in stage1 if not k.startswith("head."))
    assert any(not torch.equal(stage1[k], stage2[k]) for k in stage1 if k.startswith("head."))


def test_teacher_with_wrong_head_is_refused(synth, tmp_path):
    with pytest.raises(ValueError, match="heatmap head"):
        train(TrainOptions(recipe="distilpose", data=synth["train"], out=tmp_path / "r",
                           teacher=_teacher(tmp_path, "synth-simcc"), **TINY))
    with pytest.raises(ValueError, match="needs --teacher"):
        train(TrainOptions(recipe="dwpose-s1", data=synth["train"], out=tmp_path / "r2", **TINY))


@pytest.mark.parametrize("field,value", [("epochs", 0), ("epochs", -3), ("batch_size", 0), ("lr", -1.0)])
def test_absurd_options_are_refused(field, value, synth, tmp_path):
    with pytest.raises(ValueError, match=field.replace("_", "-")):
        TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, **{field: value})


def test_resume_continues_after_last_finished_epoch(synth, tmp_path):
    first = train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, **{**TINY, "epochs": 1}))
    resumed = train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, **{**TINY, "epochs": 3}))
    assert [r["epoch"] for r in resumed] == [1, 2]
    logged = RunDir(tmp_path).read_metrics()
    assert [r["epoch"] for r in logged] == [0, 1, 2]
    assert logged[0]["total"] == first[0]["total"]
    with pytest.raises(ValueError, match="holds a 'baseline' run"):
        train(TrainOptions(recipe="sdpose", data=synth["train"], out=tmp_path, **TINY))


def test_sigkill_then_resume_loses_no_finished_epoch(synth, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sdpose_core", "train", "--recipe", "baseline", "--data", str(synth["train"]),
           "--out", str(out), "--epochs", "4", "--batch-size", "8", "--max-steps", "3", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "last.pt").exists():  # epoch 0 finished (its state is written last)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "first epoch never finished"
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere inside a later epoch or a checkpoint write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    state = torch.load(out / "last.pt", weights_only=True)  # never torn
    assert 0 <= state["epoch"] < 3
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    epochs = [r["epoch"] for r in RunDir(out).read_metrics()]
    assert epochs == [0, 1, 2, 3]
    assert json.loads((out / "config.json").read_text())["recipe"] == "baseline"


@pytest.mark.parametrize("failing_epoch", [0, 1])
def test_kill_between_metrics_row_and_state_retrains_that_epoch_once(synth, tmp_path, monkeypatch, failing_epoch):
    """The window the SIGKILL test can hit: an epoch's row is logged, its state is not saved yet."""
    real_save = RunDir.save_state

    def dies_at(self, state):
        if state["epoch"] == failing_epoch:
            raise KeyboardInterrupt("killed")
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_state", dies_at)
    with pytest.raises(KeyboardInterrupt):
        train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, **{**TINY, "epochs": 3}))
    assert [r["epoch"] for r in RunDir(tmp_path).read_metrics()] == list(range(failing_epoch + 1))
    monkeypatch.setattr(RunDir, "save_state", real_save)
    resumed = train(TrainOptions(recipe="baseline", data=synth["train"], out=tmp_path, **{**TINY, "epochs": 3}))
    assert [r["epoch"] for r in resumed] == list(range(failing_epoch, 3))
    assert [r["epoch"] for r in RunDir(tmp_path).read_metrics()] == [0, 1, 2]


def test_a_folder_that_is_not_this_recipes_run_is_refused_before_anything_is_written(synth, tmp_path):
    killed = tmp_path / "killed"  # another recipe's run whose first epoch never saved its state
    RunDir(killed).write_config({"recipe": "sdpose"})
    RunDir(killed).log({"epoch": 0, "AP": 0.1})
    foreign = tmp_path / "foreign"  # a metrics log this trainer did not write (no config.json)
    RunDir(foreign).log({"epoch": 0, "AP": 0.5})
    for folder, message in ((killed, "holds a 'sdpose' run"), (foreign, "no config.json")):
        before = (folder / "metrics.jsonl").read_bytes()
        with pytest.raises(ValueError, match=message):
            train(TrainOptions(recipe="baseline", data=synth["train"], out=folder, **TINY))
        assert (folder / "metrics.jsonl").read_bytes() == before


def test_same_script_runs_under_torchrun(synth, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sdpose_core",
           "train", "--recipe", "sdpose", "--data", str(synth["train"]), "--out", str(out), "--epochs", "2",
           "--batch-size", "4", "--max-steps", "2", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("finished sdpose") == 1  # rank 0 only
    assert [r["epoch"] for r in RunDir(out).read_metrics()] == [0, 1]
    assert load_model(out / "model.pt").config.name == "synth-student"


def test_cli_backbone_flags_copy_and_freeze_the_pretrained_backbone(synth, tmp_path):
    """`sdpose train --recipe backbone`, then `--backbone` + `--augment flip` + `--threads 1`: the
    student ends with exactly the pretrained backbone weights, BN statistics included."""
    from sdpose_core.cli import main as cli_main
    from sdpose_core.io.checkpoint import load_model

    common = ["--data", str(synth["train"]), "--epochs", "1", "--max-steps", "2", "--batch-size", "8",
              "--augment", "flip", "--threads", "1", "--quiet"]
    assert cli_main(["train", "--recipe", "backbone", "--out", str(tmp_path / "bb"), *common]) == 0
    assert cli_main(["train", "--recipe", "simcc", "--backbone", str(tmp_path / "bb" / "model.pt"),
                     "--out", str(tmp_path / "st"), *common]) == 0
    pretrained, student = load_model(tmp_path / "bb" / "model.pt"), load_model(tmp_path / "st" / "model.pt")
    for (key, mine), theirs in zip(student.backbone.state_dict().items(), pretrained.backbone.state_dict().values()):
        assert torch.equal(mine, theirs), key
    assert student.config.stem_stages == (64, 128) and student.config.grid_size == (8, 6)


def test_backbone_file_or_checkpoint_and_finetune_flag(synth, tmp_path):
    """``--backbone`` reads a shared backbone-only file as well as a whole checkpoint (same weights);
    students keep it frozen, ``--finetune-backbone`` (the teachers) trains it."""
    from sdpose_core.io.checkpoint import read_backbone, save_backbone

    torch.manual_seed(3)
    pretrained = build_model("synth-backbone")
    whole = save_model(pretrained, tmp_path / "bb.pt")
    shared = save_backbone(pretrained, tmp_path / "backbone.pt", half=False)
    a, b = read_backbone(whole), read_backbone(shared)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    frozen = train(TrainOptions(recipe="simcc", data=synth["train"], out=tmp_path / "frozen", backbone=shared,
                                **TINY))
    tuned = train(TrainOptions(recipe="teacher", data=synth["train"], out=tmp_path / "tuned", backbone=shared,
                               finetune_backbone=True, **TINY))
    assert frozen and tuned
    kept = load_model(tmp_path / "frozen" / "model.pt").backbone.state_dict()
    moved = load_model(tmp_path / "tuned" / "model.pt").backbone.state_dict()
    conv = "stem.conv1.weight"
    assert torch.equal(kept[conv], a[f"backbone.{conv}"])
    assert not torch.equal(moved[conv], a[f"backbone.{conv}"])


def test_distilpose_logs_sigma_and_coordinate_spread(synth, tmp_path):
    """The DistilPose runs log sigma's trajectory and the batch spread of the coordinates (a
    collapsed student has ~0 spread), outside ``total``; both recipes train."""
    teacher = _teacher(tmp_path, "synth-teacher")
    for recipe in ("distilpose", "distilpose-official"):
        history = train(TrainOptions(recipe=recipe, data=synth["train"], out=tmp_path / recipe, teacher=teacher,
                                     **TINY))
        record = history[-1]
        parts = sum(record[k] for k in ("reg_loss", "kpt_dist_loss", "vis_dist_loss", "score_loss", "reg2hm_loss"))
        assert record["total"] == pytest.approx(parts, rel=1e-5)
        assert record["sigma_mean"] > 0 and record["coord_batch_std"] >= 0
    # the recipe's floor: sigma never below 1 heatmap px in the intended form
    assert RunDir(tmp_path / "distilpose").read_metrics()[-1]["sigma_mean"] >= 1.0


def test_init_warm_starts_every_weight_and_refuses_another_architecture(synth, tmp_path):
    """``--init`` (a curriculum's next stage) copies every weight of a finished model before training,
    backbone included and trainable; a model of another architecture is refused naming the keys."""
    from sdpose_core.io.checkpoint import CheckpointError
    from sdpose_core.train.trainer import Trainer

    torch.manual_seed(5)
    source = save_model(build_model("synth-teacher"), tmp_path / "stage1.pt")
    trainer = Trainer(TrainOptions(recipe="teacher", data=synth["train"], out=tmp_path / "stage2", init=source,
                                   **TINY))
    expected = load_model(source).state_dict()
    for key, value in trainer.student.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert all(p.requires_grad for p in trainer.student.backbone.parameters())
    with pytest.raises(CheckpointError, match="missing keys"):
        Trainer(TrainOptions(recipe="simcc", data=synth["train"], out=tmp_path / "other", init=source, **TINY))


def test_init_body_takes_every_weight_but_the_head_from_a_model_with_another_head(synth, tmp_path):
    """``--init-body`` (the heatmap teacher's third stage on the SimCC teacher's body) copies every
    weight outside ``head.`` from a model with another head and keeps the student's own head; a model
    of another body is refused naming the keys."""
    from sdpose_core.io.checkpoint import CheckpointError
    from sdpose_core.train.trainer import Trainer

    torch.manual_seed(6)
    paths = {name: save_model(build_model(name), tmp_path / f"{name}.pt")
             for name in ("synth-teacher", "synth-simcc-teacher", "synth-student")}
    trainer = Trainer(TrainOptions(recipe="teacher", data=synth["train"], out=tmp_path / "stage3",
                                   init=paths["synth-teacher"], init_body=paths["synth-simcc-teacher"], **TINY))
    head, body = load_model(paths["synth-teacher"]).state_dict(), load_model(paths["synth-simcc-teacher"]).state_dict()
    state = trainer.student.state_dict()
    body_keys = [k for k in state if not k.startswith("head.") and state[k].is_floating_point()]
    assert body_keys and any(not torch.equal(head[k], body[k]) for k in body_keys)  # the two sources differ
    for key, value in state.items():
        assert torch.equal(value, (head if key.startswith("head.") else body)[key]), key
    with pytest.raises(CheckpointError, match="(?s)every weight but the head.*missing keys"):
        Trainer(TrainOptions(recipe="teacher", data=synth["train"], out=tmp_path / "other",
                             init_body=paths["synth-student"], **TINY))
