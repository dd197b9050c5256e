"""Keypoint-token attention maps and attention rollout (Abnar & Zuidema 2020).

Attention tensors are what a model returns with ``return_attention=True``: per layer
(B, heads, K + N, K + N), softmax rows, keypoint tokens first, then patches row-major.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.coco_meta import NUM_KEYPOINTS


def patch_grid(model: nn.Module) -> tuple[int, int]:
    """(gh, gw): the patch grid of a token model (input / backbone stride / patch size)."""
    return model.config.grid_size


def _head_average(layer_attention: torch.Tensor, head: int | str) -> torch.Tensor:
    """(B, heads, T, T) -> (T, T) for batch item 0: one head, or the mean over heads."""
    att = layer_attention[0].float()
    if head == "mean":
        return att.mean(0)
    head = int(head)
    if not 0 <= head < att.shape[0]:
        raise ValueError(f"head {head} out of range 0..{att.shape[0] - 1}")
    return att[head]


def keypoint_attention_map(attention: Sequence[torch.Tensor], layer: int, head: int | str,
                           keypoint: int, grid_size: tuple[int, int],
                           num_keypoints: int = NUM_KEYPOINTS) -> torch.Tensor:
    """How much keypoint token ``keypoint`` attends to each patch, as a (gh, gw) map.

    Args:
        attention: per-layer tensors of one cycle (B, heads, K + N, K + N); batch item 0 is used.
        layer: 0-based layer index (negative counts from the end).
        head: head index or ``'mean'``.
        keypoint: 0-based keypoint index.
        grid_size: (gh, gw) with gh * gw = N.
    """
    att = _head_average(attention[layer], head)  # (T, T)
    gh, gw = grid_size
    if att.shape[-1] != num_keypoints + gh * gw:
        raise ValueError(f"attention has {att.shape[-1]} tokens, expected {num_keypoints} + {gh}x{gw}")
    return att[keypoint, num_keypoints:].reshape(gh, gw)


def attention_rollout(attentions: Sequence[torch.Tensor], head: int | str = "mean",
                      residual: bool = True) -> torch.Tensor:
    """Attention rollout through the layers: (T, T) = A_L' ... A_1' for batch item 0.

    With ``residual`` each layer is A' = 0.5 A + 0.5 I (the skip connection), rows renormalised,
    as Abnar & Zuidema. Pass the layers of several cycles in order to roll out across cycles
    (:func:`cycle_rollouts` does both for a Multi-Cycled Transformer).
    """
    if not attentions:
        raise ValueError("no attention maps: run the model with return_attention=True")
    rolled = None
    for layer in attentions:
        a = _head_average(layer, head)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype)
            a = a / a.sum(-1, keepdim=True)
        rolled = a if rolled is None else a @ rolled
    return rolled


def cycle_rollouts(cycles: Sequence[Sequence[torch.Tensor]], cycle: int, head: int | str = "mean",
                   residual: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The two rollouts of cycle ``cycle`` (1-based) of a Multi-Cycled Transformer, each (T, T):

    - *within*: cycle ``cycle``'s layers only (how the cycle mixes the tokens it was given);
    - *cumulative*: every layer of cycles 1 .. ``cycle`` in order. Cycle N reads cycle N − 1's
      output tokens, so this is the rollout from the input patches through cycle N,
      ``R_N @ ... @ R_1`` with ``R_c`` the within-cycle rollout of cycle c.

    Args:
        cycles: per cycle, its per-layer attention tensors (B, heads, T, T).
    """
    if not 1 <= cycle <= len(cycles):
        raise ValueError(f"cycle {cycle} out of range 1..{len(cycles)}")
    within = attention_rollout(cycles[cycle - 1], head, residual)
    cumulative = attention_rollout([layer for c in cycles[:cycle] for layer in c], head, residual)
    return within, cumulative


def ratio_to_uniform(att_map: torch.Tensor | np.ndarray, tokens: int) -> np.ndarray:
    """An attention map divided by uniform attention ``1 / tokens``: 1 = no preference, 2 = twice
    the uniform share, 0.5 = half. ``tokens``: what the map's row is a distribution over (all
    K + N tokens for one layer's map, the N patches for a renormalised rollout row)."""
    if tokens < 1:
        raise ValueError(f"tokens must be >= 1, got {tokens}")
    a = att_map.detach().cpu().numpy() if isinstance(att_map, torch.Tensor) else np.asarray(att_map)
    return a.astype(np.float64) * tokens


def keypoint_rollout_map(rollout: torch.Tensor, keypoint: int, grid_size: tuple[int, int],
                         num_keypoints: int = NUM_KEYPOINTS) -> torch.Tensor:
    """Row ``keypoint`` of a rollout restricted to the patches, renormalised, as (gh, gw)."""
    row = rollout[keypoint, num_keypoints:]
    row = row / row.sum().clamp_min(1e-12)
    return row.reshape(*grid_size)
