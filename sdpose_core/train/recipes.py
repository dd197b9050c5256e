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

:data:`RECIPES` is the one table: each row says how to build its objective, the heads its student
and teacher need, and (``sdpose``, ``distilpose``) the objective against a teacher's cached heatmaps
that ``sdpose distill-folder`` and live distillation use. ``sdpose train``, ``distill-folder`` and
live distillation read their choices from it; a new recipe is a row here plus its objective
(``objectives.py`` / ``objectives_family.py``, the maths in ``sdpose_core.distill``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from sdpose_core.distill.distilpose import DISTILPOSE_INTENT
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.zoo import build_model
from sdpose_core.train.objectives import (
    DistilPoseObjective, DWPoseStage1Objective, DWPoseStage2Objective, HeatmapObjective, RegressionObjective,
    SimCCObjective, TeacherDistilPoseObjective, TeacherHeatmapObjective,
)
from sdpose_core.train.objectives_family import MGDObjective, NKDObjective, TfNKDObjective, ViTKDObjective

ANY_HEAD = "any"
# (student, teacher or None, the recipe's loss options) -> the objective module
ObjectiveBuilder = Callable[[nn.Module, "nn.Module | None", dict[str, Any]], nn.Module]


@dataclass(frozen=True)
class Recipe:
    """A named way to train a student.

    Args:
        model: zoo name of the student (``--model`` overrides it).
        objective: builds the training objective from (student, frozen teacher or None, loss options).
        student_head: the head the student needs (``ANY_HEAD``: any).
        teacher_head: None when the recipe trains without a teacher; else the head ``--teacher``
            needs (``ANY_HEAD``: any).
        from_teacher_heatmaps: the objective against a teacher's cached heatmaps (``distill-folder``,
            live distillation), built from the loss options; None when the recipe has none.
        new_head_on_teacher: the student is the teacher with a newly initialised, trainable head
            and everything else frozen (DWPose stage 2).
        distils_keypoint_tokens: the loss pulls the student's keypoint tokens towards the teacher's
            (DistilPose's encoder term): token dynamics measure the distance between them.
        epochs / batch_size / lr / weight_decay: defaults for a 2-core CPU budget (AdamW, cosine).
        loss_options: keyword arguments of the recipe's loss (e.g. DistilPose's ``amplitude``).
    """

    name: str
    model: str
    description: str
    objective: ObjectiveBuilder
    student_head: str = ANY_HEAD
    teacher_head: str | None = None
    from_teacher_heatmaps: Callable[..., nn.Module] | None = None
    new_head_on_teacher: bool = False
    distils_keypoint_tokens: bool = False
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    loss_options: tuple[tuple[str, object], ...] = ()

    @property
    def needs_teacher(self) -> bool:
        return self.teacher_head is not None


def _token_pair(name: str, student: nn.Module, teacher: nn.Module) -> None:
    """ViTKD and MGD compare token grids: both models token models with the same grid."""
    for role, cfg in (("student", student.config), ("teacher", teacher.config)):
        if cfg.model_type != "tokenpose":
            raise ValueError(f"recipe {name!r} needs a token {role}, got {cfg.name} ({cfg.model_type})")
    if tuple(student.config.grid_size) != tuple(teacher.config.grid_size):
        raise ValueError(f"recipe {name!r} needs the same token grid, got {student.config.grid_size} "
                         f"(student) and {teacher.config.grid_size} (teacher)")


def _vitkd(student: nn.Module, teacher: nn.Module, options: dict[str, Any]) -> nn.Module:
    _token_pair("vitkd", student, teacher)
    s_cfg = student.config
    if min(s_cfg.depth, teacher.config.depth) < 2:
        raise ValueError("recipe 'vitkd' mimics layers 0 and 1: both models need depth >= 2")
    return ViTKDObjective(teacher, s_cfg.dim, teacher.config.dim, s_cfg.grid_size, s_cfg.num_keypoints)


def _mgd(student: nn.Module, teacher: nn.Module, options: dict[str, Any]) -> nn.Module:
    _token_pair("mgd", student, teacher)
    return MGDObjective(teacher, student.config.dim, teacher.config.dim, student.config.grid_size)


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("backbone", "synth-backbone", "pretrain the token models' CNN backbone on heatmaps (then --backbone it)",
           lambda s, t, o: HeatmapObjective(), student_head="heatmap"),
    Recipe("teacher", "synth-teacher", "heatmap teacher (bigger TokenPose), heatmap MSE",
           lambda s, t, o: HeatmapObjective(), student_head="heatmap"),
    Recipe("baseline", "synth-student", "the SDPose student trained one-pass, no Multi-Cycled Transformer",
           lambda s, t, o: HeatmapObjective(cycles=1), student_head="heatmap"),
    Recipe("sdpose", "synth-student", "SDPose: all cycles, heatmap MSE + 5e-6 token self-distillation",
           lambda s, t, o: HeatmapObjective(token_weight=5e-6), student_head="heatmap",
           from_teacher_heatmaps=TeacherHeatmapObjective),
    Recipe("regression", "synth-regression", "plain regression student, SmoothL1 on coordinates",
           lambda s, t, o: RegressionObjective(), student_head="regression"),
    Recipe("distilpose", "synth-regression", "DistilPose: token + simulated-heatmap + score distillation "
           "(simulated heatmap at the teacher's peak, sigma >= 1 px)",
           lambda s, t, o: DistilPoseObjective(t, **o), student_head="regression", teacher_head="heatmap",
           from_teacher_heatmaps=TeacherDistilPoseObjective, loss_options=DISTILPOSE_INTENT,
           distils_keypoint_tokens=True),
    Recipe("distilpose-official", "synth-regression", "DistilPose with the official loss: a peak-1 simulated "
           "Gaussian whose sigma may collapse",
           lambda s, t, o: DistilPoseObjective(t, **o), student_head="regression", teacher_head="heatmap",
           distils_keypoint_tokens=True),
    Recipe("simcc", "synth-simcc", "SimCC student (RTMPose-style head), KL to Gaussian labels",
           lambda s, t, o: SimCCObjective(), student_head="simcc"),
    Recipe("dwpose-s1", "synth-simcc", "DWPose stage 1: GT + decayed feature and logit distillation",
           lambda s, t, o: DWPoseStage1Objective(t, s.config.dim, t.config.dim, s.config.grid_size),
           student_head="simcc", teacher_head="simcc"),
    Recipe("dwpose-s2", "synth-simcc", "DWPose stage 2: frozen backbone, new head, logit loss only",
           lambda s, t, o: DWPoseStage2Objective(t), student_head="simcc", teacher_head="simcc",
           new_head_on_teacher=True, epochs=6),
    Recipe("nkd", "synth-simcc", "NKD: GT KL + normalised target / non-target logit distillation",
           lambda s, t, o: NKDObjective(t), student_head="simcc", teacher_head="simcc"),
    Recipe("tf-nkd", "synth-simcc", "teacher-free NKD: GT KL + the student's own target probability as soft label",
           lambda s, t, o: TfNKDObjective(), student_head="simcc"),
    Recipe("vitkd", "synth-simcc", "ViTKD: GT + mimic the teacher's layer 0-1 tokens, generate its masked final tokens",
           _vitkd, teacher_head=ANY_HEAD),
    Recipe("mgd", "synth-simcc", "MGD: GT + regenerate the teacher's token grid from a masked student grid",
           _mgd, teacher_head=ANY_HEAD),
)}
TEACHER_RECIPES = tuple(name for name, r in RECIPES.items() if r.needs_teacher)
# distill-folder and live distillation: recipes with an objective against cached teacher heatmaps
HEATMAP_TEACHER_RECIPES = tuple(name for name, r in RECIPES.items() if r.from_teacher_heatmaps is not None)
# token dynamics: recipes whose loss pulls the student's keypoint tokens towards a teacher's
TOKEN_DISTILLING_RECIPES = tuple(name for name, r in RECIPES.items() if r.distils_keypoint_tokens)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def check_head(recipe: Recipe, role: str, config: ModelConfig) -> None:
    """Refuse a student / teacher whose head the recipe cannot use, naming both."""
    needed = recipe.student_head if role == "student" else recipe.teacher_head
    if needed not in (None, ANY_HEAD) and config.head != needed:
        raise ValueError(f"recipe {recipe.name!r} needs a {role} with a {needed} head; "
                         f"{config.name} has a {config.head} head")


