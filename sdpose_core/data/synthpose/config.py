"""Difficulty presets of the SynthPose generator (one frozen dataclass per level)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of one difficulty level. Ranges are (low, high), sampled uniformly per crop."""

    name: str
    pose_spread: float = 0.8             # 0 = everyone stands neutral, 1 = full joint ranges
    proportion_jitter: float = 0.12      # relative jitter of every segment length / radius
    rotation_deg: float = 20.0           # max |in-plane rotation| of the person
    fill: tuple[float, float] = (0.7, 1.12)  # person extent / crop extent (> 1 truncates)
    shift_frac: float = 0.1              # max centre shift as a fraction of the crop size
    clutter: tuple[int, int] = (8, 18)   # background shapes (polygons, ellipses, bars, boxes)
    limb_clutter: tuple[int, int] = (1, 4)  # loose limb-like capsules in the background
    camouflage: float = 0.35             # chance the background reuses the person's colours
    distractor_prob: float = 0.5         # chance of a second, partial (unlabelled) person
    distractor_front: float = 0.3        # chance that second person stands in front
    occluders: tuple[int, int] = (0, 2)  # shapes dropped on top of random joints
    blur_sigma: tuple[float, float] = (0.0, 0.8)
    noise_std: tuple[float, float] = (1.0, 6.0)
    lighting: float = 0.35               # strength of the light ramp / gamma / colour cast


DIFFICULTIES: dict[str, SynthConfig] = {
    "easy": SynthConfig(
        name="easy", pose_spread=0.55, proportion_jitter=0.08, rotation_deg=10.0,
        fill=(0.72, 0.9), shift_frac=0.04, clutter=(3, 8), limb_clutter=(0, 1), camouflage=0.1,
        distractor_prob=0.15, distractor_front=0.0, occluders=(0, 1), blur_sigma=(0.0, 0.3),
        noise_std=(0.0, 2.0), lighting=0.15),
    "medium": SynthConfig(name="medium"),
    "hard": SynthConfig(
        name="hard", pose_spread=1.0, proportion_jitter=0.16, rotation_deg=40.0,
        fill=(0.65, 1.2), shift_frac=0.14, clutter=(14, 28), limb_clutter=(3, 8), camouflage=0.6,
        distractor_prob=0.8, distractor_front=0.45, occluders=(1, 4), blur_sigma=(0.0, 1.3),
        noise_std=(3.0, 12.0), lighting=0.6),
}


def get_config(difficulty: str) -> SynthConfig:
    """The preset for `difficulty`; ValueError naming the valid levels otherwise."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; choose one of {', '.join(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]
