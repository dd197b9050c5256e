"""COCO keypoint AP/AR (OKS) through pycocotools, and a plain OKS helper.

pycocotools is the oracle: this module only validates inputs, converts arrays to the COCO results
format and reads ``COCOeval.stats``. OKS (Ruggero Ronchi & Perona 2017; cocoapi ``computeOks``):
    OKS = mean over labelled keypoints of exp(-d^2 / (2 * area * (2 sigma_k)^2)).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from sdpose_core.data.codecs import to_numpy
from sdpose_core.data.codecs.heatmap import check_keypoints
from sdpose_core.data.coco_meta import OKS_SIGMAS, PERSON_CATEGORY

METRIC_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def check_arrays(keypoints, **others) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validate (N, K, 2) keypoints and companion arrays whose shapes must be the given prefix.

    Args:
        others: name=(array, ndim): each array's shape must equal keypoints.shape[:ndim]
            (ndim 3 means (N, K, 2)); all values must be finite.
    """
    kpts = check_keypoints(keypoints)[0]
    out = {}
    for name, (arr, ndim) in others.items():
        a = to_numpy(arr, np.float64)
        if a.shape != kpts.shape[:ndim]:
            raise ValueError(f"{name} must have shape {kpts.shape[:ndim]}, got {a.shape}")
        out[name] = a
    for name, a in {"keypoints": kpts, **out}.items():
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or inf")
    return kpts, out


def oks(pred, gt, visible, area, sigmas: np.ndarray = OKS_SIGMAS) -> np.ndarray:
    """Object keypoint similarity per instance, (N,), as cocoapi ``computeOks`` (one-to-one pairs).

    Args:
        pred, gt: (N, K, 2) keypoints (pixels). visible: (N, K), keypoints with value > 0 count.
        area: (N,) object scale s^2 (COCO: the GT annotation "area", the segment area).
        sigmas: (K,) COCO per-keypoint sigmas.
    Returns NaN for an instance without labelled keypoints.
    """
    p, arr = check_arrays(pred, gt=(gt, 3), visible=(visible, 2), area=(area, 1))
    if len(sigmas) != p.shape[1]:
        raise ValueError(f"{len(sigmas)} sigmas for {p.shape[1]} keypoints")
    d2 = ((p - arr["gt"]) ** 2).sum(-1)
    e = d2 / ((2 * np.asarray(sigmas)) ** 2 * (arr["area"][:, None] + np.spacing(1)) * 2)
    vis = arr["visible"] > 0
    with np.errstate(invalid="ignore"):
        return (np.exp(-e) * vis).sum(-1) / vis.sum(-1)


def results_from_arrays(image_ids, keypoints, keypoint_scores, scores, category_id: int = 1) -> list[dict]:
    """Arrays -> COCO keypoint results [{image_id, category_id, keypoints [x, y, s]*K, score}].

    Args:
        image_ids: (N,) ints. keypoints: (N, K, 2) image pixels. keypoint_scores: (N, K).
        scores: (N,) instance scores (they rank detections for AP).
    """
    kpts, arr = check_arrays(keypoints, keypoint_scores=(keypoint_scores, 2), scores=(scores, 1))
    ids = to_numpy(image_ids)
    if ids.shape != kpts.shape[:1] or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"image_ids must be integers of shape {kpts.shape[:1]}, got {ids.dtype} {ids.shape}")
    triplets = np.concatenate([kpts, arr["keypoint_scores"][..., None]], -1).reshape(len(kpts), -1)
    return [
        {"image_id": int(i), "category_id": category_id, "keypoints": t.tolist(), "score": float(s)}
        for i, t, s in zip(ids, triplets, arr["scores"])
    ]


def _load_gt(gt: str | Path | dict) -> COCO:
    """GT json path or dict -> indexed COCO; fills iscrowd / num_keypoints / categories if absent."""
    if isinstance(gt, dict):
        data = copy.deepcopy(gt)
    else:
        with open(gt) as f:
            data = json.load(f)
    if not {"images", "annotations"} <= set(data):
        raise ValueError("ground truth must have 'images' and 'annotations'")
    data.setdefault("categories", [PERSON_CATEGORY])
    for i, ann in enumerate(data["annotations"]):
        missing = {"id", "image_id", "category_id", "keypoints", "area", "bbox"} - set(ann)
        if missing:
            raise ValueError(f"GT annotation {i} lacks {sorted(missing)}")
        ann.setdefault("iscrowd", 0)
        ann.setdefault("num_keypoints", int((np.asarray(ann["keypoints"])[2::3] > 0).sum()))
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    return coco


def _check_results(results: Sequence[dict], coco: COCO, num_keypoints: int) -> None:
    known = set(coco.getImgIds())
    for i, r in enumerate(results):
        missing = {"image_id", "category_id", "keypoints", "score"} - set(r)
        if missing:
            raise ValueError(f"result {i} lacks {sorted(missing)}")
        if r["image_id"] not in known:
            raise ValueError(f"result {i}: image_id {r['image_id']!r} is not in the ground truth")
        kp = np.asarray(r["keypoints"], dtype=np.float64)
        if kp.shape != (3 * num_keypoints,) or not np.isfinite(kp).all():
            raise ValueError(f"result {i}: keypoints must be {3 * num_keypoints} finite numbers, "
                             f"got shape {kp.shape}")
        if not np.isfinite(float(r["score"])):
            raise ValueError(f"result {i}: score must be finite")


def coco_keypoint_eval(results: Sequence[dict], gt: str | Path | dict, sigmas: np.ndarray = OKS_SIGMAS,
                       verbose: bool = False) -> dict[str, float]:
    """COCO OKS keypoint metrics of results (COCO results format) against GT (path or dict).

    Args:
        sigmas: per-keypoint OKS sigmas (COCO-17 by default; their length sets K).
        verbose: print pycocotools' own logs and summary table.
    Returns {AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl}; a metric is -1 when the GT has no
    instance in its area range (pycocotools convention); all 0 for empty results.
    """
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        coco = _load_gt(gt)
        _check_results(results, coco, len(sigmas))
        if len(results) == 0:
            return dict.fromkeys(METRIC_NAMES, 0.0)
        dets = coco.loadRes(copy.deepcopy(list(results)))
        ev = COCOeval(coco, dets, iouType="keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(METRIC_NAMES, ev.stats)}


def coco_keypoint_eval_arrays(gt: str | Path | dict, image_ids, keypoints, keypoint_scores, scores,
                              **kwargs: Any) -> dict[str, float]:
    """:func:`coco_keypoint_eval` from arrays (see :func:`results_from_arrays` for shapes)."""
    return coco_keypoint_eval(results_from_arrays(image_ids, keypoints, keypoint_scores, scores), gt, **kwargs)
