"""One photo seen by every snapshot of a run: the data behind a snapshot-by-snapshot animation
(``sdpose animate``) or a snapshot selector. Drawing is ``sdpose_core.viz.frames``'s job.

Everything is in crop space (the network input): keypoints in crop pixels, the attention of one
keypoint token over the patch grid, and a per-keypoint prediction map whatever the head:
heatmap head -> its heatmap; regression head -> the Gaussian its (x, y, sigma) describe (DistilPose's
simulated heatmap); SimCC head -> the outer product of its x and y distributions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.data.codecs import codec_for
from sdpose_core.data.topdown import CocoKeypointDataset, load_image_crop
from sdpose_core.data.transforms import denormalize
from sdpose_core.models.outputs import CycleOutput

from .dynamics import SAMPLES_DIR, ap_curve, load_history

VIEWS = ("attention", "skeleton", "heatmap")


@dataclass
class SnapshotView:
    """What one snapshot makes of the photo.

    Attributes:
        label: snapshot label ('epoch 3'). epoch: 1-based. ap: that epoch's val AP (None if unknown).
        crop: (H, W, 3) uint8 network input. keypoints: (K, 2) crop pixels. scores: (K,).
        attention: (gh, gw) head-mean attention of the chosen keypoint token over the patches.
        heatmap: (h, w) prediction map of the chosen keypoint, peak scaled to 1.
    """

    label: str
    epoch: int
    ap: float | None
    crop: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    attention: np.ndarray
    heatmap: np.ndarray


def keypoint_index(keypoint: int | str) -> int:
    """A keypoint given as a 0-based index or a COCO name ('left_wrist')."""
    if isinstance(keypoint, str) and not keypoint.lstrip("-").isdigit():
        if keypoint not in KEYPOINT_NAMES:
            raise ValueError(f"unknown keypoint {keypoint!r}; one of {', '.join(KEYPOINT_NAMES)}")
        return KEYPOINT_NAMES.index(keypoint)
    index = int(keypoint)
    if not 0 <= index < len(KEYPOINT_NAMES):
        raise ValueError(f"keypoint {index} out of range 0..{len(KEYPOINT_NAMES) - 1}")
    return index


def prediction_map(out: CycleOutput, model: nn.Module, keypoint: int) -> np.ndarray:
    """(h, w) map of where one cycle's output puts a keypoint (batch item 0), peak scaled to 1: the
    head's own heatmap, DistilPose's simulated heatmap, or SimCC's x-y outer product at bin resolution."""
    m = codec_for(model.config).heatmaps(out)[0, keypoint]  # (h, w)
    m = m.clamp_min(0)
    return (m / m.max().clamp_min(1e-12)).numpy()


def default_photo(folder: str | Path = SAMPLES_DIR, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, box (x, y, w, h)) of one labelled person of a COCO folder."""
    data = CocoKeypointDataset(folder)
    inst = data.instances[index]
    return data.load_image(inst.image_id), np.asarray(inst.bbox, dtype=np.float64)


@torch.inference_mode()
def snapshot_views(root: str | Path, image: np.ndarray | None = None, bbox: Sequence[float] | None = None,
                   keypoint: int | str = "left_wrist", cycle: int = 1, layer: int = -1) -> list[SnapshotView]:
    """Run every snapshot of a run on one photo (default: the first bundled SynthPose person).

    Args:
        root: run folder with ``history/epoch_*.pt``.
        image: (H, W, 3) uint8 RGB; bbox: its person box (x, y, w, h), None = whole image.
        keypoint: index or COCO name of the keypoint whose attention and map are kept.
        cycle: 1-based cycle whose attention, keypoints and map are kept (the model runs that many).
        layer: layer of the attention (negative counts from the end).
    """
    if image is None:
        image, bbox = default_photo()
    k = keypoint_index(keypoint)
    ap = dict(zip(*(a.tolist() for a in ap_curve(root))))
    views = []
    for snap in load_history(root):
        model = snap.model
        if not 1 <= cycle <= model.config.cycle_num:
            raise ValueError(f"cycle {cycle} out of range 1..{model.config.cycle_num} for {snap.label}")
        tensor, _ = load_image_crop(image, bbox, input_size=tuple(model.config.input_size))
        out = model(tensor[None], cycles=cycle, return_attention=True)[cycle - 1]
        kpts, scores = codec_for(model.config).decode_output(out)  # (1, K, 2) crop pixels, (1, K)
        n_kpt = model.config.num_keypoints
        att = out.attention[layer][0].float().mean(0)[k, n_kpt:].reshape(model.config.grid_size)  # (gh, gw)
        views.append(SnapshotView(snap.label, snap.epoch, ap.get(snap.epoch), denormalize(tensor),
                                  np.asarray(kpts[0], dtype=np.float64), np.asarray(scores[0], dtype=np.float64),
                                  att.numpy(), prediction_map(out, model, k)))
    return views
