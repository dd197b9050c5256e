"""DWPose two-stage distillation losses for SimCC (RTMPose) students.

DWPose (Yang et al., "Effective Whole-body Pose Estimation with Two-stages Distillation",
ICCV 2023 workshops; IDEA-Research/DWPose, which bundles mmpose 1.1.0)::

    stage 1:  L = L_gt + r(t) * (alpha * ||align(F_s) - F_t||^2 / N  +  0.1 * L_logit)
    stage 2:  L = 1.0 * L_logit                       (student head on the teacher's features)
    L_logit = 1/K * sum_{axis} mean_n sum_k KL(softmax(beta t) || softmax(beta s)),  beta = 10
    r(t)    = 1 - epoch / max_epochs                  (0-based epoch)

Defaults come from ``configs/distiller/body_2d_keypoint/s1_dis/rtmpose_l_dis_m__body_coco-256x192
.py`` (stage 1), ``s2_dis/rtmpose_m-mm__body_coco-256x192.py`` (stage 2) and the student config
``configs/body_2d_keypoint/rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py`` (GT loss, beta,
420 epochs).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sdpose_core.distill.common import kl_to_soft_target, last_record
from sdpose_core.models.outputs import CycleOutput


def stage1_decay(epoch: int, max_epochs: int) -> float:
    """DWPose stage-1 weight decay ``1 - epoch / max_epochs``.

    ``epoch`` is 0-based as mmengine's message hub gives it (0 .. max_epochs - 1), so the factor
    runs from 1 down to ``1 / max_epochs`` and never reaches 0. Body stage 1: max_epochs 420.
    """
    if max_epochs <= 0:
        raise ValueError(f"max_epochs must be positive, got {max_epochs}")
    return 1.0 - epoch / max_epochs


def simcc_kd_term(
    logits_s: torch.Tensor, logits_t: torch.Tensor, beta: float = 10.0
) -> torch.Tensor:
    """One axis of DWPose ``KDLoss`` before weight and /K: ``mean_n sum_k sum_bins KL``.

    Args:
        logits_s: student SimCC logits (B, K, bins).
        logits_t: teacher SimCC logits (B, K, bins); detached here as in the official loss.
        beta: softmax factor on both sides (official 10, the student's ``KLDiscretLoss.beta``).
    """
    target = F.softmax(logits_t.detach() * beta, dim=-1)  # (B, K, bins)
    return kl_to_soft_target(logits_s, target, beta).sum(dim=(1, 2)).mean()


class KDLoss(nn.Module):
    """DWPose logit distillation ``[w*L(x) + w*L(y)] / K`` (``mmpose/models/losses/kd.py``).

    No beta^2 (temperature^2) factor, unlike Hinton KD. ``target_weight`` is accepted but ignored,
    as in the official code (its weight argument is shadowed by the config scalar), so invisible
    keypoints are distilled too.

    Args:
        weight: 0.1 in stage 1 (``s1_dis`` config), 1.0 in stage 2 (``s2_dis``).
        beta: 10 (passed by the distiller from ``KLDiscretLoss(beta=10.)``).
    """

    def __init__(self, weight: float = 0.1, beta: float = 10.0) -> None:
        super().__init__()
        self.weight = weight
        self.beta = beta

    def forward(
        self, student_x: torch.Tensor, student_y: torch.Tensor, teacher_x: torch.Tensor,
        teacher_y: torch.Tensor, target_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args: SimCC logits (B, K, Wx) and (B, K, Wy) of student and teacher; target_weight
        ignored (official)."""
        del target_weight  # official KDLoss ignores it
        k = student_x.shape[1]
        loss_x = simcc_kd_term(student_x, teacher_x, self.beta)
        loss_y = simcc_kd_term(student_y, teacher_y, self.beta)
        return self.weight * (loss_x + loss_y) / k


class FeatureLoss(nn.Module):
    """DWPose feature distillation ``alpha * sum((align(F_s) - F_t)^2) / N`` (``FeaLoss``).

    Divided by the batch size only, not by C*H*W. The align 1x1 conv (with bias, PyTorch default
    init) exists only when the channel counts differ; its parameters ``align.weight`` /
    ``align.bias`` keep the official names.

    Args:
        student_channels: 768 (RTMPose-m last stage, ``s1_dis`` config).
        teacher_channels: 1024 (RTMPose-l last stage).
        alpha: ``alpha_fea`` = 7e-5.
    """

    def __init__(self, student_channels: int = 768, teacher_channels: int = 1024,
                 alpha: float = 7e-5) -> None:
        super().__init__()
        self.alpha = alpha
        self.align = (nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
                      if student_channels != teacher_channels else None)

    def aligned(self, fea_s: torch.Tensor) -> torch.Tensor:
        """Student features mapped to the teacher's channels: (B, C_t, h, w)."""
        return fea_s if self.align is None else self.align(fea_s)

    def forward(self, fea_s: torch.Tensor, fea_t: torch.Tensor) -> torch.Tensor:
        """Args: fea_s (B, C_s, h, w) student last-stage features, fea_t (B, C_t, h, w)."""
        diff = self.aligned(fea_s) - fea_t.detach()  # (B, C_t, h, w)
        return diff.pow(2).sum() / fea_t.shape[0] * self.alpha


class KLDiscretLoss(nn.Module):
    """RTMPose GT loss: mmpose 1.1.0 ``KLDiscretLoss`` (as bundled in IDEA-Research/DWPose).

    Per (sample, joint, axis): ``mean_bins KL(softmax(beta * label) || softmax(beta * pred))``
    (labels softmaxed when ``label_softmax``), times the joint's target weight; summed over
    samples, joints and both axes, divided by K. Note the mean over bins here versus the sum over
    bins in :class:`KDLoss`.

    Args:
        beta: 10 (``rtmpose-m_8xb256-420e_coco-256x192.py``).
        label_softmax: True (same config); False uses the labels as given.
        use_target_weight: True (same config).
    """

    def __init__(self, beta: float = 10.0, label_softmax: bool = True,
                 use_target_weight: bool = True) -> None:
        super().__init__()
        self.beta = beta
        self.label_softmax = label_softmax
        self.use_target_weight = use_target_weight

    def axis_loss(self, pred: torch.Tensor, label: torch.Tensor,
                  target_weight: torch.Tensor | None) -> torch.Tensor:
        """``sum_{n,k} w_nk * mean_bins KL`` for one axis; pred/label (B, K, bins)."""
        target = F.softmax(label * self.beta, dim=-1) if self.label_softmax else label
        per_joint = kl_to_soft_target(pred, target, self.beta).mean(dim=-1)  # (B, K)
        if self.use_target_weight and target_weight is not None:
            per_joint = per_joint * target_weight.reshape(per_joint.shape)
        return per_joint.sum()

    def forward(self, pred_x: torch.Tensor, pred_y: torch.Tensor, label_x: torch.Tensor,
                label_y: torch.Tensor, target_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Args: SimCC logits (B, K, Wx)/(B, K, Wy), Gaussian labels of the same shapes
        (``SimCCLabel``, peak 1), target_weight (B, K)."""
        k = pred_x.shape[1]
        return (self.axis_loss(pred_x, label_x, target_weight)
                + self.axis_loss(pred_y, label_y, target_weight)) / k


class DWPoseStage1Loss(nn.Module):
    """Stage 1: GT loss + ``r(epoch) * (loss_fea + loss_logit)`` (``PoseEstimatorDistiller.loss``).

    Args:
        student_channels / teacher_channels / alpha_fea: :class:`FeatureLoss` (768 / 1024 / 7e-5).
        kd_weight: :class:`KDLoss` weight, 0.1.
        beta: 10, shared by the GT and logit losses.
        max_epochs: 420 for body (inherited from the RTMPose-m config; 270 for UBody/wholebody).
    """

    def __init__(self, student_channels: int = 768, teacher_channels: int = 1024,
                 alpha_fea: float = 7e-5, kd_weight: float = 0.1, beta: float = 10.0,
                 max_epochs: int = 420) -> None:
        super().__init__()
        self.max_epochs = max_epochs
        self.gt_loss = KLDiscretLoss(beta=beta)
        self.fea_loss = FeatureLoss(student_channels, teacher_channels, alpha_fea)
        self.kd_loss = KDLoss(kd_weight, beta)

    def forward(
        self, student_x: torch.Tensor, student_y: torch.Tensor, teacher_x: torch.Tensor,
        teacher_y: torch.Tensor, fea_s: torch.Tensor, fea_t: torch.Tensor, epoch: int,
        label_x: torch.Tensor | None = None, label_y: torch.Tensor | None = None,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms (official names ``loss_kpt``, ``loss_fea``, ``loss_logit``), ``decay`` and
        ``total``. ``loss_kpt`` is left out when no labels are given (distillation-only view)."""
        decay = stage1_decay(epoch, self.max_epochs)
        losses: dict[str, torch.Tensor] = {}
        if label_x is not None and label_y is not None:
            losses["loss_kpt"] = self.gt_loss(student_x, student_y, label_x, label_y, target_weight)
        losses["loss_fea"] = decay * self.fea_loss(fea_s, fea_t)
        losses["loss_logit"] = decay * self.kd_loss(student_x, student_y, teacher_x, teacher_y)
        losses["total"] = sum(losses.values())
        losses["decay"] = student_x.new_tensor(decay)
        return losses

    def from_outputs(
        self, student: CycleOutput | Sequence[CycleOutput],
        teacher: CycleOutput | Sequence[CycleOutput], epoch: int,
        label_x: torch.Tensor | None = None, label_y: torch.Tensor | None = None,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`forward` on model outputs (``simcc_x``, ``simcc_y``, ``features``)."""
        sx, sy, fs = last_record(student).require("simcc_x", "simcc_y", "features")
        tx, ty, ft = last_record(teacher).require("simcc_x", "simcc_y", "features")
        return self.forward(sx, sy, tx, ty, fs, ft, epoch, label_x, label_y, target_weight)


class DWPoseStage2Loss(nn.Module):
    """Stage 2: logit loss only, weight 1, no decay (``s2_dis`` config, ``two_dis=True``).

    The official distiller computes the head's GT loss in stage 2 but does not add it; the new
    student head runs on the frozen teacher backbone's features (a model-side choice).

    Args:
        kd_weight: 1.0. beta: 10.
    """

    def __init__(self, kd_weight: float = 1.0, beta: float = 10.0) -> None:
        super().__init__()
        self.kd_loss = KDLoss(kd_weight, beta)

    def forward(self, student_x: torch.Tensor, student_y: torch.Tensor, teacher_x: torch.Tensor,
                teacher_y: torch.Tensor) -> dict[str, torch.Tensor]:
        loss_logit = self.kd_loss(student_x, student_y, teacher_x, teacher_y)
        return {"loss_logit": loss_logit, "total": loss_logit}

    def from_outputs(self, student: CycleOutput | Sequence[CycleOutput],
                     teacher: CycleOutput | Sequence[CycleOutput]) -> dict[str, torch.Tensor]:
        """:meth:`forward` on model outputs (``simcc_x``, ``simcc_y``)."""
        sx, sy = last_record(student).require("simcc_x", "simcc_y")
        tx, ty = last_record(teacher).require("simcc_x", "simcc_y")
        return self.forward(sx, sy, tx, ty)
