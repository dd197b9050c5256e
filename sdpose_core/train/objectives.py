"""Training objectives: what a recipe's loss reads from a batch and the models' outputs.

Each objective is a small module ``objective(student, batch, epoch, max_epochs) -> dict`` of
named loss terms with a ``total``. The distillation maths lives in ``sdpose_core.distill``;
here we only wire model outputs and targets to it.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from sdpose_core.distill.common import joints_mse_loss
from sdpose_core.distill.distilpose import DistilPoseLoss, coord_smooth_l1_loss
from sdpose_core.distill.dwpose import DWPoseStage1Loss, DWPoseStage2Loss, KLDiscretLoss
from sdpose_core.distill.sdpose import SDPoseLoss
from sdpose_core.models.outputs import CycleOutput


def token_grid_features(output: CycleOutput, grid_size: tuple[int, int]) -> torch.Tensor:
    """Final visual tokens as a feature map (B, D, gh, gw): the "last backbone stage" of a token model."""
    vis = output.visual_tokens  # (B, N, D)
    b, n, d = vis.shape
    return vis.transpose(1, 2).reshape(b, d, *grid_size)


_KL_DISCRET = KLDiscretLoss()  # RTMPose's GT loss (stateless)

# the GT loss of each head (``ModelConfig.head``) under its usual name: (output, batch) -> {name: loss}
GT_TERMS: dict[str, Callable[[CycleOutput, dict], dict[str, torch.Tensor]]] = {
    "heatmap": lambda out, batch: {"heatmap_loss": joints_mse_loss(
        out.heatmaps, batch["heatmaps"], batch["target_weight"].unsqueeze(-1))},
    "regression": lambda out, batch: {"reg_loss": coord_smooth_l1_loss(
        out.coords, batch["coords"], batch["coord_weight"])},
    "simcc": lambda out, batch: {"loss_kpt": _KL_DISCRET(
        out.simcc_x, out.simcc_y, batch["simcc_x"], batch["simcc_y"], batch["target_weight"])},
}


def gt_terms(student: nn.Module, out: CycleOutput, batch: dict) -> dict[str, torch.Tensor]:
    """The GT loss of ``student``'s head on its output ``out``, under its usual name."""
    return GT_TERMS[student.config.head](out, batch)


def student_outputs(student: nn.Module, batch: dict, cycles: int | None = 1) -> list[CycleOutput]:
    """The student's outputs on ``batch``: from its frozen backbone's cached features when the batch
    carries them (``feature_cache.CachedCropDataset``), else from the images."""
    if "features" in batch:
        return student(None, cycles=cycles, features=batch["features"])
    return student(batch["image"], cycles=cycles)


TEACHER_PREFIX = "teacher."  # batch keys of cached teacher outputs: "teacher.heatmaps", ...


class TeacherObjective(nn.Module):
    """An objective that reads a frozen teacher: the ``teacher_fields`` of its one-pass output,
    computed on the batch's images or, when the batch carries them, read from the feature cache.

    ``teacher_targets`` returns the ``teacher_fields`` the cache stores per crop; subclasses that
    need more than output fields (ViTKD's shallow layers) override it and name theirs.
    """

    teacher_fields: tuple[str, ...] = ()

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher

    @torch.no_grad()
    def teacher_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.teacher(images, cycles=1)[0]
        return dict(zip(self.teacher_fields, out.require(*self.teacher_fields, who="teacher")))

    def teacher_view(self, batch: dict) -> dict[str, torch.Tensor]:
        cached = {k[len(TEACHER_PREFIX):]: v for k, v in batch.items() if k.startswith(TEACHER_PREFIX)}
        return cached or self.teacher_targets(batch["image"])

    def teacher_output(self, batch: dict) -> CycleOutput:
        return CycleOutput(**self.teacher_view(batch))