def build_student(recipe: Recipe, model_name: str | None, teacher: nn.Module | None) -> nn.Module:
    """The student: a fresh zoo model, or (``new_head_on_teacher``) the teacher with a new head."""
    if not recipe.new_head_on_teacher:
        return build_model(model_name or recipe.model)
    student = copy.deepcopy(teacher)
    fresh = build_model(student.config)  # same architecture, newly initialised head
    student.head.load_state_dict(fresh.head.state_dict())
    for name, param in student.named_parameters():
        param.requires_grad = name.startswith("head.")
    return student


def build_objective(recipe: Recipe, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
    """The training objective of a recipe (teacher frozen and in eval mode)."""
    if recipe.needs_teacher:
        if teacher is None:
            raise ValueError(f"recipe {recipe.name!r} needs --teacher CKPT")
        teacher.eval()
        teacher.requires_grad_(False)
        check_head(recipe, "teacher", teacher.config)
    check_head(recipe, "student", student.config)
    return recipe.objective(student, teacher, dict(recipe.loss_options))


def heatmap_teacher_recipe(name: str) -> Recipe:
    """A recipe that ``distill-folder`` and live distillation can run (one with ``from_teacher_heatmaps``)."""
    recipe = RECIPES.get(name)
    if recipe is None or recipe.from_teacher_heatmaps is None:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(HEATMAP_TEACHER_RECIPES)}")
    return recipe


def teacher_heatmap_objective(recipe: Recipe, config: ModelConfig) -> nn.Module:
    """``recipe``'s objective against a teacher's cached heatmaps, for a student with ``config``."""
    check_head(recipe, "student", config)
    return recipe.from_teacher_heatmaps(**dict(recipe.loss_options))
