"""Why the official DistilPose objective stalls a small student, shown without a network.

The student is replaced by free parameters (per keypoint: normalised (x, y) and a raw sigma fed
through Softplus, as the DistilPose head does); the teacher by Gaussian heatmaps (sigma 2 heatmap
px, the teacher's training target) whose peak ``a`` is below 1, as a trained teacher's peaks are.
Adam minimises ``reg_loss + reg2hm_loss`` (official weights) from a start a few heatmap pixels
off, and we print where sigma and the coordinate error end for each simulated-heatmap mode.

    python benchmarks/distilpose_trap.py [--steps 400] [--offset 3] [--size 32x24]

Two facts the table shows:

* Peak mismatch: at the right place, MSE(G_sigma, a * G_2) is smallest at
  ``sigma^2 = 8 sqrt(a) - 4`` (2D, isotropic), which is 0 for a <= 0.25: a peak-1 Gaussian
  against a low teacher peak wants sigma -> 0 even when the coordinates are perfect.
* Away from the teacher peak any spread only adds error, so sigma shrinks too; once sigma is far
  below a pixel the simulated heatmap's coordinate gradient is noise from sub-pixel offsets.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from sdpose_core.distill.distilpose import Reg2HMLoss, coord_smooth_l1_loss, simulated_heatmap

# name -> (Reg2HMLoss amplitude, min_sigma)
MODES = {"official": ("one", 0.0), "teacher-peak": ("teacher_peak", 0.0),
         "min-sigma 1": ("one", 1.0), "teacher-peak + min-sigma 1": ("teacher_peak", 1.0)}


def run(mode: str, peak: torch.Tensor, size: tuple[int, int], offset_px: float, steps: int,
        seed: int = 0) -> dict[str, float]:
    """Optimise free (coords, sigma) against a teacher of peaks ``peak`` (B, K); summary dict."""
    g = torch.Generator().manual_seed(seed)
    b, k = peak.shape
    h, w = size
    gt = torch.rand(b, k, 2, generator=g) * 0.6 + 0.2  # normalised GT = teacher centre
    teacher = simulated_heatmap(gt, torch.full((b, k, 2), 2.0), size) * peak[..., None, None]
    start = gt + torch.randn(b, k, 2, generator=g) * offset_px / torch.tensor([w, h])
    coords = start.clone().requires_grad_(True)
    raw_sigma = torch.full((b, k, 2), 0.0).requires_grad_(True)  # softplus(0) = 0.69 px
    amplitude, min_sigma = MODES[mode]
    loss_fn = Reg2HMLoss(amplitude=amplitude, min_sigma=min_sigma)
    opt = torch.optim.Adam([coords, raw_sigma], lr=1e-2)
    weight = torch.ones(b, k, 2)
    for _ in range(steps):
        sigma = F.softplus(raw_sigma)
        loss = coord_smooth_l1_loss(coords, gt, weight) + loss_fn(coords, sigma, teacher, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sigma = F.softplus(raw_sigma).detach()
    err = ((coords.detach() - gt) * torch.tensor([w, h])).norm(dim=-1)  # heatmap px
    err0 = ((start - gt) * torch.tensor([w, h])).norm(dim=-1)
    return {"sigma_mean": float(loss_fn.effective_sigma(sigma).mean()), "err_start": float(err0.mean()),
            "err_end": float(err.mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--offset", type=float, default=3.0, help="start error, heatmap px (std per axis)")
    p.add_argument("--size", default="32x24", help="heatmap HxW (ours 32x24, official 64x48)")
    args = p.parse_args()
    torch.set_num_threads(1)
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"heatmap {size[0]}x{size[1]}, start offset {args.offset} px, {args.steps} Adam steps, lr 1e-2\n")
    print("| simulated heatmap | teacher peak | sigma end (px) | error start (px) | error end (px) |")
    print("|---|---|---|---|---|")
    for mode in MODES:
        for a in (1.0, 0.68, 0.3, 0.15):
            r = run(mode, torch.full((16, 17), a), size, args.offset, args.steps)
            print(f"| {mode} | {a} | {r['sigma_mean']:.3f} | {r['err_start']:.2f} | {r['err_end']:.2f} |")


if __name__ == "__main__":
    main()
