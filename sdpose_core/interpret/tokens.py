"""How the keypoint tokens move from one cycle of the Multi-Cycled Transformer to the next."""
from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F

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
