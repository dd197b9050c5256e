"""ViTKD: mimic the teacher's shallow-layer tokens, generate its deep-layer tokens.

Yang, Li, Zeng, Li, Yuan, Li, "ViTKD: Practical Guidelines for ViT feature knowledge
distillation", arXiv 2209.02432 (2022). Official code: yzd-v/cls_KD
``mmcls/models/dis_losses/vitkd.py`` (``ViTKDLoss``); the tokens come from the modified
``mmcls/models/backbones/deit3.py``: patch tokens (class token dropped) after layers 0 and 1
("low") and after the last layer ("high")::

    mimic     = alpha * sum_{l in shallow} ||A_l(S_l) - T_l||^2 / B        (A_l: Linear per layer)
    generate  = beta / lambda * sum( M * (G(grid(mask_lambda(A(S_deep)))) - T_deep) )^2 / B
    mask_lambda replaces a random lambda share of the tokens of each sample by a learned mask token;
    M is 1 on the masked tokens; G = Conv3x3 -> ReLU -> Conv3x3 on the token grid.

The Linear aligners exist only when student and teacher widths differ (as officially).

Our token students: the "patch tokens" are the visual tokens (the keypoint tokens play the class
token's part and are left out, as the class token is officially); the shallow layers are the
outputs of transformer layers 0 and 1 of the first cycle, the deep tokens the final visual tokens.
:func:`record_layer_tokens` collects the layer outputs with forward hooks, without touching the
model code.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn

from sdpose_core.distill.mgd import generation_block


def random_token_mask(
    batch: int, num_tokens: int, ratio: float, device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ViTKD's per-sample random masking (B, N) bool, True = masked.

    Exactly ``N - int(N * (1 - ratio))`` tokens of each sample are masked, chosen uniformly (the
    official ``random_masking`` keeps the ``int(N * (1 - ratio))`` lowest of random noise).
    """
    keep = int(num_tokens * (1 - ratio))
    noise = torch.rand((batch, num_tokens), generator=generator, device=device)
    order = noise.argsort(dim=1)  # (B, N), ascending: the first `keep` are kept
    masked = torch.ones((batch, num_tokens), dtype=torch.bool, device=noise.device)
    masked.scatter_(1, order[:, :keep], False)
    return masked


