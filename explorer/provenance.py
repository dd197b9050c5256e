"""What each model the explorer shows was trained on and how well, and whether a photo is in its domain.

The sources, in order: BlazePose and ONNX files (other runtimes), official SDPose / DistilPose /
TokenPose checkpoints (``load_model`` names them ``official-*``), a bundled checkpoint listed in the
``manifest.json`` beside it, a training run folder (``config.json``, ``metrics.jsonl`` and, for
``sdpose distill-folder``, ``distill_folder.json``) around a ``model.pt`` or ``history/`` snapshot.
Nothing is claimed for a file none of these describe.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from sdpose_core.io.checkpoint import CheckpointError, read_checkpoint
from sdpose_core.models.zoo import PAPER, bundled_manifest

REAL_PHOTOS_DOC = "docs/real_photos.md"


@dataclass(frozen=True)
class Provenance:
    """``trained_on`` (empty: unknown), ``how_well`` (scores, or where they are) and whether the
    model saw only SynthPose crops (then a note is shown on any other image)."""

    trained_on: str = ""
    how_well: str = ""
    synthpose_only: bool = False

    def text(self) -> str:
        """One line for the models panel and the results; "" when nothing is known."""
        if not self.trained_on:
            return ""
        only = " only" if self.synthpose_only else ""
        return f"trained on {self.trained_on}{only}" + (f"; {self.how_well}" if self.how_well else "")


UNKNOWN = Provenance()


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_synthpose_folder(folder: str | Path) -> bool:
    """A COCO folder written by ``sdpose synth`` (its annotations.json says so)."""
    data = _read_json(Path(folder) / "annotations.json")
    info = data.get("info") if isinstance(data, dict) else None
    return isinstance(info, dict) and str(info.get("version", "")).startswith("synthpose")


def _manifest_provenance(checkpoint: Path) -> Provenance | None:
    rows = bundled_manifest(checkpoint.parent)
    row = next((r for r in rows if Path(str(r.get("path", ""))).name == checkpoint.name), None)
    if not row or row.get("AP") is None:
        return None
    scores = [f"AP ×100 {100 * row['AP']:.1f} on its val set"]
    scores += [f"{100 * row[k]:.1f} on held-out {level}" for k, level in (("AP_easy", "easy"), ("AP_medium", "medium"))
               if row.get(k) is not None]
    trained_on = str(row.get("trained_on", "SynthPose"))
    return Provenance(trained_on, ", ".join(scores), "synthpose" in trained_on.lower())


def history_trained_on(run: Path) -> str | None:
    """``trained_on`` of the bundled manifest row whose ``history`` is the run folder ``run``
    (a bundled run keeps its snapshots, metrics and a config that names its source run only)."""
    row = next((r for r in bundled_manifest(run.parent)
                if Path(str(r.get("history") or "")).name == run.name), None)
    if row is None:
        return None
    return str(row.get("trained_on", "")) or None


def _history_provenance(checkpoint: Path) -> Provenance | None:
    """A snapshot ``history/epoch_*.pt`` of a bundled run, loaded as a file (``--distilpose PATH``)."""
    if checkpoint.parent.name != "history":
        return None
    run = checkpoint.parent.parent
    trained_on = history_trained_on(run)
    if not trained_on:
        return None
    return Provenance(trained_on, f"a snapshot of the bundled {run.name} run; {_snapshot_score(checkpoint)}",
                      "synthpose" in trained_on.lower())


def _snapshot_score(checkpoint: Path) -> str:
    """The val AP saved with a snapshot file (its ``metrics``), or that it has none."""
    try:
        metrics = read_checkpoint(checkpoint).get("metrics") or {}
    except (CheckpointError, OSError, AttributeError):
        metrics = {}
    return snapshot_ap_text(metrics.get("AP") if isinstance(metrics, dict) else None)


def snapshot_ap_text(ap: float | None) -> str:
    """'val AP ×100 12.3 at that epoch' (COCO's -1 and a missing AP: that there is none)."""
    if isinstance(ap, (int, float)) and ap >= 0:
        return f"val AP ×100 {100 * ap:.1f} at that epoch"
    return "no val AP saved with it"


def _last_val_scores(run: Path, val: str | None) -> str:
    """AP / PCK of the last epoch in ``run/metrics.jsonl`` that has them, on ``val``."""
    last = None
    try:
        lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("AP"), (int, float)):
            last = record
    if last is None:
        return "no validation AP recorded (run without --val)"
    pck = f", PCK@0.2 {last['PCK@0.2']:.3f}" if isinstance(last.get("PCK@0.2"), (int, float)) else ""
    return f"AP ×100 {100 * last['AP']:.1f}{pck} on {val or 'its val set'} (epoch {int(last.get('epoch', 0)) + 1})"


