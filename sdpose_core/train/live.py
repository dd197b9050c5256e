"""Live distillation on one photo: a tiny student learns the teacher's view of it, step by step.

The teacher looks at the photo once (:func:`~sdpose_core.train.teacher.look`); every training
step then crops a batch of augmentations of the photo (flip, small scale / rotation / shift,
colour jitter), warps the teacher heatmaps into each crop (``crop_heatmaps``) and takes one
AdamW step of the distill-folder objective (heatmap student: teacher heatmaps as targets;
regression student: DistilPose simulated-heatmap + score + SmoothL1 to the teacher keypoints).
Snapshots of the student's prediction on the plain crop, mapped back to image pixels, record how
it converges; ``LiveDistillResult.agreement_at`` scores a snapshot against the teacher as the
Compare tab does (:func:`sdpose_core.evaluate.agreement.agreement`: COCO's area convention and the
mean-pose reference in the teacher's person box). ``iter_live_distill`` yields the growing result
(for progress bars and cancellation); ``live_distill`` runs it to the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.topdown import collate, crop_sample
from sdpose_core.data.transforms import (
    IMAGENET_MEAN, IMAGENET_STD, AugmentConfig, AugmentParams, augment, bbox_xywh_to_center_scale, crop_to_image,
)
from sdpose_core.evaluate.agreement import Agreement, agreement
from sdpose_core.data.codecs import codec_for
from sdpose_core.io.images import load_user_image
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.outputs import TeacherView
from sdpose_core.models.zoo import build_model
from sdpose_core.train.pseudo_label import teacher_labels
from sdpose_core.train.recipes import HEATMAP_TEACHER_RECIPES, RECIPES, Recipe, teacher_heatmap_objective
from sdpose_core.train.targets import CodecTargets
from sdpose_core.train.teacher import as_teacher, crop_heatmaps, look, teacher_name
from sdpose_core.train.trainer import cosine_lr, optimizer_step

# The default live student: a SimpleBaseline-style CNN small enough for a few hundred steps on a
# 2-core CPU (heatmaps at input / 4, so any teacher's heatmaps can be warped onto its grid).
LIVE_STUDENT = ModelConfig(name="live-tiny-cnn", model_type="cnn", input_size=(128, 96), stem_channels=16,
                           cnn_widths=(32, 64), cnn_blocks=1, cnn_deconv=(32, 32))
# Mild augmentation: the student must see one photo many ways without losing the person.
LIVE_AUGMENT = AugmentConfig(flip_prob=0.5, half_body_prob=0.0, rotation_factor=10.0, rotation_prob=0.7,
                             scale_factor=0.15, shift_factor=0.05, shift_prob=0.5)
MAX_STEPS = 5000


def recipe_for(config: ModelConfig) -> Recipe:
    """The recipe with an objective against teacher heatmaps for this student's head: ``sdpose``
    (teacher heatmaps as targets) for heatmap students, ``distilpose`` for regression ones."""
    recipes = [RECIPES[name] for name in HEATMAP_TEACHER_RECIPES]
    found = [r for r in recipes if r.student_head == config.head]
    if not found:
        raise ValueError(f"live distillation needs a {' or '.join(r.student_head for r in recipes)} student; "
                         f"{config.name} has a {config.head} head")
    return found[0]


def colour_jitter(image: torch.Tensor, rng: np.random.Generator, strength: float = 0.25) -> torch.Tensor:
    """Random brightness, contrast and saturation (each x U(1 - s, 1 + s)) of a normalised crop (3, H, W).

    Done in numpy: on tensors this small, torch's per-op overhead dominates.
    """
    mean, std = IMAGENET_MEAN.reshape(3, 1, 1), IMAGENET_STD.reshape(3, 1, 1)
    bright, contrast, sat = (1.0 + rng.uniform(-strength, strength, size=3)).astype(np.float32)
    rgb = image.numpy() * std + mean
    grey = rgb.mean(0, keepdims=True)
    rgb = grey + (rgb - grey) * sat
    level = rgb.mean()
    rgb = np.clip(((rgb - level) * contrast + level) * bright, 0.0, 1.0)
    return torch.from_numpy(((rgb - mean) / std).astype(np.float32))


class PhotoBatches:
    """Crops of one photo for a student: plain (for snapshots) or augmented (for training)."""

    def __init__(self, image: np.ndarray, view: TeacherView, config: ModelConfig,
                 augment_config: AugmentConfig = LIVE_AUGMENT) -> None:
        self.image, self.view, self.config, self.augment_config = image, view, config, augment_config
        self.labels = teacher_labels(view, image.shape[:2])  # (K, 3)
        self.aspect = config.input_size[1] / config.input_size[0]
        self.center, self.scale = bbox_xywh_to_center_scale(view.bbox, self.aspect)
        self.targets = CodecTargets(codec_for(config))

    def item(self, rng: np.random.Generator | None = None) -> dict[str, Any]:
        """One crop + targets (``rng`` None: the plain crop, no augmentation)."""
        params = (AugmentParams(self.center, self.scale) if rng is None else
                  augment(self.center, self.scale, self.labels, self.augment_config, rng, self.aspect))
        tensor, kpts, visible, flags, matrix = crop_sample(self.image, params, self.labels, self.config.input_size)
        if rng is not None:
            tensor = colour_jitter(tensor, rng)
        item = {"image": tensor, **{k: torch.as_tensor(v) for k, v in self.targets(kpts, visible).items()},
                "teacher_heatmaps": torch.from_numpy(crop_heatmaps(self.view, matrix, params.flipped, self.config)),
                "teacher_weight": torch.from_numpy((flags > 0).astype(np.float32)),
                "meta": {"matrix": matrix, "flipped": params.flipped}}
        return item

    def batch(self, size: int, rng: np.random.Generator | None = None) -> dict[str, Any]:
        return collate([self.item(rng) for _ in range(size)])


@dataclass
class LiveSnapshot:
    """The student's prediction on the plain crop after ``step`` optimiser steps."""

    step: int
    keypoints: np.ndarray  # (K, 2) image pixels
    scores: np.ndarray  # (K,)
    loss: float  # the objective on the plain crop


