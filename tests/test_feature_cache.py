"""Cached backbone features and teacher outputs: the same training as without them, clear refusals."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.data.topdown import CocoKeypointDataset
from sdpose_core.io.checkpoint import read_backbone, save_model
from sdpose_core.models.backbone import load_backbone_
from sdpose_core.models.zoo import CHECKPOINT_DIR, build_model, get_config
from sdpose_core.train.feature_cache import CachedCropDataset, compute_crops
from sdpose_core.train.trainer import AUGMENTS, TrainOptions, Trainer, train

BACKBONE = CHECKPOINT_DIR / "backbone.pt"
TINY = dict(epochs=2, batch_size=8, max_steps_per_epoch=3, progress=False, augment="flip", backbone=BACKBONE)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "train", num=24, seed=5, progress=False)


def _teacher(tmp_path: Path, zoo_name: str, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model(build_model(get_config(zoo_name)), tmp_path / f"{zoo_name}-{seed}.pt")


@pytest.mark.parametrize("recipe,teacher", [("sdpose", None), ("distilpose", "synth-teacher"),
                                            ("dwpose-s1", "synth-simcc-teacher"), ("vitkd", "synth-simcc-teacher")])
def test_cached_run_matches_the_uncached_one(recipe, teacher, synth, tmp_path):
    teacher_path = _teacher(tmp_path, teacher) if teacher else None
    runs = {}
    for cache in (None, tmp_path / "cache"):
        out = tmp_path / f"run-{cache is not None}"
        history = train(TrainOptions(recipe=recipe, data=synth, out=out, teacher=teacher_path,
                                     feature_cache=cache, **TINY))
        runs[cache is not None] = (history, torch.load(out / "model.pt", weights_only=True)["state_dict"])
    (plain, plain_weights), (fast, fast_weights) = runs[False], runs[True]
    for a, b in zip(plain, fast):
        for name in a:
            if name not in ("seconds", "epoch", "split"):
                assert a[name] == pytest.approx(b[name], rel=1e-4, abs=1e-7), name
    assert plain_weights.keys() == fast_weights.keys()
    for name in plain_weights:
        torch.testing.assert_close(plain_weights[name], fast_weights[name], rtol=1e-3, atol=1e-5)
    kinds = {p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.pt")}
    assert kinds == ({"backbone", "teacher"} if teacher else {"backbone"})


def test_cached_item_is_the_backbone_of_the_same_crop(synth):
    student = build_model(get_config("synth-student"))
    load_backbone_(student, read_backbone(BACKBONE), freeze=True)
    student.eval()
    base = CocoKeypointDataset(synth, (128, 96), train=True, augment=AUGMENTS["flip"], seed=3)
    tensors = compute_crops(lambda images: {"features": student.backbone(images)}, base, batch_size=6, progress=False)
    assert tensors["features"].shape == (len(base), 2, 128, 8, 6)
    cached = CachedCropDataset(base, tensors)
    flips = set()
    for index in range(len(base)):
        plain, fast = base[index], cached[index]
        assert "image" not in fast
        torch.testing.assert_close(fast["keypoints"], plain["keypoints"])
        torch.testing.assert_close(fast["visible"], plain["visible"])
        with torch.no_grad():
            expected = student.backbone(plain["image"][None])[0]
        torch.testing.assert_close(fast["features"], expected, rtol=1e-4, atol=1e-5)
        flips.add(plain["meta"]["flipped"])
    assert flips == {True, False}  # both halves of the cache are read


def test_a_new_teacher_gets_its_own_cache_files(synth, tmp_path):
    for seed in (0, 1):
        Trainer(TrainOptions(recipe="distilpose", data=synth, out=tmp_path / f"run{seed}", feature_cache=tmp_path / "c",
                             teacher=_teacher(tmp_path, "synth-teacher", seed), **TINY))
    keys = {(p.name.split("-")[0], p.name.split("-")[1]) for p in (tmp_path / "c").glob("*.pt")}
    assert sorted(kind for kind, _ in keys) == ["backbone", "teacher", "teacher"]  # the backbone is shared


def test_recipes_reading_one_teacher_share_its_fields(synth, tmp_path):
    teacher = _teacher(tmp_path, "synth-simcc-teacher")
    cache = tmp_path / "c"

    def files() -> set[str]:
        return {p.name.split("-", 2)[2] for p in cache.glob("teacher-*.pt")}

    Trainer(TrainOptions(recipe="dwpose-s1", data=synth, out=tmp_path / "s1", feature_cache=cache, teacher=teacher, **TINY))
    assert files() == {"simcc_x.pt", "simcc_y.pt", "visual_tokens.pt"}
    before = {p: p.stat().st_mtime_ns for p in cache.glob("teacher-*.pt")}
    for recipe in ("nkd", "mgd"):  # subsets of DWPose's fields: nothing new computed or written
        Trainer(TrainOptions(recipe=recipe, data=synth, out=tmp_path / recipe, feature_cache=cache, teacher=teacher, **TINY))
    assert {p: p.stat().st_mtime_ns for p in cache.glob("teacher-*.pt")} == before
    Trainer(TrainOptions(recipe="vitkd", data=synth, out=tmp_path / "vitkd", feature_cache=cache, teacher=teacher, **TINY))
    assert files() == {"simcc_x.pt", "simcc_y.pt", "visual_tokens.pt", "shallow_0.pt", "shallow_1.pt"}


@pytest.mark.parametrize("change,message", [(dict(finetune_backbone=True), "frozen backbone"),
                                            (dict(augment="default"), "flip-only"),
                                            (dict(backbone=None), "frozen backbone")])
def test_refuses_what_it_cannot_cache(change, message, synth, tmp_path):
    with pytest.raises(ValueError, match=message):
        Trainer(TrainOptions(recipe="baseline", data=synth, out=tmp_path, feature_cache=tmp_path / "c",
                             **{**TINY, **change}))