class HeatmapObjective(nn.Module):
    """Heatmap MSE, summed over the cycles run; with ``token_weight > 0`` this is SDPose.

    Args:
        cycles: cycles run in training (None = all of the model's; 1 = single pass, no MCT).
        token_weight: 5e-6 for SDPose (official configs), 0 for a plain heatmap model.
    """

    def __init__(self, cycles: int | None = None, token_weight: float = 0.0) -> None:
        super().__init__()
        self.cycles, self.token_weight = cycles, token_weight
        self.loss = SDPoseLoss(token_weight=token_weight)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        outputs = student_outputs(student, batch, self.cycles)
        weight = batch["target_weight"].unsqueeze(-1)  # (B, K, 1)
        if self.token_weight > 0 and len(outputs) > 1:
            return self.loss.from_cycles(outputs, batch["heatmaps"], weight)
        loss = sum(joints_mse_loss(o.heatmaps, batch["heatmaps"], weight) for o in outputs)
        return {"heatmap_loss": loss, "total": loss}


class RegressionObjective(nn.Module):
    """Plain regression student: SmoothL1 on normalised coordinates (DistilPose's ``reg_loss``)."""

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        out = student_outputs(student, batch)[0]
        loss = coord_smooth_l1_loss(out.coords, batch["coords"], batch["coord_weight"])
        return {"reg_loss": loss, "total": loss}


class DistilPoseObjective(TeacherObjective):
    """DistilPose: reg_loss + token distillation + simulated-heatmap + score losses vs a frozen teacher."""

    teacher_fields = ("heatmaps", "keypoint_tokens", "visual_tokens")

    def __init__(self, teacher: nn.Module, **loss_options) -> None:
        super().__init__(teacher)
        self.loss = DistilPoseLoss(**loss_options)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        out = student_outputs(student, batch)
        teacher_out = self.teacher_output(batch)
        terms = self.loss.from_outputs(out, teacher_out, batch["coord_weight"], batch["coords"])
        # logged beside the losses (not part of total): sigma's trajectory and whether the
        # coordinates still depend on the image (their spread over the batch; ~0 = collapsed)
        sigma = self.loss.reg2hm_loss.effective_sigma(out[-1].sigma.detach())
        terms["sigma_mean"] = sigma.mean()
        terms["coord_batch_std"] = out[-1].coords.detach().std(dim=0).mean()
        return terms


class SimCCObjective(nn.Module):
    """RTMPose GT loss: KLDiscretLoss(beta=10, label_softmax=True) on SimCC labels."""

    def __init__(self) -> None:
        super().__init__()
        self.loss = KLDiscretLoss()

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        out = student_outputs(student, batch)[0]
        loss = self.loss(out.simcc_x, out.simcc_y, batch["simcc_x"], batch["simcc_y"], batch["target_weight"])
        return {"loss_kpt": loss, "total": loss}


class DWPoseStage1Objective(TeacherObjective):
    """DWPose stage 1: GT KL + r(t) * (aligned feature MSE + 0.1 * logit KD), r(t) = 1 - t / T."""

    teacher_fields = ("simcc_x", "simcc_y", "visual_tokens")

    def __init__(self, teacher: nn.Module, student_channels: int, teacher_channels: int,
                 grid_size: tuple[int, int]) -> None:
        super().__init__(teacher)
        self.grid_size = grid_size
        self.loss = DWPoseStage1Loss(student_channels, teacher_channels)

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s = student_outputs(student, batch)[0]
        t = self.teacher_output(batch)
        self.loss.max_epochs = max_epochs
        return self.loss(
            s.simcc_x, s.simcc_y, t.simcc_x, t.simcc_y,
            token_grid_features(s, self.grid_size), token_grid_features(t, self.grid_size), epoch,
            label_x=batch["simcc_x"], label_y=batch["simcc_y"], target_weight=batch["target_weight"])


class DWPoseStage2Objective(TeacherObjective):
    """DWPose stage 2: frozen backbone, new head trained with the logit loss (weight 1) only."""

    teacher_fields = ("simcc_x", "simcc_y")

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__(teacher)
        self.loss = DWPoseStage2Loss()

    def forward(self, student: nn.Module, batch: dict, epoch: int, max_epochs: int) -> dict:
        s = student_outputs(student, batch)[0]
        t = self.teacher_output(batch)
        return self.loss(s.simcc_x, s.simcc_y, t.simcc_x, t.simcc_y)


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
        out = student_outputs(student, batch)[0]
        return self.loss(out.coords, out.sigma, out.score, None, None, batch["teacher_heatmaps"], None, None,
                         batch["coord_weight"], batch["coords"])  # no teacher tokens: no token terms
