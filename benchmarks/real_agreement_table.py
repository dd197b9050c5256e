"""OKS agreement of the bundled SynthPose models with a real-photo teacher (BlazePose) on labelled COCO
photos, beside the mean pose in the same box: the table docs/explorer.md shows under the Compare
tab's real-photo screenshot.

    python benchmarks/real_agreement_table.py                     # the skier, every person box
    python benchmarks/real_agreement_table.py --photos ../shared/real/coco/000000000785.jpg

For each annotated person of each photo (``test_coco.json`` beside the photos), the bundled
SynthPose teacher, every bundled student and the first snapshot of the DistilPose history are run with ``run_pose`` on the
annotation's box, and ``agreement`` is computed three ways: area = box area (what a detector box
gives), 0.53 x box area (``AREA_PER_BOX_AREA``, the explorer's estimate) and the annotated area.
The mean-pose columns are what a model that ignores the image would score.
BlazePose needs the ``real`` extra (``sdpose install-blazepose``); the script stops with that
message when it is missing. The models were trained on SynthPose only: these numbers measure
how far that carries onto a photo, not how good the methods are.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sdpose_core.data.topdown import read_image_rgb
from sdpose_core.evaluate.agreement import AREA_PER_BOX_AREA, agreement
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.interpret.dynamics import load_snapshot
from sdpose_core.io.checkpoint import CheckpointError, load_model
from sdpose_core.models.zoo import CHECKPOINT_DIR

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real" / "coco"
MODELS = {"synth-teacher": "synth-teacher (heatmap teacher)", "synth-student": "synth-student (SDPose)", "synth-regression": "synth-regression (DistilPose)",
            "synth-simcc": "synth-simcc (DWPose)"}


def bundled_models(folder: Path) -> list[tuple[str, object]]:
    """(row name, model) of the bundled SynthPose teacher and each student, then the DistilPose history's first snapshot."""
    out = [(label, load_model(folder / f"{name}.pt")) for name, label in MODELS.items()
           if (folder / f"{name}.pt").is_file()]
    first = sorted((folder / "distilpose" / "history").glob("epoch_*.pt"))[:1]
    if first:
        snapshot = load_snapshot(first[0])
        out.append((f"DistilPose history {snapshot.label}", snapshot.model))
    return out


def people(photo: Path, min_keypoints: int) -> list[tuple[list[float], float]]:
    """(box, annotated area) of each person on ``photo`` with at least ``min_keypoints`` labelled."""
    labels = json.loads((photo.parent / "test_coco.json").read_text(encoding="utf-8"))
    ids = {img["id"] for img in labels["images"] if Path(img["file_name"]).name == photo.name}
    return [(ann["bbox"], float(ann["area"])) for ann in labels["annotations"]
            if ann["image_id"] in ids and ann.get("num_keypoints", 0) >= min_keypoints]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, nargs="+", default=[REAL / "000000000785.jpg"])
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINT_DIR)
    parser.add_argument("--min-keypoints", type=int, default=10, help="skip people with fewer labelled points")
    args = parser.parse_args(argv)
    try:
        teacher = load_model("blazepose")
    except CheckpointError as exc:
        raise SystemExit(f"BlazePose is not installed: {exc}")
    rows = bundled_models(args.checkpoints)
    print("| photo, box | model | OKS, area = box | OKS, 0.53 × box | OKS, annotated area | "
          "mean pose, 0.53 × box | mean pose, annotated area |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for photo in args.photos:
        image = read_image_rgb(photo)
        for box, area in people(photo, args.min_keypoints):
            reference = run_pose(teacher, image, box).keypoints
            box_area = float(box[2] * box[3])
            for label, model in rows:
                keypoints = run_pose(model, image, box).keypoints
                oks = [agreement(reference, keypoints, box, image.shape[:2], a)
                       for a in (box_area, AREA_PER_BOX_AREA * box_area, area)]
                where = f"{photo.name}, {', '.join(f'{v:.0f}' for v in box)}"
                print(f"| {where} | {label} | {oks[0].oks:.3f} | {oks[1].oks:.3f} | {oks[2].oks:.3f} | "
                      f"{oks[1].reference_mean_pose:.3f} | {oks[2].reference_mean_pose:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
