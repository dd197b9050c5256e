"""Coordinate-regression targets (DistilPose student, DeepPose / RLE style heads).

Same conventions as ``heatmap.py``: sizes (H, W), keypoints (x, y) in input-crop pixels. Targets
are normalised (x / W, y / H) with x along the width, as mmpose 0.x
``TopDownGenerateTargetRegression`` (the pipeline DistilPose uses); a model predicts them through a
sigmoid, so they live in [0, 1] for keypoints inside the crop. A regression output read as a map is
DistilPose's simulated heatmap (:func:`simulated_heatmap`, the G of its Reg2HM loss).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sdpose_core.data.codecs.flip import flip_coords, to_numpy
from sdpose_core.data.codecs.heatmap import ConfidenceFn, check_keypoints
from sdpose_core.models.outputs import CycleOutput


def simulated_heatmap(
    coords: torch.Tensor, sigma: torch.Tensor, heatmap_size: tuple[int, int], eps: float = 1e-9
) -> torch.Tensor:
    """Unnormalised Gaussian with peak 1 at the predicted location (DistilPose ``Reg2HMLoss``, MSRA unbiased).

    ``exp(-0.5 * ((x - W*px)^2 / (sx^2 + eps) + (y - H*py)^2 / (sy^2 + eps)))`` on integer pixels
    x = 0..W-1, y = 0..H-1 (note: ``mu = p * W``, no -1 and no +0.5, as the official code:
    yshMars/DistilPose ``distilpose/models/losses/dist_loss.py``).

    Args:
        coords: normalised (x, y) in [0, 1] (B, K, 2), x along the width.
        sigma: (sigma_x, sigma_y) in heatmap pixels (B, K, 2).
        heatmap_size: (H, W), e.g. (64, 48).
        eps: added to sigma^2 (official 1e-9).
    """
    h, w = heatmap_size
    mu_x = (coords[..., 0] * w)[..., None, None]  # (B, K, 1, 1)
    mu_y = (coords[..., 1] * h)[..., None, None]
    var_x = (sigma[..., 0] ** 2 + eps)[..., None, None]
    var_y = (sigma[..., 1] ** 2 + eps)[..., None, None]
    xs = torch.arange(w, dtype=coords.dtype, device=coords.device).view(1, 1, 1, w)
    ys = torch.arange(h, dtype=coords.dtype, device=coords.device).view(1, 1, h, 1)
    return torch.exp(-0.5 * ((xs - mu_x) ** 2 / var_x + (ys - mu_y) ** 2 / var_y))  # (B, K, H, W)


@dataclass(frozen=True)
class RegressionLabel:
    """Normalised-coordinate codec, sizes in (H, W).

    Args:
        input_size: (256, 192): DistilPose-S/L COCO 256x192 configs.
        heatmap_size: (64, 48) = input / 4: the grid a prediction is drawn on as a simulated heatmap
            (DistilPose's teacher heatmaps).
    """

    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)

    @property
    def scale(self) -> np.ndarray:
        """(W, H): pixels per unit of normalised coordinate."""
        return np.array([self.input_size[1], self.input_size[0]], dtype=np.float64)

    def encode(self, keypoints, visible=None) -> dict[str, np.ndarray]:
        """(N, K, 2) input-pixel keypoints -> targets ``coords`` (N, K, 2) and ``coord_weight`` (N, K, 2), float32.

        Weights are the visibility repeated for x and y (DistilPose's (N, K, 2) target_weight), set
        to 0 where the keypoint lies outside [0, W-1] x [0, H-1] (as mmpose 0.x does).
        """
        kpts, vis = check_keypoints(keypoints, visible)
        inside = ((kpts >= 0) & (kpts <= self.scale - 1)).all(-1)
        weights = np.repeat((vis * inside)[..., None], 2, axis=-1)
        return {"coords": (kpts / self.scale).astype(np.float32), "coord_weight": weights.astype(np.float32)}

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

    def decode_output(self, output: CycleOutput) -> tuple[np.ndarray, np.ndarray]:
        """One cycle's coordinates -> keypoints (B, K, 2) in input pixels, scores (B, K) = sigmoid(score)."""
        (coords,) = output.require("coords")
        score = None if output.score is None else torch.sigmoid(output.score.detach())
        return self.decode(coords.detach(), score)

    def flip_merge(self, plain: CycleOutput, flipped: CycleOutput, input_width: int) -> CycleOutput:
        """Flip test: the mean of the plain coordinates and the mirrored-back ones; the plain score."""
        back = torch.as_tensor(flip_coords(flipped.coords.detach(), input_width=input_width))
        return CycleOutput(coords=(plain.coords.detach() + back) / 2, score=plain.score)

    def heatmaps(self, output: CycleOutput, size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, K, h, w) simulated heatmaps of the predicted points and sigmas (peak 1).

        Args:
            size: (h, w) grid; None: ``heatmap_size``.
        """
        coords, sigma = output.require("coords", "sigma")
        return simulated_heatmap(coords.detach().float(), sigma.detach().float(), size or self.heatmap_size)

    def keypoint_confidence(self, reference: CycleOutput, keypoint: int) -> ConfidenceFn:
        """The raw score the head gives ``keypoint``."""
        reference.require("score")
        return lambda out: out.score[:, keypoint, 0]
