"""Top-down transforms: bbox -> (center, scale), crop affine, warping, pixels, augmentation.

Conventions (used by every function here and by `topdown.py`):

* Pixel coordinates are continuous with pixel *centres* on integers, as in COCO
  keypoints and the classic mmpose / HRNet pipelines (no UDP).
* ``center`` is (x, y) in image pixels; ``scale`` is (w, h) of the crop window in
  image pixels (mmpose 1.x "bbox_scale"; mmpose 0.x stored the same divided by 200).
* ``output_size`` / ``input_size`` is (H, W) of the network input, e.g. (256, 192).
* The crop matrix is the classic mmpose ``get_affine_transform`` (0.x) /
  ``get_warp_matrix(use_udp=False)`` (1.x) similarity:

      crop = k * R(-rotation) @ (p - center) + (W / 2, H / 2),   k = W / scale_w

  Only ``scale_w`` is used (callers fix the aspect ratio first, as mmpose does),
  so the window's centre lands on (W/2, H/2) of the crop, and a positive rotation turns
  the image content counter-clockwise in the crop.
* A horizontal flip is done in crop space: x_crop -> (W - 1) - x_crop, i.e. the flipped
  crop is the exact mirror of the unflipped one, and left/right keypoints swap through
  ``FLIP_INDEX``. (mmpose flips the whole image instead; the two differ by at most one
  crop pixel in where the window sits, which is irrelevant for augmentation.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import cv2
import numpy as np
import torch

from sdpose_core.data.coco_meta import FLIP_INDEX, LOWER_BODY_IDS, UPPER_BODY_IDS

_FLIP_INDEX = np.asarray(FLIP_INDEX, dtype=np.int64)

# ImageNet statistics (RGB, [0, 1]) as in mmpose's NormalizeTensor / PoseDataPreprocessor.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ----------------------------------------------------------------------------- geometry

def bbox_xywh_to_center_scale(
    bbox: np.ndarray | list[float], aspect_ratio: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a COCO box into the crop window (mmpose ``_xywh2cs`` / ``bbox_xywh2cs``).

    Args:
        bbox: (x, y, w, h) in image pixels.
        aspect_ratio: W / H of the network input (192 / 256 = 0.75 for 256x192).
        padding: context factor applied after fixing the aspect; 1.25 is mmpose's
            ``TopDownGetBboxCenterScale(padding=1.25)`` used by SDPose/DistilPose configs.

    Returns:
        center (2,) and scale (2,) in pixels, with scale[0] / scale[1] == aspect_ratio.
    """
    x, y, w, h = (float(v) for v in np.asarray(bbox, dtype=np.float64).reshape(4))
    center = np.array([x + 0.5 * w, y + 0.5 * h], dtype=np.float64)
    if w > aspect_ratio * h:      # too wide: grow the height
        h = w / aspect_ratio
    else:                         # too tall (or exact): grow the width
        w = h * aspect_ratio
    scale = np.array([w, h], dtype=np.float64) * padding
    return center, scale


