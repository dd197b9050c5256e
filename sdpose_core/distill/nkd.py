"""NKD and teacher-free tf-NKD (normalised logit distillation) on SimCC logits.

NKD: Yang, Zeng, Yuan, Li, "From Knowledge Distillation to Self-Knowledge Distillation: A Unified
Approach with Normalized Loss and Customized Soft Labels", ICCV 2023 (arXiv 2303.13005; v1 was
"Rethinking Knowledge Distillation via Cross-Entropy", arXiv 2208.10139). Official code:
yzd-v/cls_KD ``mmcls/models/dis_losses/nkd.py`` (``NKDLoss``); tf-NKD: the ``tf_nkd`` branch of
``mmcls/distillation/distillers/classification_distiller.py`` in yzd-v/cls_KD (commit de48db4,
"fix: T bug for tf-nkd"), later generalised into USKD (``uskd.py``, not reproduced here).

For one row (a sample's class logits) with target class ``t``, student probs S and teacher probs T::

    NKD    = -T_t log S_t  -  gamma * temp^2 * sum_{j != t} T^_j log S^_j
             (S^, T^ = softmax over the NON-target logits only, divided by temp)
    tf-NKD = -w_t log S_t,   w_t = stopgrad(S_t + 1 - mean_rows(S_t))

Both are averaged over rows. Our adaptation to SimCC (RTMPose / DWPose students): a row is one
(sample, keypoint, axis); the classes are the axis bins; the target class is the bin where the
Gaussian SimCC label peaks; the logits are multiplied by ``beta`` (10, the student's
``KLDiscretLoss.beta``, as DWPose's ``KDLoss`` does) before any softmax, so the distributions are
the ones the GT loss trains; rows of unlabelled keypoints (target weight 0) have no target class
and contribute 0, while the mean still divides by all B*K rows (the official mean over N when every
keypoint is labelled). The x and y axes are summed.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def simcc_target_bins(labels: torch.Tensor) -> torch.Tensor:
    """Target class of each SimCC row: the bin where the label peaks, (B, K, 1) int64.

    The official NKD takes ``argmax`` of soft (mixup) labels in the same way.
    """
    return labels.argmax(dim=-1, keepdim=True)


def _row_weight(target_weight: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Per-row weights (B, K) (ones when None)."""
    if target_weight is None:
        return torch.ones(like.shape[:2], dtype=like.dtype, device=like.device)
    return target_weight.reshape(like.shape[:2]).to(like.dtype)


