"""Loss pieces shared by the distillation methods.

* :func:`joints_mse_loss` is mmpose v0.29 ``JointsMSELoss(use_target_weight=True)``, the heatmap
  loss of SDPose and the criterion inside DistilPose's ``Reg2HMLoss``.
* :class:`TokenDistilLoss` is the ``TokenDistilLoss`` of SDPose and DistilPose
  (``distilpose/models/losses/dist_loss.py`` in both repositories).
* :func:`kl_to_soft_target` is the element-wise KL used by DWPose's ``KDLoss`` and RTMPose's
  ``KLDiscretLoss``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sdpose_core.models.outputs import CycleOutput


def joints_mse_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    target_weight: torch.Tensor | None = None,
    loss_weight: float = 1.0,
    batch_broadcast: bool = False,
) -> torch.Tensor:
    """Heatmap MSE averaged over joints: mmpose v0.29 ``JointsMSELoss``.

    For each joint k the official code takes ``MSELoss(mean)(pred_k * w_k, target_k * w_k)`` over
    the batch and pixels, sums over joints, divides by K and multiplies by ``loss_weight``. There is
    no 0.5 factor in v0.29 (older HRNet code had one; the SDPose fixture confirms its absence).

    Args:
        pred: predicted heatmaps (B, K, H, W).
        target: target heatmaps (B, K, H, W).
        target_weight: per-joint weights (B, K) or (B, K, 1); None means unweighted.
        loss_weight: final multiplier (official default 1.0).
        batch_broadcast: reproduce the shape bug of DistilPose's ``Reg2HMLoss``, which passes the
            weight as (B, K, 1, 1): inside JointsMSELoss ``(B, HW) * (B, 1, 1)`` broadcasts to
            (B, B, HW), so joint k gets ``mean_i(w_ik^2) * mean_{j,p}(d_jkp^2)`` (batch-mean weight
            times batch-mean error) instead of per-sample weighting.
    """
    b, k = pred.shape[:2]
    d2 = (pred - target).reshape(b, k, -1).pow(2)  # (B, K, HW)
    if target_weight is None:
        per_joint = d2.mean(dim=(0, 2))  # (K,)
    else:
        # (w p - w t)^2 = w^2 (p - t)^2, identical maths to weighting both sides.
        w2 = target_weight.reshape(b, k).to(d2.dtype).pow(2)  # (B, K)
        if batch_broadcast:
            per_joint = w2.mean(dim=0) * d2.mean(dim=(0, 2))  # (K,)
        else:
            per_joint = (w2.unsqueeze(-1) * d2).mean(dim=(0, 2))  # (K,)
    return per_joint.mean() * loss_weight


class TokenDistilLoss(nn.Module):
    """``MSELoss(mean)(student, teacher) * loss_weight`` (SDPose / DistilPose ``TokenDistilLoss``).

    Args:
        loss_weight: 5e-6 in the SDPose configs (``sdpose_*_coco_256x192.py``), 5e-4 in
            DistilPose (``DistilPose_S_coco_256x192.py``).
        detach_target: detach ``teacher`` first. Neither official loss detaches inside the loss
            (DistilPose's teacher runs under ``no_grad``; SDPose lets gradients reach both cycles).
    """

    def __init__(self, loss_weight: float = 1.0, detach_target: bool = False) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.detach_target = detach_target

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.detach_target:
            teacher = teacher.detach()
        return F.mse_loss(student, teacher) * self.loss_weight

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, detach_target={self.detach_target}"


def kl_to_soft_target(
    logits: torch.Tensor, target_probs: torch.Tensor, beta: float
) -> torch.Tensor:
    """Element-wise ``KL(q || softmax(beta * logits))`` over the last dim, not reduced.

    ``q * (log q - log_softmax(beta * logits))`` with ``0 * log 0 = 0``, as ``nn.KLDivLoss(
    reduction='none')`` computes it.

    Args:
        logits: student SimCC logits (..., bins).
        target_probs: target distribution q (..., bins), already normalised.
        beta: softmax temperature factor (multiplies the logits; 10 in RTMPose/DWPose).
    """
    log_p = F.log_softmax(logits * beta, dim=-1)  # (..., bins)
    return F.kl_div(log_p, target_probs, reduction="none")


def last_record(outputs: CycleOutput | Sequence[CycleOutput]) -> CycleOutput:
    """The last cycle record of a model output list (or the record itself)."""
    if isinstance(outputs, CycleOutput):
        return outputs
    if len(outputs) == 0:
        raise ValueError("empty list of CycleOutput records")
    return outputs[-1]
