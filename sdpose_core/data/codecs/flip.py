"""Flip-test helpers shared by every codec, and the numpy/torch array bridge.

Flip test (MSRA / SimpleBaseline, followed by mmpose, SDPose, DistilPose and RTMPose): run the model
on the image and on its horizontal mirror, map the mirrored prediction back, average the two.
Mapping back = mirror the spatial/x axis AND swap left/right keypoint channels (COCO ``FLIP_INDEX``).

Every helper here preserves the array type: torch in -> torch out, numpy in -> numpy out (a copy:
inputs are never modified). ``to_numpy`` converts any model output to a numpy array.

Pixel convention (same as the codecs): pixel index i is the pixel centre, so mirroring an image
of width W maps x -> W - 1 - x.
"""
from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np
import torch

from sdpose_core.data.coco_meta import FLIP_INDEX

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def to_numpy(x: np.ndarray | torch.Tensor | Sequence, dtype: type | None = None) -> np.ndarray:
    """Any array-like (torch tensor on any device, with or without grad, or numpy) -> numpy."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _flip_last(x: Array) -> Array:
    return x.flip(-1) if isinstance(x, torch.Tensor) else np.flip(x, -1).copy()


def _swap_keypoints(x: Array, flip_index: Sequence[int], axis: int) -> Array:
    index = list(flip_index)
    if x.shape[axis] != len(index):
        raise ValueError(f"axis {axis} has {x.shape[axis]} keypoints, flip_index has {len(index)}")
    if isinstance(x, torch.Tensor):
        return x.index_select(axis, torch.as_tensor(index, device=x.device))
    return np.take(x, index, axis=axis)


def flip_image(images: Array) -> Array:
    """Mirror images horizontally. Args: images (..., H, W) e.g. (N, C, H, W) tensors."""
    return _flip_last(images)


def flip_heatmaps(heatmaps: Array, flip_index: Sequence[int] = FLIP_INDEX, shift: bool = True) -> Array:
    """Map heatmaps predicted on a mirrored image back to the original image.

    Args:
        heatmaps: (N, K, H, W) heatmaps of the flipped image.
        flip_index: keypoint k of the output reads channel flip_index[k] (COCO-17 by default).
        shift: mmpose ``shift_heatmap=True`` (its default for MSRA heatmaps): move the result one
            heatmap pixel right. With heatmap = input / stride, the mirrored-back map sits
            (stride - 1) / stride = 0.75 px left of the truth; the shift leaves 0.25 px right.
            Not an involution when True (the first column is duplicated).
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    out = _swap_keypoints(_flip_last(heatmaps), flip_index, axis=1)
    if shift:
        out[..., 1:] = out[..., :-1].clone() if isinstance(out, torch.Tensor) else out[..., :-1].copy()
    return out


def flip_simcc(x_logits: Array, y_logits: Array, flip_index: Sequence[int] = FLIP_INDEX) -> tuple[Array, Array]:
    """Map SimCC logits of a mirrored image back (mmpose ``flip_vectors``: no shift).

    Args:
        x_logits: (N, K, Wx) x-axis logits; reversed along the bins and keypoint-swapped.
        y_logits: (N, K, Hy) y-axis logits; only keypoint-swapped.
    Bin b <-> input x = b / ratio, so the reversal maps x -> W - 1/ratio - x: a 1/ratio - 1 = -0.5 px
    bias for ratio 2 (mmpose keeps it; it is under one bin).
    """
    if x_logits.ndim != 3 or y_logits.ndim != 3:
        raise ValueError("SimCC logits must be (N, K, bins)")
    return _swap_keypoints(_flip_last(x_logits), flip_index, 1), _swap_keypoints(y_logits, flip_index, 1)


def flip_coords(coords: Array, flip_index: Sequence[int] = FLIP_INDEX, input_width: int | None = None) -> Array:
    """Map normalised (x/W, y/H) regression outputs of a mirrored image back.

    Args:
        coords: (N, K, 2) normalised coordinates (DistilPose / RLE convention, x along the width).
        input_width: when given, subtract 1/W after x -> 1 - x (mmpose ``flip_coordinates`` with
            shift_coords=True), which makes the map exact for pixel-centre mirroring W - 1 - x.
            Either way the map is an involution.
    """
    out = _swap_keypoints(coords, flip_index, axis=1)
    out = out.clone() if isinstance(out, torch.Tensor) else out.copy()
    out[..., 0] = 1.0 - out[..., 0] - (1.0 / input_width if input_width else 0.0)
    return out


def flip_keypoints(keypoints: Array, width: float, visible: Array | None = None,
                   flip_index: Sequence[int] = FLIP_INDEX) -> Array | tuple[Array, Array]:
    """Mirror (N, K, 2) pixel keypoints of an image of width ``width``: x -> width - 1 - x, swap pairs.

    Returns the flipped keypoints, or (keypoints, visible) when ``visible`` (N, K) is given.
    """
    out = _swap_keypoints(keypoints, flip_index, axis=1)
    out = out.clone() if isinstance(out, torch.Tensor) else out.copy()
    out[..., 0] = width - 1 - out[..., 0]
    if visible is None:
        return out
    return out, _swap_keypoints(visible, flip_index, axis=1)


def flip_average(original: Array, flipped_back: Array) -> Array:
    """Flip-test fusion: the mean of the plain prediction and the mirrored-back one (same shapes)."""
    if tuple(original.shape) != tuple(flipped_back.shape):
        raise ValueError(f"shape mismatch: {tuple(original.shape)} vs {tuple(flipped_back.shape)}")
    return (original + flipped_back) * 0.5
