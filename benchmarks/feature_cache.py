"""Feature cache benchmark: student steps with and without the cached frozen backbone / teacher.

    python benchmarks/feature_cache.py                       # sdpose, distilpose, dwpose-s1, 60 steps each
    python benchmarks/feature_cache.py --recipes simcc --steps 100

For each recipe, two runs from the same seed on the reproduction's training set (the bundled
backbone and teachers): one computes everything each step, one reads ``OUT/cache``
(``sdpose_core/train/feature_cache.py``; built on first use, its build time reported). Prints the
milliseconds per step of both, the speed-up, and how far apart the two runs end: the largest
difference of any logged loss term over the steps and of any student weight after them.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from sdpose_core.train.trainer import TrainOptions, Trainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from reproduce import make_data  # noqa: E402
from reproduce_jobs import BUNDLED, Budget  # noqa: E402

TEACHER_OF = {"distilpose": "teacher", "distilpose-official": "teacher", "dwpose-s1": "simcc-teacher",
              "nkd": "simcc-teacher", "vitkd": "simcc-teacher", "mgd": "simcc-teacher"}


def run(recipe: str, data: dict[str, Path], steps: int, cache: Path | None, out: Path) -> tuple[float, list, dict, float]:
    """One epoch of ``steps`` steps; returns (s per step, per-step totals, final weights, setup s)."""
    start = time.perf_counter()
    teacher = BUNDLED[TEACHER_OF[recipe]] if recipe in TEACHER_OF else None
    trainer = Trainer(TrainOptions(recipe=recipe, data=data["train"], out=out, teacher=teacher,
                                   backbone=BUNDLED["backbone"], augment="flip", epochs=1, batch_size=32,
                                   lr=3e-3, max_steps_per_epoch=steps, progress=False, feature_cache=cache))
    setup = time.perf_counter() - start
    losses: list[float] = []
    objective = trainer.objective
    forward = objective.forward

    def logged(*args, **kwargs):
        terms = forward(*args, **kwargs)
        losses.append(float(terms["total"].detach()))
        return terms

    objective.forward = logged
    start = time.perf_counter()
    trainer.train_epoch(0)
    per_step = (time.perf_counter() - start) / steps
    return per_step, losses, {k: v.clone() for k, v in trainer.student.state_dict().items()}, setup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["sdpose", "distilpose", "dwpose-s1"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = make_data(args.out, Budget())
    rows = []
    print(f"{'recipe':<12} {'plain ms/step':>14} {'cached ms/step':>15} {'speed-up':>9} {'cache setup s':>14} "
          f"{'max |d loss|':>13} {'max |d weight|':>15}")
    for recipe in args.recipes:
        scratch = args.out / "cache_bench"
        plain = run(recipe, data, args.steps, None, scratch / f"{recipe}-plain")
        fast = run(recipe, data, args.steps, args.out / "cache", scratch / f"{recipe}-cached")
        d_loss = max(abs(a - b) for a, b in zip(plain[1], fast[1]))
        d_weight = max(float((plain[2][k].float() - fast[2][k].float()).abs().max()) for k in plain[2])
        row = dict(recipe=recipe, steps=args.steps, plain_ms=plain[0] * 1e3, cached_ms=fast[0] * 1e3,
                   speedup=plain[0] / fast[0], cache_setup_s=fast[3], max_loss_diff=d_loss, max_weight_diff=d_weight,
                   final_loss=(plain[1][-1], fast[1][-1]))
        rows.append(row)
        print(f"{recipe:<12} {row['plain_ms']:>14.0f} {row['cached_ms']:>15.0f} {row['speedup']:>8.2f}x "
              f"{row['cache_setup_s']:>14.1f} {d_loss:>13.2e} {d_weight:>15.2e}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
