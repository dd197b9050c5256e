"""Real-photo models run by other runtimes: BlazePose (TFLite) and RTMPose-layout ONNX files.

Optional: ``pip install -e ".[real]"`` (ai-edge-litert, onnxruntime, onnx) and, for BlazePose,
``sdpose install-blazepose`` once (the only step that uses the network). See docs/real_photos.md.
"""
from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from .assets import MissingExtraError, blazepose_path, install_blazepose, require_blazepose

REAL_NAMES = ("blazepose",)
REAL_SUFFIXES = (".onnx", ".tflite")


def is_real_model(name_or_path: str | os.PathLike) -> bool:
    """True for ``"blazepose"`` and for ``.onnx`` / ``.tflite`` paths."""
    return str(name_or_path) in REAL_NAMES or Path(str(name_or_path)).suffix.lower() in REAL_SUFFIXES


def load_real_model(name_or_path: str | os.PathLike) -> nn.Module:
    """BlazePose (by name or ``.tflite`` path) or an ONNX pose model, ready to run (eval mode)."""
    if str(name_or_path) == "blazepose" or Path(str(name_or_path)).suffix.lower() == ".tflite":
        from .blazepose import BlazePose

        return BlazePose(None if str(name_or_path) == "blazepose" else name_or_path).eval()
    from .onnx_pose import OnnxPoseModel

    return OnnxPoseModel(name_or_path).eval()


def blazepose_available() -> bool:
    """The runtime and the model file are installed (nothing is downloaded)."""
    try:
        require_blazepose()
    except MissingExtraError:
        return False
    return True


__all__ = ["MissingExtraError", "blazepose_available", "blazepose_path", "install_blazepose",
           "is_real_model", "load_real_model", "require_blazepose"]
