"""Prediction heads that read the keypoint tokens (B, K, D) and fill a CycleOutput.

- HeatmapHead: TokenPose / SDPose ``mlp_head`` -> 2D heatmaps.
- RegressionHead: DistilPose ``mlp_head`` (out_mode='all') -> (x, y), score, (sigma_x, sigma_y).
- SimCCHead: RTMPose-style 1D x / y classification, simplified to one Linear per axis on tokens.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .outputs import CycleOutput


def official_mlp(dim: int, hidden: int, out: int, apply_multi: bool = True) -> nn.Sequential:
    """The official head MLP: LN -> Linear(dim, hidden) -> LN -> Linear(hidden, out), NO activation,
    used when ``dim <= hidden * 0.5 and apply_multi``; otherwise LN -> Linear(dim, out).

    The module indices (0..3 or 0..1) equal the official ``mlp_head`` ones.
    """
    if dim <= hidden * 0.5 and apply_multi:
        return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, out))
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out))


class HeatmapHead(nn.Module):
    """Keypoint token -> flattened heatmap -> (Hh, Wh) row-major (TokenPose / SDPose).

    Args:
        dim: token width D (192).
        heatmap_size: (Hh, Wh), official 64x48.
        hidden: hidden width, official Hh * Wh // 8 = 384.
        apply_multi: official switch for the 2-Linear form.
    """

    def __init__(self, dim: int, heatmap_size: tuple[int, int], hidden: int, apply_multi: bool = True) -> None:
        super().__init__()
        self.heatmap_size = tuple(heatmap_size)
        self.mlp_head = official_mlp(dim, hidden, heatmap_size[0] * heatmap_size[1], apply_multi)

    def forward(self, kpt: torch.Tensor) -> CycleOutput:
        B, K, _ = kpt.shape
        hm = self.mlp_head(kpt).view(B, K, *self.heatmap_size)  # (B, K, Hh, Wh)
        return CycleOutput(heatmaps=hm)


class RegressionHead(nn.Module):
    """DistilPose head: per token 5 numbers; x[..., 0:2] -> sigmoid (x, y) in [0, 1] of the crop
    (x along the width), x[..., 2:3] raw score, x[..., 3:5] -> Softplus (sigma_x, sigma_y) in
    heatmap pixels.

    Args:
        dim: token width D.
        hidden: hidden width (DistilPose default 384; DistilPose-S config 64 -> 1-Linear form).
        apply_multi: official switch for the 2-Linear form.
    """

    def __init__(self, dim: int, hidden: int = 384, apply_multi: bool = True) -> None:
        super().__init__()
        self.mlp_head = official_mlp(dim, hidden, 5, apply_multi)

    def forward(self, kpt: torch.Tensor) -> CycleOutput:
        x = self.mlp_head(kpt)  # (B, K, 5)
        return CycleOutput(coords=x[..., 0:2].sigmoid(), score=x[..., 2:3], sigma=F.softplus(x[..., 3:5]))


class SimCCHead(nn.Module):
    """SimCC head for token models: LN, then one Linear per axis from each keypoint token to
    ``W * split_ratio`` x-bins and ``H * split_ratio`` y-bins.

    RTMPose (the DWPose students) puts a 7x7 conv + GAU block between the backbone and these
    Linears; on keypoint tokens that mixing has already been done by the transformer, so the
    simplified head keeps only the final per-axis classifiers (split ratio 2.0 as in RTMPose).

    Args:
        dim: token width D.
        input_size: (H, W) of the input crop.
        split_ratio: bins per pixel (RTMPose 2.0).
    """

    def __init__(self, dim: int, input_size: tuple[int, int], split_ratio: float = 2.0) -> None:
        super().__init__()
        H, W = input_size
        self.norm = nn.LayerNorm(dim)
        self.mlp_head_x = nn.Linear(dim, int(W * split_ratio))
        self.mlp_head_y = nn.Linear(dim, int(H * split_ratio))

    def forward(self, kpt: torch.Tensor) -> CycleOutput:
        z = self.norm(kpt)  # (B, K, D)
        return CycleOutput(simcc_x=self.mlp_head_x(z), simcc_y=self.mlp_head_y(z))


# one row per head type (``ModelConfig.head``): how to build it from a config
HEADS: dict[str, Callable[[ModelConfig], nn.Module]] = {
    "heatmap": lambda cfg: HeatmapHead(cfg.dim, cfg.out_heatmap_size, cfg.hidden_dim, cfg.apply_multi),
    "regression": lambda cfg: RegressionHead(cfg.dim, cfg.hidden_dim, cfg.apply_multi),
    "simcc": lambda cfg: SimCCHead(cfg.dim, cfg.input_size, cfg.simcc_split_ratio),
}


def build_head(cfg: ModelConfig) -> nn.Module:
    """The head named by ``cfg.head``."""
    if cfg.head not in HEADS:
        raise ValueError(f"unknown head {cfg.head!r}")
    return HEADS[cfg.head](cfg)
