"""Per-keypoint input attributions with captum: which pixels of the crop drive one keypoint.

The explained scalar is the keypoint's confidence as its head produces it:
heatmap heads: the heatmap value at the peak of the unperturbed prediction (location fixed);
regression heads: the raw score; SimCC heads: x-logit + y-logit at the unperturbed argmax bins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.data.codecs import codec_for
from sdpose_core.data.topdown import load_image_crop

Method = Literal["saliency", "integrated_gradients", "occlusion"]
METHODS: tuple[str, ...] = ("saliency", "integrated_gradients", "occlusion")
GRADIENT_METHODS: tuple[str, ...] = ("saliency", "integrated_gradients")


class NoGradientError(ValueError):
    """A gradient method was asked of a model whose output has no gradient with respect to its input."""


def gives_input_gradients(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> bool:
    """Whether ``fn(x)`` is differentiable with respect to ``x`` (False for models that run outside
    PyTorch, such as BlazePose's TFLite interpreter or an ONNX Runtime session)."""
    with torch.enable_grad():
        return bool(fn(x.detach().clone().requires_grad_()).requires_grad)


def keypoint_confidence_fn(model: nn.Module, crop: torch.Tensor, keypoint: int
                           ) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(images (B, 3, H, W)) -> (B,) confidence of ``keypoint``, with its location read from ``crop``
    (the head's codec says what the confidence is: ``keypoint_confidence``)."""
    with torch.no_grad():
        ref = model(crop, cycles=1)[0]
    confidence = codec_for(model.config).keypoint_confidence(ref, keypoint)
    return lambda x: confidence(model(x, cycles=1)[0])


def _captum():
    try:
        import captum.attr as attr
    except ImportError as err:  # optional dependency (the explorer extra)
        raise ValueError(f"attributions need captum: pip install captum ({err})") from None
    return attr


def keypoint_attribution(model: nn.Module, image_rgb: np.ndarray, keypoint: int,
                         bbox=None, method: Method = "integrated_gradients", steps: int = 16) -> np.ndarray:
    """An (H, W) map over the network crop: |attribution| summed over colour, scaled to max 1.

    Args:
        method: ``saliency`` (|gradient|), ``integrated_gradients`` (black-image baseline, ``steps``
            steps) or ``occlusion`` (a black quarter-width patch slid at half-patch strides).
    """
    attr = _captum()
    model.eval()
    crop, _ = load_image_crop(image_rgb, bbox, input_size=tuple(model.config.input_size))
    x = crop[None].clone()
    fn = keypoint_confidence_fn(model, x, keypoint)
    if method in GRADIENT_METHODS and not gives_input_gradients(fn, x):
        raise NoGradientError(f"{getattr(model.config, 'name', 'this model')} gives no gradient with respect to its "
                              f"input (it runs outside PyTorch), so {method.replace('_', ' ')} cannot explain it; "
                              "occlusion (perturbations only) can")
    baseline = torch.as_tensor(load_image_crop(np.zeros_like(image_rgb), bbox,
                                               input_size=tuple(model.config.input_size))[0][None])
    if method == "saliency":
        result = attr.Saliency(fn).attribute(x.requires_grad_(), abs=True)
    elif method == "integrated_gradients":
        result = attr.IntegratedGradients(fn).attribute(x, baselines=baseline, n_steps=steps,
                                                        internal_batch_size=steps)
    elif method == "occlusion":
        h, w = x.shape[-2:]
        win, stride = (3, max(8, h // 4), max(6, w // 4)), (3, max(4, h // 8), max(3, w // 8))
        with torch.no_grad():
            result = attr.Occlusion(fn).attribute(x, sliding_window_shapes=win, strides=stride,
                                                  baselines=baseline, perturbations_per_eval=16)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    amap = result.detach()[0].abs().sum(0).numpy()
    return amap / max(float(amap.max()), 1e-12)


@dataclass
class AttributionPanel:
    """One model's attribution map, or None with the reason it could not be made."""

    label: str
    map: np.ndarray | None
    reason: str = ""


def attribution_panels(models: Sequence[tuple[str, nn.Module]], image_rgb: np.ndarray, keypoint: int,
                       bbox=None, method: Method = "saliency") -> list[AttributionPanel]:
    """:func:`keypoint_attribution` for each (label, model); a model that gives no input gradients
    gets ``map=None`` and the reason instead of failing the others."""
    panels = []
    for label, model in models:
        try:
            panels.append(AttributionPanel(label, keypoint_attribution(model, image_rgb, keypoint, bbox, method)))
        except NoGradientError as err:
            panels.append(AttributionPanel(label, None, str(err)))
    return panels
