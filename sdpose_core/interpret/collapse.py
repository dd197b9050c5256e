"""Does a model's output depend on its input? Flags for collapsed predictions.

A student caught in a trap (DistilPose's σ trap, a model before its AP jump) can output nearly
the same thing for every photo: σ constant, left and right keypoints on top of each other, the
keypoints on the mean pose. Shown without a flag, such output reads like a prediction.

:func:`collapse_report` runs a model on ``PROBE_COUNT`` fixed SynthPose crops (varied poses,
easy and medium alternating, each cropped by its labelled box) and measures

- ``keypoints_fixed``: how far the predicted keypoints move across the probes, as a fraction of how
  far the labelled keypoints move (crop fractions, std over probes, mean over keypoints and axes);
- ``at_mean_pose``: mean OKS of the predictions against the mean pose in the same box
  (``sdpose_core.evaluate.agreement``), beside the labelled poses' own score;
- ``left_right_same``: mean distance between left and right keypoints of a pair, as a fraction of
  the labelled poses' (heatmap models also: the relative difference of left and right heatmaps);
- ``sigma_fixed`` (regression heads): coefficient of variation of σ across the probes.

:func:`left_right_difference` measures one image's maps (the heatmaps a tab shows).
Thresholds (``LIMITS``) sit between collapsed snapshots and trained models, measured on the
bundled histories (docs/explorer.md, *Collapsed outputs*).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sdpose_core.data.coco_meta import FLIP_PAIRS
from sdpose_core.data.synthpose.generate import render_sample
from sdpose_core.data.transforms import apply_affine
from sdpose_core.evaluate.agreement import mean_pose_in_box, oks_between, person_area
from sdpose_core.evaluate.inference import run_pose

PROBE_COUNT = 16
PROBE_SEED = 7
# check -> (limit, flagged when the value is below (True) or at/above (False) the limit)
LIMITS: dict[str, tuple[float, bool]] = {
    "keypoints_fixed": (0.2, True),
    "at_mean_pose": (0.6, False),
    "left_right_same": (0.25, True),
    "left_right_heatmaps": (0.1, True),
    "sigma_fixed": (0.04, True),
}


@dataclass(frozen=True)
class Check:
    """One measurement: ``flagged`` when ``value`` is on the wrong side of ``limit``."""

    name: str
    value: float
    limit: float
    flagged: bool
    message: str


@dataclass
class CollapseReport:
    """Every check of one model; ``flags`` are the flagged ones (empty: the output follows the input)."""

    checks: list[Check] = field(default_factory=list)
    probes: int = PROBE_COUNT

    @property
    def flags(self) -> list[Check]:
        return [c for c in self.checks if c.flagged]

    def value(self, name: str) -> float | None:
        return next((c.value for c in self.checks if c.name == name), None)


def _check(name: str, value: float, message: str) -> Check:
    limit, below = LIMITS[name]
    return Check(name, float(value), limit, bool(value < limit if below else value >= limit), message)


def left_right_difference(maps) -> float:
    """Mean over the COCO left/right pairs of ||M_left − M_right|| / max(||M_left||, ||M_right||)
    for (K, H, W) maps of one image: 0 when every left map equals its right map, about 1.4 when
    their peaks lie apart."""
    m = torch.as_tensor(np.asarray(maps), dtype=torch.float64).flatten(1)
    diffs = [float((m[a] - m[b]).norm() / max(float(m[a].norm()), float(m[b].norm()), 1e-12)) for a, b in FLIP_PAIRS]
    return float(np.mean(diffs))


def _pair_distance(points: np.ndarray, seen: np.ndarray | None = None) -> float:
    """Mean distance between the left and right keypoint of each pair over (N, K, 2) points
    (only where both are labelled, when ``seen`` (N, K) is given)."""
    seen = np.ones(points.shape[:2], bool) if seen is None else seen
    dists = [np.linalg.norm(points[:, a] - points[:, b], axis=-1)[seen[:, a] & seen[:, b]] for a, b in FLIP_PAIRS]
    return float(np.concatenate(dists).mean())


def probe_crops(input_size: tuple[int, int], count: int = PROBE_COUNT, seed: int = PROBE_SEED) -> list[tuple]:
    """``count`` SynthPose crops at ``input_size`` (H, W): [(image, labels (17, 3), bbox)]."""
    size = tuple(int(v) for v in input_size)
    return [render_sample(seed, i, size, "easy" if i % 2 else "medium") for i in range(count)]


@torch.no_grad()
def _run_probes(model: nn.Module, probes: list[tuple]) -> dict[str, np.ndarray]:
    """Predicted and labelled keypoints in crop fractions, σ and heatmap left/right differences."""
    h, w = model.config.input_size
    pred, label, seen, sigma, lr_maps, mean_scores, label_scores = [], [], [], [], [], [], []
    for image, kp, bbox in probes:
        res = run_pose(model, image, bbox)
        pred.append(apply_affine(res.keypoints, res.meta["matrix"]) / (w, h))
        label.append(apply_affine(kp[:, :2], res.meta["matrix"]) / (w, h))
        seen.append(kp[:, 2] > 0)
        area, mean = person_area(bbox, image.shape[:2]).value, mean_pose_in_box(bbox, image.shape[:2])
        mean_scores.append(oks_between(mean, res.keypoints, area))
        label_scores.append(oks_between(mean, kp[:, :2], area))
        out = res.outputs[0]
        if out.sigma is not None:
            sigma.append(out.sigma[0].float().numpy())
        if out.heatmaps is not None:
            lr_maps.append(left_right_difference(out.heatmaps[0].float().numpy()))
    return {"pred": np.stack(pred), "label": np.stack(label), "seen": np.stack(seen),
            "sigma": np.stack(sigma) if sigma else None, "lr_maps": np.asarray(lr_maps) if lr_maps else None,
            "mean_scores": np.asarray(mean_scores), "label_scores": np.asarray(label_scores)}


def _label_spread(label: np.ndarray, seen: np.ndarray) -> float:
    return float(np.mean([label[seen[:, k], k].std(0).mean() for k in range(label.shape[1]) if seen[:, k].sum() > 1]))


def checks_from_probes(r: dict[str, np.ndarray]) -> list[Check]:
    """The checks of :mod:`this module <sdpose_core.interpret.collapse>` from ``_run_probes`` data."""
    n = len(r["pred"])
    moved = float(r["pred"].std(0).mean()) / max(_label_spread(r["label"], r["seen"]), 1e-12)
    checks = [_check("keypoints_fixed", moved, f"keypoints barely depend on the input: across {n} varied "
                     f"probe crops they move {100 * moved:.0f} % as much as the labelled poses do")]
    at_mean, labels_at_mean = float(r["mean_scores"].mean()), float(r["label_scores"].mean())
    checks.append(_check("at_mean_pose", at_mean, f"keypoints sit on the mean pose: OKS {at_mean:.2f} against "
                         f"it on {n} probe crops (their labelled poses: {labels_at_mean:.2f})"))
    apart = _pair_distance(r["pred"]) / max(_pair_distance(r["label"], r["seen"]), 1e-12)
    checks.append(_check("left_right_same", apart, "left and right keypoints coincide: pairs lie "
                         f"{100 * apart:.0f} % as far apart as in the labelled poses"))
    if r["lr_maps"] is not None:
        lr = float(r["lr_maps"].mean())
        checks.append(_check("left_right_heatmaps", lr, f"left and right heatmaps are nearly identical "
                             f"(relative difference {lr:.2f} on {n} probe crops; 0 = identical)"))
    if r["sigma"] is not None:
        s = r["sigma"]
        cv = float((s.std(0) / np.maximum(s.mean(0), 1e-12)).mean())
        mean_sigma = s.mean((0, 1))
        checks.append(_check("sigma_fixed", cv, f"σ barely depends on the input: ({mean_sigma[0]:.2f}, "
                             f"{mean_sigma[1]:.2f}) heatmap px on average, varying {100 * cv:.1f} % across {n} probe crops"))
    return checks


_REPORTS: "weakref.WeakKeyDictionary[nn.Module, CollapseReport]" = weakref.WeakKeyDictionary()


def collapse_report(model: nn.Module, probes: list[tuple] | None = None) -> CollapseReport:
    """Run ``model`` on the probe crops (default :func:`probe_crops` at its input size) and check its
    output for collapse. Cached per model object for the default probes."""
    if probes is None and model in _REPORTS:
        return _REPORTS[model]
    crops = probes if probes is not None else probe_crops(model.config.input_size)
    report = CollapseReport(checks_from_probes(_run_probes(model, crops)), len(crops))
    if probes is None:
        _REPORTS[model] = report
    return report
