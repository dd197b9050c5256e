"""SimCC labels (Li et al. 2022, "SimCC"; RTMPose / DWPose heads): 1-D classification per axis.

Same conventions as ``heatmap.py``: sizes (H, W), keypoints (x, y) in input-crop pixels. Bin b of
an axis corresponds to input coordinate b / split_ratio. Matches mmpose 1.1 ``SimCCLabel``
(gaussian smoothing, use_dark=False) and ``get_simcc_maximum`` exactly; checked against the
official DWPose fixture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sdpose_core.data.codecs.flip import flip_simcc, to_numpy
from sdpose_core.data.codecs.heatmap import ConfidenceFn, check_keypoints
from sdpose_core.models.outputs import CycleOutput


def simcc_maximum(x_logits, y_logits) -> tuple[np.ndarray, np.ndarray]:
    """mmpose ``get_simcc_maximum``: argmax bins (N, K, 2) float32 and values (N, K).

    First index wins a tie; value = min(max_x, max_y); locations are -1 where value <= 0.
    """
    sx, sy = to_numpy(x_logits), to_numpy(y_logits)
    if sx.ndim != 3 or sy.ndim != 3 or sx.shape[:2] != sy.shape[:2]:
        raise ValueError(f"SimCC logits must be (N, K, Wx) and (N, K, Hy), got {sx.shape} and {sy.shape}")
    locs = np.stack([sx.argmax(-1), sy.argmax(-1)], -1).astype(np.float32)
    vals = np.minimum(sx.max(-1), sy.max(-1))
    locs[vals <= 0] = -1
    return locs, vals


@dataclass(frozen=True)
class SimCCLabel:
    """Gaussian SimCC codec, sizes in (H, W).

    Args:
        input_size: (256, 192): RTMPose-m / DWPose body COCO 256x192 configs.
        sigma: (sigma_x, sigma_y) = (4.9, 5.66) in bins: RTMPose-m COCO 256x192 config.
        split_ratio: 2.0 bins per input pixel: RTMPose ``simcc_split_ratio``.
        normalize: False (RTMPose): labels have peak 1; True divides by sigma * sqrt(2 pi).
    """

    input_size: tuple[int, int] = (256, 192)
    sigma: tuple[float, float] = (4.9, 5.66)
    split_ratio: float = 2.0
    normalize: bool = False

    @property
    def num_bins(self) -> tuple[int, int]:
        """(x bins, y bins), e.g. (384, 512) for 256x192 at ratio 2."""
        h, w = self.input_size
        return int(np.around(w * self.split_ratio)), int(np.around(h * self.split_ratio))

    def encode(self, keypoints, visible=None) -> dict[str, np.ndarray]:
        """(N, K, 2) input-pixel keypoints -> x labels ``simcc_x`` (N, K, Wx), y labels ``simcc_y``
        (N, K, Hy) and ``target_weight`` (N, K), float32.

        mu = np.around(kpt * ratio) (half to even) on integer bins. Joints with visibility < 0.5 get
        zero labels (weight stays as given); weight 0 and zero labels where the 3-sigma window misses
        an axis (mu - 3 sigma >= bins or mu + 3 sigma + 1 < 0).
        """
        kpts, vis = check_keypoints(keypoints, visible)
        sigma = np.asarray(self.sigma, dtype=np.float64)
        bins = np.asarray(self.num_bins)
        mu = np.around(kpts * self.split_ratio)
        inside = (mu - 3 * sigma < bins).all(-1) & (mu + 3 * sigma + 1 >= 0).all(-1)
        labelled = vis >= 0.5
        weights = np.where(labelled & ~inside, 0.0, vis)
        keep = (labelled & inside)[..., None]
        labels = []
        for axis in range(2):
            g = np.exp(-((np.arange(bins[axis]) - mu[..., axis : axis + 1]) ** 2) / (2 * sigma[axis] ** 2))
            if self.normalize:
                g = g / (sigma[axis] * np.sqrt(2 * np.pi))
            labels.append((g * keep).astype(np.float32))
        return {"simcc_x": labels[0], "simcc_y": labels[1], "target_weight": weights.astype(np.float32)}

    def decode(self, x_logits: np.ndarray | torch.Tensor,
               y_logits: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """SimCC logits or labels (numpy or torch) -> keypoints (N, K, 2) input px and scores (N, K).

        Keypoints are argmax bins / ratio (so an undecidable joint, value <= 0, decodes to -0.5).
        """
        locs, vals = simcc_maximum(x_logits, y_logits)
        return locs / np.float32(self.split_ratio), vals.astype(np.float32)

    def decode_output(self, output: CycleOutput) -> tuple[np.ndarray, np.ndarray]:
        """One cycle's SimCC logits -> keypoints (B, K, 2) in input pixels and scores (B, K)."""
        x_logits, y_logits = output.require("simcc_x", "simcc_y")
        return self.decode(x_logits.detach(), y_logits.detach())

    def flip_merge(self, plain: CycleOutput, flipped: CycleOutput, input_width: int) -> CycleOutput:
        """Flip test: the mean of the plain logits and the mirrored-back ones of the flipped image."""
        bx, by = flip_simcc(flipped.simcc_x.detach(), flipped.simcc_y.detach())
        return CycleOutput(simcc_x=(plain.simcc_x.detach() + torch.as_tensor(bx)) / 2,
                           simcc_y=(plain.simcc_y.detach() + torch.as_tensor(by)) / 2)

    def heatmaps(self, output: CycleOutput, size: tuple[int, int] | None = None) -> torch.Tensor:
        """(B, K, h, w) outer product of the softmaxed x and y distributions, peak 1.

        Args:
            size: (h, w) grid the distributions are average-pooled to; None: one pixel per bin.
        """
        x_logits, y_logits = output.require("simcc_x", "simcc_y")
        px = x_logits.detach().float().softmax(-1)  # (B, K, W * r)
        py = y_logits.detach().float().softmax(-1)  # (B, K, H * r)
        if size is not None:
            px, py = F.adaptive_avg_pool1d(px, size[1]), F.adaptive_avg_pool1d(py, size[0])  # (B, K, w), (B, K, h)
        hm = py[..., :, None] * px[..., None, :]
        return hm / hm.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)

    def keypoint_confidence(self, reference: CycleOutput, keypoint: int) -> ConfidenceFn:
        """x-logit + y-logit of ``keypoint`` at the argmax bins of ``reference`` (batch item 0)."""
        x_logits, y_logits = reference.require("simcc_x", "simcc_y")
        bx, by = int(x_logits[0, keypoint].argmax()), int(y_logits[0, keypoint].argmax())
        return lambda out: out.simcc_x[:, keypoint, bx] + out.simcc_y[:, keypoint, by]