@dataclass
class LiveDistillResult:
    """A live run so far: per-step training losses and snapshots of the student's prediction."""

    teacher: TeacherView
    teacher_name: str
    student: str
    recipe: str
    steps: int
    losses: list[float] = field(default_factory=list)
    snapshots: list[LiveSnapshot] = field(default_factory=list)
    seconds: float = 0.0
    image_hw: tuple[int, int] = (0, 0)  # the photo's height, width

    @property
    def step(self) -> int:
        return len(self.losses)

    @property
    def done(self) -> bool:
        return self.step >= self.steps

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(1, self.step)

    def agreement_at(self, snapshot: LiveSnapshot, annotated_area: float | None = None) -> Agreement:
        """OKS of a snapshot's keypoints against the teacher's, beside what the mean pose would score,
        in the person box the teacher looked at (the box the student's crops are cut from): the
        annotated person area when given, else 0.53 x that box (COCO's convention, as in Compare)."""
        return agreement(self.teacher.keypoints, snapshot.keypoints, self.teacher.bbox, self.image_hw,
                         annotated_area)


@torch.no_grad()
def _snapshot(model: nn.Module, objective: nn.Module, photo: PhotoBatches, step: int) -> LiveSnapshot:
    model.eval()
    batch = photo.batch(1)
    loss = float(objective(model, batch, 0, 1)["total"])
    kpts, scores = codec_for(model.config).decode_output(model(batch["image"], cycles=1)[0])
    model.train()
    image_kpts = crop_to_image(kpts[0], batch["meta"][0])
    return LiveSnapshot(step, image_kpts, np.asarray(scores[0], dtype=np.float64), loss)


