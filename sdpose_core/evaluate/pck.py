"""PCK@alpha: fraction of labelled keypoints within alpha * max(bbox w, h) of the ground truth.

Bbox-normalised PCK as mmpose ``PCKAccuracy(norm_item='bbox')`` (distance strictly below the
threshold counts). Difference: ``overall`` pools all labelled keypoints, where mmpose averages the
per-keypoint accuracies; both are returned so either can be reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdpose_core.evaluate.coco_eval import check_arrays


@dataclass(frozen=True)
class PCKResult:
    """overall: pooled PCK; per_keypoint: (K,) PCK (NaN where no instance labels that keypoint);
    mean_per_keypoint: mean of the defined per-keypoint values (mmpose's ``PCK``); count: (K,)."""

    overall: float
    per_keypoint: np.ndarray
    mean_per_keypoint: float
    count: np.ndarray


def pck(pred, gt, visible, bboxes, alpha: float = 0.05) -> PCKResult:
    """PCK@alpha over visible GT keypoints.

    Args:
        pred, gt: (N, K, 2) keypoints in pixels. visible: (N, K), value > 0 means labelled.
        bboxes: (N, 4) GT boxes in COCO (x, y, w, h); threshold = alpha * max(w, h), must be > 0.
        alpha: 0.05, mmpose ``PCKAccuracy`` default for COCO-style bbox normalisation.
    """
    p, arr = check_arrays(pred, gt=(gt, 3), visible=(visible, 2))
    boxes = np.asarray(bboxes, dtype=np.float64)
    if boxes.shape != (len(p), 4):
        raise ValueError(f"bboxes must be (N, 4) xywh with N={len(p)}, got {boxes.shape}")
    size = boxes[:, 2:].max(-1)
    if not (size > 0).all():
        raise ValueError("every bbox needs a positive width or height")
    dist = np.linalg.norm(p - arr["gt"], axis=-1) / size[:, None]
    vis = arr["visible"] > 0
    hit = (dist < alpha) & vis
    count = vis.sum(0)
    with np.errstate(invalid="ignore"):
        per_kpt = hit.sum(0) / count
    total = int(count.sum())
    overall = float(hit.sum() / total) if total else float("nan")
    defined = per_kpt[count > 0]
    return PCKResult(overall, per_kpt, float(defined.mean()) if defined.size else float("nan"), count)