def _run_provenance(checkpoint: Path) -> Provenance | None:
    """A ``sdpose train`` / ``sdpose distill-folder`` run around ``model.pt`` or ``history/epoch_*.pt``."""
    run = checkpoint.parent.parent if checkpoint.parent.name == "history" else checkpoint.parent
    config = _read_json(run / "config.json")
    folder = _read_json(run / "distill_folder.json")
    if not isinstance(config, dict) and not isinstance(folder, dict):
        return None
    val = config.get("val") if isinstance(config, dict) else None
    scores = _last_val_scores(run, val)
    if isinstance(folder, dict):
        return Provenance(f"the photos in {folder.get('images', '?')}, labelled by the teacher "
                          f"{folder.get('teacher', '?')} (sdpose distill-folder)", scores)
    data = str(config.get("data", ""))
    if not data:
        return None
    if is_synthpose_folder(data):
        return Provenance(f"SynthPose ({data})", scores, True)
    return Provenance(data, scores)


def provenance_of(model: nn.Module, source: str) -> Provenance:
    """What ``model`` (loaded from ``source``: a file, ``blazepose`` or ``random init``) was trained on."""
    from sdpose_core.real.blazepose import BlazePose
    from sdpose_core.real.onnx_pose import OnnxPoseModel

    if isinstance(model, BlazePose):
        return Provenance("real photos by Google (MediaPipe BlazePose full; not trained here)",
                          f"measured on labelled COCO / OCHuman people in {REAL_PHOTOS_DOC}")
    if isinstance(model, OnnxPoseModel):
        return _onnx_provenance(model.metadata)
    name = getattr(getattr(model, "config", None), "name", "")
    if name.startswith("official-") or name.endswith("-official"):  # load_model's names (io/official.py)
        paper = PAPER.get(name.removesuffix("-official"), {}).get("coco_ap")
        reported = f"the SDPose paper reports COCO val AP {paper} for the official weights; " if paper else ""
        return Provenance("its authors' data (an official SDPose / DistilPose / TokenPose checkpoint: "
                          "COCO train2017 in the papers)", f"{reported}this file is not measured here")
    path = Path(source)
    if not path.is_file():
        return UNKNOWN
    return _manifest_provenance(path) or _run_provenance(path) or _history_provenance(path) or UNKNOWN


def _onnx_provenance(metadata: dict[str, str]) -> Provenance:
    """Our export (``sdpose export-onnx`` names its source: a zoo name or a checkpoint), else an
    official RTMPose / DWPose file."""
    source, model = metadata.get("sdpose.source"), metadata.get("sdpose.model")
    if source:
        from sdpose_core.models.zoo import CHECKPOINT_DIR, ZOO

        path = CHECKPOINT_DIR / f"{source}.pt" if source in ZOO else Path(source)
        known = (_manifest_provenance(path) or _run_provenance(path)) if path.is_file() else None
        return known or UNKNOWN
    if model:
        return UNKNOWN  # exported from Python without a source: nothing is claimed
    return Provenance("its authors' data (official RTMPose / DWPose files: COCO-style real photos)",
                      "not measured here")


# ---- is this photo a SynthPose crop? ------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _bundled_crop_keys() -> frozenset[str]:
    from sdpose_core.io.images import load_user_image

    from .inputs import EXAMPLE_DIR
    from .models import image_key  # (models imports this module)

    keys = set()
    for path in sorted((EXAMPLE_DIR / "images").glob("*.png")):
        try:
            keys.add(image_key(load_user_image(path)))
        except (OSError, ValueError):
            continue
    return frozenset(keys)


def is_synthpose_crop(image: np.ndarray) -> bool:
    """The image is one of the bundled SynthPose crops (data_samples/synthpose_val), by content."""
    from .models import image_key

    return image_key(image) in _bundled_crop_keys()


def domain_note(label: str, provenance: Provenance, image: np.ndarray) -> str:
    """A visible warning when a SynthPose-only model is run on an image that is not a SynthPose crop."""
    if not provenance.synthpose_only or is_synthpose_crop(image):
        return ""
    return (f"⚠️ **{label} was trained on SynthPose crops only** ({provenance.how_well or 'no real photos'}); "
            "this image is not one of the bundled SynthPose crops, so its pose here shows how a synthetic-only "
            f"model transfers, not what the method can do on photos. Real-photo models: {REAL_PHOTOS_DOC}.")
