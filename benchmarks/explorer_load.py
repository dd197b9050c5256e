"""Load: N concurrent requests (Compare + Token attention) against the launched explorer.

    python benchmarks/explorer_load.py [--requests 50] [--checkpoint-dir data_samples/checkpoints]

Every request is sent at once from its own client thread with a distinct upload (no cache hits).
Reports errors (target 0), latency percentiles, and the process's peak resident memory. The app
runs CONCURRENCY requests at a time and queues up to QUEUE_SIZE (explorer/app.py), so 50 requests
must all be served, most of them after waiting.
"""
from __future__ import annotations

import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio_client
import numpy as np

from explorer.app import CONCURRENCY, QUEUE_SIZE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explorer_latency import start_explorer, unique_uploads  # noqa: E402


def one_request(url: str, index: int, path: str, box: str) -> tuple[bool, float, str]:
    """Compare for even indices, Token attention for odd ones; (ok, ms, error)."""
    start = time.perf_counter()
    try:
        client = gradio_client.Client(url, verbose=False)
        image = gradio_client.handle_file(path)
        if index % 2 == 0:
            client.predict(image, box, "student", api_name="/compare")
        else:
            client.predict(image, box, "student", 2, 3, "mean", "left_wrist", api_name="/attention")
        return True, 1000 * (time.perf_counter() - start), ""
    except Exception as err:  # an error is a result here, counted and shown
        return False, 1000 * (time.perf_counter() - start), f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> int:
    args, _, demo, url = start_explorer(__doc__, 50, argv)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with tempfile.TemporaryDirectory() as folder:
            uploads = unique_uploads(args.requests, Path(folder))
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.requests) as pool:
                results = list(pool.map(lambda i: one_request(url, i, *uploads[i]), range(args.requests)))
            wall = time.perf_counter() - start
    finally:
        demo.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = np.array([ms for ok, ms, _ in results if ok])
    errors = [e for ok, _, e in results if not ok]
    p = np.percentile(times, [50, 90, 99]) if len(times) else [float("nan")] * 3
    print(f"| requests | errors | p50 ms | p90 ms | p99 ms | wall s | peak RSS MB (before load) | concurrency / queue |\n"
          f"|---:|---:|---:|---:|---:|---:|---:|---|\n"
          f"| {args.requests} | {len(errors)} | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} | {wall:.1f} | "
          f"{peak:.0f} ({rss_before:.0f}) | {CONCURRENCY} / {QUEUE_SIZE} |")
    for e in errors[:5]:
        print("error:", e, file=sys.stderr)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
