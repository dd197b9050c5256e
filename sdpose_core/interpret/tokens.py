"""How the keypoint tokens move from one cycle of the Multi-Cycled Transformer to the next."""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sdpose_core.models.outputs import CycleOutput


def token_change_per_cycle(outputs: Sequence[CycleOutput],
                           metric: Literal["cosine", "l2"] = "cosine") -> torch.Tensor:
    """Change of each keypoint token between consecutive cycles: (cycles - 1, K).

    ``cosine`` is 1 - cos(t_i, t_{i+1}) (0 = same direction); ``l2`` is ||t_{i+1} - t_i|| / ||t_i||.
    Batch item 0 is used. Needs at least two cycles of a token model.
    """
    tokens = [o.keypoint_tokens for o in outputs]
    if len(tokens) < 2 or any(t is None for t in tokens):
        raise ValueError("need the keypoint tokens of at least two cycles (a token model run with cycles >= 2)")
    rows = []
    for a, b in zip(tokens[:-1], tokens[1:]):
        a, b = a[0].float(), b[0].float()  # (K, D)
        if metric == "cosine":
            rows.append(1.0 - F.cosine_similarity(a, b, dim=-1))
        elif metric == "l2":
            rows.append((b - a).norm(dim=-1) / a.norm(dim=-1).clamp_min(1e-12))
        else:
            raise ValueError(f"metric must be 'cosine' or 'l2', got {metric!r}")
    return torch.stack(rows)


@torch.no_grad()
def cycle_token_gap(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """How far apart consecutive cycles' keypoint tokens are: (cycles - 1,) of mean 1 - cos over
    the batch and keypoints (what SDPose's token loss pulls together). Model left in eval mode."""
    model.eval()
    outs = model(images, cycles=model.config.cycle_num)
    return np.array([float((1 - F.cosine_similarity(a.keypoint_tokens, b.keypoint_tokens, dim=-1)).mean())
                     for a, b in zip(outs[:-1], outs[1:])])


def per_token_mse(student: torch.Tensor, teacher: torch.Tensor) -> np.ndarray:
    """Mean squared difference per token, (T,), of two (T, D) token sets (DistilPose's token MSE,
    before its mean over tokens and its weight)."""
    if student.shape != teacher.shape:
        raise ValueError(f"token shapes differ: student {tuple(student.shape)}, teacher {tuple(teacher.shape)}")
    return (student.detach().float() - teacher.detach().float()).pow(2).mean(-1).numpy()
