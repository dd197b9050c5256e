"""Time the Live distill tab's training loop and report how far the student converges.

    python benchmarks/live_distill.py [--teacher blazepose] [--image ../shared/real/coco/000000000785.jpg]
                                      [--steps 200] [--student NAME] [--threads N] [--box x,y,w,h]

Prints one line per setting: seconds, ms per step, training loss (mean of the first / last 10
steps), the loss on the plain crop at step 0 and at the end, and the OKS agreement between the
student's and the teacher's keypoints at step 0 and at the end (area = the person box).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import torch

    from sdpose_core.evaluate.inference import box_area, oks_agreement
    from sdpose_core.train.live import live_distill

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="blazepose", help="zoo name, checkpoint or blazepose")
    p.add_argument("--image", type=Path, default=ROOT.parent / "shared" / "real" / "coco" / "000000000785.jpg")
    p.add_argument("--box", help="person box x,y,w,h (default: the whole photo)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--student", help="zoo name (default: the tiny CNN of sdpose_core.train.live)")
    p.add_argument("--threads", type=int, nargs="*", default=[1, torch.get_num_threads()],
                   help="torch threads while training, one run each (default: 1 and all)")
    args = p.parse_args(argv)
    box = [float(v) for v in args.box.split(",")] if args.box else None
    print(f"cores {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}; "
          f"{args.image.name}, teacher {args.teacher}, {args.steps} steps")
    for threads in args.threads:
        r = live_distill(args.teacher, str(args.image), steps=args.steps, bbox=box, student=args.student,
                         threads=threads)
        area = box_area(r.teacher.bbox, (0, 0))
        oks0, oks1 = (oks_agreement(r.teacher.keypoints, s.keypoints, area) for s in (r.snapshots[0], r.snapshots[-1]))
        losses = np.asarray(r.losses)
        print(f"threads {threads}: {r.student} ({r.recipe}) {r.seconds:.1f} s, {1000 * r.seconds_per_step:.0f} ms/step; "
              f"train loss {losses[:10].mean():.4g} -> {losses[-10:].mean():.4g}; plain-crop loss "
              f"{r.snapshots[0].loss:.4g} -> {r.snapshots[-1].loss:.4g}; OKS vs teacher {oks0:.3f} -> {oks1:.3f}")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
