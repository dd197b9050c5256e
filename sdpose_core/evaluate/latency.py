"""CPU/GPU latency of a pose model's forward pass (median of repeated runs, after warm-up)."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import nn


def median_seconds(fn: Callable[[], object], warmup: int = 3, repeats: int = 20) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def model_latency_ms(model: nn.Module, batch: int = 1, cycles: int = 1, warmup: int = 3,
                     repeats: int = 20, threads: int | None = None) -> float:
    """Median milliseconds of one ``model(images, cycles=cycles)`` call at its own input size, on
    ``threads`` CPU threads (default: torch's current setting; restored afterwards)."""
    h, w = model.config.input_size
    images = torch.randn(batch, 3, h, w)
    model.eval()
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        return 1000.0 * median_seconds(lambda: model(images, cycles=cycles), warmup, repeats)
    finally:
        torch.set_num_threads(before)