def fix_aspect_ratio(scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow the short side of a (w, h) scale so that w / h == aspect_ratio."""
    w, h = float(scale[0]), float(scale[1])
    if w > aspect_ratio * h:
        return np.array([w, w / aspect_ratio], dtype=np.float64)
    return np.array([h * aspect_ratio, h], dtype=np.float64)


def get_affine_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rotation_deg: float,
    output_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """The classic (non-UDP) top-down crop matrix, crop <- image (or image <- crop).

    Equal to mmpose 0.x ``get_affine_transform(center, scale / 200, rot, (W, H))`` and
    mmpose 1.x ``get_warp_matrix(center, scale, rot, (W, H))``, written in closed form
    (see the module docstring) instead of via three point correspondences.

    Args:
        center: (2,) window centre (x, y) in image pixels.
        scale: (2,) window (w, h) in image pixels; only w sets the zoom, as in mmpose.
        rotation_deg: rotation in degrees (positive = content turns counter-clockwise).
        output_size: (H, W) of the crop.
        inverse: return the image <- crop matrix instead.

    Returns:
        (2, 3) float64 affine matrix for ``cv2.warpAffine`` / ``apply_affine``.
    """
    out_h, out_w = output_size
    k = out_w / float(scale[0])
    theta = math.radians(float(rotation_deg))
    cos, sin = math.cos(theta), math.sin(theta)
    rot = np.array([[cos, sin], [-sin, cos]], dtype=np.float64)  # R(-theta)
    dst_c = np.array([out_w * 0.5, out_h * 0.5], dtype=np.float64)
    c = np.asarray(center, dtype=np.float64).reshape(2)
    if not inverse:
        lin = k * rot
        return np.concatenate([lin, (dst_c - lin @ c)[:, None]], axis=1)
    lin = rot.T / k
    return np.concatenate([lin, (c - lin @ dst_c)[:, None]], axis=1)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def hflip_matrix(matrix: np.ndarray, output_width: int) -> np.ndarray:
    """Compose a crop <- image matrix with the crop mirror x -> (W - 1) - x."""
    flip = np.array([[-1.0, 0.0, output_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return (flip @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points of shape (..., 2); returns float64 (..., 2)."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Warp an (H, W[, C]) image into the (H_out, W_out) crop: bilinear, zero border."""
    out_h, out_w = output_size
    return cv2.warpAffine(
        image, np.asarray(matrix, dtype=np.float64), (int(out_w), int(out_h)),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def flip_keypoint_order(values: np.ndarray, axis: int = -2) -> np.ndarray:
    """Swap left/right keypoints along ``axis`` (the 17-keypoint axis) via FLIP_INDEX."""
    return np.take(np.asarray(values), _FLIP_INDEX, axis=axis)


def crop_to_image(points_in_crop: Any, meta: Mapping[str, Any], unflip: bool = True) -> np.ndarray:
    """Map points in crop / input pixels back to original-image pixels.

    Args:
        points_in_crop: (..., 2) array or tensor in crop pixels, e.g. predictions (17, 2).
        meta: a sample's meta; uses ``matrix`` (crop <- image, flip included) and ``flipped``.
        unflip: for a flipped sample with a 17-keypoint axis at -2, also swap left/right
            back so that index k is the person's true keypoint k.

    Returns:
        float64 array (..., 2) in image pixels.
    """
    if hasattr(points_in_crop, "detach"):
        points_in_crop = points_in_crop.detach().cpu().numpy()
    pts = np.asarray(points_in_crop, dtype=np.float64)
    out = apply_affine(pts, invert_affine(np.asarray(meta["matrix"], dtype=np.float64)))
    if unflip and bool(meta.get("flipped", False)) and out.ndim >= 2 and out.shape[-2] == len(FLIP_INDEX):
        out = flip_keypoint_order(out, axis=-2)
    return out


# ----------------------------------------------------------------------------- pixels

def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Make an (H, W, 3) uint8 RGB array from gray (H, W) / (H, W, 1), RGB or RGBA input."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image (H, W[, 1|3|4]), got shape {np.asarray(image).shape}")
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def normalize_image(crop: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32, ImageNet mean/std."""
    x = (crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def denormalize(image_tensor: torch.Tensor) -> np.ndarray:
    """Inverse of ``normalize_image`` for display: (3, H, W) -> (H, W, 3) uint8 RGB.

    A batch (B, 3, H, W) gives (B, H, W, 3).
    """
    x = image_tensor.detach().cpu().float().numpy()
    x = np.moveaxis(x, -3, -1) * IMAGENET_STD + IMAGENET_MEAN  # (..., H, W, 3)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- augmentation

@dataclass
class AugmentConfig:
    """Training-time top-down augmentation; defaults follow mmpose 0.x TopDown pipelines.

    Args:
        flip_prob: horizontal flip probability; ``TopDownRandomFlip(flip_prob=0.5)``.
        half_body_prob: ``TopDownHalfBodyTransform(prob_half_body=0.3)``.
        half_body_min_joints: half-body needs strictly more labelled joints than this;
            ``num_joints_half_body=8`` (mmpose 1.x says ``min_total_keypoints=9``: same rule).
        half_body_padding: window padding of the half-body box; 1.5 in both mmpose versions.
        rotation_factor: rotation = clip(N(0, 1) * 40, -80, 80) degrees;
            ``TopDownGetRandomScaleRotation(rot_factor=40)`` default (SDPose configs use 45).
        rotation_prob: ``rot_prob=0.6`` of the same transform.
        scale_factor: scale *= clip(N(1, 0.35), 0.65, 1.35); 0.35 is the HRNet / TokenPose /
            SDPose COCO setting (mmpose's own default is 0.5).
        shift_factor: centre += U(-1, 1) * 0.16 * scale, per axis;
            ``TopDownRandomShiftBboxCenter(shift_factor=0.16)`` / 1.x ``RandomBBoxTransform``.
        shift_prob: ``prob=0.3`` of the same transform.
    """

    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    half_body_padding: float = 1.5
    rotation_factor: float = 40.0
    rotation_prob: float = 0.6
    scale_factor: float = 0.35
    shift_factor: float = 0.16
    shift_prob: float = 0.3


@dataclass
class AugmentParams:
    """The window one augmented sample is cropped with."""

    center: np.ndarray  # (2,)
    scale: np.ndarray  # (2,)
    rotation: float = 0.0
    flipped: bool = False
    half_body: str | None = None  # "upper" / "lower" when the half-body transform fired


def half_body_window(
    keypoints: np.ndarray, aspect_ratio: float, rng: np.random.Generator, padding: float = 1.5
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Window around the labelled upper- or lower-body joints (mmpose half-body rule).

    Upper is chosen with probability 0.5 when it has > 2 labelled joints, else lower
    when it has > 2, else upper; fewer than 2 selected joints gives None.

    Args:
        keypoints: (17, 3) image keypoints with COCO v in column 2.
        aspect_ratio: W / H of the network input.
        rng: numpy Generator.
        padding: 1.5 as in mmpose.

    Returns:
        (center (2,), scale (2,), "upper" | "lower") or None.
    """
    labelled = keypoints[:, 2] > 0
    upper = [k for k in UPPER_BODY_IDS if labelled[k]]
    lower = [k for k in LOWER_BODY_IDS if labelled[k]]
    if rng.random() < 0.5 and len(upper) > 2:
        ids, part = upper, "upper"
    elif len(lower) > 2:
        ids, part = lower, "lower"
    else:
        ids, part = upper, "upper"
    if len(ids) < 2:
        return None
    pts = keypoints[ids, :2].astype(np.float64)  # (n, 2)
    center = pts.mean(axis=0)
    size = pts.max(axis=0) - pts.min(axis=0)
    scale = fix_aspect_ratio(size, aspect_ratio) * padding
    return center, scale, part


def augment(
    center: np.ndarray,
    scale: np.ndarray,
    keypoints: np.ndarray,
    config: AugmentConfig,
    rng: np.random.Generator,
    aspect_ratio: float,
) -> AugmentParams:
    """Sample one augmentation in mmpose order: shift, flip, half-body, scale + rotation.

    Keypoints are not moved here (the window moves instead); the caller builds the crop
    matrix from the returned params (``crop_matrix``) and maps keypoints with it.

    Args:
        center: (2,) window centre from ``bbox_xywh_to_center_scale``.
        scale: (2,) window size in pixels (padding included).
        keypoints: (17, 3) image keypoints with COCO v (used by half-body only).
        config: probabilities and magnitudes.
        rng: per-sample numpy Generator (reproducibility is the caller's seed).
        aspect_ratio: W / H of the network input.
    """
    center = np.asarray(center, dtype=np.float64).copy()
    scale = np.asarray(scale, dtype=np.float64).copy()
    if rng.random() < config.shift_prob:
        center += rng.uniform(-1.0, 1.0, size=2) * config.shift_factor * scale
    flipped = bool(rng.random() < config.flip_prob)
    part = None
    n_labelled = int((np.asarray(keypoints)[:, 2] > 0).sum())
    if n_labelled > config.half_body_min_joints and rng.random() < config.half_body_prob:
        window = half_body_window(np.asarray(keypoints), aspect_ratio, rng, config.half_body_padding)
        if window is not None:
            center, scale, part = window
    sf, rf = config.scale_factor, config.rotation_factor
    scale = scale * float(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rot = float(np.clip(rng.standard_normal() * rf, -2.0 * rf, 2.0 * rf))
    rotation = rot if rng.random() < config.rotation_prob else 0.0
    return AugmentParams(center=center, scale=scale, rotation=rotation, flipped=flipped, half_body=part)


def crop_matrix(params: AugmentParams, output_size: tuple[int, int]) -> np.ndarray:
    """crop <- image matrix of a window, the crop mirror included when ``params.flipped``."""
    m = get_affine_matrix(params.center, params.scale, params.rotation, output_size)
    return hflip_matrix(m, output_size[1]) if params.flipped else m
