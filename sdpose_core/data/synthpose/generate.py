"""Sample -> image + COCO annotation, and the dataset writer behind `sdpose synth`."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from sdpose_core.data.coco_meta import NUM_KEYPOINTS, PERSON_CATEGORY
from sdpose_core.data.synthpose.body import Body2D, JointLimits, fit_in_crop, pose_body
from sdpose_core.data.synthpose.config import SynthConfig, get_config
from sdpose_core.data.synthpose.render import (FOREIGN, HEAD_PART, ONE, TORSO, Palette, draw_person,
                                               face_facing, sample_palette)
from sdpose_core.data.synthpose.scene import (background, clutter, limb_clutter, occluders,
                                              post_process, scene_colours, stripes)

GENERATOR_VERSION = "synthpose-1.0"
MIN_SIZE = (32, 24)
# Huffman-only: the sensor noise makes LZ matching useless; this is the fastest and smallest.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
# Label-buffer part ids that make a keypoint count as visible (v=2) when found at its pixel.
_ATTACH = [{0, HEAD_PART}] * 5 + [{TORSO, 3}, {TORSO, 4}, {3, 5}, {4, 6}, {5}, {6},
                                  {TORSO, 7}, {TORSO, 8}, {7, 9}, {8, 10}, {9}, {10}]
_LIMITS = JointLimits()


@dataclass
class Sample:
    """One generated crop with the label of its main person."""

    image: np.ndarray      # (H, W, 3) uint8 RGB
    keypoints: np.ndarray  # (17, 3) float64 x, y, v (COCO: v=0 unlabelled at 0,0)
    bbox: list[float]      # [x, y, w, h]
    area: float            # silhouette pixel count of the main person (before occluders)
    yaw_deg: float         # body facing: 0 = facing the camera, ±180 = back to the camera


def check_args(size: tuple[int, int], difficulty: str) -> SynthConfig:
    """Validate a crop size and difficulty; return the difficulty's config."""
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < MIN_SIZE[0] or w < MIN_SIZE[1]:
        raise ValueError(f"size {h}x{w} is too small: SynthPose needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (HxW)")
    return get_config(difficulty)


def label_keypoints(body: Body2D, ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """COCO (17, 3) labels: v=2 seen, v=1 inside the crop but hidden, v=0 outside (at 0,0)."""
    h, w = size
    xy = body.xy[:NUM_KEYPOINTS]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
    facing = np.ones(NUM_KEYPOINTS, bool)
    facing[:5] = face_facing(body)
    torso_z = body.depth[[5, 6, 11, 12]].mean()
    far = body.props.shoulder_w * body.scale * 0.25
    kp = np.zeros((NUM_KEYPOINTS, 3))
    for k in np.flatnonzero(inside):
        part = int(ids[int(round(xy[k, 1])), int(round(xy[k, 0]))])
        ok = part in _ATTACH[k] and facing[k]
        if part == TORSO and k >= 5 and body.depth[k] > torso_z + far:
            ok = False  # far-side shoulder/hip seen through the chest: hidden
        kp[k] = (xy[k, 0], xy[k, 1], 2.0 if ok else 1.0)
    return kp


def _place(rng, cfg: SynthConfig, size, fill_scale: float = 1.0, extra=(0.0, 0.0)) -> Body2D:
    """Pose a body and fit it into the crop with the config's roll, fill and shift ranges."""
    h, w = size
    body3 = pose_body(rng, _LIMITS, cfg.pose_spread, cfg.proportion_jitter)
    roll = rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)
    fill = rng.uniform(*cfg.fill) * fill_scale
    shift = rng.uniform(-1, 1, 2) * cfg.shift_frac * np.array([w, h]) + np.asarray(extra)
    body = fit_in_crop(body3, roll, size, fill, shift)
    body.xy = np.round(body.xy * ONE) / ONE  # drawn in 1/16 px fixed point: labels are exact
    return body


def _distractor(rng, cfg: SynthConfig, size) -> tuple[Body2D, Palette]:
    """A second person shifted sideways so that it overlaps the crop only partly."""
    h, w = size
    dx = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.8) * w
    body = _place(rng, cfg, size, rng.uniform(0.8, 1.2), (dx, rng.uniform(-0.15, 0.15) * h))
    return body, sample_palette(rng)


def _silhouette_box(mask: np.ndarray, kp: np.ndarray) -> tuple[list[float], float]:
    """Union of the silhouette box and the labelled keypoints' extent; silhouette area."""
    x, y, bw, bh = cv2.boundingRect(mask)
    lo, hi = np.array([x, y], float), np.array([x + bw - 1, y + bh - 1], float)
    lab = kp[kp[:, 2] > 0, :2]
    if len(lab):
        lo, hi = np.minimum(lo, lab.min(0)), np.maximum(hi, lab.max(0))
    box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0] + 1), float(hi[1] - lo[1] + 1)]
    return box, float(cv2.countNonZero(mask))


