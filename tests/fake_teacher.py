"""A stand-in real-photo teacher for tests: known keypoints, clean Gaussian heatmaps in its own frame.

It has the shape of an external teacher such as BlazePose: ``teacher_view(image, bbox)`` returns a
``TeacherView`` whose 64x64 heatmaps cover a square around the person box (not our crop), so the
tests exercise the same seam and the heatmap warping a real teacher goes through.
"""
from __future__ import annotations

import numpy as np

from sdpose_core.models.outputs import TeacherView

SIDE = 64


class BlobTeacher:
    """Keypoints at fixed fractions of the box; heatmaps = Gaussians (sigma 1.5 heatmap px) at them."""

    name = "blob-teacher"
    detects_person = False

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.fractions = np.stack([rng.uniform(0.25, 0.75, 17), rng.uniform(0.15, 0.85, 17)], 1)  # (17, 2)
        self.calls = 0

    def teacher_view(self, image: np.ndarray, bbox=None) -> TeacherView:
        self.calls += 1
        h, w = image.shape[:2]
        x, y, bw, bh = (0.0, 0.0, float(w), float(h)) if bbox is None else (float(v) for v in bbox)
        points = np.array([x, y]) + self.fractions * np.array([bw, bh])  # (17, 2) image px
        side = max(bw, bh)
        x0, y0 = x + (bw - side) / 2, y + (bh - side) / 2
        s = side / SIDE
        frame = np.array([[s, 0.0, x0], [0.0, s, y0]])  # heatmap px -> image px
        hp = (points - [x0, y0]) / s
        yy, xx = np.mgrid[0:SIDE, 0:SIDE]
        maps = np.exp(-((xx[None] - hp[:, :1, None]) ** 2 + (yy[None] - hp[:, 1:, None]) ** 2) / (2 * 1.5 ** 2))
        return TeacherView(points, np.full(17, 0.9), maps.astype(np.float32), frame, np.array([x, y, bw, bh]))


def peak_in_crop(heatmaps: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Argmax of each (K, h, w) heatmap, in crop pixels (heatmap px x stride): (K, 2)."""
    k, h, w = heatmaps.shape
    idx = heatmaps.reshape(k, -1).argmax(1)
    return np.stack([idx % w * input_size[1] / w, idx // w * input_size[0] / h], 1).astype(np.float64)
