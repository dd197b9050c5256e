"""Top-down COCO-keypoints dataset: one person crop per item, for SynthPose and real COCO.

A *source* is a folder or an annotation json in COCO keypoints format:

* SynthPose: ``DIR/annotations.json`` + ``DIR/images/000000.png`` (file_name relative to images/).
* Real COCO / OCHuman test data: ``DIR/test_coco.json`` with images beside it.

``resolve_coco_source`` finds the json and the image folder; ``CocoKeypointDataset`` crops
each annotated person (or each detection, for evaluation) with the transforms of
``transforms.py``; ``load_image_crop`` does the same for a single user photo.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sdpose_core.data.coco_meta import NUM_KEYPOINTS
from sdpose_core.data.transforms import (  # noqa: F401  (image helpers re-exported)
    IMAGENET_MEAN, IMAGENET_STD, AugmentConfig, AugmentParams, apply_affine, augment,
    bbox_xywh_to_center_scale, crop_matrix, denormalize, flip_keypoint_order, get_affine_matrix,
    normalize_image, to_rgb_uint8, warp_image,
)
from sdpose_core.data.coco_source import (  # noqa: F401  (CocoSource, load_json re-exported)
    CocoSource, Instance, detection_instances, gt_instances, load_json, resolve_coco_source,
)

TargetFn = Callable[[np.ndarray, np.ndarray], dict]
_RESERVED_KEYS = {"image", "keypoints", "visible", "keypoint_flags", "meta"}


# ----------------------------------------------------------------------------- images

def read_image_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (cv2 IMREAD_COLOR also expands grayscale)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image: {path}")
    return cv2.cvtColor(to_rgb_uint8(img), cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------- cropping

def crop_sample(
    image: np.ndarray, params: AugmentParams, keypoints: np.ndarray, input_size: tuple[int, int]
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop one window and map its keypoints.

    Args:
        image: (H, W, 3) uint8 RGB.
        params: window (center, scale, rotation, flipped).
        keypoints: (17, 3) image keypoints with COCO v.
        input_size: (H, W) of the crop.

    Returns:
        image tensor (3, H, W), keypoints (17, 2) in crop pixels (0 where unlabelled),
        visible (17,) = labelled and inside the crop, flags (17,) raw v, matrix (2, 3) crop <- image.
    """
    base = get_affine_matrix(params.center, params.scale, params.rotation, input_size)
    crop = warp_image(image, base, input_size)  # (H, W, 3)
    if params.flipped:  # the mirror of the crop is exactly the crop of the mirrored window
        crop = crop[:, ::-1]
    kpts, visible, flags, matrix = crop_keypoints(params, keypoints, input_size)
    return normalize_image(crop), kpts, visible, flags, matrix


