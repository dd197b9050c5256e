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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdpose_core.io.atomic import atomic_write_bytes
from sdpose_core.models.zoo import get_config
from sdpose_core.train.distributed import cleanup
from sdpose_core.train.pseudo_label import PseudoLabelDataset, PseudoLabels, find_images, pseudo_label_folder
from sdpose_core.train.recipes import heatmap_teacher_recipe, teacher_heatmap_objective
from sdpose_core.train.teacher import as_teacher
from sdpose_core.train.trainer import TrainOptions, Trainer

CROPS_PER_EPOCH = 256  # a small folder is repeated (each time newly augmented) up to this many crops


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
        recipe: ``distilpose`` (regression student) or ``sdpose`` (heatmap student, MCT): the
            recipes with ``from_teacher_heatmaps`` in ``recipes.RECIPES``.
        student: zoo name of the student (default: the recipe's).
        box: ``teacher`` (the teacher's own detection: a second pass on the box around its
            first-pass keypoints) or ``image`` (the whole photo as the person box).
        min_score: teacher keypoints below this score are left unlabelled.
        val: optional COCO folder with real labels for AP per epoch (e.g. ../shared/real/coco).
        Other arguments as ``sdpose train``; rerunning the same call resumes.
    """
    base = heatmap_teacher_recipe(recipe)
    config = get_config(student or base.model)
    objective = teacher_heatmap_objective(base, config)  # a student with the wrong head is refused here
    find_images(images)  # folder errors before the (slower) teacher load
    out = Path(out)
    labels = pseudo_label_folder(as_teacher(teacher), images, out / "pseudo", box, min_score, progress)
    people = _people(labels)
    if not people:
        raise ValueError(f"the teacher labelled no keypoint with score >= {min_score} in any of the "
                         f"{labels.labelled} photo(s); lower --min-score")
    repeats = max(1, math.ceil(CROPS_PER_EPOCH / people))
    opts = TrainOptions(recipe=base.name, data=labels.folder, out=out, val=Path(val) if val else None,
                        epochs=epochs, batch_size=min(batch_size or base.batch_size, people * repeats), lr=lr,
                        model=student, seed=seed, progress=progress, max_steps_per_epoch=max_steps_per_epoch)
    trainer = Trainer(opts, objective=objective, name=f"distill-folder-{recipe}",
                      train_set=PseudoLabelDataset(opts.data, config, seed=opts.seed, repeats=repeats))
    atomic_write_bytes(out / "distill_folder.json", json.dumps(
        {"recipe": recipe, "teacher": labels.teacher, "images": labels.images_dir, "box": box,
         "min_score": min_score, "student": trainer.student.config.name, "repeats": repeats}, indent=2).encode())
    try:
        history = trainer.fit()
    finally:
        cleanup(trainer.dist)
    return DistillFolderResult(out, out / "model.pt", labels, history)
