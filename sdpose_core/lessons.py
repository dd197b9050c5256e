"""What the tutorial notebooks (``notebooks/``) read: bundled models with an honest "untrained"
note, example crops, failure-case search, the measured results table.

Nothing here is new model math: inference reuses ``predict_dataset``; the notebooks train with
``sdpose_core.train.in_memory`` and look at tokens with ``sdpose_core.interpret``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.coco_meta import FLIP_INDEX, KEYPOINT_NAMES
from sdpose_core.data.topdown import CocoKeypointDataset
from sdpose_core.errors import CheckpointError
from sdpose_core.evaluate.coco_eval import oks
from sdpose_core.evaluate.predict import predict_dataset
from sdpose_core.io.checkpoint import load_model
from sdpose_core.models.zoo import CHECKPOINT_DIR, build_model, bundled_manifest

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data_samples" / "synthpose_val"
RESULTS_FILE = Path(__file__).resolve().parents[1] / "docs" / "RESULTS.md"
WEAK_AP = 0.5  # below this SynthPose val AP (0..1) a bundled model's note calls it weak


# ----------------------------------------------------------------------------- models

@dataclass
class LessonModel:
    """A zoo model for a lesson and where its weights came from.

    Attributes:
        name: zoo name. model: the module (eval mode). trained: False for random weights.
        source: the checkpoint file, or why random weights are used.
    """

    name: str
    model: nn.Module
    trained: bool
    source: str
    metrics: dict[str, float] | None = None

    @property
    def note(self) -> str:
        """One Markdown line for the notebook: trained checkpoint (with its measured SynthPose val
        AP / PCK@0.2 when the bundle's manifest lists them), or a clear untrained warning."""
        if self.trained:
            text = f"**{self.name}**: trained checkpoint `{self.source}`."
            if self.metrics and "AP" in self.metrics:
                ap, pck = self.metrics["AP"], self.metrics.get("PCK")
                text += (f" Measured on SynthPose val (`manifest.json`): AP {100 * ap:.1f} (×100)"
                         + (f", PCK@0.2 {pck:.3f}" if pck is not None else "") + ".")
                if ap < WEAK_AP:
                    text += (" **A weak model**: a short CPU training run, far from published accuracy. It finds "
                             "the person roughly (PCK) but rarely places keypoints precisely (AP). Read "
                             "every plot below as what *this* model does, not as what the method can do.")
            return text
        return (f"**{self.name}: untrained weights** ({self.source}). Every plot below still works, "
                "but shows what a randomly initialised network does: near-uniform attention and "
                "poses near the mean. Train it (`sdpose train`, see docs/training.md) or wait for the "
                "bundled checkpoint to see learned behaviour.")


def load_lesson_model(name: str, checkpoint_dir: str | Path | None = None, seed: int = 0) -> LessonModel:
    """``<checkpoint_dir>/<name>.pt`` (default ``data_samples/checkpoints``) through ``load_model``;
    when it is missing or unreadable, the zoo architecture with seeded random weights."""
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else CHECKPOINT_DIR
    path = folder / f"{name}.pt"
    if path.is_file():
        try:
            return LessonModel(name, load_model(path), True, str(path), checkpoint_metrics(name, folder))
        except CheckpointError as err:
            reason = f"could not load {path}: {err}"
    else:
        reason = f"no bundled checkpoint at {path}"
    torch.manual_seed(seed)
    return LessonModel(name, build_model(name).eval(), False, reason)


def checkpoint_metrics(name: str, checkpoint_dir: str | Path | None = None) -> dict[str, float] | None:
    """``{"AP": …, "PCK": …}`` of ``name`` from ``<checkpoint_dir>/manifest.json`` (written by
    ``benchmarks/bundle_checkpoints.py``), or None when there is no manifest or no such entry."""
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else CHECKPOINT_DIR
    for entry in bundled_manifest(folder):
        if entry.get("name") == name:
            found = {k: float(entry[k]) for k in ("AP", "PCK") if isinstance(entry.get(k), (int, float))}
            return found or None
    return None


def model_geometry(model: nn.Module) -> dict[str, Any]:
    """The numbers a lesson needs, read from ``model.config`` (never hard-coded in a notebook).

    Keys: name, head, input_size (H, W), cycles, and for token models feature_stride (input pixels
    per backbone feature), grid_size (gh, gw),
    num_patches N, dim D, depth, heads, patch_pixels (input pixels per patch cell, (h, w)),
    tokens (K + N).
    """
    cfg = model.config
    geo: dict[str, Any] = {"name": cfg.name, "model_type": cfg.model_type, "head": cfg.head,
                           "input_size": tuple(cfg.input_size), "cycles": cfg.cycle_num,
                           "num_keypoints": cfg.num_keypoints}
    if cfg.model_type == "tokenpose":
        gh, gw = cfg.grid_size
        geo.update(feature_stride=getattr(cfg, "feature_stride", 4), grid_size=(gh, gw), num_patches=gh * gw,
                   dim=cfg.dim, depth=cfg.depth, heads=cfg.heads,
                   patch_pixels=(cfg.input_size[0] / gh, cfg.input_size[1] / gw),
                   tokens=cfg.num_keypoints + gh * gw)
    return geo


# ----------------------------------------------------------------------------- examples

@dataclass
class Example:
    """One annotated person: the whole image, its box (x, y, w, h) and COCO keypoints (17, 3)."""

    index: int
    image: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    file: str
    area: float | None = None  # annotated person area (px²): the OKS scale, when the label gives it

    def label_xy(self) -> np.ndarray:
        """(17, 2) labelled keypoints in image pixels, NaN where unlabelled (v = 0): for drawing."""
        xy = self.keypoints[:, :2].copy()
        xy[self.keypoints[:, 2] <= 0] = np.nan
        return xy

    def label_visible(self) -> np.ndarray:
        """(17,) 1.0 where labelled (v > 0), else 0.0."""
        return (self.keypoints[:, 2] > 0).astype(np.float64)


def load_examples(folder: str | Path = SAMPLES_DIR, count: int | None = None) -> list[Example]:
    """The annotated persons of a COCO-format folder (default: the bundled SynthPose samples)."""
    data = CocoKeypointDataset(folder)
    n = len(data) if count is None else min(int(count), len(data))
    out = []
    for i in range(n):
        inst = data.instances[i]
        out.append(Example(i, data.load_image(inst.image_id), np.asarray(inst.bbox, dtype=np.float64),
                           np.asarray(inst.keypoints, dtype=np.float64), str(data.image_path(inst.image_id)),
                           inst.area))
    return out


# ----------------------------------------------------------------------------- training

# ----------------------------------------------------------------------------- failure cases

@dataclass
class Case:
    """One person's prediction against its label, in original image pixels.

    Attributes:
        index: instance index in the dataset. oks: OKS of the prediction. oks_swapped: OKS after
        exchanging every left/right keypoint of the prediction (much higher = a left/right swap).
        errors: (K,) pixel error per keypoint (NaN where unlabelled). occluded: (K,) labelled but
        hidden (COCO v = 1). keypoints / gt: (K, 2) prediction and label; visible: (K,) v > 0.
    """

    index: int
    oks: float
    oks_swapped: float
    errors: np.ndarray
    occluded: np.ndarray
    keypoints: np.ndarray
    gt: np.ndarray
    visible: np.ndarray
    bbox: np.ndarray

    @property
    def swapped(self) -> bool:
        """The left/right-exchanged prediction fits the label clearly better."""
        return self.oks_swapped > self.oks + 0.1

    def worst_keypoint(self) -> int:
        """Index of the labelled keypoint with the largest error."""
        return int(np.nanargmax(self.errors))

    def summary(self) -> str:
        k = self.worst_keypoint()
        return (f"instance {self.index}: OKS {self.oks:.3f} (left/right swapped: {self.oks_swapped:.3f}); "
                f"worst {KEYPOINT_NAMES[k]} off by {self.errors[k]:.1f} px"
                f"{' (occluded)' if self.occluded[k] else ''}; {int(self.occluded.sum())} occluded keypoints")


def swap_left_right(keypoints: np.ndarray) -> np.ndarray:
    """(…, K, C) keypoints with every left/right pair exchanged (COCO flip pairs)."""
    return np.asarray(keypoints)[..., list(FLIP_INDEX), :]


def rank_cases(model: nn.Module, data: str | Path | CocoKeypointDataset, cycle: int = 1) -> list[Case]:
    """Every instance of ``data`` as a :class:`Case`, worst OKS first (area = box area)."""
    dataset = data if isinstance(data, CocoKeypointDataset) else \
        CocoKeypointDataset(data, input_size=tuple(model.config.input_size))
    preds = predict_dataset(model, dataset, cycle=cycle, progress=False)
    gt, vis = preds.gt_keypoints[..., :2], preds.gt_keypoints[..., 2]
    area = preds.bboxes[:, 2] * preds.bboxes[:, 3]
    plain = oks(preds.keypoints, gt, vis, area)
    swapped = oks(swap_left_right(preds.keypoints), gt, vis, area)
    err = np.linalg.norm(preds.keypoints - gt, axis=-1)
    err[vis <= 0] = np.nan
    cases = [Case(i, float(plain[i]), float(swapped[i]), err[i], vis[i] == 1, preds.keypoints[i], gt[i],
                  vis[i] > 0, preds.bboxes[i]) for i in range(len(plain))]
    return sorted(cases, key=lambda c: (np.nan_to_num(c.oks, nan=2.0), c.index))


def occlude(image: np.ndarray, center: Sequence[float], size: float, value: int = 127) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with a flat grey square of side ``size`` px at ``center``."""
    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    x0, y0 = int(round(center[0] - size / 2)), int(round(center[1] - size / 2))
    x1, y1 = int(round(center[0] + size / 2)), int(round(center[1] + size / 2))
    out[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = value
    return out


def read_results(path: str | Path = RESULTS_FILE) -> str | None:
    """The text of docs/RESULTS.md (the reproduction table), or None while it does not exist."""
    path = Path(path)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def results_rows(text: str, runs: Sequence[str]) -> str | None:
    """The measured table of docs/RESULTS.md (the one whose header starts ``| run |``) cut down to
    the rows of ``runs``, in that order, as Markdown; None when the table or all of the rows are missing."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.replace(" ", "").startswith("|run|")), None)
    if start is None or start + 1 >= len(lines):
        return None
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.setdefault(line.strip("|").split("|")[0].strip(), line)
    kept = [rows[r] for r in runs if r in rows]
    return "\n".join(lines[start:start + 2] + kept) if kept else None


def simcc_probabilities(logits: torch.Tensor | np.ndarray, beta: float = 10.0) -> np.ndarray:
    """``softmax(beta * logits)`` over the last axis (bins): the distributions DWPose's KL terms
    compare (labels go through the same softmax when ``label_softmax=True``)."""
    t = torch.as_tensor(np.asarray(logits, dtype=np.float32) if isinstance(logits, np.ndarray) else logits)
    return torch.softmax(t.detach().float() * beta, dim=-1).numpy()
