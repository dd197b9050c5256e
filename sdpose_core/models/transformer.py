"""Pre-norm transformer of TokenPose / SDPose with optional attention recording.

Maths as in the official ``Transformer_sd`` (MartyrPenink/SDPose ``tokenbase.py``):
x = x + Attn(LN(x)); x = x + FF(LN(x)); no final LayerNorm; in ``sine-full`` mode the patch
positions are re-added to the patch tokens before every layer with index > 0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention; ``to_qkv`` has no bias, heads split as (h d) with h outer.

    Args:
        dim: token width D.
        heads: number of heads (SDPose 8).
        scale: logit scale; SDPose uses (dim // heads) ** -0.5 (scale_with_head=True).
        dropout: output dropout (official 0).
    """

    def __init__(self, dim: int, heads: int, scale: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.scale = scale
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, D = x.shape
        qkv = self.to_qkv(x).view(B, T, 3, self.heads, D // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, h, T, d)
        attn = None
        if return_attention:
            attn = attention_probs(q, k, self.scale)  # (B, h, T, T)
            out = attn @ v  # (B, h, T, d)
        else:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)  # (B, h, T, d)
        out = out.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        return self.drop(self.to_out(out)), attn


def attention_probs(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """softmax(q k^T * scale) over the last dim, (B, h, T, T), in the official operation order.

    Without autograd the logits buffer is scaled and soft-maxed in place, so the kept attention
    is the only (B, h, T, T) tensor allocated per layer (large fresh allocations, not arithmetic,
    are most of the cost of recording attention on a CPU). The in-place softmax uses the same
    kernel as ``Tensor.softmax`` and gives bit-identical values.
    """
    scores = q @ k.transpose(-2, -1)  # (B, h, T, T)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad):
        return (scores * scale).softmax(dim=-1)
    scores.mul_(scale)
    return torch.ops.aten._softmax.out(scores, -1, False, out=scores)


class FeedForward(nn.Module):
    """Linear -> exact GELU -> Linear (official ``FeedForward``)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer layer: attention then feed-forward, each with a residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, scale: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, scale, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, attn = self.attn(self.norm1(x), return_attention)
        x = x + a  # (B, T, D)
        x = x + self.ff(self.norm2(x))
        return x, attn


class Transformer(nn.Module):
    """A stack of pre-norm Blocks with sine-full position re-adding and attention recording.

    Args:
        dim: token width D (SDPose 192).
        depth: number of layers (SDPose-T 6, S 12).
        heads: attention heads (8).
        mlp_dim: feed-forward hidden width (dim * mlp_ratio = 576).
        scale: attention logit scale.
        num_keypoints: K leading keypoint tokens that never get positions (17).
        readd_pos: re-add positions to the patch tokens before every layer > 0 (``sine-full``).
        dropout: dropout (official 0).
    """

    def __init__(self, dim: int, depth: int, heads: int, mlp_dim: int, scale: float,
                 num_keypoints: int, readd_pos: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.readd_pos = readd_pos
        self.layers = nn.ModuleList(Block(dim, heads, mlp_dim, scale, dropout) for _ in range(depth))

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, return_attention: bool = False
                ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Run all layers once.

        Args:
            x: tokens (B, K + N, D), keypoint tokens first.
            pos: patch positions (1, N, D); used only when ``readd_pos``.
            return_attention: keep each layer's softmax attention (B, heads, K+N, K+N).

        Returns:
            the output tokens (B, K + N, D) and the per-layer attention list (or None).
        """
        attns: list[torch.Tensor] | None = [] if return_attention else None
        pos_full = None
        if self.readd_pos and pos is not None:
            # zero rows for the keypoint tokens: x + 0 is exact, and no in-place write is needed
            pos_full = F.pad(pos, (0, 0, self.num_keypoints, 0))  # (1, K + N, D)
        for idx, layer in enumerate(self.layers):
            if idx > 0 and pos_full is not None:
                x = x + pos_full
            x, attn = layer(x, return_attention)
            if attns is not None:
                attns.append(attn)
        return x, attns
