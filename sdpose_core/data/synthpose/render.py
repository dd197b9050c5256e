"""Draw a projected body as depth-sorted shaded capsules with a face (RGB uint8, in place).

Shading trick: a capsule is one anti-aliased tapered capsule in a dark tone, then two
round-capped thick lines in mid and light tones, each narrower and nudged towards the light;
a disc is three nested circles the same way. That reads as a lit cylinder / sphere for a few
cv2 fill calls. Coordinates are passed to cv2 in 1/16-pixel fixed point (shift=4), so a joint
whose coordinates are multiples of 1/16 is drawn exactly where it is labelled.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from sdpose_core.data.synthpose.body import HEAD, LHAND, LTOE, NECK, PELVIS, RHAND, RTOE, Body2D

SHIFT = 4
ONE = 1 << SHIFT
_SHADES = ((1.0, 0.0, 0.62), (0.72, 0.2, 0.86), (0.4, 0.4, 1.07))

# Part ids written into the label buffer (0 = not the main person, FOREIGN = something else on top).
TORSO, HEAD_PART, L_UARM, R_UARM, L_FARM, R_FARM, L_THIGH, R_THIGH, L_SHIN, R_SHIN = range(1, 11)
FOREIGN = 255
# Thresholds on the facing term (-normal_z) above which a face point faces the camera.
FACE_FACING = np.array([0.05, 0.15, 0.15, -0.3, -0.3])


@dataclass
class Palette:
    """Colours (RGB floats) and clothing style of one person."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    shirt: tuple[float, float, float]
    pants: tuple[float, float, float]
    shoes: tuple[float, float, float]
    watch: tuple[float, float, float]
    long_sleeves: bool
    long_pants: bool


def random_colour(rng: np.random.Generator, lo: float = 20.0, hi: float = 235.0) -> np.ndarray:
    """A random RGB colour with a random saturation."""
    base = rng.uniform(lo, hi)
    return np.clip(base + rng.normal(0.0, 45.0, 3), 0, 255)


def sample_palette(rng: np.random.Generator) -> Palette:
    """Skin tone, hair, clothes and the left-wrist watch band."""
    tone = rng.uniform(0.35, 1.0)
    skin = np.array([235.0, 190.0, 160.0]) * tone + rng.normal(0.0, 8.0, 3)
    hair = np.array([60.0, 45.0, 30.0]) * rng.uniform(0.3, 2.2) + rng.normal(0, 6, 3)
    watch = np.array([25.0, 25.0, 30.0]) if rng.random() < 0.5 else np.array([230.0, 225.0, 210.0])
    cols = [np.clip(skin, 0, 255), np.clip(hair, 0, 255), random_colour(rng), random_colour(rng),
            random_colour(rng, 10, 120), watch]
    return Palette(*[tuple(c.tolist()) for c in cols], bool(rng.random() < 0.5), bool(rng.random() < 0.7))


def _fx(p) -> tuple[int, int]:
    return round(p[0] * ONE), round(p[1] * ONE)


def _rad(r: float) -> int:
    return max(round(r * ONE), 1)


def _shade(color, k: float) -> tuple[float, float, float]:
    b = 8.0 if k > 1 else 0.0
    return min(color[0] * k + b, 255.0), min(color[1] * k + b, 255.0), min(color[2] * k + b, 255.0)


def _tapered(img, x0, y0, x1, y1, r0, r1, color, line_type) -> None:
    """One flat tapered capsule: two end discs joined by a quad (plain floats, fixed point)."""
    x0, y0, x1, y1, r0, r1 = x0 * ONE, y0 * ONE, x1 * ONE, y1 * ONE, r0 * ONE, r1 * ONE
    cv2.circle(img, (round(x0), round(y0)), max(round(r0), 1), color, -1, line_type, SHIFT)
    cv2.circle(img, (round(x1), round(y1)), max(round(r1), 1), color, -1, line_type, SHIFT)
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy)
    if n < 1e-3:
        return
    nx, ny = -dy / n, dx / n
    quad = np.array([(round(x0 + nx * r0), round(y0 + ny * r0)), (round(x1 + nx * r1), round(y1 + ny * r1)),
                     (round(x1 - nx * r1), round(y1 - ny * r1)), (round(x0 - nx * r0), round(y0 - ny * r0))],
                    np.int32)
    cv2.fillConvexPoly(img, quad, color, line_type, SHIFT)


@functools.lru_cache(maxsize=4096)
def _tones(color: tuple[float, float, float]) -> tuple:
    """The dark, mid and light tones of a colour (cached: palettes repeat within a crop)."""
    return tuple(_shade(color, k) for _, _, k in _SHADES)


