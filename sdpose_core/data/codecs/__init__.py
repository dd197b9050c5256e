"""Codecs: keypoints <-> training targets / model outputs (heatmap, SimCC, regression) and flip test.

Conventions (all codecs): sizes are (H, W); keypoints are (N, K, 2) (x, y) in input-crop pixels with
visibility (N, K); encode takes numpy (or torch) and returns numpy float32; decode accepts numpy or
torch model outputs and returns numpy (keypoints (N, K, 2), scores (N, K)).
"""
from sdpose_core.data.codecs.flip import (
    flip_average,
    flip_coords,
    flip_heatmaps,
    flip_image,
    flip_keypoints,
    flip_simcc,
    to_numpy,
)
from sdpose_core.data.codecs.heatmap import (
    MSRAHeatmap,
    gaussian_blur,
    heatmap_maximum,
    refine_dark,
    refine_quarter_offset,
)
from sdpose_core.data.codecs.regression import RegressionLabel
from sdpose_core.data.codecs.simcc import SimCCLabel, simcc_maximum

__all__ = [
    "MSRAHeatmap", "SimCCLabel", "RegressionLabel",
    "heatmap_maximum", "refine_quarter_offset", "refine_dark", "gaussian_blur", "simcc_maximum",
    "flip_image", "flip_heatmaps", "flip_simcc", "flip_coords", "flip_keypoints", "flip_average",
    "to_numpy",
]