def nkd_axis_terms(
    logits_s: torch.Tensor, logits_t: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
    temp: float, beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One axis of NKD: ``(target term, non-target term before -gamma*temp^2)``, row means.

    Args:
        logits_s / logits_t: student / teacher SimCC logits (B, K, bins); the teacher is detached.
        target: target bins (B, K, 1) from :func:`simcc_target_bins`.
        weight: row weights (B, K); 0 drops a row (the mean still counts it).
        temp: NKD temperature of the non-target term.
        beta: logit factor applied before every softmax.
    Returns:
        ``mean_rows(w * T_t * log S_t)`` negated, and ``mean_rows(w * sum_{j!=t} T^_j log S^_j)``.
    """
    z_s, z_t = logits_s * beta, logits_t.detach() * beta  # (B, K, bins)
    log_s_t = F.log_softmax(z_s, dim=-1).gather(-1, target).squeeze(-1)  # (B, K)
    p_t_t = F.softmax(z_t, dim=-1).gather(-1, target).squeeze(-1)  # (B, K)
    loss_target = -(weight * p_t_t * log_s_t).mean()
    is_target = torch.zeros_like(z_s, dtype=torch.bool).scatter_(-1, target, True)
    # softmax over the non-target bins only: the target logit becomes -inf, its term is dropped
    log_s_hat = F.log_softmax(z_s.masked_fill(is_target, float("-inf")) / temp, dim=-1)
    p_t_hat = F.softmax(z_t.masked_fill(is_target, float("-inf")) / temp, dim=-1)
    cross = (p_t_hat * log_s_hat.masked_fill(is_target, 0.0)).sum(dim=-1)  # (B, K)
    return loss_target, (weight * cross).mean()


class NKDLoss(nn.Module):
    """Normalized KD on SimCC logits: ``sum_axes [target term - gamma*temp^2*non-target term]``.

    Args:
        temp: 1.0 (``NKDLoss.__init__`` default; ``configs/distillers/imagenet/
            res34_distill_res18_img.py`` uses temp=1.0).
        gamma: 1.5 (``NKDLoss.__init__`` default and the ResNet config; the DeiT config
            ``deit-s3_distill_deit-t_img.py`` uses 1.0).
        beta: 10, the SimCC logit factor (RTMPose ``KLDiscretLoss(beta=10.)``), not in NKD itself.
    """

    def __init__(self, temp: float = 1.0, gamma: float = 1.5, beta: float = 10.0) -> None:
        super().__init__()
        self.temp, self.gamma, self.beta = temp, gamma, beta

    def forward(
        self, student_x: torch.Tensor, student_y: torch.Tensor, teacher_x: torch.Tensor,
        teacher_y: torch.Tensor, label_x: torch.Tensor, label_y: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Args: SimCC logits (B, K, Wx)/(B, K, Wy) of student and teacher, the GT SimCC labels of
        the same shapes (only their argmax is used) and target_weight (B, K).

        Returns ``loss_nkd_target``, ``loss_nkd_non_target`` (both already weighted) and
        ``loss_nkd`` (their sum, the official ``loss_nkd``)."""
        weight = _row_weight(target_weight, student_x)
        target_term, non_target_term = student_x.new_zeros(()), student_x.new_zeros(())
        for s, t, label in ((student_x, teacher_x, label_x), (student_y, teacher_y, label_y)):
            lt, ln = nkd_axis_terms(s, t, simcc_target_bins(label), weight, self.temp, self.beta)
            target_term = target_term + lt
            non_target_term = non_target_term - self.gamma * self.temp ** 2 * ln
        return {"loss_nkd_target": target_term, "loss_nkd_non_target": non_target_term,
                "loss_nkd": target_term + non_target_term}

    def extra_repr(self) -> str:
        return f"temp={self.temp}, gamma={self.gamma}, beta={self.beta}"


def tf_nkd_axis(logits_s: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                beta: float) -> torch.Tensor:
    """One axis of tf-NKD: ``-mean_rows(w_t * log S_t)`` with the self-made soft target w_t.

    ``w_t = S_t + v - mean(S_t)`` (detached), with ``v`` the row weight (the official label value,
    1 for a labelled row) and ``w_t = 0`` where ``v = 0``; the mean of ``S_t`` runs over the
    labelled rows (official: over the batch, where every row is labelled).

    Args:
        logits_s: student SimCC logits (B, K, bins).
        target: target bins (B, K, 1).
        weight: row weights (B, K), 1 labelled / 0 not.
        beta: logit factor before the softmax.
    """
    log_s_t = F.log_softmax(logits_s * beta, dim=-1).gather(-1, target).squeeze(-1)  # (B, K)
    s_t = log_s_t.detach().exp()
    labelled = weight > 0
    mean_s_t = s_t[labelled].mean() if labelled.any() else s_t.new_zeros(())
    w_t = torch.where(labelled, s_t + weight - mean_s_t, torch.zeros_like(s_t))
    return -(w_t * log_s_t).mean()


class TfNKDLoss(nn.Module):
    """Teacher-free NKD on SimCC logits: ``sum_axes tf_nkd_axis`` (official ``loss_tf_nkd0``).

    The official tf-NKD has no temperature, no non-target term and no weight (it is added to the
    GT loss as is). For soft labels it also distils the second-highest label class; SimCC labels
    are one Gaussian per keypoint, so only the peak bin is used.

    Args:
        beta: 10, the SimCC logit factor (RTMPose ``KLDiscretLoss(beta=10.)``).
    """

    def __init__(self, beta: float = 10.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, student_x: torch.Tensor, student_y: torch.Tensor, label_x: torch.Tensor,
                label_y: torch.Tensor, target_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Args: student SimCC logits (B, K, Wx)/(B, K, Wy), GT SimCC labels, target_weight (B, K)."""
        weight = _row_weight(target_weight, student_x)
        return (tf_nkd_axis(student_x, simcc_target_bins(label_x), weight, self.beta)
                + tf_nkd_axis(student_y, simcc_target_bins(label_y), weight, self.beta))

    def extra_repr(self) -> str:
        return f"beta={self.beta}"
