"""BlazePose full (MediaPipe's ``pose_landmark_full.tflite``) as an offline real-photo teacher.

The network reads a 256x256 RGB crop in [0, 1] and returns 39 landmarks (33 body points + ROI
helpers; x, y, z, visibility, presence in input pixels), 39 heatmaps of 64x64, a pose presence
score and more. It needs a person-centred crop and follows whoever dominates it, so on every crop
it is given (our top-down crop: box x 1.25) :class:`BlazePose` runs:

1. a search: one pass on each centred square of side ``SEARCH_SCALES`` x the crop's long side
   (box x 1.1, 1.25, 1.4), keeping the pass BlazePose is most sure of (pose presence x mean
   visibility of the 17 COCO points); a tight square leaves out an occluding neighbour, a loose
   one gives a truncated person context;
2. MediaPipe's own second pass from the kept one: centred on landmark 33 (mid-hip), side
   2 x 1.25 x |landmark 34 - landmark 33|, rotated so that 33 -> 34 points up.

Keypoints are the second pass's regressed landmarks, read through its heatmaps as MediaPipe's
``RefineLandmarksFromHeatmapCalculator`` does: each of the 17 COCO heatmaps (sigmoid) is weighted
by a Gaussian window around its regressed landmark (``LOCAL_SIGMA``), so a neighbour's joint
elsewhere in the crop cannot win the argmax. These person heatmaps are warped back into the crop's
(H/4, W/4) grid, so the model plugs into everything that reads a heatmap head (``predict``,
``sdpose eval``, ``run_pose``, the explorer, distillation); the regressed landmarks are kept too.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from sdpose_core.data.topdown import load_image_crop
from sdpose_core.data.transforms import apply_affine, crop_to_image, get_affine_matrix, invert_affine
from sdpose_core.data.codecs import codec_for
from sdpose_core.models.outputs import CycleOutput, TeacherView

from .assets import MissingExtraError, require_blazepose
from .common import check_images, external_config, to_rgb01

# COCO-17 keypoints in BlazePose's 33-point order (nose, eyes, ears, shoulders ... ankles).
COCO_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
NET_SIZE = 256  # input side
HM_STRIDE = 4  # 64x64 heatmaps over the 256x256 input
ROI_SCALE = 1.25  # MediaPipe's rect transformation from the alignment points
# First-pass squares, as fractions of the crop's long side: box x 1.1, 1.25 and 1.4 for our
# box x 1.25 crops (measured on ../shared/real, docs/real_photos.md).
SEARCH_SCALES = (0.88, 1.0, 1.12)
LOCAL_SIGMA = 2.0  # heatmap cells (8 input px): the window around a regressed landmark
_FLOOR = 1e-3  # the window's own weight, so that a flat heatmap peaks at the regressed landmark


class _Runner:
    """The TFLite interpreter behind a lock (one interpreter is not thread safe)."""

    def __init__(self, path: Path, threads: int) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise MissingExtraError("BlazePose needs ai-edge-litert: pip install -e '.[real]'") from None
        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise MissingExtraError(f"{path}: not a usable BlazePose model ({err}); "
                                    "re-fetch it with: sdpose install-blazepose --force") from None
        shape = tuple(self.interpreter.get_input_details()[0]["shape"])
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        if shape != (1, NET_SIZE, NET_SIZE, 3) or not {"Identity", "Identity_1", "Identity_3"} <= set(outputs):
            raise MissingExtraError(f"{path}: not pose_landmark_full.tflite (input {shape}, outputs "
                                    f"{sorted(outputs)}); re-fetch it with: sdpose install-blazepose --force")
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = outputs
        self.lock = threading.Lock()

    def __call__(self, rgb01: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(256, 256, 3) float32 -> landmarks (39, 5), heatmap logits (64, 64, 39), pose presence."""
        with self.lock:
            self.interpreter.set_tensor(self.input, np.ascontiguousarray(rgb01[None], dtype=np.float32))
            self.interpreter.invoke()
            landmarks = self.interpreter.get_tensor(self.outputs["Identity"]).reshape(-1, 5).copy()
            heatmaps = self.interpreter.get_tensor(self.outputs["Identity_3"])[0].copy()
            presence = float(self.interpreter.get_tensor(self.outputs["Identity_1"]).reshape(-1)[0])
        return landmarks, heatmaps, presence


