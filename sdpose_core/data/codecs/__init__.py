"""Codecs: keypoints <-> training targets / model outputs (heatmap, SimCC, regression) and flip test.

Conventions (all codecs): sizes are (H, W); keypoints are (N, K, 2) (x, y) in input-crop pixels with
visibility (N, K); encode takes numpy (or torch) and returns a dict of named numpy float32 targets;
decode accepts numpy or torch model outputs and returns numpy (keypoints (N, K, 2), scores (N, K)),
decode_output the same from a model's ``CycleOutput``. ``codec_for(config)`` picks a head's codec.
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
from sdpose_core.data.codecs.regression import RegressionLabel, simulated_heatmap
from sdpose_core.data.codecs.simcc import SimCCLabel, simcc_maximum
from sdpose_core.data.codecs.table import CODECS, Codec, codec_for

__all__ = [
    "MSRAHeatmap", "SimCCLabel", "RegressionLabel", "Codec", "CODECS", "codec_for", "simulated_heatmap",
    "heatmap_maximum", "refine_quarter_offset", "refine_dark", "gaussian_blur", "simcc_maximum",
    "flip_image", "flip_heatmaps", "flip_simcc", "flip_coords", "flip_keypoints", "flip_average",
    "to_numpy",
]
