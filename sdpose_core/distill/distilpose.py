"""DistilPose losses: heatmap teacher -> regression student.

DistilPose (Ye et al., "DistilPose: Tokenized Pose Regression with Heatmap Distillation",
CVPR 2023; yshMars/DistilPose ``distilpose/models/losses/dist_loss.py`` and
``DistilPoseHead.get_loss``)::

    L = SmoothL1(xy, xy_gt) + 5e-4 * MSE(kpt_s, kpt_t) + 5e-4 * MSE(vis_s, vis_t)
        + 0.01 * L1(score, H_t[xy]) + 1.0 * JointsMSE(G(xy, sigma), H_t)

where G is the simulated heatmap (an axis-aligned Gaussian with peak 1 at the predicted location;
``simulated_heatmap``, which lives with the regression codec: it is also how a regression output is
read as a map).
Every default comes from ``configs/body/2d_kpt_sview_rgb_img/distilpose/coco/
DistilPose_S_coco_256x192.py`` (DistilPose_L uses the same loss settings). Official quirks are
reproduced by default; the paper's intended forms are options.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from sdpose_core.data.codecs.regression import simulated_heatmap
from sdpose_core.distill.common import TokenDistilLoss, joints_mse_loss, last_record
from sdpose_core.models.outputs import CycleOutput


# The paper's intent for the simulated heatmap (docs/training.md, "DistilPose's σ trap"): it peaks
# at the teacher's own maximum and is never narrower than one heatmap pixel. Keyword arguments of
# Reg2HMLoss / DistilPoseLoss; the ``distilpose`` recipe trains with them.
DISTILPOSE_INTENT: tuple[tuple[str, object], ...] = (("amplitude", "teacher_peak"), ("min_sigma", 1.0))


def gaussian_in_map_mask(
    coords: torch.Tensor, sigma: torch.Tensor, heatmap_size: tuple[int, int]
) -> torch.Tensor:
    """1 where the 3-sigma box of the simulated Gaussian overlaps the map, else 0: (B, K).

    Official: ``mu - 3s < size`` and ``mu + 3s + 1 >= 0`` on both axes (always 1 for coords in
    [0, 1]).
    """
    h, w = heatmap_size
    size = coords.new_tensor([w, h])  # (2,) in (x, y) order
    mu = coords * size  # (B, K, 2)
    inside = (mu - 3 * sigma < size) & (mu + 3 * sigma + 1 >= 0)  # (B, K, 2)
    return inside.all(dim=-1).to(coords.dtype)


class Reg2HMLoss(nn.Module):
    """MSE between the simulated heatmap of the student and the teacher heatmap.

    Config ``loss_reg2hm=dict(type='Reg2HMLoss', use_target_weight=True, loss_weight=1.,
    encoding='MSRA', unbiased_encoding=True, heatmap_size=[48, 64])``, gaussian_mode 's2'.

    Args:
        loss_weight: official 1.0.
        use_target_weight: official True.
        per_sample_weighting: official False. The official code hands JointsMSELoss a (B, K, 1, 1)
            weight, which broadcasts so that each joint gets the batch-mean weight times the
            batch-mean error (see :func:`joints_mse_loss`). True gives the paper's intent: each
            sample's error weighted by its own visibility.
        amplitude: ``'one'`` (official): the simulated Gaussian peaks at 1. ``'teacher_peak'``: it
            peaks at the teacher map's own maximum (detached), so that at the right place the
            best sigma is the teacher's spread whatever its confidence. With a peak of 1 the MSE
            to a teacher of peak ``a`` is smallest at ``sigma^2 = 8 sqrt(a) - 4`` (isotropic,
            teacher sigma 2), i.e. sigma -> 0 for ``a <= 0.25``: a trap (benchmarks/distilpose_trap.py).
        min_sigma: heatmap px added to the head's sigma before drawing (official 0). A floor
            keeps the simulated heatmap wider than a pixel, where its coordinate gradient is
            smooth instead of noise from sub-pixel offsets.
    """

    def __init__(
        self, loss_weight: float = 1.0, use_target_weight: bool = True,
        per_sample_weighting: bool = False, amplitude: Literal["one", "teacher_peak"] = "one",
        min_sigma: float = 0.0,
    ) -> None:
        super().__init__()
        if amplitude not in ("one", "teacher_peak"):
            raise ValueError(f"amplitude must be 'one' or 'teacher_peak', got {amplitude!r}")
        if min_sigma < 0:
            raise ValueError(f"min_sigma must be >= 0, got {min_sigma}")
        self.loss_weight = loss_weight
        self.use_target_weight = use_target_weight
        self.per_sample_weighting = per_sample_weighting
        self.amplitude = amplitude
        self.min_sigma = min_sigma

    def effective_sigma(self, sigma: torch.Tensor) -> torch.Tensor:
        """The sigma the simulated Gaussian is drawn with: the head's sigma plus ``min_sigma``."""
        return sigma + self.min_sigma

    def simulate(
        self, coords: torch.Tensor, sigma: torch.Tensor, teacher_heatmaps: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked simulated heatmaps (B, K, H, W) and the joint weights (B, K) the loss uses."""
        heatmap_size = tuple(teacher_heatmaps.shape[-2:])
        sigma = self.effective_sigma(sigma)
        mask = gaussian_in_map_mask(coords, sigma, heatmap_size)  # (B, K)
        heatmaps = simulated_heatmap(coords, sigma, heatmap_size) * mask[..., None, None]
        if self.amplitude == "teacher_peak":  # the teacher's own confidence, not a peak of 1
            heatmaps = heatmaps * teacher_heatmaps.detach().flatten(2).amax(-1).clamp(min=0)[..., None, None]
        weight = mask if target_weight is None else target_weight[..., 0] * mask  # (B, K)
        return heatmaps, weight

    def forward(
        self, coords: torch.Tensor, sigma: torch.Tensor, teacher_heatmaps: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args: coords (B, K, 2), sigma (B, K, 2), teacher_heatmaps (B, K, H, W),
        target_weight (B, K, 2) visibility in both columns (mmpose regression targets)."""
        heatmaps, weight = self.simulate(coords, sigma, teacher_heatmaps, target_weight)
        return joints_mse_loss(
            heatmaps, teacher_heatmaps, weight if self.use_target_weight else None,
            self.loss_weight, batch_broadcast=not self.per_sample_weighting)


class ScoreLoss(nn.Module):
    """L1 between the predicted score and the teacher heatmap value at the predicted location.

    Config ``loss_score=dict(type='ScoreLoss', use_target_weight=True, loss_weight=0.01)``.

    Official quirks (reproduced with ``index_mode='official'``):

    * the lookup index is ``round(clamp(p, 0, 1) * (W - 1))`` (``torch.round``: half to even) while
      :class:`Reg2HMLoss` centres its Gaussian at ``p * W``;
    * the teacher value is zeroed when the prediction lies outside [0, 1];
    * score (B, K, 1) times target weight (B, K, 2) broadcasts to (B, K, 2) and the L1 mean runs
      over all B*K*2 entries (harmless when both columns are equal, as mmpose makes them).

    Args:
        loss_weight: official 0.01.
        use_target_weight: official True.
        index_mode: ``'official'`` or ``'reg2hm'``, the paper's intent: look up the pixel nearest
            to the simulated Gaussian's centre, ``clamp(round(p * W), 0, W - 1)``.
    """

    def __init__(
        self, loss_weight: float = 0.01, use_target_weight: bool = True,
        index_mode: Literal["official", "reg2hm"] = "official",
    ) -> None:
        super().__init__()
        if index_mode not in ("official", "reg2hm"):
            raise ValueError(f"index_mode must be 'official' or 'reg2hm', got {index_mode!r}")
        self.loss_weight = loss_weight
        self.use_target_weight = use_target_weight
        self.index_mode = index_mode

    def lookup_index(self, coords: torch.Tensor, heatmap_size: tuple[int, int]) -> torch.Tensor:
        """Integer (row, col) = (h, w) of the teacher pixel read for each joint: (B, K, 2)."""
        h, w = heatmap_size
        if self.index_mode == "official":
            p = coords.detach().clamp(0, 1)
            col, row = (p[..., 0] * (w - 1)).round(), (p[..., 1] * (h - 1)).round()
        else:
            p = coords.detach()
            col = (p[..., 0] * w).round().clamp(0, w - 1)
            row = (p[..., 1] * h).round().clamp(0, h - 1)
        return torch.stack([row, col], dim=-1).long()

    def teacher_score(
        self, coords: torch.Tensor, teacher_heatmaps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score target (B, K, 1) (zero outside [0, 1]) and the (h, w) index (B, K, 2)."""
        b, k = coords.shape[:2]
        index = self.lookup_index(coords, tuple(teacher_heatmaps.shape[-2:]))  # (B, K, 2)
        bi = torch.arange(b, device=coords.device)[:, None]
        ki = torch.arange(k, device=coords.device)[None, :]
        value = teacher_heatmaps[bi, ki, index[..., 0], index[..., 1]].unsqueeze(-1)  # (B, K, 1)
        inside = ((coords >= 0) & (coords <= 1)).all(dim=-1, keepdim=True)  # (B, K, 1)
        return value * inside.to(value.dtype), index

    def forward(
        self, coords: torch.Tensor, score: torch.Tensor, teacher_heatmaps: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Args: coords (B, K, 2), score (B, K, 1), teacher_heatmaps (B, K, H, W),
        target_weight (B, K, 2) (official shape) or (B, K, 1); None for unweighted."""
        target, _ = self.teacher_score(coords, teacher_heatmaps)
        if self.use_target_weight and target_weight is not None:
            return F.l1_loss(score * target_weight, target * target_weight) * self.loss_weight
        return F.l1_loss(score, target) * self.loss_weight


def coord_smooth_l1_loss(
    coords: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor | None = None,
    loss_weight: float = 1.0,
) -> torch.Tensor:
    """mmpose v0.29 ``SmoothL1Loss(use_target_weight=True)``: ``smooth_l1(p*w, t*w).mean() * lw``.

    Args:
        coords: predicted normalised (x, y) (B, K, 2).
        target: GT normalised (x, y) (B, K, 2) (mmpose ``TopDownGenerateTargetRegression``).
        target_weight: (B, K, 2) visibility per column; None for unweighted.
        loss_weight: official 1.0 (``loss_keypoint=dict(type='SmoothL1Loss',
            use_target_weight=True)``).
    """
    if target_weight is not None:
        coords, target = coords * target_weight, target * target_weight
    return F.smooth_l1_loss(coords, target) * loss_weight


class DistilPoseLoss(nn.Module):
    """All DistilPose terms, named as ``DistilPoseHead.get_loss``, plus ``total``.

    Teacher tensors are detached (the official detector runs the frozen teacher under
    ``torch.no_grad``), so no gradient ever reaches the teacher.

    Args:
        coord_weight: SmoothL1 weight (official 1.0).
        token_weight: weight of each TokenDistilLoss (official 5e-4).
        score_weight: ScoreLoss weight (official 0.01).
        reg2hm_weight: Reg2HMLoss weight (official 1.0).
        per_sample_weighting: see :class:`Reg2HMLoss` (official False).
        score_index_mode: see :class:`ScoreLoss` (official ``'official'``).
        amplitude / min_sigma: see :class:`Reg2HMLoss` (official ``'one'`` / 0).
    """

    def __init__(
        self, coord_weight: float = 1.0, token_weight: float = 5e-4, score_weight: float = 0.01,
        reg2hm_weight: float = 1.0, per_sample_weighting: bool = False,
        score_index_mode: Literal["official", "reg2hm"] = "official",
        amplitude: Literal["one", "teacher_peak"] = "one", min_sigma: float = 0.0,
    ) -> None:
        super().__init__()
        self.coord_weight = coord_weight
        self.token_loss = TokenDistilLoss(token_weight)
        self.score_loss = ScoreLoss(score_weight, index_mode=score_index_mode)
        self.reg2hm_loss = Reg2HMLoss(reg2hm_weight, per_sample_weighting=per_sample_weighting,
                                      amplitude=amplitude, min_sigma=min_sigma)

    def forward(
        self, coords: torch.Tensor, sigma: torch.Tensor, score: torch.Tensor,
        kpt_tokens: torch.Tensor | None, vis_tokens: torch.Tensor | None, teacher_heatmaps: torch.Tensor,
        teacher_kpt_tokens: torch.Tensor | None, teacher_vis_tokens: torch.Tensor | None,
        target_weight: torch.Tensor, target_coords: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Args: student coords/sigma (B, K, 2), score (B, K, 1), tokens (B, K, D) / (B, N, D);
        teacher heatmaps (B, K, H, W) and tokens; target_weight (B, K, 2); target_coords
        (B, K, 2) normalised GT, or None to leave out ``reg_loss`` (teacher-only view).
        Any token tensor None leaves out both token terms (a teacher known by its heatmaps alone,
        or tokens of different shapes)."""
        hm_t = teacher_heatmaps.detach()
        losses: dict[str, torch.Tensor] = {}
        if target_coords is not None:
            losses["reg_loss"] = coord_smooth_l1_loss(
                coords, target_coords, target_weight, self.coord_weight)
        if not any(t is None for t in (kpt_tokens, vis_tokens, teacher_kpt_tokens, teacher_vis_tokens)):
            losses["vis_dist_loss"] = self.token_loss(vis_tokens, teacher_vis_tokens.detach())
            losses["kpt_dist_loss"] = self.token_loss(kpt_tokens, teacher_kpt_tokens.detach())
        losses["score_loss"] = self.score_loss(coords, score, hm_t, target_weight)
        losses["reg2hm_loss"] = self.reg2hm_loss(coords, sigma, hm_t, target_weight)
        losses["total"] = sum(losses.values())
        return losses

    def from_outputs(
        self, student: CycleOutput | Sequence[CycleOutput],
        teacher: CycleOutput | Sequence[CycleOutput],
        target_weight: torch.Tensor, target_coords: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`forward` on model outputs (the last record of each list is used)."""
        s, t = last_record(student), last_record(teacher)
        coords, sigma, score, kpt, vis = s.require("coords", "sigma", "score", "keypoint_tokens", "visual_tokens")
        hm_t, kpt_t, vis_t = t.require("heatmaps", "keypoint_tokens", "visual_tokens")
        return self.forward(coords, sigma, score, kpt, vis, hm_t, kpt_t, vis_t,
                            target_weight, target_coords)

    def intermediates(
        self, coords: torch.Tensor, sigma: torch.Tensor, teacher_heatmaps: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Detached intermediate tensors for the explorer's Heatmaps tab.

        Returns ``simulated_heatmaps`` (B, K, H, W), ``reg2hm_target_weight`` (B, K),
        ``score_teacher_value`` (B, K, 1) and ``score_index_hw`` (B, K, 2).
        """
        coords, sigma, hm_t = coords.detach(), sigma.detach(), teacher_heatmaps.detach()
        heatmaps, weight = self.reg2hm_loss.simulate(coords, sigma, hm_t, target_weight)
        value, index = self.score_loss.teacher_score(coords, hm_t)
        return {"simulated_heatmaps": heatmaps, "reg2hm_target_weight": weight,
                "score_teacher_value": value, "score_index_hw": index}
