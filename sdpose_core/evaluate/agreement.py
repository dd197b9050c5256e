"""OKS agreement between two predictions of one person, with the COCO area convention and a
mean-pose reference, so that a reader can tell agreement from coincidence.

- **Area** (the OKS scale s²): COCO uses the annotated *segment* area of the person, which is
  much smaller than the box (on the 12 labelled people of ``../shared/real/coco`` the ratio
  area / box is 0.25 to 0.64, median 0.38). Where an annotation gives it, it is used; otherwise the
  estimate is mmpose's rule for COCO-style annotations without an area:
  ``AREA_PER_BOX_AREA × box w × box h`` (0.53; ``BaseCocoStyleDataset.parse_data_info``).
  A box area instead of the person's area makes every OKS look better than COCO would score it.
- **Mean-pose reference**: OKS of the same reference prediction against the *mean pose* placed
  in the same box (the top-down crop of the box: aspect 3:4, padding 1.25, as every model here
  sees it). A prediction that learned nothing about the photo and always outputs the mean pose
  scores this number; an agreement near it says little.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from sdpose_core.data.transforms import bbox_xywh_to_center_scale
from sdpose_core.evaluate.coco_eval import oks

AREA_PER_BOX_AREA = 0.53  # mmpose: area = clip(w * h * 0.53, 1) when a COCO annotation has no "area"
CROP_ASPECT = 0.75  # W / H of every model input here (256x192, 128x96)
CROP_PADDING = 1.25
# The mean COCO-17 pose in the top-down crop of the person box, (x, y) as fractions of the crop's
# width and height (0.5, 0.5 = the box centre). Labelled keypoints of 2000 SynthPose crops
# (seed 0, easy and medium alternating, 128x96; the world the bundled models learned), made by
# ``mean_pose_from_labels`` (tests/test_agreement.py re-derives it from 200 of them). SynthPose
# people face the camera and turn away equally often, so left and right average to the centre
# line: a student that collapsed to its training mean predicts this pose, left = right.
MEAN_POSE = np.array([
    [0.4993, 0.1835], [0.4987, 0.1653], [0.4994, 0.1652], [0.5002, 0.1697], [0.5013, 0.1698],
    [0.4991, 0.2457], [0.5019, 0.2453], [0.4953, 0.3245], [0.4994, 0.3226], [0.4895, 0.3717],
    [0.4953, 0.3704], [0.4992, 0.4879], [0.4999, 0.4880], [0.4951, 0.6538], [0.4943, 0.6547],
    [0.4971, 0.8040], [0.4934, 0.8035]])


@dataclass(frozen=True)
class PersonArea:
    """The OKS scale of one person: ``value`` in px², ``annotated`` when it came from a label."""

    value: float
    annotated: bool
    box_area: float = float("nan")

    def describe(self) -> str:
        if self.annotated:
            return f"annotated person area {self.value:,.0f} px²"
        return (f"estimated person area {self.value:,.0f} px² ({AREA_PER_BOX_AREA} × box area "
                f"{self.box_area:,.0f} px², mmpose's rule)")


def whole_box(bbox: Sequence[float] | None, image_hw: Sequence[int]) -> list[float]:
    """``bbox`` as [x, y, w, h] floats; the whole image when it is None."""
    if bbox is None:
        return [0.0, 0.0, float(image_hw[1]), float(image_hw[0])]
    return [float(v) for v in bbox]


def person_area(bbox: Sequence[float] | None, image_hw: Sequence[int],
                annotated: float | None = None) -> PersonArea:
    """The annotated area when given (> 0), else ``AREA_PER_BOX_AREA`` × the box (or image) area."""
    _, _, w, h = whole_box(bbox, image_hw)
    if annotated is not None:
        value = float(annotated)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"a person area must be a positive number of px², got {annotated!r}")
        return PersonArea(value, True, w * h)
    return PersonArea(max(1.0, AREA_PER_BOX_AREA * w * h), False, w * h)


def mean_pose_in_box(bbox: Sequence[float] | None, image_hw: Sequence[int],
                     mean_pose: np.ndarray = MEAN_POSE) -> np.ndarray:
    """(K, 2) image pixels: ``mean_pose`` (crop fractions) in the top-down crop of ``bbox``."""
    center, scale = bbox_xywh_to_center_scale(whole_box(bbox, image_hw), CROP_ASPECT, CROP_PADDING)
    return (np.asarray(mean_pose, dtype=np.float64) - 0.5) * scale + center


def mean_pose_from_labels(keypoints: np.ndarray, bboxes: np.ndarray) -> np.ndarray:
    """The mean pose in crop fractions from COCO labels: keypoints (N, K, 3) x, y, v; bboxes (N, 4).

    Each labelled keypoint (v > 0) is expressed in its box's top-down crop and averaged."""
    kp = np.asarray(keypoints, dtype=np.float64)
    fractions = np.stack([(k[:, :2] - c) / s + 0.5 for k, (c, s) in zip(
        kp, (bbox_xywh_to_center_scale(b, CROP_ASPECT, CROP_PADDING) for b in np.asarray(bboxes)))])
    seen = kp[..., 2] > 0
    if not seen.any(0).all():
        raise ValueError("every keypoint needs at least one labelled example")
    return np.stack([fractions[seen[:, k], k].mean(0) for k in range(kp.shape[1])])


