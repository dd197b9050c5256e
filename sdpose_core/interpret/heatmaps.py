"""The DistilPose view of one image: teacher heatmaps vs the regression student's simulated ones.

Everything is drawn on the **teacher's** heatmap grid. A regression student's σ is in pixels of
its own heatmap grid (input / 4: 32×24 for the 128×96 synth students), while the teacher's map
may be finer (BlazePose and the 256×192 models: 64×48). Given the student's grid, σ (and the loss's
``min_sigma`` floor, also in student pixels) is converted to teacher pixels before the simulated
heatmap is drawn, so the Gaussian covers the same part of the crop as in the student's own
training (:func:`sigma_to_grid`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

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
        sigma: (K, 2) student (σx, σy) in teacher heatmap pixels (its head's σ times ``sigma_scale``).
        score: (K,) student score (sigmoid of the raw output); teacher_value: (K,) the score target.
        losses: DistilPoseLoss terms without ground truth (no ``reg_loss``); token terms are left out
            when teacher and student tokens differ in shape.
        sigma_scale: (2,) teacher heatmap pixels per student heatmap pixel along x, y (1, 1 when the
            grids match); ``sigma / sigma_scale`` is the σ in the student's own pixels.
    """

    teacher: np.ndarray
    simulated: np.ndarray
    centers: np.ndarray
    sigma: np.ndarray
    score: np.ndarray
    teacher_value: np.ndarray
    losses: dict[str, float]
    sigma_scale: np.ndarray = field(default_factory=lambda: np.ones(2))

    def _crop_scale(self, crop_hw: tuple[int, int]) -> np.ndarray:
        h, w = self.teacher.shape[-2:]
        return np.array([crop_hw[1] / w, crop_hw[0] / h])

    def centers_in_crop(self, crop_hw: tuple[int, int]) -> np.ndarray:
        """(K, 2) student locations in crop pixels (heatmap pixels scaled to the crop)."""
        return self.centers * self._crop_scale(crop_hw)

    def sigma_in_crop(self, crop_hw: tuple[int, int]) -> np.ndarray:
        """(K, 2) student σ in crop pixels."""
        return self.sigma * self._crop_scale(crop_hw)

    @property
    def student_sigma(self) -> np.ndarray:
        """(K, 2) the student's σ in its own heatmap pixels."""
        return self.sigma / self.sigma_scale


def grid_scale(from_hw: Sequence[int], to_hw: Sequence[int]) -> np.ndarray:
    """(2,) pixels of grid ``to_hw`` per pixel of grid ``from_hw`` along x, y (both grids span the same crop)."""
    (fh, fw), (th, tw) = (tuple(int(v) for v in tuple(hw)[-2:]) for hw in (from_hw, to_hw))
    if min(fh, fw, th, tw) <= 0:
        raise ValueError(f"heatmap grids must be positive, got {tuple(from_hw)} and {tuple(to_hw)}")
    return np.array([tw / fw, th / fh], dtype=np.float64)


def sigma_to_grid(sigma: torch.Tensor, from_hw: Sequence[int], to_hw: Sequence[int]) -> torch.Tensor:
    """σ (..., 2) as x, y pixels of grid ``from_hw`` -> pixels of grid ``to_hw`` (a σ of 1 on a
    32×24 student grid is 2 on a 64×48 teacher grid)."""
    return sigma * torch.as_tensor(grid_scale(from_hw, to_hw), dtype=sigma.dtype)


@torch.no_grad()
def distilpose_heatmap_view(student: CycleOutput, teacher: CycleOutput,
                            loss: DistilPoseLoss | None = None,
                            student_heatmap_size: Sequence[int] | None = None) -> HeatmapView:
    """Simulated vs teacher heatmaps and the DistilPose loss terms for one image (no GT), on the
    teacher's heatmap grid.

    Args:
        student: a regression-head record (coords, sigma, score, tokens).
        teacher: a heatmap record of the same crop.
        loss: default: ``DISTILPOSE_INTENT``, the form the ``distilpose`` recipe (and the bundled student) trains with.
        student_heatmap_size: (h, w) of the grid the student's σ is measured in (its config's
            ``out_heatmap_size``); None: the teacher's grid. σ + ``min_sigma`` is scaled to teacher pixels.
    """
    student.require("coords", "sigma", "score", who="student (needs a DistilPose regression head)")
    teacher.require("heatmaps", who="teacher (needs a heatmap head)")
    loss = loss or DistilPoseLoss(**dict(DISTILPOSE_INTENT))
    coords, hm_t = student.coords[:1], teacher.heatmaps[:1]
    grid = tuple(hm_t.shape[-2:])
    own = grid if student_heatmap_size is None else tuple(student_heatmap_size)
    scale = grid_scale(own, grid)
    # the student's training draws its Gaussian with σ + the loss's floor, both in its own pixels:
    # scale that sum to teacher pixels, and hand the loss (which adds its floor back) that minus the floor
    floor = loss.reg2hm_loss.min_sigma
    sigma = sigma_to_grid(student.sigma[:1] + floor, own, grid) - floor
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
        centers=centers.numpy(), sigma=(student.sigma[0].float().numpy() * scale).astype(np.float32),
        sigma_scale=scale,
        score=torch.sigmoid(student.score[0, :, 0]).float().numpy(),
        teacher_value=inter["score_teacher_value"][0, :, 0].float().numpy(),
        losses=shown)
