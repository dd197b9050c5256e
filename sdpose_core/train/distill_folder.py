"""``sdpose distill-folder``: distil a student from a teacher on a folder of unlabelled photos.

1. :func:`~sdpose_core.train.pseudo_label.pseudo_label_folder` writes ``RUN/pseudo/`` (COCO json +
   cached teacher heatmaps); the teacher runs once per photo.
2. The ordinary :class:`~sdpose_core.train.trainer.Trainer` (same loop, run folder, resume,
   snapshots) trains the student on augmented crops of those photos, with the teacher heatmaps
   warped into each crop as the distillation target:

| recipe       | student (zoo)     | objective                                                       |
|--------------|-------------------|-----------------------------------------------------------------|
| distilpose   | synth-regression  | SmoothL1 to the pseudo keypoints + simulated-heatmap MSE vs the |
|              |                   | teacher heatmaps + 0.01 score L1 (DistilPose weights; no token  |
|              |                   | terms: a cached or non-token teacher has no tokens to match)    |
| sdpose       | synth-student     | SDPose: Σ cycles heatmap MSE to the teacher heatmaps + 5e-6     |
|              |                   | token self-distillation between cycles                          |
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from sdpose_core.distill.distilpose import DISTILPOSE_INTENT, DistilPoseLoss, coord_smooth_l1_loss
from sdpose_core.io.atomic import atomic_write_bytes
from sdpose_core.models.config import ModelConfig
from sdpose_core.train.distributed import cleanup
from sdpose_core.train.objectives import HeatmapObjective
from sdpose_core.train.pseudo_label import PseudoLabelDataset, PseudoLabels, find_images, pseudo_label_folder
from sdpose_core.train.recipes import get_recipe
from sdpose_core.train.teacher import as_teacher
from sdpose_core.train.trainer import TrainOptions, Trainer

# distill-folder recipe -> (the trainer recipe whose student, defaults and run bookkeeping it uses,
#                           the student head it needs)
FOLDER_RECIPES: dict[str, tuple[str, str]] = {"distilpose": ("regression", "regression"),
                                              "sdpose": ("sdpose", "heatmap")}
CROPS_PER_EPOCH = 256  # a small folder is repeated (each time newly augmented) up to this many crops


class TeacherHeatmapObjective(HeatmapObjective):
    """The SDPose objective with the teacher's (warped, cached) heatmaps as the heatmap targets."""

    def __init__(self) -> None:
        super().__init__(cycles=None, token_weight=5e-6)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        batch = {**batch, "heatmaps": batch["teacher_heatmaps"], "target_weight": batch["teacher_weight"]}
        return super().forward(student, batch, epoch, max_epochs)


class TeacherDistilPoseObjective(nn.Module):
    """DistilPose against cached teacher heatmaps: ``reg_loss`` (pseudo keypoints), ``reg2hm_loss``
    (simulated heatmap vs teacher heatmap) and ``score_loss``, with the official weights and the
    ``distilpose`` recipe's simulated-heatmap options."""

    def __init__(self, **loss_options: Any) -> None:
        super().__init__()
        self.loss = DistilPoseLoss(**loss_options)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        out = student(batch["image"], cycles=1)[0]
        hm_t, weight = batch["teacher_heatmaps"], batch["coord_weight"]
        terms = {"reg_loss": coord_smooth_l1_loss(out.coords, batch["coords"], weight, self.loss.coord_weight),
                 "score_loss": self.loss.score_loss(out.coords, out.score, hm_t, weight),
                 "reg2hm_loss": self.loss.reg2hm_loss(out.coords, out.sigma, hm_t, weight)}
        terms["total"] = sum(terms.values())
        return terms