def oks_between(a: np.ndarray, b: np.ndarray, area: float) -> float:
    """OKS between two predictions of the same person (K, 2), every keypoint counted."""
    k = np.asarray(a).shape[0]
    return float(oks(np.asarray(a)[None], np.asarray(b)[None], np.ones((1, k)), np.asarray([area]))[0])


@dataclass(frozen=True)
class Agreement:
    """``oks``: reference vs other; ``reference_mean_pose``: the reference vs the mean pose in the
    same box (what a mean-pose predictor would score); ``other_mean_pose``: the other vs the mean
    pose (near 1: it sits on the mean pose on this photo)."""

    oks: float
    reference_mean_pose: float
    other_mean_pose: float
    area: PersonArea


def agreement(reference: np.ndarray, other: np.ndarray, bbox: Sequence[float] | None,
              image_hw: Sequence[int], annotated_area: float | None = None) -> Agreement:
    """OKS of ``other`` against ``reference`` (both (K, 2) image px) with the COCO area convention,
    beside the mean-pose reference on the same box."""
    area = person_area(bbox, image_hw, annotated_area)
    mean = mean_pose_in_box(bbox, image_hw)[: np.asarray(reference).shape[0]]
    return Agreement(oks_between(reference, other, area.value), oks_between(reference, mean, area.value),
                     oks_between(other, mean, area.value), area)


def find_annotated_area(annotations: str | Path | Mapping[str, Any], file_name: str,
                        bbox: Sequence[float] | None, tolerance: float = 1.0) -> float | None:
    """The ``area`` of the annotation on image ``file_name`` whose box matches ``bbox`` (each number
    within ``tolerance`` px) in a COCO keypoints file (path or loaded dict); None when none does."""
    if bbox is None:
        return None
    if not isinstance(annotations, Mapping):
        try:
            annotations = json.loads(Path(annotations).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    name = Path(str(file_name)).name
    ids = {img.get("id") for img in annotations.get("images", []) if Path(str(img.get("file_name", ""))).name == name}
    for ann in annotations.get("annotations", []):
        box = ann.get("bbox")
        if ann.get("image_id") in ids and box is not None and len(box) == 4 and ann.get("area"):
            if np.all(np.abs(np.asarray(box, float) - np.asarray(bbox, float)) <= tolerance):
                return float(ann["area"])
    return None


__all__ = ["AREA_PER_BOX_AREA", "MEAN_POSE", "PersonArea", "Agreement", "person_area",
           "mean_pose_in_box", "mean_pose_from_labels", "oks_between", "agreement", "find_annotated_area"]