def _check(steps: int, batch_size: int, lr: float) -> None:
    if not 0 < int(steps) <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    if int(batch_size) <= 0:
        raise ValueError(f"batch size must be > 0, got {batch_size}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"learning rate must be a positive number, got {lr}")


def iter_live_distill(teacher: Any, image: Any, steps: int = 200, bbox: Sequence[float] | None = None,
                      student: str | ModelConfig | None = None, batch_size: int = 8, lr: float = 3e-3,
                      seed: int = 0, snapshots: int = 11, report_every: int = 10,
                      threads: int | None = 1) -> Iterator[LiveDistillResult]:
    """Distil a fresh student from ``teacher`` on augmentations of one photo, yielding progress.

    Args:
        teacher: anything :func:`as_teacher` accepts (zoo name, checkpoint, model, BlazePose ...).
        image: the photo, (H, W, 3) uint8 RGB or a file path.
        steps: optimiser steps.
        bbox: person box x, y, w, h; None: the teacher's own detection (its keypoints on the whole
            photo give the box of a second pass; BlazePose's median error on the COCO skier photo
            drops from 14.3 px to 7.2 px this way: docs/live_distill.md).
        student: zoo name or config (default :data:`LIVE_STUDENT`); its head picks the recipe.
        snapshots: predictions recorded at this many evenly spaced steps (0 and ``steps`` included).
        report_every: yield the (same, growing) result after this many steps, and at the end.
        threads: torch CPU threads while training (restored afterwards; None: leave as is). One
            thread is the default: the tiny student's small ops ran far faster on one thread than
            on two on a shared 2-core CPU (36 vs 478 ms per step: docs/live_distill.md).

    Closing the generator early (a cancelled request) simply stops; nothing is shared or left behind.
    """
    _check(steps, batch_size, lr)
    image = load_user_image(image)
    source = as_teacher(teacher)
    view = look(source, image, "teacher" if bbox is None else bbox)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(student or LIVE_STUDENT).train()
    recipe = recipe_for(model.config)
    objective = teacher_heatmap_objective(recipe, model.config)
    photo, rng = PhotoBatches(image, view, model.config), np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    snap_at = set(np.linspace(0, steps, max(2, snapshots)).round().astype(int).tolist())
    result = LiveDistillResult(view, teacher_name(source), model.config.name, recipe.name, int(steps),
                               image_hw=tuple(image.shape[:2]))
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(int(threads))
        yield from _train(model, objective, photo, optimizer, result, rng, snap_at, batch_size, lr, report_every)
    finally:
        torch.set_num_threads(before)


def _train(model: nn.Module, objective: nn.Module, photo: PhotoBatches, optimizer: torch.optim.Optimizer,
           result: LiveDistillResult, rng: np.random.Generator, snap_at: set[int], batch_size: int, lr: float,
           report_every: int) -> Iterator[LiveDistillResult]:
    """The optimiser loop of :func:`iter_live_distill` (fills ``result`` in place)."""
    steps = result.steps
    start = time.perf_counter()
    for step in range(steps):
        if step in snap_at:
            result.snapshots.append(_snapshot(model, objective, photo, step))
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup=max(1, min(20, steps // 10)))
        loss = objective(model, photo.batch(batch_size, rng), 0, 1)["total"]
        optimizer_step(optimizer, loss, f"step {step}", "lower the learning rate")
        result.losses.append(float(loss.detach()))
        result.seconds = time.perf_counter() - start
        if (step + 1) % max(1, report_every) == 0 and step + 1 < steps:
            yield result
    result.snapshots.append(_snapshot(model, objective, photo, steps))
    result.seconds = time.perf_counter() - start
    yield result


def live_distill(teacher: Any, image: Any, steps: int = 200, **options: Any) -> LiveDistillResult:
    """:func:`iter_live_distill` run to the end; returns the finished result."""
    result = None
    for result in iter_live_distill(teacher, image, steps, **options):
        pass
    return result
