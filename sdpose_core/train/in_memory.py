"""Training in memory, without a run folder: a few seeded steps of any recipe's objective (the
tutorial notebooks train students this way), the student a recipe starts from, and every term of
the distillation family's objectives on one batch.

The objectives are the recipes' (``sdpose_core.train.recipes``); the loop is the trainer's step
(``optimizer_step``) on the model's codec targets.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.data.transforms import AugmentConfig
from sdpose_core.errors import CheckpointError
from sdpose_core.data.codecs import codec_for
from sdpose_core.io.checkpoint import read_backbone
from sdpose_core.models.backbone import load_backbone_
from sdpose_core.models.zoo import CHECKPOINT_DIR
from sdpose_core.train.recipes import build_objective, build_student, get_recipe
from sdpose_core.train.targets import CodecTargets
from sdpose_core.train.trainer import keep_frozen_norms_in_eval, optimizer_step, seed_everything

LIGHT_AUGMENT = AugmentConfig(flip_prob=0.5, half_body_prob=0.0, rotation_prob=0.0, scale_factor=0.1,
                              shift_prob=0.0)


@dataclass
class TrainLog:
    """Per-step loss terms of :func:`live_train` (``steps``: one dict per step with ``step``,
    ``epoch`` and every float the objective returned) and whatever ``on_epoch`` returned."""

    steps: list[dict[str, float]] = field(default_factory=list)
    epochs: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    def series(self, key: str) -> np.ndarray:
        """One term over the steps (NaN where a step did not report it)."""
        return np.array([s.get(key, np.nan) for s in self.steps], dtype=np.float64)


def live_train(model: nn.Module, objective: nn.Module, data: str | Path, *, epochs: int = 1,
               steps_per_epoch: int = 10, batch_size: int = 8, lr: float = 1e-3, seed: int = 0,
               augment: AugmentConfig | None = LIGHT_AUGMENT,
               on_epoch: Callable[[int, nn.Module], Any] | None = None) -> TrainLog:
    """A few seeded AdamW steps of ``objective(model, batch, epoch, epochs)`` in memory.

    The same objectives ``sdpose train`` uses (``sdpose_core.train.objectives``); targets from the
    model's codec; no run folder. Parameters with ``requires_grad=False`` stay frozen (and so do
    the running statistics of frozen BatchNorms). Trainable parameters of the objective (DWPose's
    align conv) are optimised too; a ``teacher`` inside the objective never is.

    Args:
        data: a COCO-format folder (e.g. made by ``generate_dataset``).
        on_epoch: called after every epoch with (epoch, model); its results land in ``TrainLog.epochs``.
    """
    if epochs <= 0 or steps_per_epoch <= 0 or batch_size <= 0:
        raise ValueError("epochs, steps_per_epoch and batch_size must be positive")
    seed_everything(seed)
    dataset = CocoKeypointDataset(data, tuple(model.config.input_size), train=True, seed=seed,
                                  augment=augment, target_fn=CodecTargets(codec_for(model.config)))
    params = [p for p in model.parameters() if p.requires_grad]
    params += [p for n, p in objective.named_parameters() if not n.startswith("teacher.") and p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    log, start, step = TrainLog(), time.perf_counter(), 0
    for epoch in range(epochs):
        model.train()
        keep_frozen_norms_in_eval(model)
        dataset.set_epoch(epoch)
        sampler = RandomSampler(dataset, replacement=True, num_samples=steps_per_epoch * batch_size,
                                generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for batch in DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate):
            terms = objective(model, batch, epoch, epochs)
            optimizer_step(optimizer, terms["total"], f"step {step}", "lower lr")
            log.steps.append({"step": step, "epoch": epoch, **{k: float(v.detach()) for k, v in terms.items()}})
            step += 1
        model.eval()
        if on_epoch is not None:
            log.epochs.append(on_epoch(epoch, model))
    log.seconds = time.perf_counter() - start
    return log


def fresh_student(recipe: str, teacher: nn.Module | None = None, backbone: bool = True,
                  checkpoint_dir: str | Path | None = None, seed: int = 0) -> tuple[nn.Module, str]:
    """The student ``sdpose train --recipe RECIPE`` starts from, and a Markdown note.

    With ``backbone`` and a bundled pretrained backbone, it is copied into the student and frozen
    (BatchNorm statistics too, see ``live_train``), as ``sdpose train --backbone`` does. Looked up in
    ``checkpoint_dir`` (default ``data_samples/checkpoints``): ``backbone.pt`` (the shared
    backbone-only file of ``benchmarks/bundle_checkpoints.py``), else ``synth-backbone.pt`` (a
    whole pretraining model). Without either the backbone stays random, and the note says so.
    """
    torch.manual_seed(seed)
    student = build_student(get_recipe(recipe), None, teacher)
    if not backbone:
        return student, f"`{recipe}` student."
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else CHECKPOINT_DIR
    source = next((p for p in (folder / "backbone.pt", folder / "synth-backbone.pt") if p.is_file()), None)
    if source is None:
        return student, f"`{recipe}` student, random init (no pretrained backbone in `{folder}`)."
    try:
        load_backbone_(student, read_backbone(source))
    except (KeyError, TypeError, CheckpointError, ValueError, RuntimeError) as err:
        torch.manual_seed(seed)
        student = build_student(get_recipe(recipe), None, teacher)
        return student, f"`{recipe}` student, random init (the pretrained backbone did not load: {err})."
    return student, f"`{recipe}` student with the pretrained backbone `{source}` loaded and frozen."


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode with every parameter frozen (a teacher, or a stage snapshot)."""
    twin = copy.deepcopy(model).eval()
    twin.requires_grad_(False)
    return twin


FAMILY = ("nkd", "tf-nkd", "vitkd", "mgd")


def family_loss_terms(student: nn.Module, teacher: nn.Module | None, batch: dict,
                      recipes: Sequence[str] = FAMILY, seed: int = 0) -> dict[str, dict[str, float]]:
    """Every term of each recipe's training objective on one batch: recipe -> {term: value}.

    The objective is the one ``sdpose train --recipe R`` builds (``recipes.build_objective``, on a
    frozen copy of the teacher, left out for teacher-free recipes), called once without gradients.
    Its aligners and generation blocks are freshly initialised and its random masks drawn after
    ``torch.manual_seed(seed)``: the values of step 1 of a run. No loss maths here.
    """
    out: dict[str, dict[str, float]] = {}
    for name in recipes:
        recipe = get_recipe(name)
        torch.manual_seed(seed)
        objective = build_objective(recipe, student, frozen_copy(teacher) if recipe.needs_teacher else None)
        with torch.no_grad():
            terms = objective(student, batch, epoch=0, max_epochs=1)
        out[name] = {k: float(v) for k, v in terms.items()}
    return out