@dataclass
class BlazePosePass:
    """One BlazePose run on a square of a crop.

    Attributes:
        keypoints: (17, 2) regressed COCO keypoints in crop pixels.
        visibility: (17,) sigmoid of BlazePose's visibility logits.
        heatmaps: (17, 64, 64) the person's heatmaps in the network's own frame: sigmoid heatmaps
            weighted by a Gaussian window around each regressed landmark (``local_heatmaps``).
        net_from_crop: (2, 3) affine, crop pixels -> network input pixels (256x256).
        landmarks: (39, 2) every landmark in crop pixels (33, 34 give the next region).
        confidence: pose presence x mean visibility of the 17 COCO points.
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    heatmaps: np.ndarray
    net_from_crop: np.ndarray
    landmarks: np.ndarray
    confidence: float

    def heatmaps_in_crop(self, heatmap_size: tuple[int, int]) -> np.ndarray:
        """The heatmaps warped into the crop's (h, w) grid (heatmap px = crop px / 4): (17, h, w)."""
        h, w = heatmap_size
        m = invert_affine(self.net_from_crop)  # network px -> crop px; /4 on both sides
        m[:, 2] /= HM_STRIDE
        src = np.ascontiguousarray(self.heatmaps.transpose(1, 2, 0))
        out = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
        return np.ascontiguousarray(out.reshape(h, w, -1).transpose(2, 0, 1), dtype=np.float32)


