"""From model outputs to keypoints in original image pixels, and whole-dataset evaluation.

Which codec decodes which head is ``sdpose_core.data.codecs.codec_for``; the
codec decodes (``decode_output``) and merges flip tests (``flip_merge``), so the trainer,
``sdpose eval``, the notebooks and the explorer all read predictions the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from sdpose_core.data.codecs import Codec, codec_for
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.data.transforms import crop_to_image
from sdpose_core.evaluate.coco_eval import coco_keypoint_eval, results_from_arrays
from sdpose_core.evaluate.pck import pck

__all__ = ["predict_batch", "Predictions", "predict_dataset",
           "evaluate_predictions", "evaluate_model"]



@torch.no_grad()
def predict_batch(model: nn.Module, images: torch.Tensor, codec: Codec, cycle: int = 1,
                  flip_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (B, K, 2) in input pixels and scores (B, K) from cycle ``cycle`` (1-based)."""
    out = model(images, cycles=cycle)[cycle - 1]
    if flip_test:
        mirrored = model(torch.flip(images, dims=[3]), cycles=cycle)[cycle - 1]
        out = codec.flip_merge(out, mirrored, images.shape[-1])
    return codec.decode_output(out)


@dataclass
class Predictions:
    """Predictions of a dataset, in original image pixels, one row per person instance."""

    image_ids: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, K, 2)
    keypoint_scores: np.ndarray  # (N, K)
    scores: np.ndarray  # (N,) instance score: mean keypoint score (x detection score if any)
    gt_keypoints: np.ndarray  # (N, K, 3) COCO (x, y, v) of the annotation (zeros for detections)
    bboxes: np.ndarray  # (N, 4) xywh boxes that were cropped

    def results(self) -> list[dict]:
        """COCO results format."""
        return results_from_arrays(self.image_ids, self.keypoints, self.keypoint_scores, self.scores)


def predict_dataset(model: nn.Module, dataset: CocoKeypointDataset, batch_size: int = 32, cycle: int = 1,
                    flip_test: bool = False, progress: bool = True) -> Predictions:
    """Run ``model`` over every instance of ``dataset`` (no augmentation) and map back to images."""
    codec = codec_for(model.config)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    was_training = model.training
    model.eval()
    rows: dict[str, list] = {k: [] for k in ("ids", "kpts", "kscores", "scores", "gt", "boxes")}
    try:
        for batch in tqdm(loader, desc="predict", disable=not progress, leave=False):
            kpts, kscores = predict_batch(model, batch["image"], codec, cycle, flip_test)
            for i, meta in enumerate(batch["meta"]):
                rows["ids"].append(meta["image_id"])
                rows["kpts"].append(crop_to_image(kpts[i], meta))
                rows["kscores"].append(kscores[i])
                det = meta.get("score")
                rows["scores"].append(float(np.mean(kscores[i])) * (1.0 if det is None else float(det)))
                rows["gt"].append(meta["orig_keypoints"])
                rows["boxes"].append(meta["bbox"])
    finally:
        model.train(was_training)
    return Predictions(np.asarray(rows["ids"]), np.stack(rows["kpts"]), np.stack(rows["kscores"]),
                       np.asarray(rows["scores"]), np.stack(rows["gt"]), np.stack(rows["boxes"]))


def evaluate_predictions(preds: Predictions, annotation_file: str | Path, pck_alpha: float = 0.2) -> dict:
    """COCO OKS AP/AR (pycocotools) and PCK@alpha (bbox-normalised, visible GT keypoints)."""
    metrics = coco_keypoint_eval(preds.results(), annotation_file)
    visible = preds.gt_keypoints[..., 2] > 0
    if visible.any():
        result = pck(preds.keypoints, preds.gt_keypoints[..., :2], visible, preds.bboxes, alpha=pck_alpha)
        metrics[f"PCK@{pck_alpha:g}"] = result.overall
    return metrics


def evaluate_model(model: nn.Module, data: str | Path | CocoKeypointDataset, batch_size: int = 32,
                   cycle: int = 1, flip_test: bool = False, progress: bool = True,
                   pck_alpha: float = 0.2) -> dict:
    """AP, AR (COCO OKS) and PCK of ``model`` on a COCO-format folder or dataset (GT boxes)."""
    dataset = data if isinstance(data, CocoKeypointDataset) else \
        CocoKeypointDataset(data, input_size=model.config.input_size)
    preds = predict_dataset(model, dataset, batch_size, cycle, flip_test, progress)
    return evaluate_predictions(preds, dataset.annotation_file, pck_alpha)
