"""One photo through one model: keypoints in original pixels, scores, per-cycle records, latency."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.topdown import load_image_crop
from sdpose_core.data.transforms import crop_to_image, denormalize
from sdpose_core.data.codecs import codec_for
from sdpose_core.models.outputs import CycleOutput


@dataclass
class PoseResult:
    """What :func:`run_pose` returns.

    Attributes:
        keypoints: (K, 2) in original image pixels, from ``cycle`` (the first cycle by default).
        scores: (K,) keypoint confidences as the codec decodes them.
        outputs: one detached :class:`CycleOutput` per cycle that ran (batch size 1).
        meta: crop meta (``matrix``, ``bbox``, ``input_size`` ...) for mapping crop <-> image.
        latency_ms: wall time of the forward pass alone.
        crop: the network input as (H, W, 3) uint8 RGB, for drawing crop-space maps.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    outputs: list[CycleOutput]
    meta: dict[str, Any]
    latency_ms: float
    crop: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    def cycle_keypoints(self, model: nn.Module, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (K, 2) in image pixels and scores (K,) of cycle ``cycle`` (1-based)."""
        kpts, scores = codec_for(model.config).decode_output(self.outputs[cycle - 1])
        return crop_to_image(kpts[0], self.meta), scores[0]


@torch.inference_mode()
def run_pose(model: nn.Module, image_rgb: np.ndarray, bbox: Sequence[float] | None = None,
             cycles: int | None = None, return_attention: bool = False) -> PoseResult:
    """Crop ``bbox`` (x, y, w, h; None = whole image) from the photo and run ``model`` on it.

    Args:
        model: any zoo model (heatmap, regression or SimCC head); put in eval mode here.
        image_rgb: (H, W, 3) uint8 RGB.
        cycles: cycles to run (None: the model's eval default, 1); keypoints come from cycle 1.
        return_attention: also keep the attention maps of every layer and cycle.
    """
    model.eval()
    tensor, meta = load_image_crop(image_rgb, bbox, input_size=tuple(model.config.input_size))
    start = time.perf_counter()
    outs = model(tensor[None], cycles=cycles, return_attention=return_attention)
    latency = (time.perf_counter() - start) * 1000.0
    outs = [o.detach() for o in outs]
    kpts, scores = codec_for(model.config).decode_output(outs[0])
    return PoseResult(crop_to_image(kpts[0], meta), np.asarray(scores[0], dtype=np.float64), outs,
                      meta, latency, denormalize(tensor))
