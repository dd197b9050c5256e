"""Coordinate-regression targets (DistilPose student, DeepPose / RLE style heads).

Same conventions as ``heatmap.py``: sizes (H, W), keypoints (x, y) in input-crop pixels. Targets
are normalised (x / W, y / H) with x along the width, as mmpose 0.x
``TopDownGenerateTargetRegression`` (the pipeline DistilPose uses); a model predicts them through a
sigmoid, so they live in [0, 1] for keypoints inside the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sdpose_core.data.codecs.flip import to_numpy
from sdpose_core.data.codecs.heatmap import check_keypoints


@dataclass(frozen=True)
class RegressionLabel:
    """Normalised-coordinate codec, sizes in (H, W).

    Args:
        input_size: (256, 192): DistilPose-S/L COCO 256x192 configs.
    """

    input_size: tuple[int, int] = (256, 192)

    @property
    def scale(self) -> np.ndarray:
        """(W, H): pixels per unit of normalised coordinate."""
        return np.array([self.input_size[1], self.input_size[0]], dtype=np.float64)

    def encode(self, keypoints, visible=None) -> tuple[np.ndarray, np.ndarray]:
        """(N, K, 2) input-pixel keypoints -> targets (N, K, 2) and weights (N, K, 2), float32.

        Weights are the visibility repeated for x and y (DistilPose's (N, K, 2) target_weight), set
        to 0 where the keypoint lies outside [0, W-1] x [0, H-1] (as mmpose 0.x does).
        """
        kpts, vis = check_keypoints(keypoints, visible)
        inside = ((kpts >= 0) & (kpts <= self.scale - 1)).all(-1)
        weights = np.repeat((vis * inside)[..., None], 2, axis=-1)
        return (kpts / self.scale).astype(np.float32), weights.astype(np.float32)

    def decode(self, coords: np.ndarray | torch.Tensor,
               scores: np.ndarray | torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, K, 2) normalised coordinates (numpy or torch) -> keypoints (N, K, 2) px, scores (N, K).

        Args:
            scores: the head's keypoint scores (N, K) or (N, K, 1), passed through; ones if None.
        """
        c = to_numpy(coords, np.float64)
        if c.ndim != 3 or c.shape[-1] != 2:
            raise ValueError(f"coords must be (N, K, 2), got shape {c.shape}")
        s = np.ones(c.shape[:2]) if scores is None else to_numpy(scores).reshape(c.shape[:2])
        return (c * self.scale).astype(np.float32), s.astype(np.float32)
