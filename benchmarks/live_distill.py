"""Time the Live distill tab's training loop and report how far the student converges.

    python benchmarks/live_distill.py [--teacher blazepose] [--image ../shared/real/coco/000000000785.jpg]
                                      [--steps 200] [--student NAME] [--threads N] [--box x,y,w,h]
                                      [--area PX2] [--box-errors]

Prints one line per setting: seconds, ms per step, training loss (mean of the first / last 10
steps), the loss on the plain crop at step 0 and at the end, and the OKS agreement between the
student's and the teacher's keypoints at step 0 and at the end, with the mean pose's OKS against
the teacher beside it (``LiveDistillResult.agreement_at``, the Compare tab's convention: area =
``--area``, the annotated person area, else 0.53 x the teacher's person box).

``--box-errors`` first prints the teacher's median keypoint error (px) against the photo's COCO
labels (``test_coco.json`` beside it) on the whole photo, with its own box (the live default) and
with the labelled box.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def box_errors(teacher_name: str, image_path: Path) -> str:
    """The teacher's median keypoint error against the labels of the photo's best-labelled person."""
    import json

    import numpy as np

    from sdpose_core.io.images import load_user_image
    from sdpose_core.train.teacher import as_teacher, look

    coco = json.loads((image_path.parent / "test_coco.json").read_text(encoding="utf-8"))
    ids = {i["id"] for i in coco["images"] if i["file_name"] == image_path.name}
    ann = max((a for a in coco["annotations"] if a["image_id"] in ids), key=lambda a: a["num_keypoints"])
    labels = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
    seen = labels[:, 2] > 0
    image, teacher = load_user_image(image_path), as_teacher(teacher_name)
    parts = []
    for name, box in (("whole photo", "image"), ("own box", "teacher"), ("labelled box", ann["bbox"])):
        view = look(teacher, image, box)
        error = np.linalg.norm(view.keypoints[seen] - labels[seen, :2], axis=1)
        parts.append(f"{name} {np.median(error):.1f} px")
    return f"{teacher_name} median keypoint error vs {int(seen.sum())} COCO labels: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from sdpose_core.train.live import live_distill

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="blazepose", help="zoo name, checkpoint or blazepose")
    p.add_argument("--image", type=Path, default=ROOT.parent / "shared" / "real" / "coco" / "000000000785.jpg")
    p.add_argument("--box", help="person box x,y,w,h (default: the whole photo)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--area", type=float, help="annotated person area in px² (default: 0.53 x the person box)")
    p.add_argument("--box-errors", action="store_true", help="first the teacher's error on the whole photo / boxes")
    p.add_argument("--student", help="zoo name (default: the tiny CNN of sdpose_core.train.live)")
    p.add_argument("--threads", type=int, nargs="*", default=[1, torch.get_num_threads()],
                   help="torch threads while training, one run each (default: 1 and all)")
    args = p.parse_args(argv)
    box = [float(v) for v in args.box.split(",")] if args.box else None
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}; "
          f"{args.image.name}, teacher {args.teacher}, {args.steps} steps")
    if args.box_errors:
        print(box_errors(args.teacher, args.image))
    for threads in args.threads:
        r = live_distill(args.teacher, str(args.image), steps=args.steps, bbox=box, student=args.student,
                         threads=threads)
        first, last = (r.agreement_at(s, args.area) for s in (r.snapshots[0], r.snapshots[-1]))
        losses = np.asarray(r.losses)
        print(f"threads {threads}: {r.student} ({r.recipe}) {r.seconds:.1f} s, {1000 * r.seconds_per_step:.0f} ms/step; "
              f"train loss {losses[:10].mean():.4g} -> {losses[-10:].mean():.4g}; plain-crop loss "
              f"{r.snapshots[0].loss:.4g} -> {r.snapshots[-1].loss:.4g}; OKS vs teacher {first.oks:.3f} -> "
              f"{last.oks:.3f}, mean pose {first.reference_mean_pose:.3f} ({first.area.describe()}; "
              f"box {', '.join(f'{v:.1f}' for v in r.teacher.bbox)})")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
