"""From model outputs to keypoints in original image pixels, and whole-dataset evaluation.

The one place that knows which codec decodes which head, so that the trainer, ``sdpose eval``,
the notebooks and the explorer all read predictions the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from sdpose_core.data.codecs import MSRAHeatmap, RegressionLabel, SimCCLabel, flip_average, flip_coords
from sdpose_core.data.codecs import flip_heatmaps, flip_simcc
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.data.transforms import crop_to_image
from sdpose_core.evaluate.coco_eval import coco_keypoint_eval, results_from_arrays
from sdpose_core.evaluate.pck import pck
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.outputs import CycleOutput

Codec = MSRAHeatmap | RegressionLabel | SimCCLabel


def codec_for(config: ModelConfig) -> Codec:
    """The codec that makes targets for, and decodes, a model's head.

    Heatmap sigma is 2 px at 64x48 (mmpose default) and 1.5 px on the 32x24 maps of the SynthPose
    models; SimCC sigma (4.9, 5.66) bins at 256x192 (RTMPose-m) scaled with the input width/height.
    """
    if config.head == "heatmap":
        hm = config.out_heatmap_size
        return MSRAHeatmap(config.input_size, hm, sigma=2.0 if hm[0] >= 64 else 1.5, unbiased=True)
    if config.head == "regression":
        return RegressionLabel(config.input_size)
    h, w = config.input_size
    sigma = (4.9 * w / 192, 5.66 * h / 256)
    return SimCCLabel(config.input_size, sigma=sigma, split_ratio=config.simcc_split_ratio)


def decode_output(output: CycleOutput, codec: Codec) -> tuple[np.ndarray, np.ndarray]:
    """One cycle's predictions -> keypoints (B, K, 2) in input pixels and scores (B, K)."""
    if output.heatmaps is not None:
        return codec.decode(output.heatmaps.detach())
    if output.coords is not None:
        score = None if output.score is None else torch.sigmoid(output.score.detach())
        return codec.decode(output.coords.detach(), score)
    if output.simcc_x is not None:
        return codec.decode(output.simcc_x.detach(), output.simcc_y.detach())
    raise ValueError("the output record holds no predictions (heatmaps, coords or simcc)")


def _flip_merge(plain: CycleOutput, flipped: CycleOutput, width: int) -> CycleOutput:
    """Average a prediction with the un-flipped prediction of the mirrored image."""
    if plain.heatmaps is not None:
        back = torch.as_tensor(flip_heatmaps(flipped.heatmaps.detach()))
        return CycleOutput(heatmaps=torch.as_tensor(flip_average(plain.heatmaps.detach(), back)))
    if plain.coords is not None:
        back = torch.as_tensor(flip_coords(flipped.coords.detach(), input_width=width))
        return CycleOutput(coords=(plain.coords.detach() + back) / 2, score=plain.score)
    bx, by = flip_simcc(flipped.simcc_x.detach(), flipped.simcc_y.detach())
    return CycleOutput(simcc_x=(plain.simcc_x.detach() + torch.as_tensor(bx)) / 2,
                       simcc_y=(plain.simcc_y.detach() + torch.as_tensor(by)) / 2)


@torch.no_grad()
def predict_batch(model: nn.Module, images: torch.Tensor, codec: Codec, cycle: int = 1,
                  flip_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (B, K, 2) in input pixels and scores (B, K) from cycle ``cycle`` (1-based)."""
    out = model(images, cycles=cycle)[cycle - 1]
    if flip_test:
        mirrored = model(torch.flip(images, dims=[3]), cycles=cycle)[cycle - 1]
        out = _flip_merge(out, mirrored, images.shape[-1])
    return decode_output(out, codec)


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
