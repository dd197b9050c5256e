"""The one output record every model returns, one per cycle run (DESIGN.md "Model outputs"), and
what a teacher says about one person in one photo (:class:`TeacherView`)."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch


@dataclass
class CycleOutput:
    """Everything one cycle of a pose model produced.

    Prediction fields are filled according to the head; the rest stay ``None``.

    Attributes:
        heatmaps: 2D heatmaps (B, K, Hh, Wh) from a heatmap head.
        coords: normalised (x, y) in [0, 1] of the input crop (B, K, 2) from a regression head.
        sigma: (sigma_x, sigma_y) in heatmap pixels (B, K, 2) from a regression head.
        score: per-keypoint score (B, K, 1) from a regression head (raw, as DistilPose emits it).
        simcc_x: SimCC x logits (B, K, W * split_ratio) from a SimCC head.
        simcc_y: SimCC y logits (B, K, H * split_ratio) from a SimCC head.
        keypoint_tokens: keypoint tokens after this cycle (B, K, D); None for CNN models.
        visual_tokens: patch tokens after this cycle (B, N, D); None for CNN models.
        attention: softmax attention per layer, each (B, heads, K + N, K + N); only when asked.
        features: backbone feature map (B, C, h, w) the head read (used by feature distillation).
    """

    heatmaps: torch.Tensor | None = None
    coords: torch.Tensor | None = None
    sigma: torch.Tensor | None = None
    score: torch.Tensor | None = None
    simcc_x: torch.Tensor | None = None
    simcc_y: torch.Tensor | None = None
    keypoint_tokens: torch.Tensor | None = None
    visual_tokens: torch.Tensor | None = None
    attention: list[torch.Tensor] | None = None
    features: torch.Tensor | None = None

    def require(self, *names: str, who: str = "model") -> list[torch.Tensor]:
        """These fields, in order; ValueError naming the ones this record's head did not fill."""
        values = [getattr(self, n) for n in names]
        missing = [n for n, v in zip(names, values) if v is None]
        if missing:
            raise ValueError(f"the {who} output has no {', '.join(missing)} (a model with another head?)")
        return values

    def detach(self) -> "CycleOutput":
        """A copy with every tensor detached (for caching in the explorer)."""
        def _d(v):
            if isinstance(v, torch.Tensor):
                return v.detach()
            if isinstance(v, list):
                return [t.detach() for t in v]
            return v
        return CycleOutput(**{f.name: _d(getattr(self, f.name)) for f in fields(self)})


@dataclass
class TeacherView:
    """What a teacher says about one person in one photo (``sdpose_core.train.teacher``).

    Attributes:
        keypoints: (K, 2) in original image pixels.
        scores: (K,) confidences.
        heatmaps: (K, h, w) float32, in the teacher's own heatmap frame.
        heatmap_to_image: (2, 3) affine mapping heatmap pixels (x, y) to image pixels.
        bbox: (4,) x, y, w, h of the person box the teacher looked at.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    heatmaps: np.ndarray
    heatmap_to_image: np.ndarray
    bbox: np.ndarray