def crop_keypoints(
    params: AugmentParams, keypoints: np.ndarray, input_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The keypoint half of ``crop_sample`` (no image): keypoints (17, 2) in crop pixels,
    visible (17,), flags (17,) and the matrix (2, 3) crop <- image."""
    out_h, out_w = input_size
    matrix = crop_matrix(params, input_size)
    kpts = apply_affine(keypoints[:, :2], matrix)  # (17, 2)
    flags = keypoints[:, 2].copy()  # (17,)
    if params.flipped:
        kpts, flags = flip_keypoint_order(kpts, axis=0), flip_keypoint_order(flags, axis=0)
    labelled = flags > 0
    inside = (kpts[:, 0] >= 0) & (kpts[:, 0] < out_w) & (kpts[:, 1] >= 0) & (kpts[:, 1] < out_h)
    kpts[~labelled] = 0.0
    visible = (labelled & inside).astype(np.float32)
    return kpts.astype(np.float32), visible, flags, matrix


def _meta(inst: Instance, params: AugmentParams, matrix: np.ndarray, image_hw: tuple[int, int],
          input_size: tuple[int, int], **extra: Any) -> dict[str, Any]:
    return dict(
        image_id=inst.image_id, ann_id=inst.ann_id, score=inst.score,
        bbox=inst.bbox.astype(np.float64), center=params.center.astype(np.float64),
        scale=params.scale.astype(np.float64), rotation=float(params.rotation),
        flipped=bool(params.flipped), half_body=params.half_body,
        orig_keypoints=inst.keypoints.astype(np.float64), image_size=np.asarray(image_hw, dtype=np.int64),
        input_size=np.asarray(input_size, dtype=np.int64), matrix=matrix, **extra,
    )


def load_image_crop(
    image: np.ndarray,
    bbox: np.ndarray | list[float] | None = None,
    input_size: tuple[int, int] = (256, 192),
    padding: float = 1.25,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Network input + meta for one user image (the explorer's entry point).

    Args:
        image: (H, W, 3) RGB uint8 (gray / RGBA are converted).
        bbox: person box (x, y, w, h); None uses the whole image (0, 0, W, H), as mmpose's
            ``inference_topdown`` does without boxes.
        input_size: (H, W) of the network input; 256x192 as SDPose / DistilPose COCO.
        padding: 1.25, mmpose's ``GetBBoxCenterScale`` default.

    Returns:
        image tensor (3, H, W) normalised, and meta (same keys as dataset items) for
        ``crop_to_image``.
    """
    rgb = to_rgb_uint8(image)
    h, w = rgb.shape[:2]
    box = np.array([0.0, 0.0, w, h]) if bbox is None else np.asarray(bbox, dtype=np.float64).reshape(4)
    center, scale = bbox_xywh_to_center_scale(box, input_size[1] / input_size[0], padding)
    params = AugmentParams(center=center, scale=scale)
    inst = Instance(-1, -1, box, np.zeros((NUM_KEYPOINTS, 3)))
    tensor, _, _, _, matrix = crop_sample(rgb, params, inst.keypoints, input_size)
    return tensor, _meta(inst, params, matrix, (h, w), input_size, index=-1, file_name="")


# ----------------------------------------------------------------------------- dataset

class CocoKeypointDataset(Dataset):
    """Person crops of a COCO-keypoints folder (SynthPose or real COCO).

    Args:
        source: folder or annotation json (see ``resolve_coco_source``).
        input_size: (H, W); 256x192 as SDPose / DistilPose / DWPose COCO configs.
        train: apply augmentation (``augment`` or the ``AugmentConfig()`` defaults).
        augment: augmentation settings, used only when ``train``.
        seed: base seed; sample i of epoch e uses ``np.random.default_rng([seed, e, i])``.
        target_fn: ``fn(keypoints (17, 2), visible (17,)) -> dict of arrays`` merged into items
            (codec targets such as heatmaps or SimCC labels).
        use_detections: results-format json of person boxes; items are then detections
            (for evaluation, as mmpose's ``use_gt_bbox=False``), keypoints all zero.
        min_keypoints: keep persons with at least this many labelled keypoints (mmpose: 1).
        padding: bbox padding, 1.25 as mmpose ``TopDownGetBboxCenterScale``.
        det_score_thr: drop detections below this score; 0.0 as SDPose's ``det_bbox_thr``.
        cache_images: decoded images kept in a per-process LRU cache.
    """

    def __init__(
        self,
        source: str | Path,
        input_size: tuple[int, int] = (256, 192),
        train: bool = False,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        target_fn: TargetFn | None = None,
        use_detections: str | Path | None = None,
        min_keypoints: int = 1,
        padding: float = 1.25,
        det_score_thr: float = 0.0,
        cache_images: int = 32,
    ) -> None:
        self.source = resolve_coco_source(source)
        self.annotation_file, self.image_dir = self.source.annotation_file, self.source.image_dir
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.aspect_ratio = self.input_size[1] / self.input_size[0]
        self.train, self.seed, self.epoch = bool(train), int(seed), 0
        self.augment_config = (augment or AugmentConfig()) if train else None
        self.target_fn, self.padding = target_fn, float(padding)
        self.cache_images = int(cache_images)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.skipped: dict[str, int] = {}  # annotations / keypoints left out, by reason
        data = self.source.data
        self.images = {int(img["id"]): img for img in data["images"]}
        if use_detections is not None:
            self.instances = detection_instances(use_detections, self.images, det_score_thr)
            if not self.instances:
                raise ValueError(
                    f"{use_detections}: no person detections for images of {self.annotation_file}")
        else:
            self.instances = gt_instances(data, self.images, min_keypoints, self.skipped)
            if not self.instances:
                why = "; ".join(f"{n} {k}" for k, n in self.skipped.items()) or "no annotations"
                raise ValueError(
                    f"{self.annotation_file}: no person annotations with >= {max(1, min_keypoints)} "
                    f"labelled keypoints inside the image (iscrowd ignored); skipped: {why}")

    def __len__(self) -> int:
        return len(self.instances)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream: same (seed, epoch, index) -> same sample.

        Call it before creating the epoch's DataLoader iterator (workers copy the dataset
        then; with ``persistent_workers=True`` they would keep the old epoch).
        """
        self.epoch = int(epoch)

    def image_path(self, image_id: int) -> Path:
        return self.image_dir / self.images[image_id]["file_name"]

    def load_image(self, image_id: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB, through the LRU cache."""
        if image_id in self._cache:
            self._cache.move_to_end(image_id)
            return self._cache[image_id]
        img = read_image_rgb(self.image_path(image_id))
        if self.cache_images > 0:
            self._cache[image_id] = img
            while len(self._cache) > self.cache_images:
                self._cache.popitem(last=False)
        return img

    def base_window(self, index: int, flipped: bool = False) -> AugmentParams:
        """The unaugmented crop window of item ``index`` (its padded box), mirrored if ``flipped``."""
        center, scale = bbox_xywh_to_center_scale(self.instances[index].bbox, self.aspect_ratio, self.padding)
        return AugmentParams(center=center, scale=scale, flipped=flipped)

    def window(self, index: int) -> AugmentParams:
        """The crop window of item ``index`` at the current epoch (augmented when training)."""
        base = self.base_window(index)
        if self.augment_config is None:
            return base
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment(base.center, base.scale, self.instances[index].keypoints, self.augment_config, rng,
                       self.aspect_ratio)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} instances")
        inst = self.instances[index]
        image = self.load_image(inst.image_id)
        params = self.window(index)
        tensor = crop_sample(image, params, inst.keypoints, self.input_size)[0]
        return {"image": tensor, **self.labels(index, params, image.shape[:2])}  # image (3, H, W)

    def labels(self, index: int, params: AugmentParams, image_hw: tuple[int, int]) -> dict[str, Any]:
        """Item ``index`` cropped with ``params`` without its image: keypoints, flags, meta and
        the ``target_fn`` targets (what a cached-feature dataset serves beside the features)."""
        inst = self.instances[index]
        kpts, visible, flags, matrix = crop_keypoints(params, inst.keypoints, self.input_size)
        item: dict[str, Any] = {
            "keypoints": torch.from_numpy(kpts),  # (17, 2)
            "visible": torch.from_numpy(visible),  # (17,)
            "keypoint_flags": torch.from_numpy(flags.astype(np.int64)),  # (17,)
            "meta": _meta(inst, params, matrix, image_hw, self.input_size,
                          index=index, file_name=str(self.image_path(inst.image_id))),
        }
        if self.target_fn is not None:
            for key, value in self.target_fn(kpts, visible).items():
                if key in _RESERVED_KEYS:
                    raise ValueError(f"target_fn returned reserved key {key!r}")
                item[key] = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        return item


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors of a list of items; ``meta`` (and any non-tensor) stays a list."""
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key != "meta" and all(isinstance(v, torch.Tensor) for v in values):
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
