"""The fixed 2D sine position table of TokenPose / SDPose (DETR-style, normalised grid)."""
from __future__ import annotations

import math

import torch


def sine_position_table(h: int, w: int, dim: int, temperature: float = 10000.0,
                        scale: float = 2 * math.pi) -> torch.Tensor:
    """2D sine positions for an ``h x w`` patch grid, as official ``_make_sine_position_embedding``.

    Row index y and column index x run 1..h and 1..w, are normalised by (h + 1e-6) and (w + 1e-6)
    and multiplied by 2*pi. Each axis uses dim/2 features [sin, cos, sin, cos, ...] with
    frequencies temperature ** (2 * (i // 2) / (dim / 2)); the y features come first.

    Args:
        h: grid rows (feature height / patch height), e.g. 16 for SDPose-T.
        w: grid columns, e.g. 16 for SDPose-T.
        dim: token width D (divisible by 4); SDPose 192.
        temperature: official 10000.
        scale: official 2*pi.

    Returns:
        (1, h*w, dim) float32 table, tokens in row-major order (h outer).
    """
    if dim % 4:
        raise ValueError(f"sine positions need dim divisible by 4, got {dim}")
    half = dim // 2
    eps = 1e-6
    ys = torch.arange(1, h + 1, dtype=torch.float32)
    xs = torch.arange(1, w + 1, dtype=torch.float32)
    y_embed = (ys / (h + eps) * scale)[:, None].expand(h, w)  # (h, w)
    x_embed = (xs / (w + eps) * scale)[None, :].expand(h, w)  # (h, w)
    i = torch.arange(half, dtype=torch.float32)
    dim_t = temperature ** (2 * torch.div(i, 2, rounding_mode="floor") / half)  # (half,)
    feats = []
    for embed in (y_embed, x_embed):
        angles = embed[..., None] / dim_t  # (h, w, half)
        inter = torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1)
        feats.append(inter.flatten(-2))  # (h, w, half): sin, cos, sin, cos ...
    pos = torch.cat(feats, dim=-1)  # (h, w, dim)
    return pos.reshape(1, h * w, dim).contiguous()
