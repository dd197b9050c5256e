"""Objectives of the distillation family: NKD, tf-NKD, ViTKD and MGD as plug-ins for token students.

| recipe | loss                                               | student head | teacher                |
|--------|----------------------------------------------------|--------------|------------------------|
| nkd    | GT KLDiscretLoss + NKD (temp 1, gamma 1.5)         | SimCC        | SimCC model            |
| tf-nkd | GT KLDiscretLoss + tf-NKD (self-made soft target)  | SimCC        | -                      |
| vitkd  | GT of the head + ViTKD (mimic layers 0-1, generate)| any          | token model, same grid |
| mgd    | GT of the head + MGD on the final token grid       | any          | token model, same grid |

The GT loss follows the student's head (``objectives.GT_TERMS``: heatmap MSE, SmoothL1 on
coordinates, or KLDiscretLoss), so ViTKD and MGD plug into every token student. The student runs one pass (``cycles=1``). Token
widths, grids and depths are read from the models' configs; the recipes (``recipes.py``) check
that the models fit. The maths lives in ``sdpose_core.distill`` (``nkd.py``, ``vitkd.py``, ``mgd.py``).
"""
from __future__ import annotations

import torch
from torch import nn

from sdpose_core.distill.mgd import MGDLoss
from sdpose_core.distill.nkd import NKDLoss, TfNKDLoss
from sdpose_core.distill.vitkd import ViTKDLoss, record_layer_tokens
from sdpose_core.models.outputs import CycleOutput
from sdpose_core.train.objectives import TeacherObjective, gt_terms, student_outputs, token_grid_features


def _with_total(gt: dict[str, torch.Tensor], kd: dict[str, torch.Tensor], kd_name: str) -> dict[str, torch.Tensor]:
    """GT and distillation terms together, ``total`` = GT loss + the distillation loss ``kd_name``."""
    return {**gt, **kd, "total": sum(gt.values()) + kd[kd_name]}


class NKDObjective(TeacherObjective):
    """GT KLDiscretLoss + NKD against a frozen SimCC teacher (``loss_nkd`` added with weight 1)."""

    teacher_fields = ("simcc_x", "simcc_y")

    def __init__(self, teacher: nn.Module, **nkd_options: float) -> None:
        super().__init__(teacher)
        self.loss = NKDLoss(**nkd_options)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s = student_outputs(student, batch)[0]
        t = self.teacher_output(batch)
        kd = self.loss(s.simcc_x, s.simcc_y, t.simcc_x, t.simcc_y, batch["simcc_x"], batch["simcc_y"],
                       batch["target_weight"])
        return _with_total(gt_terms(student, s, batch), kd, "loss_nkd")


class TfNKDObjective(nn.Module):
    """GT KLDiscretLoss + teacher-free NKD (``loss_tf_nkd``, weight 1)."""

    def __init__(self, **tf_nkd_options: float) -> None:
        super().__init__()
        self.loss = TfNKDLoss(**tf_nkd_options)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s = student_outputs(student, batch)[0]
        kd = {"loss_tf_nkd": self.loss(s.simcc_x, s.simcc_y, batch["simcc_x"], batch["simcc_y"],
                                       batch["target_weight"])}
        return _with_total(gt_terms(student, s, batch), kd, "loss_tf_nkd")


class ViTKDObjective(TeacherObjective):
    """GT loss + ViTKD: visual tokens of layers 0..num_shallow-1 mimicked, final ones generated."""

    def __init__(self, teacher: nn.Module, student_dims: int, teacher_dims: int,
                 grid_size: tuple[int, int], num_keypoints: int, num_shallow: int = 2,
                 **vitkd_options: float) -> None:
        super().__init__(teacher)
        self.num_keypoints = num_keypoints
        self.shallow = tuple(range(num_shallow))
        self.teacher_fields = ("visual_tokens", *(f"shallow_{i}" for i in self.shallow))
        self.loss = ViTKDLoss(student_dims, teacher_dims, grid_size, num_shallow, **vitkd_options)

    def _recording(self, model: nn.Module, run) -> tuple[CycleOutput, list[torch.Tensor]]:
        with record_layer_tokens(model, self.shallow) as recorded:
            out = run()
        return out, [recorded[i][:, self.num_keypoints:] for i in self.shallow]

    @torch.no_grad()
    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The teacher's final visual tokens and those of its shallow layers (``shallow_0``, ...)."""
        out, shallow = self._recording(self.teacher, lambda: self.teacher(images, cycles=1)[0])
        return {"visual_tokens": out.visual_tokens, **{f"shallow_{i}": t for i, t in zip(self.shallow, shallow)}}

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s, shallow_s = self._recording(student, lambda: student_outputs(student, batch)[0])
        t = self.teacher_view(batch)
        kd = self.loss(shallow_s, [t[f"shallow_{i}"] for i in self.shallow], s.visual_tokens, t["visual_tokens"])
        return _with_total(gt_terms(student, s, batch), kd, "loss_vitkd")


class MGDObjective(TeacherObjective):
    """GT loss + MGD between the final visual-token grids (B, D, gh, gw) of student and teacher."""

    teacher_fields = ("visual_tokens",)

    def __init__(self, teacher: nn.Module, student_channels: int, teacher_channels: int,
                 grid_size: tuple[int, int], **mgd_options: float) -> None:
        super().__init__(teacher)
        self.grid_size = tuple(grid_size)
        self.loss = MGDLoss(student_channels, teacher_channels, **mgd_options)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s = student_outputs(student, batch)[0]
        t = self.teacher_output(batch)
        kd = {"loss_mgd": self.loss(token_grid_features(s, self.grid_size),
                                    token_grid_features(t, self.grid_size))}
        return _with_total(gt_terms(student, s, batch), kd, "loss_mgd")
