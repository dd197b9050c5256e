"""SynthPose generation speed on ONE CPU core, PNG writing included; prints a markdown table.

    python benchmarks/synth_speed.py   # 128x96, best of 7 runs of 300 crops, into /dev/shm

The process pins itself to one core (sched_setaffinity, like `taskset -c 0`), sets
OMP/MKL/OpenBLAS threads to 1 before numpy loads, and calls cv2.setNumThreads(1).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from sdpose_core.data.synthpose import DIFFICULTIES, generate_dataset  # noqa: E402


def pin_one_core() -> str:
    """Restrict this process to a single CPU; return a description."""
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "unpinned (no sched_setaffinity)"


def crops_per_second(difficulty: str, num: int, size: tuple[int, int], repeat: int,
                     where: str | None) -> tuple[float, float, float]:
    """Best-of-`repeat` crops/s (wall clock, and per CPU second of this process) writing a
    full dataset, and the mean PNG size in KiB. CPU time is the fairer number on a shared box."""
    wall = cpu = 0.0
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        for r in range(repeat):
            out = Path(tmp) / f"run{r}"
            t0, c0 = time.perf_counter(), time.process_time()
            generate_dataset(out, num=num, seed=r, size=size, difficulty=difficulty, progress=False)
            wall = max(wall, num / (time.perf_counter() - t0))
            cpu = max(cpu, num / (time.process_time() - c0))
        kib = sum(p.stat().st_size for p in (out / "images").iterdir()) / num / 1024
    return wall, cpu, kib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=300)
    ap.add_argument("--size", default="128x96", help="HxW")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the throw-away datasets go (default: /dev/shm when present, so the "
                         "disk is not measured; else the system temp folder)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    where = pin_one_core()
    print(f"SynthPose speed: {size[0]}x{size[1]}, {args.num} crops per run, best of {args.repeat}, "
          f"1 core ({where}), files in {args.dir or tempfile.gettempdir()}, "
          f"python {platform.python_version()}, cv2 {cv2.__version__}\n")
    print(f"load average before: {os.getloadavg()[0]:.2f}\n" if hasattr(os, "getloadavg") else "")
    print("| difficulty | crops/s, wall clock | crops/s, per CPU second | ms CPU / crop | PNG KiB / crop |")
    print("|---|---:|---:|---:|---:|")
    for name in DIFFICULTIES:
        wall, cpu, kib = crops_per_second(name, args.num, size, args.repeat, args.dir)
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {1000 / cpu:.2f} | {kib:.1f} |")


if __name__ == "__main__":
    main()
