"""Upload -> Compare tab complete, through gradio_client against the launched explorer.

    python benchmarks/explorer_latency.py [--requests 20] [--checkpoint-dir data_samples/checkpoints]

Each request uploads a different example crop (so the per-image cache never answers) and waits for
the Compare figures; prints the median and percentiles in milliseconds as a markdown table.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio_client
import numpy as np

from explorer.inputs import examples
from explorer.models import ModelSet
from explorer.serve import start_background

ROOT = Path(__file__).resolve().parents[1]


def unique_uploads(count: int, folder: Path) -> list[tuple[str, str]]:
    """``count`` distinct files (example crops, copied and renamed; bytes differ in a PNG text chunk)."""
    from PIL import Image, PngImagePlugin

    base = examples()
    files = []
    for i in range(count):
        path, box = base[i % len(base)]
        info = PngImagePlugin.PngInfo()
        info.add_text("request", str(i))
        out = folder / f"upload_{i:03d}.png"
        Image.open(path).save(out, pnginfo=info)
        files.append((str(out), box))
    return files


def start_explorer(description: str, requests: int,
                   argv: list[str] | None) -> tuple[argparse.Namespace, ModelSet, Any, str]:
    """Parse ``--requests`` (default ``requests``) and ``--checkpoint-dir``, then launch the explorer
    on those models in the background: (args, models, demo, url)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--checkpoint-dir", type=Path, default=ROOT / "data_samples" / "checkpoints")
    args = parser.parse_args(argv)
    models = ModelSet.load(args.checkpoint_dir)
    demo, url = start_background(models)
    return args, models, demo, url


def main(argv: list[str] | None = None) -> int:
    args, models, demo, url = start_explorer(__doc__, 20, argv)
    client = gradio_client.Client(url, verbose=False)
    folder = Path(tempfile.mkdtemp())
    try:
        uploads = unique_uploads(args.requests + 1, folder)
        client.predict(gradio_client.handle_file(uploads[0][0]), uploads[0][1], "student", api_name="/compare")
        times = []
        for path, box in uploads[1:]:
            start = time.perf_counter()
            client.predict(gradio_client.handle_file(path), box, "student", api_name="/compare")
            times.append(1000 * (time.perf_counter() - start))
    finally:
        demo.close()
        shutil.rmtree(folder, ignore_errors=True)
    p = np.percentile(times, [50, 90, 100])
    print(f"| requests | median ms | p90 ms | max ms | models |\n|---:|---:|---:|---:|---|\n"
          f"| {len(times)} | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} | {', '.join(models.roles())} |")
    print(f"mean {statistics.mean(times):.0f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
