"""CPU latency of a zoo model (default SDPose-T): one pass vs all cycles, attention capture cost,
and achieved GFLOP/s against this CPU's measured fp32 matmul rate.

    python benchmarks/model_latency.py                 # SDPose-T, batch 1 and 32, 2 threads
    python benchmarks/model_latency.py --malloc tuned         # reuse large blocks (see below)
    python benchmarks/model_latency.py --model synth-student --batches 1 64

Prints a markdown table (docs/models.md keeps a copy). Timings are medians over ``--repeats``
runs after ``--warmup`` runs, under ``torch.inference_mode()``; plain and attention-recording forwards alternate so that
background load hits both alike; batch >= 8 uses 3 repeats after 1 warmup.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import platform
import statistics
import time

import torch

from sdpose_core.models import build_model, count_flops
from sdpose_core.evaluate.latency import median_seconds


def tune_glibc_malloc() -> bool:
    """Keep freed large blocks in the heap instead of returning them to the OS (glibc ``mallopt``).

    By default glibc serves every block over its mmap threshold (at most 32 MB) with a fresh mmap,
    so each large activation, and each kept attention map, is page-faulted in again on every
    forward. That kernel time (``sys`` in ``time``) is most of the attention-capture cost at batch 32.
    Same effect as starting Python with MALLOC_MMAP_THRESHOLD_=2147483647
    MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=1073741824.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return all(libc.mallopt(opt, val) == 1 for opt, val in
                   ((m_mmap_threshold, 2**31 - 1), (m_trim_threshold, 2**31 - 1), (m_top_pad, 1 << 30)))
    except (OSError, AttributeError):
        return False


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of an n x n @ n x n matmul (2 n^3 flops): the practical peak of this CPU."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    sec = median_seconds(lambda: a @ b, warmup=2, repeats=repeats)
    return 2 * n ** 3 / sec / 1e9


def attention_macs(model, cycles: int, batch: int) -> int:
    """q k^T and attn v multiply-adds, which are not modules and so not in the hook count."""
    cfg = model.config
    T = cfg.num_keypoints + cfg.num_patches
    return 2 * T * T * cfg.dim * cfg.depth * cycles * batch


def bench_pair(model, batch: int, cycles: int, repeats: int, warmup: int) -> tuple[float, float]:
    """Median seconds of a plain forward and of one recording attention, timed alternately so that
    a busy machine slows both alike."""
    x = torch.randn(batch, 3, *model.config.input_size)
    runs = {False: [], True: []}
    with torch.inference_mode():
        for i in range(warmup + repeats):
            for attention in (False, True):
                t0 = time.perf_counter()
                model(x, cycles=cycles, return_attention=attention)
                if i >= warmup:
                    runs[attention].append(time.perf_counter() - t0)
    return statistics.median(runs[False]), statistics.median(runs[True])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sdpose-t")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20, help="timed runs at batch 1 (batch >= 8: 3)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--malloc", choices=("default", "tuned"), default="default",
                        help="'tuned': glibc mallopt so large blocks are reused (see tune_glibc_malloc)")
    args = parser.parse_args(argv)
    allocator = "glibc default"
    if args.malloc == "tuned":
        allocator = "glibc tuned (mallopt)" if tune_glibc_malloc() else "tuning unavailable: default"

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.model).eval()
    cfg = model.config
    peak = matmul_peak_gflops()
    macs = {c: count_flops(model, cycles=c, convention="linear_conv") for c in sorted({1, cfg.cycle_num})}

    print(f"model {cfg.name}, input {cfg.input_size[0]}x{cfg.input_size[1]}, {args.threads} threads, "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, allocator {allocator}; "
          f"fp32 matmul peak (2048^3): {peak:.1f} GFLOP/s\n")
    print("| batch | cycles | plain ms/batch | ms/image | with attention ms | attention cost | GFLOP/s | % of matmul peak |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in args.batches:
        repeats, warmup = (args.repeats, args.warmup) if batch < 8 else (3, 1)
        for cycles in sorted({1, cfg.cycle_num}):
            plain, attn = bench_pair(model, batch, cycles, repeats, warmup)
            work = 2 * (macs[cycles] * batch + attention_macs(model, cycles, batch))
            gflops = work / plain / 1e9
            print(f"| {batch} | {cycles} | {plain * 1e3:.1f} | {plain * 1e3 / batch:.1f} | {attn * 1e3:.1f} | "
                  f"{(attn / plain - 1) * 100:+.1f} % | {gflops:.1f} | {gflops / peak * 100:.0f} % |")
    print("\nGFLOP/s = 2 x (Linear+Conv multiply-adds from the hook count + attention matmul "
          "multiply-adds) / plain time.")


if __name__ == "__main__":
    main()
