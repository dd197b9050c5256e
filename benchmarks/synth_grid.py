"""Picture grid of SynthPose crops: rows = difficulty, keypoints and skeleton drawn.

    python benchmarks/synth_grid.py --out docs/img/synthpose_grid.png

Filled dots: visible (v=2); hollow rings: occluded (v=1); v=0 (outside the crop) not drawn.
Left-side joints orange, right-side blue, centre green. Uses cv2 and PIL only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from sdpose_core.data.coco_meta import KEYPOINT_NAMES, SKELETON
from sdpose_core.data.synthpose import DIFFICULTIES, render_sample

UPSCALE = 3
COLOURS = {"left": (255, 150, 0), "right": (0, 140, 255), "centre": (60, 220, 60)}


def _side(k: int) -> str:
    name = KEYPOINT_NAMES[k]
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "centre"


def annotate(image: np.ndarray, kp: np.ndarray, bbox: list[float]) -> np.ndarray:
    """Upscale a crop and draw its box, skeleton and keypoints (RGB in, RGB out)."""
    h, w = image.shape[:2]
    big = cv2.resize(image, (w * UPSCALE, h * UPSCALE), interpolation=cv2.INTER_NEAREST)
    p = (kp[:, :2] + 0.5) * UPSCALE - 0.5  # pixel centres stay pixel centres after the resize
    x, y, bw, bh = np.array(bbox) * UPSCALE
    cv2.rectangle(big, (int(x), int(y)), (int(x + bw), int(y + bh)), (255, 255, 255), 1)
    for a, b in SKELETON:
        if kp[a, 2] > 0 and kp[b, 2] > 0:
            col = COLOURS[_side(b)] if _side(a) == _side(b) else COLOURS["centre"]
            cv2.line(big, tuple(int(v) for v in p[a]), tuple(int(v) for v in p[b]), col, 1, cv2.LINE_AA)
    for k in range(len(kp)):
        if kp[k, 2] > 0:
            thick = -1 if kp[k, 2] == 2 else 1
            cv2.circle(big, tuple(int(v) for v in p[k]), 3, COLOURS[_side(k)], thick, cv2.LINE_AA)
    return big


def make_grid(seed: int, per_row: int, size: tuple[int, int], annotate_points: bool = True) -> np.ndarray:
    """Rows of `per_row` crops, one row per difficulty, with a label strip on the left."""
    rows = []
    for name in DIFFICULTIES:
        tiles = []
        for i in range(per_row):
            img, kp, bbox = render_sample(seed, i, size, name)
            tile = annotate(img, kp, bbox) if annotate_points else cv2.resize(
                img, (size[1] * UPSCALE, size[0] * UPSCALE), interpolation=cv2.INTER_NEAREST)
            tiles.append(cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
        row = np.concatenate(tiles, 1)
        label = np.zeros((row.shape[0], 90, 3), np.uint8)
        cv2.putText(label, name, (6, row.shape[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([label, row], 1))
    return np.concatenate(rows, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img/synthpose_grid.png"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-row", type=int, default=8)
    ap.add_argument("--raw", action="store_true", help="crops only, no keypoints drawn")
    args = ap.parse_args()
    grid = make_grid(args.seed, args.per_row, (128, 96), not args.raw)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the docs picture small (the crops' sensor noise defeats PNG)
    Image.fromarray(grid).quantize(256, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()
