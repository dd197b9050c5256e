"""COCO-keypoints folders: find the annotation file and images, and list the person instances.

Used by :class:`sdpose_core.data.topdown.CocoKeypointDataset`; works for SynthPose folders
(``DIR/annotations.json`` + ``DIR/images/``) and real COCO files (images beside the json).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sdpose_core.data.coco_meta import NUM_KEYPOINTS


# ----------------------------------------------------------------------------- source resolution

@dataclass
class CocoSource:
    """Where a COCO-format dataset lives: its annotation json and its image folder."""

    annotation_file: Path
    image_dir: Path
    data: dict = field(default_factory=dict, repr=False)  # the parsed json


def load_json(path: Path) -> Any:
    """Parse a json file, turning decode errors into a ValueError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: malformed JSON ({e})") from e


def _is_coco_dict(data: Any) -> bool:
    return isinstance(data, dict) and "images" in data and "annotations" in data


def _find_annotation_file(folder: Path) -> tuple[Path, dict]:
    """annotations.json, else the single *.json with images + annotations (non-detection first)."""
    default = folder / "annotations.json"
    if default.is_file():
        return default, load_json(default)
    found: list[tuple[Path, dict]] = []
    broken: list[ValueError] = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = load_json(path)
        except ValueError as e:  # a broken side file must not hide a good one
            broken.append(e)
            continue
        if _is_coco_dict(data):
            found.append((path, data))
    if len(found) > 1:  # prefer files that are not detection results
        non_det = [(p, d) for p, d in found if "det" not in p.stem.lower()]
        found = non_det or found
    if len(found) == 1:
        return found[0]
    if not found and broken:
        raise broken[0]
    if not found:
        jsons = sorted(p.name for p in folder.glob("*.json"))
        raise FileNotFoundError(
            f"no COCO keypoints annotation json in {folder} (looked for annotations.json or a *.json "
            f"with 'images' and 'annotations' keys; json files present: {jsons or 'none'})")
    names = [p.name for p, _ in found]
    raise ValueError(f"several annotation files in {folder}: {names}; pass one json path")


def _find_image_dir(folder: Path, data: dict) -> Path:
    """folder/images or folder itself: whichever holds the first listed image."""
    candidates = [folder / "images", folder]
    images = data.get("images") or []
    first = images[0].get("file_name") if images and isinstance(images[0], dict) else None
    if first:
        for cand in candidates:
            if (cand / first).is_file():
                return cand
    return candidates[0] if candidates[0].is_dir() else folder


def _check_coco_entries(data: dict, path: Path) -> None:
    """'images' / 'annotations' are lists of dicts; every image has id, file_name, width, height."""
    for key in ("images", "annotations"):
        if not isinstance(data[key], list) or not all(isinstance(e, dict) for e in data[key]):
            raise ValueError(f"{path}: malformed COCO: '{key}' must be a list of objects")
    for i, img in enumerate(data["images"]):
        missing = [k for k in ("id", "file_name", "width", "height") if k not in img]
        if missing:
            raise ValueError(f"{path}: malformed COCO: images[{i}] lacks {missing}")
    for i, ann in enumerate(data["annotations"]):
        bbox = ann.get("bbox", [0, 0, 0, 0])
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{path}: malformed COCO: annotations[{i}] bbox must be [x, y, w, h], got {bbox!r}")


