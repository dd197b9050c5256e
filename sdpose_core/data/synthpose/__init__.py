"""SynthPose: procedural person crops with COCO-17 keypoints (see docs/synthpose.md)."""
from __future__ import annotations

from sdpose_core.data.synthpose.config import DIFFICULTIES, SynthConfig
from sdpose_core.data.synthpose.generate import (GENERATOR_VERSION, Sample, generate_dataset,
                                                 render_sample, synthesize)

__all__ = ["DIFFICULTIES", "GENERATOR_VERSION", "Sample", "SynthConfig", "generate_dataset",
           "render_sample", "synthesize"]
