"""Kinematic body: proportions, anatomical joint limits, 3D pose sampling and projection.

Camera frame: x to the right of the image, y down, z away from the camera (depth), so a smaller
z is nearer. A body facing the camera has its left side at image +x (as when you face someone).
"""
from __future__ import annotations

import functools
import math

from dataclasses import dataclass, fields

import numpy as np

# Extra points stored after the 17 COCO keypoints (same order as coco_meta.KEYPOINT_NAMES).
NECK, HEAD, LHAND, RHAND, LTOE, RTOE, PELVIS = range(17, 24)
NUM_POINTS = 24

_U0 = np.array([0.0, -1.0, 0.0])  # up
_L0 = np.array([1.0, 0.0, 0.0])   # the person's left when facing the camera
_F0 = np.array([0.0, 0.0, -1.0])  # forward (towards the camera)


@dataclass(frozen=True)
class Proportions:
    """Segment lengths and limb radii as fractions of the standing height."""

    head_r: float = 0.064
    neck: float = 0.035
    torso: float = 0.29
    shoulder_w: float = 0.225
    hip_w: float = 0.16
    upper_arm: float = 0.165
    forearm: float = 0.145
    hand: float = 0.05
    thigh: float = 0.235
    shin: float = 0.225
    foot: float = 0.075
    torso_depth: float = 0.11
    arm_r: float = 0.031
    leg_r: float = 0.045

    def jittered(self, rng: np.random.Generator, amount: float) -> "Proportions":
        """Each measure scaled by an independent factor in [1 - amount, 1 + amount]."""
        values = _as_array(self) * rng.uniform(1.0 - amount, 1.0 + amount, len(fields(self)))
        return Proportions(*values.tolist())


@dataclass(frozen=True)
class JointLimits:
    """Anatomical ranges in degrees (neutral standing pose = the `neutral` values)."""

    shoulder_flex: tuple[float, float] = (-50.0, 170.0)  # forward swing of the upper arm
    shoulder_abd: tuple[float, float] = (-25.0, 150.0)   # sideways raise (negative: across body)
    elbow: tuple[float, float] = (0.0, 145.0)
    hip_flex: tuple[float, float] = (-25.0, 110.0)
    hip_abd: tuple[float, float] = (-12.0, 45.0)
    knee: tuple[float, float] = (0.0, 140.0)
    torso_lean: tuple[float, float] = (-15.0, 40.0)
    torso_side: tuple[float, float] = (-20.0, 20.0)
    torso_twist: tuple[float, float] = (-25.0, 25.0)
    head_yaw: tuple[float, float] = (-45.0, 45.0)
    head_pitch: tuple[float, float] = (-25.0, 30.0)
    head_roll: tuple[float, float] = (-15.0, 15.0)


NEUTRAL = dict(shoulder_flex=0.0, shoulder_abd=8.0, elbow=12.0, hip_flex=0.0, hip_abd=4.0,
               knee=4.0, torso_lean=0.0, torso_side=0.0, torso_twist=0.0, head_yaw=0.0,
               head_pitch=0.0, head_roll=0.0)


@dataclass
class Body3D:
    """A posed body: points (24, 3) in height units, head axes, and the proportions used."""

    points: np.ndarray
    head_fwd: np.ndarray
    head_up: np.ndarray
    torso_fwd: np.ndarray
    yaw_deg: float
    props: Proportions


@dataclass
class Body2D:
    """A projected body: xy (24, 2) pixels, depth (24,) pixels, projected head axes, scale."""

    xy: np.ndarray
    depth: np.ndarray
    head_fwd: np.ndarray   # 3D unit vector rotated into the image frame (x, y, z)
    head_up: np.ndarray
    torso_fwd: np.ndarray
    scale: float           # pixels per height unit
    props: Proportions
    yaw_deg: float         # body facing: 0 = facing the camera