def capsule(img, p0, p1, r0, r1, color, light, ids=None, pid: int = 0) -> None:
    """A shaded tapered capsule from p0 (radius r0) to p1 (radius r1); points are (x, y)."""
    x0, y0, x1, y1 = float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1])
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy) + 1e-9
    nx, ny = -dy / n, dx / n
    if nx * light[0] + ny * light[1] < 0:
        nx, ny = -nx, -ny
    rm = 0.5 * (r0 + r1)
    tones = _tones(tuple(color))
    _tapered(img, x0, y0, x1, y1, r0, r1, tones[0], cv2.LINE_AA)
    for (rf, off, _), tone in zip(_SHADES[1:], tones[1:]):  # inner tones: round-capped thick lines
        ox, oy = nx * off * rm * ONE, ny * off * rm * ONE
        cv2.line(img, (round(x0 * ONE + ox), round(y0 * ONE + oy)), (round(x1 * ONE + ox), round(y1 * ONE + oy)),
                 tone, max(round(2 * rm * rf), 1), cv2.LINE_8, SHIFT)
    if ids is not None:
        cv2.line(ids, (round(x0 * ONE), round(y0 * ONE)), (round(x1 * ONE), round(y1 * ONE)), pid,
                 max(round(2 * rm), 1), cv2.LINE_8, SHIFT)


def blob(img, c, r, color, light, ids=None, pid: int = 0) -> None:
    """A shaded disc (head, hand)."""
    cx, cy = float(c[0]), float(c[1])
    for k, ((rf, off, _), tone) in enumerate(zip(_SHADES, _tones(tuple(color)))):
        lt = cv2.LINE_AA if k == 0 else cv2.LINE_8
        centre = (round((cx + light[0] * off * r) * ONE), round((cy + light[1] * off * r) * ONE))
        cv2.circle(img, centre, _rad(r * rf), tone, -1, lt, SHIFT)
    if ids is not None:
        cv2.circle(ids, _fx((cx, cy)), _rad(r), pid, -1, cv2.LINE_8, SHIFT)


def torso_shape(img, pts, spine, color, light, ids=None, pid: int = 0) -> None:
    """The torso: a convex hull of `pts` with a rounded, lit highlight along `spine` (2, 2)."""
    h = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
    fixed = np.round(h * ONE).astype(np.int32)
    cv2.fillConvexPoly(img, fixed, _shade(color, _SHADES[0][2]), cv2.LINE_AA, SHIFT)
    (x0, y0), (x1, y1) = spine.tolist()
    length = math.hypot(x1 - x0, y1 - y0) + 1e-6
    width = cv2.contourArea(h) / length
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    nx, ny = (-uy, ux) if -uy * light[0] + ux * light[1] >= 0 else (uy, -ux)
    for rf, off, shade in _SHADES[1:]:
        t = width * rf * 0.85  # line thickness; pull the ends in so the round caps stay inside
        cut = min(t / 2, length / 2)
        ox, oy = nx * off * width * 0.4, ny * off * width * 0.4
        a = (round((x0 + ux * cut + ox) * ONE), round((y0 + uy * cut + oy) * ONE))
        b = (round((x1 - ux * cut + ox) * ONE), round((y1 - uy * cut + oy) * ONE))
        cv2.line(img, a, b, _shade(color, shade * 0.95), max(round(t), 1), cv2.LINE_8, SHIFT)
    if ids is not None:
        cv2.fillConvexPoly(ids, fixed, pid, cv2.LINE_8, SHIFT)


def face_facing(body: Body2D) -> np.ndarray:
    """(5,) bool: nose, eyes, ears on the camera side of the head (not hidden by the skull)."""
    r = body.props.head_r * body.scale
    toward = -(body.depth[:5] - body.depth[HEAD]) / r
    return toward > FACE_FACING


def _torso_points(b: Body2D) -> np.ndarray:
    """8 corners of the torso box: shoulders and hips, each pushed forward and backward."""
    s, p, xy = b.scale, b.props, b.xy
    lat_s = (xy[5] - xy[6]) / (p.shoulder_w * s) * p.arm_r * s * 0.35
    lat_h = (xy[11] - xy[12]) / (p.hip_w * s) * p.leg_r * s * 0.8
    up = xy[NECK] - xy[PELVIS]
    up = up / (np.hypot(*up) + 1e-9)
    corners = np.stack([xy[5] + lat_s, xy[6] - lat_s, xy[11] + lat_h - up * p.leg_r * s * 0.4,
                        xy[12] - lat_h - up * p.leg_r * s * 0.4])
    fwd = b.torso_fwd[:2] * p.torso_depth * s * 0.5
    return np.concatenate([corners + fwd, corners - fwd])


