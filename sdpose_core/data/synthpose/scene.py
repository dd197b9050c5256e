"""Scene pieces around the main person: textured background, clutter, limb-like distractors,
occluders, and the camera-ish post-processing (lighting, blur, noise)."""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from sdpose_core.data.synthpose.config import SynthConfig
from sdpose_core.data.synthpose.render import FOREIGN, ONE, SHIFT, Palette, blob, capsule, random_colour


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour + rng.normal(0.0, amount, 3), 0, 255)


def scene_colours(rng: np.random.Generator, pal: Palette, cfg: SynthConfig, n: int) -> np.ndarray:
    """(n, 3) colours for the background; with `cfg.camouflage` odds they mimic the person."""
    person = np.stack([pal.skin, pal.shirt, pal.pants, pal.hair])
    out = np.empty((n, 3))
    for i in range(n):
        if rng.random() < cfg.camouflage:
            out[i] = _jitter(rng, person[rng.integers(4)], 22.0)
        else:
            out[i] = random_colour(rng)
    return out


def noise_field(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard-normal float32 noise: a random window of a fixed table (drawing fresh normals
    per pixel would cost more than rendering the whole crop)."""
    n = int(np.prod(shape))
    table = _noise_table()
    if n > table.size // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, table.size - n))
    return table[start:start + n].reshape(shape)


@functools.lru_cache(maxsize=1)
def _noise_table() -> np.ndarray:
    return np.random.default_rng(20240601).standard_normal(1 << 20, dtype=np.float32)


def background(rng: np.random.Generator, size: tuple[int, int], colours: np.ndarray) -> np.ndarray:
    """Smooth two-colour noise texture, optionally split by a slanted floor line (uint8 RGB)."""
    h, w = size
    gh, gw = rng.integers(2, 7, 2)
    t = cv2.resize(rng.random((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(noise_field(rng, (h // 2, w // 2)), (w, h), interpolation=cv2.INTER_NEAREST)
    t = t + fine * np.float32(rng.uniform(0.01, 0.06))
    a, b = colours[0].astype(np.float32), colours[1].astype(np.float32)
    img = cv2.merge([a[c] + t * (b[c] - a[c]) for c in range(3)])
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # floor / wall split with a slanted horizon
        y0, y1 = rng.uniform(0.45, 0.95, 2) * h
        floor = np.array([[0, y0], [w, y1], [w, h + 1], [0, h + 1]]) * ONE
        cv2.fillConvexPoly(img, np.round(floor).astype(np.int32), _rgb(colours[2]), cv2.LINE_AA, SHIFT)
    return img


SHAPE_DRAWS = 16  # uniforms consumed by one random shape


def _fixed(pts: list) -> np.ndarray:
    return np.array([(round(x * ONE), round(y * ONE)) for x, y in pts], np.int32)


def random_shape(u: list[float], centre, radius: float) -> tuple:
    """Geometry of one shape (polygon, ellipse, thick line, rotated box) from 16 uniforms."""
    cx, cy = float(centre[0]), float(centre[1])
    kind = int(u[0] * 4)
    if kind == 0:  # convex-ish polygon with 3..6 corners
        k = 3 + int(u[1] * 4)
        ang = sorted(v * 2 * math.pi for v in u[2:2 + k])
        rad = [radius * (0.5 + 0.5 * v) for v in u[8:8 + k]]
        return "poly", _fixed([(cx + math.cos(a) * r, cy + math.sin(a) * r) for a, r in zip(ang, rad)])
    if kind == 1:
        axes = (round(radius * (0.4 + 0.6 * u[1]) * ONE), round(radius * (0.2 + 0.6 * u[2]) * ONE))
        return "ellipse", ((round(cx * ONE), round(cy * ONE)), axes, u[3] * 180.0)
    if kind == 2:
        a, length = u[1] * math.pi, radius * (0.8 + 0.8 * u[2])
        dx, dy = math.cos(a) * length, math.sin(a) * length
        ends = _fixed([(cx - dx, cy - dy), (cx + dx, cy + dy)])
        return "line", (tuple(ends[0].tolist()), tuple(ends[1].tolist()), max(1, int(radius * (0.15 + 0.3 * u[3]))))
    hw, hh, a = radius * (0.25 + 0.55 * u[1]), radius * (0.25 + 0.55 * u[2]), u[3] * math.pi
    c, s = math.cos(a), math.sin(a)
    corners = [(cx + c * x - s * y, cy + s * x + c * y) for x, y in ((-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh))]
    return "poly", _fixed(corners)


def paint_shape(canvas: np.ndarray, shape: tuple, colour, line_type: int = cv2.LINE_AA) -> None:
    """Fill a shape from :func:`random_shape`."""
    kind, g = shape
    if kind == "poly":
        cv2.fillConvexPoly(canvas, g, colour, line_type, SHIFT)
    elif kind == "ellipse":
        cv2.ellipse(canvas, g[0], g[1], g[2], 0, 360, colour, -1, line_type, SHIFT)
    else:
        cv2.line(canvas, g[0], g[1], colour, g[2], line_type, SHIFT)


def _rgb(c: np.ndarray) -> tuple[float, float, float]:
    return float(c[0]), float(c[1]), float(c[2])


def stripes(img: np.ndarray, rng: np.random.Generator, colour: np.ndarray) -> None:
    """Parallel boards / tiles across the whole crop."""
    h, w = img.shape[:2]
    a = rng.uniform(0, np.pi)
    d, n = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    gap = rng.uniform(6, 20)
    thick = max(1, int(gap * rng.uniform(0.1, 0.5)))
    c, half = np.array([w / 2, h / 2]), math.hypot(h, w) / 2
    col = _rgb(colour)
    for k in range(-int(half / gap) - 1, int(half / gap) + 2):
        o = c + n * (k * gap)
        cv2.line(img, _fx(o - d * half), _fx(o + d * half), col, thick, cv2.LINE_AA, SHIFT)


def _fx(p: np.ndarray) -> tuple[int, int]:
    return int(p[0] * ONE), int(p[1] * ONE)


def clutter(img: np.ndarray, rng: np.random.Generator, n: int, colours: np.ndarray) -> None:
    """`n` random flat shapes in the scene colours, some reaching past the crop border."""
    h, w = img.shape[:2]
    u = rng.random((n, SHAPE_DRAWS + 4)).tolist()
    cols = [_rgb(c) for c in colours]
    for row in u:
        centre = ((row[0] * 1.2 - 0.1) * w, (row[1] * 1.2 - 0.1) * h)
        shape = random_shape(row[4:], centre, (0.06 + 0.24 * row[2]) * w)
        paint_shape(img, shape, cols[int(row[3] * len(cols))])


def limb_clutter(img: np.ndarray, rng: np.random.Generator, n: int, colours: np.ndarray,
                 pal: Palette, scale: float, light) -> None:
    """Loose arm/leg-like capsules (half with a hand) in the person's size and colours."""
    h, w = img.shape[:2]
    choices = [pal.skin, pal.shirt, pal.pants, colours[0]]
    for row, jit in zip(rng.random((n, 7)).tolist(), rng.normal(0.0, 15.0, (n, 3))):
        x0, y0 = (row[0] * 1.2 - 0.1) * w, (row[1] * 1.2 - 0.1) * h
        a, length = row[2] * 2 * math.pi, scale * (0.12 + 0.14 * row[3])
        x1, y1 = x0 + math.cos(a) * length, y0 + math.sin(a) * length
        r = scale * (0.025 + 0.025 * row[4])
        col = np.clip(choices[int(row[5] * 4)] + jit, 0, 255)
        capsule(img, (x0, y0), (x1, y1), r, r * 0.8, tuple(col.tolist()), light)
        if row[6] < 0.5:
            blob(img, (x1 + math.cos(a) * r, y1 + math.sin(a) * r), r * 0.9, pal.skin, light)


def occluders(img: np.ndarray, ids: np.ndarray, rng: np.random.Generator, n: int,
              targets: np.ndarray, colours: np.ndarray, scale: float) -> None:
    """`n` shapes each dropped over a random target point; marked FOREIGN in `ids`."""
    for _ in range(n):
        centre = targets[rng.integers(len(targets))] + rng.normal(0, 0.03 * scale, 2)
        shape = random_shape(rng.random(SHAPE_DRAWS).tolist(), centre, scale * rng.uniform(0.06, 0.14))
        colour = colours[rng.integers(len(colours))]
        paint_shape(img, shape, _rgb(colour))
        paint_shape(ids, shape, FOREIGN, cv2.LINE_8)


def post_process(img: np.ndarray, rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    """Light ramp, colour cast, blur, sensor noise and gamma; uint8 RGB in and out."""
    h, w = img.shape[:2]
    k = cfg.lighting
    a = rng.uniform(0, 2 * np.pi)
    cx, cy = np.float32(np.cos(a) * k * 1.2 / w), np.float32(np.sin(a) * k * 1.2 / h)
    ramp = np.arange(w, dtype=np.float32)[None, :] * cx + np.arange(h, dtype=np.float32)[:, None] * cy
    ramp += np.float32(1.0 + k * rng.uniform(-0.6, 0.6) - 0.5 * (cx * w + cy * h))
    cast = 1.0 + k * rng.uniform(-0.25, 0.25, 3)
    gain = cv2.merge([ramp * np.float32(c) for c in cast])
    out = cv2.multiply(img.astype(np.float32), gain)
    sigma = rng.uniform(*cfg.blur_sigma)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    std = rng.uniform(*cfg.noise_std)
    if std > 0.5:
        out = cv2.scaleAdd(noise_field(rng, out.shape), float(std), out)
    gamma = float(np.exp(k * rng.uniform(-0.5, 0.5)))
    lut = np.clip(((np.arange(256) / 255.0) ** gamma) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(cv2.convertScaleAbs(out), lut)