def _rot(axis: np.ndarray, deg: float) -> np.ndarray:
    """Rotation matrix about a unit axis (Rodrigues)."""
    a = math.radians(deg)
    x, y, z = axis.tolist()
    c, s = math.cos(a), math.sin(a)
    t = 1.0 - c
    return np.array([[c + x * x * t, x * y * t - z * s, x * z * t + y * s],
                     [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
                     [z * x * t - y * s, z * y * t + x * s, c + z * z * t]])


_SIDE = np.array([[1.0], [-1.0]])  # row 0 = the left limb, row 1 = the right limb


def _limb_dirs(up, left, fwd, abd, flex) -> np.ndarray:
    """(2, 3) directions of a left/right limb pair from abduction/flexion (spherical angles)."""
    a, b = np.radians(np.asarray(abd))[:, None], np.radians(np.asarray(flex))[:, None]
    ca = np.cos(a)
    return -up * (ca * np.cos(b)) + _SIDE * left * np.sin(a) + fwd * (ca * np.sin(b))


def _bend(u: np.ndarray, target: np.ndarray, deg, fallback: np.ndarray) -> np.ndarray:
    """Rotate unit rows of `u` by `deg` towards `target` rows (a hinge with axis u x target)."""
    t = target - (target * u).sum(1, keepdims=True) * u
    n = np.linalg.norm(t, axis=1, keepdims=True)
    if (n < 1e-3).any():  # target parallel to the limb: bend towards the fallback instead
        alt = fallback - (u @ fallback)[:, None] * u
        t = np.where(n < 1e-3, alt, t)
        n = np.linalg.norm(t, axis=1, keepdims=True)
    a = np.radians(np.asarray(deg))[:, None]
    return u * np.cos(a) + t / (n + 1e-9) * np.sin(a)


@functools.lru_cache(maxsize=8)
def _as_array(props: Proportions) -> np.ndarray:
    return np.array([getattr(props, f.name) for f in fields(props)])


@functools.lru_cache(maxsize=8)
def _limit_table(limits: JointLimits) -> tuple:
    """(names, low, high, neutral) arrays of a JointLimits, computed once."""
    names = [f.name for f in fields(limits)]
    lo, hi = np.array([getattr(limits, n) for n in names]).T
    return names, lo, hi, np.array([NEUTRAL[n] for n in names])


_PAIRED = ("shoulder_flex", "shoulder_abd", "elbow", "hip_flex", "hip_abd", "knee")


def sample_angles(rng: np.random.Generator, limits: JointLimits, spread: float) -> dict:
    """Joint angles drawn uniformly inside the limits and pulled towards neutral by `spread`.

    Paired joints (shoulders, elbows, hips, knees) get one angle per side: [left, right].
    """
    if rng.random() < 0.35:  # a relaxed, near-standing person
        spread *= 0.35
    names, lo, hi, neutral = _limit_table(limits)
    u = lo[:, None] + rng.random((len(names), 2)) * (hi - lo)[:, None]
    ang = neutral[:, None] + spread * (u - neutral[:, None])
    return {n: (ang[i] if n in _PAIRED else ang[i, :1]).tolist() for i, n in enumerate(names)}


def pose_body(rng: np.random.Generator, limits: JointLimits, spread: float,
              jitter: float) -> Body3D:
    """Sample proportions, joint angles and a facing direction; return 3D points."""
    p = Proportions().jittered(rng, jitter)
    ang = sample_angles(rng, limits, spread)
    yaw = float(rng.uniform(-180.0, 180.0))
    r_yaw = _rot(_U0, yaw)
    up, left, fwd = _U0, r_yaw @ _L0, r_yaw @ _F0
    r_t = _rot(left, ang["torso_lean"][0]) @ _rot(fwd, ang["torso_side"][0]) @ _rot(up, ang["torso_twist"][0])
    up_t, left_t, fwd_t = r_t @ up, r_t @ left, r_t @ fwd
    pts = np.zeros((NUM_POINTS, 3))
    pts[11:13] = _SIDE * left * (p.hip_w / 2)
    sh_c = up_t * p.torso
    pts[5:7] = sh_c + _SIDE * left_t * (p.shoulder_w / 2)
    # arms: the elbow bends towards a random mix of forward, across the body, and up
    u = _limb_dirs(up_t, left_t, fwd_t, ang["shoulder_abd"], ang["shoulder_flex"])
    mix = rng.dirichlet((3.0, 1.0, 0.6), 2)
    target = fwd_t * mix[:, :1] - _SIDE * left_t * mix[:, 1:2] + up_t * mix[:, 2:]
    f = _bend(u, target, ang["elbow"], fwd_t)
    pts[7:9] = pts[5:7] + u * p.upper_arm
    pts[9:11] = pts[7:9] + f * p.forearm
    pts[LHAND:RHAND + 1] = pts[9:11] + f * (p.hand * 0.8)
    # legs: the knee bends backwards, the foot points forwards
    u = _limb_dirs(up, left, fwd, ang["hip_abd"], ang["hip_flex"])
    s = _bend(u, np.broadcast_to(-fwd, u.shape), ang["knee"], -up)
    pts[13:15] = pts[11:13] + u * p.thigh
    pts[15:17] = pts[13:15] + s * p.shin
    foot = _bend(s, np.broadcast_to(fwd, s.shape), [80.0, 80.0], fwd)
    pts[LTOE:RTOE + 1] = pts[15:17] + foot * p.foot
    pts[NECK] = sh_c + up_t * p.neck
    r_h = _rot(up_t, ang["head_yaw"][0]) @ _rot(left_t, ang["head_pitch"][0]) @ _rot(fwd_t, ang["head_roll"][0])
    h_up, h_left, h_fwd = r_h @ up_t, r_h @ left_t, r_h @ fwd_t
    pts[HEAD] = pts[NECK] + h_up * p.head_r * 0.95
    _face(pts, p.head_r, h_up, h_left, h_fwd)
    return Body3D(pts, h_fwd, h_up, fwd_t, yaw, p)


_EYE = np.array([0.80, 0.42, 0.16]) / np.linalg.norm([0.80, 0.42, 0.16])


def _face(pts: np.ndarray, r: float, up, left, fwd) -> None:
    """Nose, eyes and ears on the head sphere (in place)."""
    c = pts[HEAD]
    pts[0] = c + r * (0.97 * fwd - 0.18 * up)
    pts[1:3] = c + r * (_EYE[0] * fwd + _SIDE * (_EYE[1] * left) + _EYE[2] * up)
    pts[3:5] = c + r * (_SIDE * (0.9 * left) - 0.12 * fwd - 0.05 * up)


def project(body: Body3D, scale: float, roll_deg: float, offset: np.ndarray) -> Body2D:
    """Orthographic projection, in-plane rotation by `roll_deg`, then scale and shift."""
    r = _rot(np.array([0.0, 0.0, 1.0]), roll_deg)
    pts = body.points @ r.T
    xy = pts[:, :2] * scale + offset
    return Body2D(xy, pts[:, 2] * scale, r @ body.head_fwd, r @ body.head_up, r @ body.torso_fwd,
                  float(scale), body.props, body.yaw_deg)


def fit_in_crop(body: Body3D, roll_deg: float, size: tuple[int, int], fill: float,
                shift: np.ndarray) -> Body2D:
    """Project so the body's extent fills `fill` of the crop, centre moved by `shift` (pixels)."""
    h, w = size
    unit = project(body, 1.0, roll_deg, np.zeros(2))
    pad = body.props.head_r
    lo, hi = unit.xy.min(0) - pad, unit.xy.max(0) + pad
    ext = np.maximum(hi - lo, 1e-3)
    scale = fill * min(w / ext[0], h / ext[1])
    centre = (lo + hi) / 2 * scale
    return project(body, scale, roll_deg, np.array([w / 2, h / 2]) - centre + shift)
