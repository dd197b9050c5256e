"""MSRA Gaussian heatmaps (SimpleBaseline, Xiao et al. 2018) with optional DARK (Zhang et al. 2020).

Conventions used by every codec in this package:
- sizes are (H, W) (input 256x192 -> H=256, W=192; heatmap 64x48); keypoints are (x, y).
- keypoints are in input-crop pixels, pixel index = pixel centre; arrays are (N, K, 2) with a
  visibility (N, K) in [0, 1] (the dataset clips COCO v=2 to 1; values < 0.5 mean "no label").
- mmpose convention for heatmaps: heatmap coordinate = input coordinate / stride, i.e. heatmap
  pixel i corresponds to input pixel i * stride (stride = input / heatmap, 4 for 256x192 -> 64x48).
- N instances are independent (one per crop): encode gives one (K, H, W) map stack per instance.

Every codec (``MSRAHeatmap``, ``SimCCLabel``, ``RegressionLabel``) owns both directions for its head:
``encode`` -> a dict of named targets (the batch keys the objectives read, as mmpose codecs return a
dict); ``decode`` of raw arrays, ``decode_output`` of a model's ``CycleOutput``, ``flip_merge`` (flip
test), ``heatmaps`` (where the output puts each keypoint, as maps) and ``keypoint_confidence`` (the
scalar attributions explain). ``codec_for`` (``table.py``) picks the codec of a model's head.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from sdpose_core.data.codecs.flip import flip_average, flip_heatmaps, to_numpy
from sdpose_core.models.outputs import CycleOutput

# f(one cycle's output) -> (B,) confidence of one keypoint (what attributions explain)
ConfidenceFn = Callable[[CycleOutput], torch.Tensor]


def check_keypoints(keypoints, visible=None) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, K, 2) keypoints and (N, K) visibility (default all ones) -> float64 arrays."""
    kpts = to_numpy(keypoints, np.float64)
    if kpts.ndim != 3 or kpts.shape[-1] != 2:
        raise ValueError(f"keypoints must be (N, K, 2), got shape {kpts.shape}")
    vis = np.ones(kpts.shape[:2]) if visible is None else to_numpy(visible, np.float64)
    if vis.shape != kpts.shape[:2]:
        raise ValueError(f"visibility must be {kpts.shape[:2]}, got {vis.shape}")
    return kpts, vis


def heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer argmax (x, y) and max value of (N, K, H, W) maps; location -1 where max <= 0 (mmpose)."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(-1)
    vals = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    locs = np.stack([idx % w, idx // w], -1).astype(np.float64)
    locs[vals <= 0] = -1
    return locs, vals


def gaussian_blur(heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """DARK modulation: zero-padded Gaussian blur (cv2 kernel, sigma from size) keeping each map's max."""
    kernel = cv2.getGaussianKernel(kernel_size, 0)[:, 0]
    pad = kernel_size // 2
    x = np.pad(heatmaps, [(0, 0)] * (heatmaps.ndim - 2) + [(pad, pad), (pad, pad)])
    x = sliding_window_view(x, kernel_size, axis=-1) @ kernel
    x = sliding_window_view(x, kernel_size, axis=-2) @ kernel
    old_max = heatmaps.max(axis=(-2, -1), keepdims=True)
    new_max = x.max(axis=(-2, -1), keepdims=True)
    return x * np.divide(old_max, new_max, out=np.zeros_like(new_max), where=new_max > 0)


def _neighbours(maps: np.ndarray, locs: np.ndarray, ok: np.ndarray):
    """Return f(dx, dy) reading maps[n, k, y+dy, x+dx] at integer locs (clipped where not ok)."""
    n, k, h, w = maps.shape
    flat = maps.reshape(n * k, h, w)
    i = np.arange(n * k)
    x = np.where(ok, locs[..., 0], 0).astype(np.int64).reshape(-1)
    y = np.where(ok, locs[..., 1], 0).astype(np.int64).reshape(-1)
    return lambda dx, dy: flat[i, np.clip(y + dy, 0, h - 1), np.clip(x + dx, 0, w - 1)].reshape(n, k)


def refine_quarter_offset(locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Classic MSRA refinement: move 0.25 px toward the higher neighbour on each axis.

    An axis is refined only where both neighbours exist (mmpose v1 requires 1 < x, a quirk we drop).
    """
    h, w = heatmaps.shape[-2:]
    x, y = locs[..., 0], locs[..., 1]
    at = _neighbours(heatmaps, locs, x >= 0)
    dx = np.where((x > 0) & (x < w - 1), at(1, 0) - at(-1, 0), 0.0)
    dy = np.where((y > 0) & (y < h - 1), at(0, 1) - at(0, -1), 0.0)
    return locs + 0.25 * np.sign(np.stack([dx, dy], -1))


def refine_dark(locs: np.ndarray, heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """DARK: blur, take log, one Newton step (2nd-order Taylor) from the integer maximum.

    Args:
        kernel_size: 11, mmpose's DARK default for sigma 2 on 64x48 heatmaps (DARK paper: blur with
            the same Gaussian as the encoding; cv2's sigma for size 11 is exactly 2.0).
    Derivatives: central differences with step 1 (first) and 2 (second); locations within 2 px of
    the border (where those need missing pixels) or where the log map is not a maximum (Hessian not
    negative definite: flat or untrained heatmaps) are left unrefined, and a step is clipped to
    ±1 px (the integer argmax is within half a pixel of a true peak). On real peaks this is
    mmpose's ``refine_keypoints_dark`` unchanged; mmpose does not guard, and on flat maps its
    step can throw a keypoint thousands of pixels away.
    """
    h, w = heatmaps.shape[-2:]
    logs = np.log(np.maximum(gaussian_blur(heatmaps, kernel_size), 1e-10))
    x, y = locs[..., 0], locs[..., 1]
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    at = _neighbours(logs, locs, ok)
    c = at(0, 0)
    dx, dy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy**2
    ok &= (det > 0) & (dxx < 0)  # a maximum of the log map
    safe = np.where(ok, det, 1.0)
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    offset = np.clip(np.stack([off_x, off_y], -1), -1.0, 1.0)
    return locs + np.where(ok[..., None], offset, 0.0)


@dataclass(frozen=True)
class MSRAHeatmap:
    """Gaussian heatmap codec (mmpose ``MSRAHeatmap``), sizes in (H, W).

    Args:
        input_size: (256, 192) crop, heatmap_size: (64, 48) = input / 4: SimpleBaseline / TokenPose /
            SDPose COCO 256x192 configs.
        sigma: 2.0 heatmap px, mmpose default for 64x48.
        unbiased: DARK encoding (Gaussian centred at the exact sub-pixel location instead of
            int(x + 0.5)); also the default decoder (``decode(dark=None)``), like mmpose.
        blur_kernel_size: 11, mmpose's DARK blur for sigma 2.
    """

    input_size: tuple[int, int] = (256, 192)
    heatmap_size: tuple[int, int] = (64, 48)
    sigma: float = 2.0
    unbiased: bool = False
    blur_kernel_size: int = 11

    @property
    def stride(self) -> np.ndarray:
        """(x, y) input pixels per heatmap pixel, e.g. (4, 4)."""
        return np.array([self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0]])

    def encode(self, keypoints, visible=None) -> dict[str, np.ndarray]:
        """(N, K, 2) input-pixel keypoints -> ``heatmaps`` (N, K, H, W) and ``target_weight`` (N, K), float32.

        Weights copy the visibility; they are 0 where the 3-sigma window misses the map. Joints with
        visibility < 0.5 get empty maps (their weight stays as given, as in mmpose).
        """
        kpts, vis = check_keypoints(keypoints, visible)
        h, w = self.heatmap_size
        mu = kpts / self.stride
        if not self.unbiased:
            mu = np.floor(mu + 0.5)
        radius = 3 * self.sigma
        inside = (mu - radius < [w, h]).all(-1) & (mu + radius + 1 >= 0).all(-1)
        labelled = vis >= 0.5
        weights = np.where(labelled & ~inside, 0.0, vis)
        gx = np.exp(-((np.arange(w) - mu[..., :1]) ** 2) / (2 * self.sigma**2))  # (N, K, W)
        gy = np.exp(-((np.arange(h) - mu[..., 1:]) ** 2) / (2 * self.sigma**2))  # (N, K, H)
        maps = gy[..., :, None] * gx[..., None, :]
        if not self.unbiased:  # MSRA: the Gaussian patch is cut at 3 sigma around the rounded centre
            maps = maps * (np.abs(np.arange(w) - mu[..., :1]) <= radius)[..., None, :]
            maps = maps * (np.abs(np.arange(h) - mu[..., 1:]) <= radius)[..., :, None]
        maps = maps * (labelled & inside)[..., None, None]
        return {"heatmaps": maps.astype(np.float32), "target_weight": weights.astype(np.float32)}

    def decode(self, heatmaps: np.ndarray | torch.Tensor,
               dark: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, K, H, W) heatmaps (numpy or torch) -> keypoints (N, K, 2) in input pixels, scores (N, K).

        Args:
            dark: True: DARK refinement; False: argmax + quarter offset; None: follow ``unbiased``.
        Scores are the raw heatmap maxima; keypoints whose maximum is <= 0 decode to -stride.
        """
        maps = to_numpy(heatmaps, np.float64)
        if maps.ndim != 4:
            raise ValueError(f"heatmaps must be (N, K, H, W), got shape {maps.shape}")
        locs, scores = heatmap_maximum(maps)
        dark = self.unbiased if dark is None else dark
        if dark:
            locs = refine_dark(locs, maps, self.blur_kernel_size)
        else:
            locs = refine_quarter_offset(locs, maps)
        return (locs * self.stride).astype(np.float32), scores.astype(np.float32)

    def decode_output(self, output: CycleOutput) -> tuple[np.ndarray, np.ndarray]:
        """One cycle's heatmaps -> keypoints (B, K, 2) in input pixels and scores (B, K)."""
        (maps,) = output.require("heatmaps")
        return self.decode(maps.detach())

    def flip_merge(self, plain: CycleOutput, flipped: CycleOutput, input_width: int) -> CycleOutput:
        """Flip test: the mean of the plain heatmaps and the mirrored-back ones of the flipped image."""
        back = torch.as_tensor(flip_heatmaps(flipped.heatmaps.detach()))
        return CycleOutput(heatmaps=torch.as_tensor(flip_average(plain.heatmaps.detach(), back)))

    def heatmaps(self, output: CycleOutput, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The predicted heatmaps (B, K, Hh, Wh) as they are (``size`` is for heads without maps)."""
        (maps,) = output.require("heatmaps")
        return maps.detach().float()

    def keypoint_confidence(self, reference: CycleOutput, keypoint: int) -> ConfidenceFn:
        """The heatmap value of ``keypoint`` at the peak of ``reference`` (batch item 0; location fixed)."""
        (maps,) = reference.require("heatmaps")
        w = maps.shape[-1]
        flat = int(maps[0, keypoint].flatten().argmax())
        row, col = flat // w, flat % w
        return lambda out: out.heatmaps[:, keypoint, row, col]