def resolve_coco_source(source: str | Path) -> CocoSource:
    """Find the annotation json and image folder of a COCO-format dataset.

    Args:
        source: a folder (uses ``annotations.json``, or the single *.json holding 'images'
            and 'annotations', preferring names without "det") or a json file path.

    Raises:
        FileNotFoundError: the path does not exist, or a folder has no annotation json.
        ValueError: malformed json, not COCO-shaped, or several candidate files.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"dataset source not found: {path}")
    if path.is_dir():
        ann_file, data = _find_annotation_file(path)
    else:
        ann_file, data = path, load_json(path)
    if not _is_coco_dict(data):
        raise ValueError(f"{ann_file}: not a COCO keypoints file (needs 'images' and 'annotations')")
    _check_coco_entries(data, ann_file)
    return CocoSource(annotation_file=ann_file, image_dir=_find_image_dir(ann_file.parent, data), data=data)


# ----------------------------------------------------------------------------- instances

@dataclass
class Instance:
    """One person to crop: a GT annotation or a detection."""

    image_id: int
    ann_id: int  # -1 for detections
    bbox: np.ndarray  # (4,) xywh
    keypoints: np.ndarray  # (17, 3) image pixels + COCO v (zeros for detections)
    score: float = 1.0
    area: float | None = None  # the annotation's person (segment) area in px², when it gives one


def _person_category_ids(data: dict) -> set[int]:
    cats = data.get("categories") or []
    ids = {c["id"] for c in cats if isinstance(c, dict) and c.get("name") == "person"}
    return ids or {1}


def _clip_bbox(bbox: list[float], width: int, height: int) -> np.ndarray | None:
    """mmpose 0.x box sanitation: clip to the image, drop empty boxes."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def _clean_keypoints(kpts: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """Labelled keypoints with NaN/Inf or outside the image (0..W, 0..H) -> unlabelled (0, 0, 0)."""
    bad = (kpts[:, 2] > 0) & ~(np.isfinite(kpts).all(1) & (kpts[:, 0] >= 0) & (kpts[:, 0] <= width)
                               & (kpts[:, 1] >= 0) & (kpts[:, 1] <= height))
    kpts[bad] = 0.0
    return kpts, int(bad.sum())


def _count(counts: dict[str, int], reason: str, n: int = 1) -> None:
    if n:
        counts[reason] = counts.get(reason, 0) + n


def gt_instances(data: dict, images: dict[int, dict], min_keypoints: int = 1,
                 skipped: dict[str, int] | None = None) -> list[Instance]:
    """Person annotations with >= min_keypoints labelled joints (iscrowd ignored).

    Labelled keypoints outside the image or with NaN/Inf coordinates count as unlabelled; boxes are
    clipped to the image and dropped when nothing is left. ``skipped`` (if given) receives counts.
    """
    person_ids = _person_category_ids(data)
    out: list[Instance] = []
    counts = skipped if skipped is not None else {}
    for ann in data["annotations"]:
        if ann.get("iscrowd", 0) or ann.get("category_id", 1) not in person_ids:
            continue
        kpts = np.asarray(ann.get("keypoints") or [], dtype=np.float64)
        img = images.get(ann.get("image_id"))
        if kpts.size != NUM_KEYPOINTS * 3 or img is None or "bbox" not in ann:
            _count(counts, "annotation(s) without 17 keypoints, a bbox or a known image")
            continue
        kpts, outside = _clean_keypoints(kpts.reshape(NUM_KEYPOINTS, 3), int(img["width"]), int(img["height"]))
        _count(counts, "keypoint(s) outside the image or non-finite, now unlabelled", outside)
        if int((kpts[:, 2] > 0).sum()) < max(1, min_keypoints):
            _count(counts, "annotation(s) with too few labelled keypoints")
            continue
        bbox = _clip_bbox(ann["bbox"], int(img["width"]), int(img["height"]))
        if bbox is None:
            _count(counts, "annotation(s) with the person box outside the image")
            continue
        area = ann.get("area")
        area = float(area) if isinstance(area, (int, float)) and np.isfinite(area) and area > 0 else None
        out.append(Instance(int(ann["image_id"]), int(ann.get("id", -1)), bbox, kpts, area=area))
    return out


def detection_instances(
    path: str | Path, images: dict[int, dict], score_thr: float = 0.0
) -> list[Instance]:
    """Person boxes from a COCO results-format json (list of {image_id, bbox, score})."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"detection file not found: {path}")
    dets = load_json(path)
    if not isinstance(dets, list):
        raise ValueError(f"{path}: detections must be a results-format list of "
                         "{image_id, category_id, bbox, score}")
    out: list[Instance] = []
    for det in dets:
        if det.get("category_id", 1) != 1 or det.get("image_id") not in images:
            continue
        score = float(det.get("score", 1.0))
        if score < score_thr:
            continue
        bbox = np.asarray(det["bbox"], dtype=np.float64).reshape(4)
        out.append(Instance(int(det["image_id"]), -1, bbox, np.zeros((NUM_KEYPOINTS, 3)), score))
    return out
