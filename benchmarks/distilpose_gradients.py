"""Per-term gradients of the DistilPose loss on a trained (or collapsed) regression student.

For one batch of crops, the gradient of each loss term with respect to the head's outputs
(coordinates and sigma), plus sigma's statistics, the spread of the coordinates over the batch (a
collapsed student predicts nearly one pose for every crop) and the teacher's heatmap peaks.

    python benchmarks/distilpose_gradients.py --student RUN/model.pt --teacher TEACHER.pt --data DIR \
        [--official] [--batch 64]

``--official`` scores with the official simulated heatmap (peak 1, no sigma floor); the default is
the ``distilpose`` recipe's form. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sdpose_core import load_model
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.distill.distilpose import DISTILPOSE_INTENT, DistilPoseLoss
from sdpose_core.data.codecs import codec_for
from sdpose_core.train.targets import CodecTargets


def probe(student, teacher, batch: dict, loss: DistilPoseLoss) -> dict[str, dict[str, float]]:
    """``{term: {"coords": |grad|, "sigma": |grad|}}`` plus a ``"state"`` row of statistics."""
    with torch.no_grad():
        t = teacher(batch["image"], cycles=1)[-1]
        out = student(batch["image"], cycles=1)[-1]
    coords = out.coords.clone().requires_grad_(True)
    sigma = out.sigma.clone().requires_grad_(True)
    terms = loss(coords, sigma, out.score, out.keypoint_tokens, out.visual_tokens, t.heatmaps,
                 t.keypoint_tokens, t.visual_tokens, batch["coord_weight"], batch["coords"])
    rows = {}
    for name in ("reg_loss", "reg2hm_loss"):  # score_loss reads the teacher at detached coordinates
        gc, gs = torch.autograd.grad(terms[name], (coords, sigma), retain_graph=True, allow_unused=True)
        rows[name] = {"value": float(terms[name]), "coords": float(gc.norm()) if gc is not None else 0.0,
                      "sigma": float(gs.norm()) if gs is not None else 0.0}
    drawn = loss.reg2hm_loss.effective_sigma(out.sigma)
    rows["state"] = {"sigma_mean": float(drawn.mean()), "sigma_min": float(drawn.min()),
                     "coord_batch_std": float(out.coords.std(dim=0).mean()),
                     "teacher_peak_mean": float(t.heatmaps.flatten(2).amax(-1).mean())}
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--student", type=Path, required=True)
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--official", action="store_true", help="score with the official peak-1, unfloored Gaussian")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    student, teacher = load_model(args.student).eval(), load_model(args.teacher).eval()
    data = CocoKeypointDataset(args.data, student.config.input_size, train=False,
                               target_fn=CodecTargets(codec_for(student.config)))
    batch = collate([data[i] for i in range(min(args.batch, len(data)))])
    loss = DistilPoseLoss() if args.official else DistilPoseLoss(**dict(DISTILPOSE_INTENT))
    rows = probe(student, teacher, batch, loss)
    print(f"student {args.student}, teacher {args.teacher}, {len(batch['image'])} crops of {args.data}, "
          f"{'official' if args.official else 'distilpose recipe'} simulated heatmap\n")
    print("| term | value | ‖∂/∂coords‖ | ‖∂/∂σ‖ |\n|---|---:|---:|---:|")
    for name in ("reg_loss", "reg2hm_loss"):
        r = rows[name]
        print(f"| {name} | {r['value']:.5f} | {r['coords']:.2e} | {r['sigma']:.2e} |")
    s = rows["state"]
    print(f"\nσ drawn: mean {s['sigma_mean']:.3f}, min {s['sigma_min']:.3f} heatmap px; coordinate spread over the "
          f"batch {s['coord_batch_std']:.4f}; teacher peak mean {s['teacher_peak_mean']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
