"""Training recipes: which student, which targets, which objective, and default budgets.

| recipe       | student (zoo)      | targets    | objective                                   | teacher        |
|--------------|--------------------|------------|---------------------------------------------|----------------|
| backbone     | synth-backbone     | heatmaps   | heatmap MSE (pretrains the students' stem)  | -              |
| teacher      | synth-teacher      | heatmaps   | heatmap MSE                                 | -              |
| baseline     | synth-student      | heatmaps   | heatmap MSE, one pass (no MCT)              | -              |
| sdpose       | synth-student      | heatmaps   | SDPose: Σ cycles MSE + 5e-6 token MSE       | -              |
| regression   | synth-regression   | coords     | SmoothL1                                    | -              |
| distilpose   | synth-regression   | coords     | DistilPose, simulated hm at the teacher peak| heatmap model  |
| distilpose-official | synth-regression | coords | DistilPose, official loss (peak-1 Gaussian) | heatmap model  |
| simcc        | synth-simcc        | SimCC      | KLDiscretLoss                               | -              |
| dwpose-s1    | synth-simcc        | SimCC      | GT KL + r(t)(feature + 0.1 logit KD)        | SimCC model    |
| dwpose-s2    | teacher + new head | SimCC      | logit KD only, backbone frozen              | dwpose-s1 run  |
| nkd          | synth-simcc        | SimCC      | GT KL + NKD (target + normalised non-target)| SimCC model    |
| tf-nkd       | synth-simcc        | SimCC      | GT KL + teacher-free NKD                    | -              |
| vitkd        | synth-simcc        | any head   | GT + ViTKD (mimic layers 0-1, generate last)| token model    |
| mgd          | synth-simcc        | any head   | GT + MGD on the final token grid            | token model    |
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn

from sdpose_core.distill.distilpose import DISTILPOSE_INTENT
from sdpose_core.models.zoo import build_model
from sdpose_core.train.objectives import (
    DistilPoseObjective, DWPoseStage1Objective, DWPoseStage2Objective, HeatmapObjective,
    RegressionObjective, SimCCObjective,
)
from sdpose_core.train.objectives_family import FAMILY_RECIPES, build_family_objective


@dataclass(frozen=True)
class Recipe:
    """A named way to train a student.

    Args:
        model: zoo name of the student (``--model`` overrides it).
        epochs / batch_size / lr / weight_decay: defaults for a 2-core CPU budget (AdamW, cosine).
        teacher: "required" when ``--teacher`` must be given, else "none".
        loss_options: keyword arguments of the recipe's loss (e.g. DistilPose's ``amplitude``).
    """

    name: str
    model: str
    description: str
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    teacher: str = "none"
    loss_options: tuple[tuple[str, object], ...] = ()


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("backbone", "synth-backbone", "pretrain the token models' CNN backbone on heatmaps (then --backbone it)"),
    Recipe("teacher", "synth-teacher", "heatmap teacher (bigger TokenPose), heatmap MSE"),
    Recipe("baseline", "synth-student", "the SDPose student trained one-pass, no Multi-Cycled Transformer"),
    Recipe("sdpose", "synth-student", "SDPose: all cycles, heatmap MSE + 5e-6 token self-distillation"),
    Recipe("regression", "synth-regression", "plain regression student, SmoothL1 on coordinates"),
    Recipe("distilpose", "synth-regression", "DistilPose: token + simulated-heatmap + score distillation "
           "(simulated heatmap at the teacher's peak, sigma >= 1 px)", teacher="required",
           loss_options=DISTILPOSE_INTENT),
    Recipe("distilpose-official", "synth-regression", "DistilPose with the official loss: a peak-1 simulated "
           "Gaussian whose sigma may collapse", teacher="required"),
    Recipe("simcc", "synth-simcc", "SimCC student (RTMPose-style head), KL to Gaussian labels"),
    Recipe("dwpose-s1", "synth-simcc", "DWPose stage 1: GT + decayed feature and logit distillation",
           teacher="required"),
    Recipe("dwpose-s2", "synth-simcc", "DWPose stage 2: frozen backbone, new head, logit loss only",
           epochs=6, teacher="required"),
    Recipe("nkd", "synth-simcc", "NKD: GT KL + normalised target / non-target logit distillation",
           teacher="required"),
    Recipe("tf-nkd", "synth-simcc", "teacher-free NKD: GT KL + the student's own target probability as soft label"),
    Recipe("vitkd", "synth-simcc", "ViTKD: GT + mimic the teacher's layer 0-1 tokens, generate its masked final tokens",
           teacher="required"),
    Recipe("mgd", "synth-simcc", "MGD: GT + regenerate the teacher's token grid from a masked student grid",
           teacher="required"),
)}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def build_student(recipe: Recipe, model_name: str | None, teacher: nn.Module | None) -> nn.Module:
    """The student: a fresh zoo model, or for DWPose stage 2 the stage-1 model with a new head."""
    if recipe.name != "dwpose-s2":
        return build_model(model_name or recipe.model)
    student = copy.deepcopy(teacher)
    fresh = build_model(student.config)  # same architecture, newly initialised head
    student.head.load_state_dict(fresh.head.state_dict())
    for name, param in student.named_parameters():
        param.requires_grad = name.startswith("head.")
    return student


def build_objective(recipe: Recipe, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
    """The training objective of a recipe (teacher frozen and in eval mode)."""
    if recipe.teacher == "required":
        if teacher is None:
            raise ValueError(f"recipe {recipe.name!r} needs --teacher CKPT")
        teacher.eval()
        teacher.requires_grad_(False)
    _check_teacher_head(recipe, teacher)
    if recipe.name in FAMILY_RECIPES:
        return build_family_objective(recipe, student, teacher)
    if recipe.name in ("backbone", "teacher", "baseline", "sdpose"):
        return HeatmapObjective(cycles=1 if recipe.name == "baseline" else None,
                                token_weight=5e-6 if recipe.name == "sdpose" else 0.0)
    if recipe.name == "regression":
        return RegressionObjective()
    if recipe.name.startswith("distilpose"):
        return DistilPoseObjective(teacher, **dict(recipe.loss_options))
    if recipe.name == "simcc":
        return SimCCObjective()
    if recipe.name == "dwpose-s1":
        return DWPoseStage1Objective(teacher, student.config.dim, teacher.config.dim, student.config.grid_size)
    return DWPoseStage2Objective(teacher)


def _check_teacher_head(recipe: Recipe, teacher: nn.Module | None) -> None:
    needed = {"distilpose": "heatmap", "distilpose-official": "heatmap", "dwpose-s1": "simcc", "dwpose-s2": "simcc"}.get(recipe.name)
    if needed and teacher.config.head != needed:
        raise ValueError(f"recipe {recipe.name!r} needs a teacher with a {needed} head, "
                         f"got a {teacher.config.head} model ({teacher.config.name})")
