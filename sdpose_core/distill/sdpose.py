"""SDPose self-distillation loss over the cycles of a Multi-Cycled Transformer.

SDPose (Chen et al., "SDPose: Tokenized Pose Estimation via Circulation-Guide Self-Distillation",
CVPR 2024; MartyrPenink/SDPose ``SDPoseHead.get_loss``)::

    L = sum_c JointsMSE(H_c, H_gt, w)
        + 5e-6 * sum_c MSE(kpt_c, kpt_{c+1}) + 5e-6 * sum_c MSE(vis_c, vis_{c+1})

The earlier cycle is the student and the later cycle the target; the official code detaches
nothing, so the token terms also push the later cycle towards the earlier one.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from sdpose_core.distill.common import TokenDistilLoss, joints_mse_loss
from sdpose_core.models.outputs import CycleOutput


def cycle_token_loss(tokens: Sequence[torch.Tensor], criterion: TokenDistilLoss) -> torch.Tensor:
    """``sum_c criterion(tokens[c], tokens[c + 1])``; zero for a single cycle.

    Args:
        tokens: per-cycle tokens, each (B, T, D).
        criterion: the token MSE (holds the weight and the detach choice).
    """
    total = tokens[0].new_zeros(())
    for earlier, later in zip(tokens[:-1], tokens[1:]):
        total = total + criterion(earlier, later)
    return total


class SDPoseLoss(nn.Module):
    """Heatmap loss on every cycle + token self-distillation between consecutive cycles.

    Defaults follow ``configs/body/2d_kpt_sview_rgb_img/sdpose/coco/sdpose_t_coco_256x192.py``
    (the same in the S-V1/S-V2 configs): ``JointsMSELoss(use_target_weight=True)`` and
    ``TokenDistilLoss(loss_weight=5e-6)`` for both keypoint and visual tokens.

    Args:
        token_weight: weight of each token distillation term (official 5e-6).
        use_target_weight: weight heatmaps per joint (official True).
        detach_target: NOT official. Detach the later cycle's tokens so that only the earlier
            cycle is pulled (teacher-student reading of the paper). Official: False.
    """

    def __init__(
        self,
        token_weight: float = 5e-6,
        use_target_weight: bool = True,
        detach_target: bool = False,
    ) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.token_loss = TokenDistilLoss(token_weight, detach_target=detach_target)

    def forward(
        self,
        heatmaps: Sequence[torch.Tensor],
        kpt_tokens: Sequence[torch.Tensor],
        vis_tokens: Sequence[torch.Tensor],
        target: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms from per-cycle tensors.

        Args:
            heatmaps: per-cycle heatmaps, each (B, K, H, W).
            kpt_tokens: per-cycle keypoint tokens, each (B, K, D).
            vis_tokens: per-cycle visual tokens, each (B, N, D).
            target: GT heatmaps (B, K, H, W).
            target_weight: GT joint weights (B, K, 1) or (B, K).

        Returns:
            ``heatmap_loss``, ``kpt_dist_loss``, ``vis_dist_loss`` (official names) and ``total``.
        """
        if not (len(heatmaps) == len(kpt_tokens) == len(vis_tokens) >= 1):
            raise ValueError("need the same number (>= 1) of heatmaps and token sets per cycle")
        weight = target_weight if self.use_target_weight else None
        heatmap_loss = heatmaps[0].new_zeros(())
        for hm in heatmaps:
            heatmap_loss = heatmap_loss + joints_mse_loss(hm, target, weight)
        losses = {
            "heatmap_loss": heatmap_loss,
            "kpt_dist_loss": cycle_token_loss(kpt_tokens, self.token_loss),
            "vis_dist_loss": cycle_token_loss(vis_tokens, self.token_loss),
        }
        losses["total"] = sum(losses.values())
        return losses

    def from_cycles(
        self,
        cycles: Sequence[CycleOutput],
        target: torch.Tensor,
        target_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Same as :meth:`forward`, reading a model's list of per-cycle records."""
        fields = [c.require("heatmaps", "keypoint_tokens", "visual_tokens") for c in cycles]
        heatmaps, kpt, vis = (list(t) for t in zip(*fields))
        return self.forward(heatmaps, kpt, vis, target, target_weight)