def teacher_objective(recipe: str, config: ModelConfig) -> nn.Module:
    """The objective of a distill-folder / live recipe for a student with ``config``."""
    if recipe not in FOLDER_RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(FOLDER_RECIPES)}")
    head = FOLDER_RECIPES[recipe][1]
    if config.head != head:
        raise ValueError(f"recipe {recipe!r} needs a student with a {head} head; "
                         f"{config.name} has a {config.head} head")
    if recipe == "sdpose":
        return TeacherHeatmapObjective()
    return TeacherDistilPoseObjective(**dict(DISTILPOSE_INTENT))


class FolderDistillTrainer(Trainer):
    """The Trainer on a pseudo-labelled folder: its dataset and objective swapped, nothing else."""

    def __init__(self, opts: TrainOptions, recipe: str, repeats: int) -> None:
        super().__init__(opts)
        self.recipe = replace(self.recipe, name=f"distill-folder-{recipe}")
        self.train_set = PseudoLabelDataset(opts.data, self.student.config, seed=opts.seed, repeats=repeats)
        self.objective = teacher_objective(recipe, self.student.config)
        self.steps_per_epoch = self._steps_per_epoch()


@dataclass
class DistillFolderResult:
    """Where a distill-folder run put things, and its per-epoch records."""

    run: Path
    model: Path
    labels: PseudoLabels
    history: list[dict]


def _people(labels: PseudoLabels) -> int:
    data = json.loads(labels.annotation_file.read_text(encoding="utf-8"))
    return sum(1 for a in data["annotations"] if a.get("num_keypoints", 0) > 0)


def distill_folder(teacher: Any, images: str | Path, out: str | Path, recipe: str = "distilpose",
                   epochs: int | None = None, student: str | None = None, box: str = "teacher",
                   min_score: float = 0.0, batch_size: int | None = None, lr: float | None = None,
                   seed: int = 0, max_steps_per_epoch: int | None = None, val: str | Path | None = None,
                   progress: bool = True) -> DistillFolderResult:
    """Pseudo-label ``images`` with ``teacher`` and distil a student on them into run folder ``out``.

    Args:
        teacher: zoo name, checkpoint, loaded model or ready teacher (see ``as_teacher``).
        recipe: ``distilpose`` (regression student) or ``sdpose`` (heatmap student, MCT).
        student: zoo name of the student (default: the recipe's).
        box: ``teacher`` (the teacher's own detection: a second pass on the box around its
            first-pass keypoints) or ``image`` (the whole photo as the person box).
        min_score: teacher keypoints below this score are left unlabelled.
        val: optional COCO folder with real labels for AP per epoch (e.g. ../shared/real/coco).
        Other arguments as ``sdpose train``; rerunning the same call resumes.
    """
    if recipe not in FOLDER_RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(FOLDER_RECIPES)}")
    find_images(images)  # folder errors before the (slower) teacher load
    out = Path(out)
    labels = pseudo_label_folder(as_teacher(teacher), images, out / "pseudo", box, min_score, progress)
    people = _people(labels)
    if not people:
        raise ValueError(f"the teacher labelled no keypoint with score >= {min_score} in any of the "
                         f"{labels.labelled} photo(s); lower --min-score")
    base = get_recipe(FOLDER_RECIPES[recipe][0])
    repeats = max(1, math.ceil(CROPS_PER_EPOCH / people))
    opts = TrainOptions(recipe=base.name, data=labels.folder, out=out, val=Path(val) if val else None,
                        epochs=epochs, batch_size=min(batch_size or base.batch_size, people * repeats), lr=lr,
                        model=student, seed=seed, progress=progress, max_steps_per_epoch=max_steps_per_epoch)
    trainer = FolderDistillTrainer(opts, recipe, repeats)
    atomic_write_bytes(out / "distill_folder.json", json.dumps(
        {"recipe": recipe, "teacher": labels.teacher, "images": labels.images_dir, "box": box,
         "min_score": min_score, "student": trainer.student.config.name, "repeats": repeats}, indent=2).encode())
    try:
        history = trainer.fit()
    finally:
        cleanup(trainer.dist)
    return DistillFolderResult(out, out / "model.pt", labels, history)