def roi_from_landmarks(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's person region from landmarks 33 (centre) and 34 (scale/rotation point).

    Returns:
        centre (2,), side length and rotation in degrees (``get_affine_matrix`` convention).
    """
    centre = np.asarray(points[33], dtype=np.float64)
    v = np.asarray(points[34], dtype=np.float64) - centre
    side = 2.0 * ROI_SCALE * float(np.hypot(v[0], v[1]))
    rotation = float(np.degrees(np.arctan2(v[0], -v[1])))  # 0 when 34 is straight above 33
    return centre, side, rotation


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def local_heatmaps(logits: np.ndarray, centres: np.ndarray, sigma: float = LOCAL_SIGMA) -> np.ndarray:
    """The person's heatmaps: ``sigmoid(logits)`` read only around its own regressed landmarks.

    Args:
        logits: (h, w, K) heatmap logits. centres: (K, 2) regressed landmarks in heatmap cells.

    Returns:
        (K, h, w) float32 in [0, 1]: (sigmoid + 1e-3) x a Gaussian window of ``sigma`` cells at each centre,
        so the argmax stays within a few cells of the landmark (a neighbour's joint elsewhere in
        the crop cannot win it) and a flat map peaks at the landmark itself.
    """
    h, w, _ = logits.shape
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    gx = np.exp(-((xs[None, :] - c[:, :1]) ** 2) / (2 * sigma ** 2))  # (K, w)
    gy = np.exp(-((ys[None, :] - c[:, 1:]) ** 2) / (2 * sigma ** 2))  # (K, h)
    window = gy[:, :, None] * gx[:, None, :]
    return np.minimum((_sigmoid(logits).transpose(2, 0, 1) + _FLOOR) * window, 1.0).astype(np.float32)


def run_square(runner: Any, crop: np.ndarray, centre: Sequence[float], side: float,
               rotation: float = 0.0) -> BlazePosePass:
    """One BlazePose pass on the square (centre, side, rotation) of an (H, W, 3) RGB crop in [0, 1]."""
    matrix = get_affine_matrix(np.asarray(centre, dtype=np.float64), np.array([side, side]), rotation,
                               (NET_SIZE, NET_SIZE))
    net_in = cv2.warpAffine(crop, matrix, (NET_SIZE, NET_SIZE), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    landmarks, logits, presence = runner(net_in)
    idx = list(COCO_FROM_BLAZEPOSE)
    points = apply_affine(landmarks[:, :2], invert_affine(matrix))  # crop pixels
    visibility = _sigmoid(landmarks[idx, 3]).astype(np.float32)
    heatmaps = local_heatmaps(logits[:, :, idx], landmarks[idx, :2] / HM_STRIDE)
    return BlazePosePass(points[idx].astype(np.float32), visibility, heatmaps, matrix,
                         points.astype(np.float32), float(presence) * float(visibility.mean()))


def search_pass(runner: Any, crop: np.ndarray, scales: Sequence[float] = SEARCH_SCALES) -> BlazePosePass:
    """The search and the second pass of the module docstring on one (H, W, 3) crop in [0, 1]."""
    h, w = crop.shape[:2]
    centre, side = (w / 2.0, h / 2.0), float(max(h, w))
    first = max((run_square(runner, crop, centre, side * s) for s in scales), key=lambda p: p.confidence)
    c2, s2, r2 = roi_from_landmarks(first.landmarks)
    if not (np.isfinite(c2).all() and s2 > 4.0):  # degenerate region: keep the first pass
        return first
    return run_square(runner, crop, c2, s2, r2)


class BlazePose(nn.Module):
    """BlazePose full as a pose model with a heatmap head (no trainable weights).

    ``forward`` takes our normalised crops like every model here and returns one
    :class:`CycleOutput` with ``heatmaps`` (B, 17, H/4, W/4) in [0, 1] (decoded by the usual
    heatmap codec), plus the regressed landmarks as ``coords`` (normalised) and their visibility
    logits as ``score``.

    Args:
        model_path: the ``.tflite`` file; default: the cached file of ``sdpose install-blazepose``.
        input_size: (H, W) of the crops it is given (any aspect; 256x192 like the COCO models).
        threads: TFLite CPU threads (default: up to 4).
    """

    detects_person = False  # it refines inside the box it is given; it is not a detector

    def __init__(self, model_path: str | os.PathLike | None = None, input_size: tuple[int, int] = (256, 192),
                 threads: int | None = None) -> None:
        super().__init__()
        path = Path(model_path) if model_path is not None else require_blazepose()
        if not path.is_file():
            raise MissingExtraError(f"{path}: no such file")
        self.model_path = path
        self.name = "blazepose"
        self.config = external_config("blazepose", "heatmap", input_size)
        self._runner = _Runner(path, threads or max(1, min(4, os.cpu_count() or 1)))

    def run_crops(self, rgb01: np.ndarray) -> list[BlazePosePass]:
        """Search + second-pass results for a batch of float RGB crops (B, H, W, 3) in [0, 1]."""
        return [search_pass(self._runner, crop) for crop in rgb01]

    def forward(self, images: torch.Tensor, cycles: int | None = None,
                return_attention: bool = False) -> list[CycleOutput]:
        """Normalised crops (B, 3, H, W) -> ``[CycleOutput]`` (``cycles`` and attention do not apply)."""
        check_images(images, "BlazePose")
        h, w = images.shape[-2:]
        passes = self.run_crops(to_rgb01(images))
        heatmaps = np.stack([p.heatmaps_in_crop((max(1, h // 4), max(1, w // 4))) for p in passes])
        coords = np.stack([p.keypoints / np.array([w, h], np.float32) for p in passes])
        vis = np.stack([p.visibility for p in passes]).clip(1e-6, 1 - 1e-6)
        return [CycleOutput(heatmaps=torch.from_numpy(heatmaps), coords=torch.from_numpy(coords),
                            score=torch.from_numpy(np.log(vis / (1 - vis)))[..., None].float())]

    def teacher_view(self, image: np.ndarray, bbox: Sequence[float] | None = None) -> TeacherView:
        """A ``TeacherView`` (sdpose_core.models.outputs) with the native 64x64 heatmaps.

        Keypoints and scores are what ``run_pose`` gives; ``heatmap_to_image`` maps the second
        pass's heatmap pixels straight to image pixels (one resampling less for distillation).
        """
        tensor, meta = load_image_crop(image, bbox, input_size=self.config.input_size)
        result = self.run_crops(to_rgb01(tensor[None]))[0]
        kpts, scores = codec_for(self.config).decode(result.heatmaps_in_crop(self.config.out_heatmap_size)[None])
        scale = np.diag([float(HM_STRIDE), float(HM_STRIDE), 1.0])
        net_from_crop = np.vstack([result.net_from_crop, [0.0, 0.0, 1.0]])
        crop_from_image = np.vstack([meta["matrix"], [0.0, 0.0, 1.0]])
        to_image = np.linalg.inv(net_from_crop @ crop_from_image) @ scale
        return TeacherView(crop_to_image(kpts[0], meta), scores[0].astype(np.float64), result.heatmaps,
                           to_image[:2], np.asarray(meta["bbox"], dtype=np.float64))

    def extra_repr(self) -> str:
        return f"model_path={str(self.model_path)!r}, input_size={self.config.input_size}"
