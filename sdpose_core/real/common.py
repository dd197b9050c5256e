"""What the models run by other runtimes (TFLite, ONNX Runtime) share with our own models."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sdpose_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from sdpose_core.models.config import HEAD_TYPES, ModelConfig

# RTMPose / DWPose (mmpose data_preprocessor): RGB in 0..255, (x - mean) / std.
RTMPOSE_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
RTMPOSE_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


@dataclass
class ExternalConfig(ModelConfig):
    """Config of a model that runs outside PyTorch: only head, input size and K are meaningful.

    ``model_type`` is ``"cnn"`` (no tokens, no attention), whatever the head, so that code that
    asks for attention leaves these models alone.
    """

    def validate(self) -> None:
        if self.head not in HEAD_TYPES:
            raise ValueError(f"head must be one of {HEAD_TYPES}, got {self.head!r}")
        h, w = self.input_size
        if h < 4 or w < 4:
            raise ValueError(f"input_size {self.input_size} is too small")


def external_config(name: str, head: str, input_size: tuple[int, int], num_keypoints: int = 17,
                    **fields) -> ExternalConfig:
    """An :class:`ExternalConfig` with one cycle and a (H/4, W/4) heatmap grid."""
    h, w = (int(v) for v in input_size)
    return ExternalConfig(name=name, model_type="cnn", head=head, input_size=(h, w),
                          num_keypoints=num_keypoints, cycle_num=1,
                          heatmap_size=(max(1, h // 4), max(1, w // 4)), **fields)


def to_rgb01(images: torch.Tensor) -> np.ndarray:
    """Our normalised crops (B, 3, H, W) -> float32 RGB in [0, 1], (B, H, W, 3), no rounding."""
    x = images.detach().cpu().float().numpy().transpose(0, 2, 3, 1)
    return np.clip(x * IMAGENET_STD + IMAGENET_MEAN, 0.0, 1.0).astype(np.float32)


def to_rtmpose(images: torch.Tensor) -> np.ndarray:
    """Our normalised crops (ImageNet mean/std on RGB in [0, 1]) -> RTMPose input (B, 3, H, W).

    RTMPose normalises RGB 0..255 with mean (123.675, 116.28, 103.53) and std (58.395, 57.12,
    57.375): the ImageNet numbers times 255, so the conversion is the identity up to float
    rounding; it is written out so that the two conventions stay explicit.
    """
    x = images.detach().cpu().float().numpy()
    mean, std = IMAGENET_MEAN[:, None, None], IMAGENET_STD[:, None, None]
    rgb255 = (x * std + mean) * 255.0
    return ((rgb255 - RTMPOSE_MEAN[:, None, None]) / RTMPOSE_STD[:, None, None]).astype(np.float32)


def check_images(images: torch.Tensor, who: str) -> None:
    """Raise ValueError unless ``images`` is a (B, 3, H, W) float tensor."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{who} expects normalised crops (B, 3, H, W), got {shape}")
