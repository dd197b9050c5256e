"""COCO-17 person keypoint metadata shared by every part of the library.

Values follow the COCO keypoints annotation format and the OKS sigmas of the
official COCO evaluation (cocoapi `COCOeval.computeOks`).
"""
from __future__ import annotations

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

# 1-based limb list exactly as COCO's person category stores it.
SKELETON_1BASED: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7),
    (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5),
    (4, 6), (5, 7),
)
# 0-based version for drawing.
SKELETON: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in SKELETON_1BASED)

# Left/right pairs swapped by a horizontal flip (0-based).
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)
# FLIP_INDEX[k] = index of the keypoint that k becomes after a horizontal flip.
FLIP_INDEX: tuple[int, ...] = tuple(
    dict([*FLIP_PAIRS, *[(b, a) for a, b in FLIP_PAIRS]]).get(k, k) for k in range(NUM_KEYPOINTS)
)

UPPER_BODY_IDS: tuple[int, ...] = tuple(range(11))
LOWER_BODY_IDS: tuple[int, ...] = tuple(range(11, 17))

# OKS sigmas from cocoapi (per keypoint, in the order above).
OKS_SIGMAS = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89],
    dtype=np.float64,
) / 10.0

PERSON_CATEGORY: dict = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(KEYPOINT_NAMES),
    "skeleton": [list(p) for p in SKELETON_1BASED],
}