class ViTKDLoss(nn.Module):
    """ViTKD on token sequences: shallow-layer mimicking + masked deep-layer generation.

    Args:
        student_dims / teacher_dims: token widths (official DeiT-Tiny 192 / DeiT III-Small 384).
        grid_size: (gh, gw) of the visual tokens, to lay the deep tokens out as a map (the official
            code assumes a square grid, ``hw = int(N ** 0.5)``).
        num_shallow: shallow layers mimicked, 2 (layers 0 and 1 in ``deit3.py``).
        alpha_vitkd: 3e-5, beta_vitkd: 3e-6, lambda_vitkd: 0.5 (``ViTKDLoss.__init__`` defaults and
            ``configs/distillers/imagenet/deit-s3_distill_deit-t_img.py``).
    """

    def __init__(self, student_dims: int, teacher_dims: int, grid_size: tuple[int, int],
                 num_shallow: int = 2, alpha_vitkd: float = 3e-5, beta_vitkd: float = 3e-6,
                 lambda_vitkd: float = 0.5) -> None:
        super().__init__()
        self.grid_size = tuple(grid_size)
        self.alpha_vitkd, self.beta_vitkd, self.lambda_vitkd = alpha_vitkd, beta_vitkd, lambda_vitkd
        differ = student_dims != teacher_dims
        self.align_shallow = (nn.ModuleList(nn.Linear(student_dims, teacher_dims) for _ in range(num_shallow))
                              if differ else None)
        self.align_deep = nn.Linear(student_dims, teacher_dims) if differ else None
        self.mask_token = nn.Parameter(torch.zeros(1, 1, teacher_dims))
        self.generation = generation_block(teacher_dims)

    def mimic(self, shallow_s: Sequence[torch.Tensor], shallow_t: Sequence[torch.Tensor]) -> torch.Tensor:
        """``alpha * sum_l ||A_l(S_l) - T_l||^2 / B`` over the shallow layers, each (B, N, D)."""
        if len(shallow_s) != len(shallow_t):
            raise ValueError(f"{len(shallow_s)} student vs {len(shallow_t)} teacher shallow layers")
        total = shallow_s[0].new_zeros(())
        for i, (s, t) in enumerate(zip(shallow_s, shallow_t)):
            aligned = s if self.align_shallow is None else self.align_shallow[i](s)
            total = total + (aligned - t.detach()).pow(2).sum()
        return total / shallow_s[0].shape[0] * self.alpha_vitkd

    def generated(self, deep_s: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        """``G`` applied to the aligned deep tokens with the masked ones replaced: (B, N, D_t)."""
        x = deep_s if self.align_deep is None else self.align_deep(deep_s)  # (B, N, D_t)
        x = torch.where(masked.unsqueeze(-1), self.mask_token.to(x.dtype), x)
        b, n, d = x.shape
        grid = x.transpose(1, 2).reshape(b, d, *self.grid_size)  # (B, D_t, gh, gw)
        return self.generation(grid).flatten(2).transpose(1, 2)  # (B, N, D_t)

    def generate(self, deep_s: torch.Tensor, deep_t: torch.Tensor,
                 masked: torch.Tensor | None = None) -> torch.Tensor:
        """``beta / lambda * sum(M * (G - T))^2 / B``; ``masked`` (B, N) bool, None draws one."""
        b, n, _ = deep_s.shape
        if masked is None:
            masked = random_token_mask(b, n, self.lambda_vitkd, device=deep_s.device)
        diff = (self.generated(deep_s, masked) - deep_t.detach()) * masked.unsqueeze(-1)
        return diff.pow(2).sum() / b * self.beta_vitkd / self.lambda_vitkd

    def forward(self, shallow_s: Sequence[torch.Tensor], shallow_t: Sequence[torch.Tensor],
                deep_s: torch.Tensor, deep_t: torch.Tensor,
                masked: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Args: per-layer shallow tokens (B, N, D) of student and teacher, final tokens (B, N, D),
        optional mask (B, N) bool (True = masked). Returns ``loss_vitkd_mimic``,
        ``loss_vitkd_gen`` and ``loss_vitkd`` (their sum, the official ``loss_vitkd``)."""
        mimic = self.mimic(shallow_s, shallow_t)
        gen = self.generate(deep_s, deep_t, masked)
        return {"loss_vitkd_mimic": mimic, "loss_vitkd_gen": gen, "loss_vitkd": mimic + gen}

    def extra_repr(self) -> str:
        return (f"grid_size={self.grid_size}, alpha_vitkd={self.alpha_vitkd}, "
                f"beta_vitkd={self.beta_vitkd}, lambda_vitkd={self.lambda_vitkd}")


@contextmanager
def record_layer_tokens(model: nn.Module, layers: Sequence[int]) -> Iterator[dict[int, torch.Tensor]]:
    """Record the token sequence (B, K + N, D) each chosen transformer layer outputs.

    A vit-pytorch-style recorder: forward hooks on ``model.encoder.transformer.layers[i]`` (a
    ``DistributedDataParallel`` wrapper is looked through), removed on exit. With several cycles
    the shared layers run once per cycle; the first cycle's output is kept. Gradients flow
    through the recorded tensors as through the model's own outputs.

    Yields:
        a dict ``{layer index: tokens}`` that fills in while the model runs.
    """
    inner = getattr(model, "module", model)
    blocks = inner.encoder.transformer.layers
    recorded: dict[int, torch.Tensor] = {}

    def hook_for(index: int):
        def hook(_module: nn.Module, _inputs: tuple, output: tuple) -> None:
            recorded.setdefault(index, output[0])  # Block returns (tokens, attention)
        return hook

    handles = [blocks[i].register_forward_hook(hook_for(i)) for i in layers]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()
