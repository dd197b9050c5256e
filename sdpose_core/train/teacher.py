"""A teacher for distillation on unlabelled photos, and its heatmaps mapped into a student's crop.

The seam every teacher goes through (``distill-folder``, the explorer's Live distill tab) is one
call on one photo::

    view = teacher(image_rgb, bbox)   # -> TeacherView
    view.keypoints (K, 2) image pixels, view.scores (K,), view.heatmaps (K, h, w),
    view.heatmap_to_image (2, 3): heatmap pixel (x, y) -> image pixel

:func:`as_teacher` turns what ``load_model`` returns into such a callable: our zoo models and
checkpoints (heatmap, regression or SimCC heads) are wrapped by :class:`ModelTeacher`; any other
object that already provides ``teacher_view(image, bbox) -> TeacherView`` (a real-photo teacher
such as BlazePose) is used as is. :func:`crop_heatmaps` then warps a view's heatmaps into the
heatmap frame of any (augmented, possibly mirrored) student crop, so the teacher runs once per
photo, never inside the training loop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch
from torch import nn

from sdpose_core.data.codecs import codec_for
from sdpose_core.data.transforms import flip_keypoint_order
from sdpose_core.errors import CheckpointError
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.io.checkpoint import load_model
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.outputs import CycleOutput, TeacherView


Teacher = Callable[[np.ndarray, Sequence[float] | None], TeacherView]


def _h(matrix: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous."""
    return np.vstack([np.asarray(matrix, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def _scale(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


def output_heatmaps(output: CycleOutput, config: ModelConfig) -> torch.Tensor:
    """Heatmaps (B, K, h, w) of any head, on the crop's input / 4 grid for non-heatmap heads.

    Heatmap heads: as predicted. Regression heads: DistilPose's simulated heatmap of the predicted
    point and sigma (peak 1). SimCC heads: the outer product of the softmaxed x and y
    distributions, pooled to the grid and scaled to peak 1 (``codec.heatmaps`` of the head's codec).
    """
    return codec_for(config).heatmaps(output, config.out_heatmap_size)


class ModelTeacher:
    """One of our pose models (zoo name or checkpoint) as a :data:`Teacher`."""

    def __init__(self, model: nn.Module, name: str | None = None) -> None:
        if not hasattr(model, "config"):
            raise ValueError(f"{type(model).__name__} is not a pose model this project can use as a teacher")
        self.model = model.eval()
        self.name = name or model.config.name

    def __call__(self, image: np.ndarray, bbox: Sequence[float] | None = None) -> TeacherView:
        res = run_pose(self.model, image, bbox)
        cfg = self.model.config
        hm = output_heatmaps(res.outputs[0], cfg)[0].cpu().numpy().astype(np.float32)  # (K, h, w)
        (in_h, in_w), (h, w) = cfg.input_size, hm.shape[-2:]
        crop_from_hm = _scale(in_w / w, in_h / h)
        to_image = np.linalg.inv(_h(res.meta["matrix"])) @ crop_from_hm
        box = np.asarray(res.meta["bbox"], dtype=np.float64)
        return TeacherView(res.keypoints, res.scores, hm, to_image[:2], box)


def as_teacher(source: Any) -> Teacher:
    """A :data:`Teacher` from a zoo name, a checkpoint path, a loaded model or a ready teacher.

    Raises:
        ValueError: the teacher cannot be found or loaded (the message says why).
    """
    name = None
    if isinstance(source, (str, Path)):
        given = str(source)
        name = Path(given).stem if Path(given).suffix else given
        try:
            source = load_model(given)
        except CheckpointError as err:
            raise ValueError(f"teacher {given!r} not found or not loadable: {err}") from None
    if source is None:
        raise ValueError("no teacher given: pass a zoo name (sdpose models) or a checkpoint")
    view_fn = getattr(source, "teacher_view", None)
    if callable(view_fn):  # a real-photo teacher that maps its own heatmaps (e.g. BlazePose)
        return view_fn
    if isinstance(source, ModelTeacher):
        return source
    return ModelTeacher(source, name)


def teacher_name(teacher: Teacher) -> str:
    """A short label for a teacher (its zoo/checkpoint name, else its class)."""
    owner = getattr(teacher, "__self__", teacher)
    return str(getattr(owner, "name", None) or type(owner).__name__)


def keypoint_box(view: TeacherView, image_hw: Sequence[int], min_score: float = 0.0,
                 margin: float = 0.1) -> list[float] | None:
    """x, y, w, h around a view's keypoints with score >= ``min_score`` (+ ``margin`` per side),
    clipped to the image; None when fewer than two keypoints qualify or the box is degenerate."""
    ih, iw = (float(v) for v in image_hw[:2])
    pts = view.keypoints[(view.scores >= min_score) & np.isfinite(view.keypoints).all(1)]
    if len(pts) < 2:
        return None
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    x0, y0, x1, y1 = max(0.0, x0 - mx), max(0.0, y0 - my), min(iw, x1 + mx), min(ih, y1 + my)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


def look(teacher: Teacher, image: np.ndarray, box: str | Sequence[float] | None = "image") -> TeacherView:
    """The teacher's view of the person in ``image``.

    Args:
        box: ``"image"`` (or None): the whole image is the person box; ``"teacher"``: the
            teacher's own detection, i.e. a second pass on the box around its first-pass
            keypoints (a teacher that detects by itself, ``detects_person = True``, is asked
            once); or an explicit x, y, w, h.
    """
    if box is None or box == "image":
        return teacher(image, None)
    if box == "teacher":
        first = teacher(image, None)
        owner = getattr(teacher, "__self__", teacher)
        if getattr(owner, "detects_person", False):
            return first
        found = keypoint_box(first, image.shape[:2])
        return first if found is None else teacher(image, found)
    if isinstance(box, str):
        raise ValueError(f"person box must be 'image', 'teacher' or x, y, w, h; got {box!r}")
    return teacher(image, list(box))


def crop_heatmaps(view: TeacherView, crop_from_image: np.ndarray, flipped: bool,
                  config: ModelConfig) -> np.ndarray:
    """The teacher's heatmaps resampled into a student crop's heatmap frame: (K, h, w) float32.

    Args:
        view: the teacher's view of the photo.
        crop_from_image: (2, 3) crop <- image matrix of the student's (augmented) crop, the mirror
            included when ``flipped`` (``meta['matrix']`` of a dataset item).
        flipped: the crop is mirrored: channel k then holds the teacher map of FLIP_INDEX[k], so
            that index k is keypoint k of the mirrored person (as ``crop_sample`` swaps labels).
        config: the student's config (input size and heatmap grid ``input / 4``-style).

    Student heatmap pixels follow the codec convention: heatmap coordinate = input pixel / stride.
    """
    (in_h, in_w), (h, w) = config.input_size, config.out_heatmap_size
    dst_to_image = np.linalg.inv(_h(crop_from_image)) @ _scale(in_w / w, in_h / h)
    dst_to_src = np.linalg.inv(_h(view.heatmap_to_image)) @ dst_to_image
    src = np.ascontiguousarray(np.moveaxis(np.asarray(view.heatmaps, dtype=np.float32), 0, -1))  # (hs, ws, K)
    out = cv2.warpAffine(src, dst_to_src[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = np.moveaxis(out.reshape(h, w, -1), -1, 0)  # (K, h, w)
    return np.ascontiguousarray(flip_keypoint_order(out, axis=0) if flipped else out, dtype=np.float32)
