"""Pseudo-label a folder of photos with a teacher: COCO keypoints json + cached teacher heatmaps.

``pseudo_label_folder(teacher, images, out)`` writes::

    out/annotations.json   COCO keypoints: one person per photo (box = whole image or the
                           teacher's detection; keypoints = the teacher's, v = 2 where its score
                           >= min_score, else 0); file_name is the photo's absolute path
    out/heatmaps.npz       per image id: the teacher heatmaps (K, h, w) and their frame (2, 3)
    out/labels.json        teacher, box mode, counts, skipped files (and why)

``PseudoLabelDataset`` reads that folder like any COCO folder (same augmentation as training) and
adds the teacher heatmaps warped into each augmented crop (``teacher_heatmaps``).
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sdpose_core.data.coco_meta import PERSON_CATEGORY
from sdpose_core.data.topdown import CocoKeypointDataset
from sdpose_core.data.transforms import AugmentConfig
from sdpose_core.data.codecs import codec_for
from sdpose_core.io.atomic import atomic_write_bytes
from sdpose_core.io.images import load_user_image
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.outputs import TeacherView
from sdpose_core.train.targets import CodecTargets
from sdpose_core.train.teacher import Teacher, crop_heatmaps, look, teacher_name

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABELS_VERSION = 1


@dataclass
class PseudoLabels:
    """A pseudo-labelled folder: where its files are and what happened to each photo."""

    folder: Path
    teacher: str
    images_dir: str
    box: str
    min_score: float
    labelled: int = 0
    skipped: list[list[str]] = field(default_factory=list)  # [file name, reason]

    @property
    def annotation_file(self) -> Path:
        return self.folder / "annotations.json"

    @property
    def heatmap_file(self) -> Path:
        return self.folder / "heatmaps.npz"

    def summary(self) -> str:
        text = f"pseudo-labelled {self.labelled} photo(s) with {self.teacher}"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(f"{n} ({why})" for n, why in self.skipped[:5])
        return text


def find_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted); clear errors for empty or imageless folders."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"--images {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"--images {root} is not a folder")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"--images {root} is empty: put some photos (.jpg, .png ...) in it")
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise ValueError(f"--images {root} holds no images ({len(files)} other file(s); "
                         f"looked for {', '.join(IMAGE_SUFFIXES)})")
    return images


def teacher_labels(view: TeacherView, image_hw: tuple[int, int], min_score: float = 0.0) -> np.ndarray:
    """The teacher's keypoints as COCO labels (K, 3): x, y, v = 2 where finite, inside the image
    and scored >= ``min_score``; (0, 0, 0) elsewhere."""
    h, w = image_hw
    kpts = np.asarray(view.keypoints, dtype=np.float64)
    inside = np.isfinite(kpts).all(1) & (kpts[:, 0] >= 0) & (kpts[:, 0] <= w) & (kpts[:, 1] >= 0) & (kpts[:, 1] <= h)
    labelled = inside & (np.asarray(view.scores) >= min_score)
    return np.where(labelled[:, None], np.column_stack([kpts, np.full(len(kpts), 2.0)]), 0.0)


def _annotation(view: TeacherView, image_id: int, image_hw: tuple[int, int], min_score: float) -> dict:
    labels = teacher_labels(view, image_hw, min_score)
    x, y, bw, bh = (float(v) for v in view.bbox)
    return {"id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
            "bbox": [x, y, bw, bh], "area": bw * bh, "num_keypoints": int((labels[:, 2] > 0).sum()),
            "keypoints": [float(v) if i % 3 < 2 else int(v) for i, v in enumerate(labels.reshape(-1))],
            "scores": [round(float(s), 5) for s in view.scores]}


def _read_labels(folder: Path) -> PseudoLabels | None:
    meta = folder / "labels.json"
    if not (meta.is_file() and (folder / "annotations.json").is_file() and (folder / "heatmaps.npz").is_file()):
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        data.pop("version", None)
        return PseudoLabels(folder=folder, **{k: v for k, v in data.items() if k != "folder"})
    except (ValueError, TypeError):
        return None


def pseudo_label_folder(teacher: Teacher, images: str | Path, out: str | Path, box: str = "teacher",
                        min_score: float = 0.0, progress: bool = True, reuse: bool = True) -> PseudoLabels:
    """Run ``teacher`` on every photo of ``images`` and write the pseudo-label folder ``out``.

    Unreadable photos are skipped with a warning and counted. With ``reuse``, a folder already
    labelled by the same teacher / images / box / min_score is kept as it is (a rerun resumes).

    Raises:
        ValueError / FileNotFoundError: no images, or no photo could be labelled.
    """
    files = find_images(images)
    out = Path(out)
    wanted = PseudoLabels(out, teacher_name(teacher), str(Path(images).resolve()), str(box), float(min_score))
    old = _read_labels(out) if reuse else None
    if old is not None and (old.teacher, old.images_dir, old.box, old.min_score) == \
            (wanted.teacher, wanted.images_dir, wanted.box, wanted.min_score):
        return old
    out.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {"images": [], "annotations": [], "categories": [dict(PERSON_CATEGORY)]}
    arrays: dict[str, np.ndarray] = {}
    for path in tqdm(files, desc=f"pseudo-labelling with {wanted.teacher}", disable=not progress, leave=False):
        try:
            image = load_user_image(path)
        except ValueError as err:
            warnings.warn(f"skipping {path}: {err}", stacklevel=2)
            wanted.skipped.append([path.name, str(err).removeprefix(f"{path.name}: ")])
            continue
        image_id = len(coco["images"]) + 1
        view = look(teacher, image, box)
        coco["images"].append({"id": image_id, "file_name": str(path.resolve()),
                               "height": int(image.shape[0]), "width": int(image.shape[1])})
        coco["annotations"].append(_annotation(view, image_id, image.shape[:2], min_score))
        arrays[f"{image_id}"] = np.asarray(view.heatmaps, dtype=np.float32)
        arrays[f"{image_id}_frame"] = np.asarray(view.heatmap_to_image, dtype=np.float64)
    wanted.labelled = len(coco["images"])
    if not wanted.labelled:
        raise ValueError(f"none of the {len(files)} image(s) in {images} could be read: "
                         + "; ".join(f"{n} ({why})" for n, why in wanted.skipped[:5]))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out / "heatmaps.npz", buffer.getvalue())
    atomic_write_bytes(out / "annotations.json", json.dumps(coco).encode())
    record = {k: v for k, v in asdict(wanted).items() if k != "folder"}
    atomic_write_bytes(out / "labels.json", json.dumps({"version": LABELS_VERSION, **record}, indent=2).encode())
    return wanted


class PseudoLabelDataset(CocoKeypointDataset):
    """Augmented student crops of a pseudo-labelled folder, with the teacher's heatmaps warped in.

    Items carry everything a :class:`CocoKeypointDataset` item does (the student codec's targets
    from the pseudo keypoints included), plus ``teacher_heatmaps`` (K, h, w) on the student's
    heatmap grid and ``teacher_weight`` (K,) = 1 where the teacher labelled the keypoint.

    Args:
        folder: a folder written by :func:`pseudo_label_folder`.
        config: the student's config (input size, heatmap grid, head for the codec).
        repeats: each photo appears this many times per epoch (each with its own augmentation).
    """

    def __init__(self, folder: str | Path, config: ModelConfig, seed: int = 0, repeats: int = 1,
                 augment: AugmentConfig | None = None) -> None:
        super().__init__(folder, config.input_size, train=True, augment=augment, seed=seed,
                         target_fn=CodecTargets(codec_for(config)))
        self.config = config
        self.instances = self.instances * max(1, int(repeats))
        with np.load(Path(folder) / "heatmaps.npz") as data:
            self.teacher_maps = {k: data[k] for k in data.files}

    def load_image(self, image_id: int) -> np.ndarray:
        """The photo as the teacher saw it (``load_user_image``: EXIF, grey, 16-bit handled)."""
        if image_id not in self._cache:
            self._cache[image_id] = load_user_image(self.image_path(image_id))
            while len(self._cache) > max(1, self.cache_images):
                self._cache.popitem(last=False)
        return self._cache[image_id]

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        meta = item["meta"]
        key = str(meta["image_id"])
        view = TeacherView(np.zeros((0, 2)), np.zeros(0), self.teacher_maps[key],
                           self.teacher_maps[f"{key}_frame"], meta["bbox"])
        maps = crop_heatmaps(view, meta["matrix"], meta["flipped"], self.config)
        item["teacher_heatmaps"] = torch.from_numpy(maps)
        item["teacher_weight"] = (item["keypoint_flags"] > 0).float()
        return item
