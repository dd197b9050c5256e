"""Parameter and FLOP counting with forward hooks (multiply-adds, reported as "FLOPs" like the papers).

Two conventions:

- ``"linear_conv"``: only nn.Linear and nn.Conv2d / nn.ConvTranspose2d multiply-accumulates
  (no biases, no norms, no activations, and not the attention matmuls, which are not modules).
- ``"mmcv"``: what ``mmcv.cnn.get_model_complexity_info`` (used by the official
  ``tools/get_flops.py`` of SDPose / DistilPose) counts: the above plus conv biases, 1 per element
  for ReLU-family activations and pooling, 2 per element for affine BatchNorm / LayerNorm /
  GroupNorm / InstanceNorm (1 when not affine), 1 per output element for Upsample.
  GELU, softmax and the attention matmuls are not counted by mmcv either.

A one-pass count runs ``cycles=1``; "all cycles" runs ``cycles=cycle_num``. Counting runs the
model on whatever device its parameters are on; build it under ``torch.device("meta")`` to count
without computing anything.
"""
from __future__ import annotations

import torch
from torch import nn

CONVENTIONS = ("linear_conv", "mmcv")
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
          nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_ACTS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
          nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters; trainable only by default (as mmcv counts them, which is why the fixed
    sine table never counts: here it is a buffer anyway)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _module_macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor, convention: str) -> int:
    mmcv = convention == "mmcv"
    if isinstance(m, nn.Linear):
        return inp.numel() // m.in_features * m.in_features * m.out_features
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        macs = out.numel() * (m.in_channels // m.groups) * kh * kw
        return macs + (out.numel() if mmcv and m.bias is not None else 0)
    if isinstance(m, nn.ConvTranspose2d):
        kh, kw = m.kernel_size
        macs = inp.numel() * (m.out_channels // m.groups) * kh * kw
        return macs + (out.numel() if mmcv and m.bias is not None else 0)
    if not mmcv:
        return 0
    if isinstance(m, _NORMS):
        affine = getattr(m, "affine", None) or getattr(m, "elementwise_affine", False)
        return inp.numel() * (2 if affine else 1)
    if isinstance(m, _ACTS):
        return out.numel()
    if isinstance(m, _POOLS):
        return inp.numel()
    if isinstance(m, nn.Upsample):
        return out.numel()
    return 0


@torch.no_grad()
def count_flops(model: nn.Module, input_size: tuple[int, int] | None = None, cycles: int = 1,
                convention: str = "linear_conv", batch: int = 1) -> int:
    """Multiply-adds of one forward with ``cycles`` cycles (per batch of ``batch`` images).

    Args:
        model: a pose model (``model(images, cycles=...)``).
        input_size: (H, W); default ``model.config.input_size``.
        cycles: cycles to run (1 = one pass, the paper's inference cost).
        convention: ``"linear_conv"`` or ``"mmcv"`` (see the module docstring).
        batch: batch size of the dummy input.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    H, W = input_size or model.config.input_size
    param = next(model.parameters())
    total = [0]

    def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
            total[0] += _module_macs(m, args[0], out, convention)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros(batch, 3, H, W, device=param.device, dtype=param.dtype), cycles=cycles)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0]
