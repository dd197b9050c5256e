"""MGD: Masked Generative Distillation on a feature map.

Yang, Li, Shao, Shi, Yuan, Yuan, "Masked Generative Distillation", ECCV 2022 (arXiv 2205.01529).
Official code: yzd-v/MGD, ``det/mmdet/distillation/losses/mgd.py`` (``FeatureLoss``)::

    M      ~ Bernoulli(1 - lambda) per sample and spatial position   (N, 1, H, W), 0 = masked
    L_mgd  = alpha * sum( (G(align(F_s) * M) - F_t)^2 ) / N
    G      = Conv3x3 -> ReLU -> Conv3x3  (teacher channels in and out)
    align  = 1x1 conv (with bias) when the channel counts differ

There is no official pose-estimation config for MGD (yzd-v/MGD has cls / det / seg only; DWPose's
``FeaLoss``, by the same first author, is this loss without the mask and the generation block).
A pose feature map is dense like a detection one, so we take the detection variant: a random
*spatial* mask and the defaults of ``det/configs/distillers/mgd/
retina_rx101_64x4d_distill_retina_r50_fpn_2x_coco.py`` (alpha_mgd 2e-5, lambda_mgd 0.65, also the
``FeatureLoss`` defaults). The classification variant (yzd-v/MGD ``cls/.../mgd.py``, alpha 7e-5,
lambda 0.15) masks whole channels instead.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def generation_block(channels: int) -> nn.Sequential:
    """MGD's / ViTKD's generation block: Conv3x3 -> ReLU -> Conv3x3, padding 1, with biases."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, channels, kernel_size=3, padding=1),
    )


def random_spatial_mask(
    batch: int, height: int, width: int, ratio: float, device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """MGD's random mask (N, 1, H, W): 0 (masked) with probability ``ratio``, else 1.

    As the official ``where(rand > 1 - lambda, 0, 1)``: each position is masked independently,
    so the number of masked positions varies from sample to sample.
    """
    draw = torch.rand((batch, 1, height, width), generator=generator, device=device)
    return (draw <= 1.0 - ratio).float()


class MGDLoss(nn.Module):
    """Masked generative distillation: regenerate the teacher feature map from a masked student one.

    Args:
        student_channels: channels of the student feature map.
        teacher_channels: channels of the teacher feature map.
        alpha_mgd: 2e-5 (``FeatureLoss`` default, ``retina_rx101_64x4d_distill_retina_r50_fpn_2x_coco.py``).
        lambda_mgd: masked ratio, 0.65 (same sources).
    """

    def __init__(self, student_channels: int, teacher_channels: int, alpha_mgd: float = 2e-5,
                 lambda_mgd: float = 0.65) -> None:
        super().__init__()
        self.alpha_mgd, self.lambda_mgd = alpha_mgd, lambda_mgd
        self.align = (nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
                      if student_channels != teacher_channels else None)
        self.generation = generation_block(teacher_channels)

    def generate(self, fea_s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The regenerated feature ``G(align(F_s) * M)``, (N, C_t, H, W)."""
        aligned = fea_s if self.align is None else self.align(fea_s)
        return self.generation(aligned * mask)

    def forward(self, fea_s: torch.Tensor, fea_t: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            fea_s: student feature map (N, C_s, H, W).
            fea_t: teacher feature map (N, C_t, H, W), same H, W; detached here.
            mask: (N, 1, H, W) with 1 = kept, 0 = masked; None draws :func:`random_spatial_mask`.
        """
        if fea_s.shape[-2:] != fea_t.shape[-2:]:
            raise ValueError(f"MGD needs maps of the same size, got {tuple(fea_s.shape)} and {tuple(fea_t.shape)}")
        n, _, h, w = fea_t.shape
        if mask is None:
            mask = random_spatial_mask(n, h, w, self.lambda_mgd, device=fea_s.device)
        diff = self.generate(fea_s, mask.to(fea_s.dtype)) - fea_t.detach()
        return diff.pow(2).sum() / n * self.alpha_mgd

    def extra_repr(self) -> str:
        return f"alpha_mgd={self.alpha_mgd}, lambda_mgd={self.lambda_mgd}"