def _draw_head(img, b: Body2D, pal: Palette, light, ids) -> None:
    """Neck, skull (hair at the back/top), face disc, ears, eyes, nose, mouth."""
    r = b.props.head_r * b.scale
    xy, hc = b.xy, b.xy[HEAD]
    capsule(img, (xy[5] + xy[6]) / 2, hc, r * 0.42, r * 0.4, pal.skin, light, ids, HEAD_PART)
    blob(img, hc, r, pal.hair, light, ids, HEAD_PART)
    facing = -b.head_fwd[2]
    face_r = 0.84 * r * float(np.clip((facing + 0.35) / 0.6, 0.0, 1.0)) ** 0.5
    if face_r > 0.5:
        fc = hc + b.head_fwd[:2] * r * 0.2 - b.head_up[:2] * r * 0.16
        blob(img, fc, face_r, pal.skin, light)
    vis = face_facing(b)
    ear = _shade(pal.skin, 0.8)
    for k in (3, 4):
        if vis[k]:
            cv2.circle(img, _fx(xy[k]), max(int(r * 0.24 * ONE), 1), ear, -1, cv2.LINE_AA, SHIFT)
    for k in (1, 2):
        if vis[k]:
            cv2.circle(img, _fx(xy[k]), max(int(r * 0.13 * ONE), 1), (20.0, 18.0, 22.0), -1, cv2.LINE_AA, SHIFT)
    if vis[0]:
        cv2.circle(img, _fx(xy[0]), max(int(r * 0.12 * ONE), 1), _shade(pal.skin, 0.68), -1, cv2.LINE_AA, SHIFT)
        m = xy[0] - b.head_up[:2] * r * 0.32
        half = np.array([-b.head_up[1], b.head_up[0]]) * r * 0.2
        cv2.line(img, _fx(m - half), _fx(m + half), (120.0, 40.0, 45.0), max(1, int(r * 0.09)), cv2.LINE_AA, SHIFT)


def _limb_items(b: Body2D, pal: Palette) -> list:
    """(depth, tie, draw) for arms and legs; `draw(img, light, ids)`."""
    s, p, xy, z = b.scale, b.props, b.xy.tolist(), b.depth.tolist()
    ar, lr, bias = p.arm_r * s, p.leg_r * s, 0.03 * s
    items = []
    for side, (sh, el, wr, hd, up_id, fa_id) in enumerate(((5, 7, 9, LHAND, L_UARM, L_FARM),
                                                          (6, 8, 10, RHAND, R_UARM, R_FARM))):
        fcol = pal.shirt if pal.long_sleeves else pal.skin

        def upper(img, light, ids, sh=sh, el=el, pid=up_id):
            capsule(img, xy[sh], xy[el], ar, ar * 0.85, pal.shirt, light, ids, pid)

        def fore(img, light, ids, el=el, wr=wr, hd=hd, pid=fa_id, left=side == 0, fcol=fcol):
            capsule(img, xy[el], xy[wr], ar * 0.82, ar * 0.66, fcol, light, ids, pid)
            if left:  # the watch band: the consistent left/right cue
                (ex, ey), (wx, wy) = xy[el], xy[wr]
                n = math.hypot(wx - ex, wy - ey) + 1e-9
                dx, dy = (wx - ex) / n * ar, (wy - ey) / n * ar
                capsule(img, (wx - dx * 1.3, wy - dy * 1.3), (wx - dx * 0.45, wy - dy * 0.45),
                        ar * 0.78, ar * 0.74, pal.watch, light, ids, pid)
            blob(img, xy[hd], p.hand * s * 0.55, pal.skin, light, ids, pid)
        items.append(((z[sh] + z[el]) / 2 - bias, 3 + side, upper))
        items.append(((z[el] + z[wr]) / 2 - bias, 5 + side, fore))
    for side, (hp, kn, an, toe, th_id, sh_id) in enumerate(((11, 13, 15, LTOE, L_THIGH, L_SHIN),
                                                           (12, 14, 16, RTOE, R_THIGH, R_SHIN))):
        scol = pal.pants if pal.long_pants else pal.skin

        def thigh(img, light, ids, hp=hp, kn=kn, pid=th_id):
            capsule(img, xy[hp], xy[kn], lr, lr * 0.78, pal.pants, light, ids, pid)

        def shin(img, light, ids, kn=kn, an=an, toe=toe, pid=sh_id, scol=scol):
            capsule(img, xy[kn], xy[an], lr * 0.74, lr * 0.55, scol, light, ids, pid)
            capsule(img, xy[an], xy[toe], lr * 0.5, lr * 0.42, pal.shoes, light, ids, pid)
        items.append(((z[hp] + z[kn]) / 2 - bias, 7 + side, thigh))
        items.append(((z[kn] + z[an]) / 2 - bias, 9 + side, shin))
    return items


def draw_person(img: np.ndarray, b: Body2D, pal: Palette, light: tuple[float, float],
                ids: np.ndarray | None = None) -> None:
    """Draw the body far-to-near so nearer parts hide farther ones (self-occlusion)."""
    z = b.depth
    torso_pts = _torso_points(b)
    spine = np.stack([(b.xy[11] + b.xy[12]) / 2, (b.xy[5] + b.xy[6]) / 2])

    def torso(img, light, ids):
        torso_shape(img, torso_pts, spine, pal.shirt, light, ids, TORSO)

    def head(img, light, ids):
        _draw_head(img, b, pal, light, ids)

    items = _limb_items(b, pal)
    items.append((float(np.mean(z[[5, 6, 11, 12]])), 1, torso))
    items.append((z[HEAD] - 0.06 * b.scale, 2, head))
    for _, _, draw in sorted(items, key=lambda t: (-t[0], t[1])):
        draw(img, light, ids)
