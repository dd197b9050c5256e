"""The DistilPose view of one image: teacher heatmaps vs the regression student's simulated ones."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sdpose_core.distill.distilpose import DISTILPOSE_INTENT, DistilPoseLoss
from sdpose_core.models.outputs import CycleOutput

LOSS_ORDER = ("reg2hm_loss", "score_loss", "kpt_dist_loss", "vis_dist_loss")  # as the Heatmaps tab lists them


@dataclass
class HeatmapView:
    """Per-keypoint maps and loss terms (batch item 0).

    Attributes:
        teacher: (K, H, W) teacher heatmaps.
        simulated: (K, H, W) student's simulated heatmaps (masked as Reg2HMLoss uses them).
        centers: (K, 2) student locations in heatmap pixels (x, y) = coords * (W, H).
        sigma: (K, 2) student (σx, σy) in heatmap pixels.
        score: (K,) student score (sigmoid of the raw output); teacher_value: (K,) the score target.
        losses: DistilPoseLoss terms without ground truth (no ``reg_loss``); token terms are left out
            when teacher and student tokens differ in shape.
    """

    teacher: np.ndarray
    simulated: np.ndarray
    centers: np.ndarray
    sigma: np.ndarray
    score: np.ndarray
    teacher_value: np.ndarray
    losses: dict[str, float]

    def _crop_scale(self, crop_hw: tuple[int, int]) -> np.ndarray:
        h, w = self.teacher.shape[-2:]
        return np.array([crop_hw[1] / w, crop_hw[0] / h])

    def centers_in_crop(self, crop_hw: tuple[int, int]) -> np.ndarray:
        """(K, 2) student locations in crop pixels (heatmap pixels scaled to the crop)."""
        return self.centers * self._crop_scale(crop_hw)

    def sigma_in_crop(self, crop_hw: tuple[int, int]) -> np.ndarray:
        """(K, 2) student σ in crop pixels."""
        return self.sigma * self._crop_scale(crop_hw)


@torch.no_grad()
def distilpose_heatmap_view(student: CycleOutput, teacher: CycleOutput,
                            loss: DistilPoseLoss | None = None) -> HeatmapView:
    """Simulated vs teacher heatmaps and the DistilPose loss terms for one image (no GT).

    Args:
        student: a regression-head record (coords, sigma, score, tokens).
        teacher: a heatmap record of the same crop.
        loss: default: ``DISTILPOSE_INTENT``, the form the ``distilpose`` recipe (and the bundled student) trains with.
    """
    student.require("coords", "sigma", "score", who="student (needs a DistilPose regression head)")
    teacher.require("heatmaps", who="teacher (needs a heatmap head)")
    loss = loss or DistilPoseLoss(**dict(DISTILPOSE_INTENT))
    coords, sigma, hm_t = student.coords[:1], student.sigma[:1], teacher.heatmaps[:1]
    k = coords.shape[1]
    weight = torch.ones(1, k, 2, dtype=coords.dtype)
    inter = loss.intermediates(coords, sigma, hm_t, weight)
    tokens = [student.keypoint_tokens, student.visual_tokens, teacher.keypoint_tokens, teacher.visual_tokens]
    if any(t is None for t in tokens) or tokens[0].shape != tokens[2].shape or tokens[1].shape != tokens[3].shape:
        tokens = [None] * 4  # the token terms need tokens of the same shape on both sides
    kpt_s, vis_s, kpt_t, vis_t = (None if t is None else t[:1] for t in tokens)
    terms = loss(coords, sigma, student.score[:1], kpt_s, vis_s, hm_t, kpt_t, vis_t, weight)  # no GT: no reg_loss
    shown = {name: float(terms[name]) for name in LOSS_ORDER if name in terms}
    shown["total (no GT term)"] = float(terms["total"])
    h, w = hm_t.shape[-2:]
    centers = coords[0].float() * torch.tensor([w, h], dtype=torch.float32)
    return HeatmapView(
        teacher=hm_t[0].float().numpy(), simulated=inter["simulated_heatmaps"][0].float().numpy(),
        centers=centers.numpy(), sigma=sigma[0].float().numpy(),
        score=torch.sigmoid(student.score[0, :, 0]).float().numpy(),
        teacher_value=inter["score_teacher_value"][0, :, 0].float().numpy(),
        losses=shown)
