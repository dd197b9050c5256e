"""Which codec makes the targets for, and decodes the output of, each head (``ModelConfig.head``).

One row per head; the trainer, ``sdpose eval``, the teachers, attributions, the notebooks and the
explorer all call :func:`codec_for` and then the codec's methods, so nothing else branches on the
head type.
"""
from __future__ import annotations

from typing import Callable

from sdpose_core.data.codecs.heatmap import MSRAHeatmap
from sdpose_core.data.codecs.regression import RegressionLabel
from sdpose_core.data.codecs.simcc import SimCCLabel
from sdpose_core.models.config import ModelConfig

Codec = MSRAHeatmap | RegressionLabel | SimCCLabel


def _heatmap_codec(config: ModelConfig) -> MSRAHeatmap:
    """Sigma 2 px at 64x48 (mmpose default), 1.5 px on the 32x24 maps of the SynthPose models."""
    hm = config.out_heatmap_size
    return MSRAHeatmap(config.input_size, hm, sigma=2.0 if hm[0] >= 64 else 1.5, unbiased=True)


def _simcc_codec(config: ModelConfig) -> SimCCLabel:
    """Sigma (4.9, 5.66) bins at 256x192 (RTMPose-m), scaled with the input width / height."""
    h, w = config.input_size
    sigma = (4.9 * w / 192, 5.66 * h / 256)
    return SimCCLabel(config.input_size, sigma=sigma, split_ratio=config.simcc_split_ratio)


CODECS: dict[str, Callable[[ModelConfig], Codec]] = {
    "heatmap": _heatmap_codec,
    "regression": lambda config: RegressionLabel(config.input_size, config.out_heatmap_size),
    "simcc": _simcc_codec,
}


def codec_for(config: ModelConfig) -> Codec:
    """The codec of a model's head (``config.head``)."""
    if config.head not in CODECS:
        raise ValueError(f"no codec for head {config.head!r}; heads: {', '.join(CODECS)}")
    return CODECS[config.head](config)