def synthesize(seed: int, index: int, size: tuple[int, int], cfg: SynthConfig) -> Sample:
    """Generate crop `index` of the dataset with `seed`; depends on nothing else."""
    rng = np.random.default_rng([seed, index])
    h, w = size
    pal = sample_palette(rng)
    a = rng.uniform(0, 2 * np.pi)
    light = (math.cos(a), math.sin(a))
    body = _place(rng, cfg, size)
    colours = scene_colours(rng, pal, cfg, 6)
    img = background(rng, size, colours)
    if rng.random() < 0.4:
        stripes(img, rng, colours[3])
    clutter(img, rng, int(rng.integers(cfg.clutter[0], cfg.clutter[1] + 1)), colours)
    limb_clutter(img, rng, int(rng.integers(cfg.limb_clutter[0], cfg.limb_clutter[1] + 1)),
                 colours, pal, body.scale, light)
    other = _distractor(rng, cfg, size) if rng.random() < cfg.distractor_prob else None
    in_front = other is not None and rng.random() < cfg.distractor_front
    if other is not None and not in_front:
        draw_person(img, other[0], other[1], light)
    ids = np.zeros((h, w), np.uint8)
    draw_person(img, body, pal, light, ids)
    silhouette = (ids > 0).astype(np.uint8)
    if in_front:
        front = np.zeros_like(ids)
        draw_person(img, other[0], other[1], light, front)
        ids[front > 0] = FOREIGN
    occluders(img, ids, rng, int(rng.integers(cfg.occluders[0], cfg.occluders[1] + 1)),
              body.xy[:NUM_KEYPOINTS], colours, body.scale)
    kp = label_keypoints(body, ids, size)
    bbox, area = _silhouette_box(silhouette, kp)
    image = post_process(img, rng, cfg)
    return Sample(image, kp, bbox, area, body.yaw_deg)


def render_sample(seed: int, index: int, size: tuple[int, int] = (128, 96),
                  difficulty: str = "medium") -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(image uint8 HxWx3 RGB, keypoints float (17, 3), bbox [x, y, w, h]) of one crop."""
    s = synthesize(_check_seed(seed), int(index), tuple(size), check_args(size, difficulty))
    return s.image, s.keypoints, s.bbox


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


def _annotation(index: int, s: Sample) -> dict:
    kp = s.keypoints
    flat = [float(v) if j < 2 else int(v) for row in kp for j, v in enumerate(row)]
    return {"id": index + 1, "image_id": index + 1, "category_id": PERSON_CATEGORY["id"],
            "bbox": s.bbox, "area": s.area, "iscrowd": 0, "keypoints": flat,
            "num_keypoints": int((kp[:, 2] > 0).sum())}


def _prepare_out(out: Path) -> Path:
    """Create `out/images`; refuse when `out` (or `out/images`) is a file."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is a file, not a folder")
    images = out / "images"
    if images.exists() and not images.is_dir():
        raise ValueError(f"{images} exists and is a file, not a folder")
    images.mkdir(parents=True, exist_ok=True)
    return images


def _remove_stale(images: Path, num: int) -> None:
    """Delete our own numbered PNGs beyond `num` left by an earlier, larger run."""
    for f in images.glob("*.png"):
        if re.fullmatch(r"\d{6}\.png", f.name) and int(f.stem) >= num:
            f.unlink()


def generate_dataset(out: str | Path, num: int, seed: int, size: tuple[int, int] = (128, 96),
                     difficulty: str = "medium", progress: bool = True) -> Path:
    """Write `num` crops to `out/images/NNNNNN.png` and `out/annotations.json`; return `out`.

    ``difficulty`` may name several levels joined by ``+`` (e.g. ``easy+medium``): crop ``i`` then
    uses level ``i % len(levels)``, a mixed set for training on more than one level at once.
    Only `images/` (our numbered PNGs) and `annotations.json` are written; other files stay.
    """
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num <= 0:
        raise ValueError(f"num must be a whole number > 0, got {num!r}")
    cfgs, seed = [check_args(size, level) for level in str(difficulty).split("+")], _check_seed(seed)
    size = (int(size[0]), int(size[1]))
    out = Path(out)
    images_dir = _prepare_out(out)
    _remove_stale(images_dir, int(num))
    images, anns = [], []
    for i in tqdm(range(int(num)), disable=not progress, desc="synthpose", unit="crop"):
        s = synthesize(seed, i, size, cfgs[i % len(cfgs)])
        ok, buf = cv2.imencode(".png", cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), PNG_PARAMS)
        if not ok:
            raise RuntimeError("PNG encoding failed")
        (images_dir / f"{i:06d}.png").write_bytes(buf.tobytes())
        images.append({"id": i + 1, "file_name": f"{i:06d}.png", "height": size[0], "width": size[1]})
        anns.append(_annotation(i, s))
    info = {"description": "SynthPose procedural person crops (images live in images/)",
            "version": GENERATOR_VERSION, "seed": seed, "size": list(size),
            "difficulty": difficulty, "num_images": int(num)}
    data = {"info": info, "images": images, "annotations": anns, "categories": [PERSON_CATEGORY]}
    text = json.dumps(data, separators=(",", ":"), sort_keys=False)
    (out / "annotations.json").write_text(text + "\n", encoding="utf-8")
    return out
