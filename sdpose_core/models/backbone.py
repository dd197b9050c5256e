"""The CNN in front of the tokens, and the small model that pretrains it.

Official SDPose / TokenPose-T read tokens off StemNet's stride-4 map and learn everything from
scratch over 210-300 COCO epochs. TokenPose-B and DistilPose read them off the later stages of an
ImageNet-pretrained HRNet instead. On a 2-core CPU budget only the second recipe trains (see
docs/training.md): the synth students take tokens from a stride-16 map (StemNet + ``stem_stages``)
whose weights come from :class:`PretrainModel`, trained on SynthPose heatmaps by the ``backbone``
recipe and then frozen, our stand-in for ImageNet pretraining.
"""
from __future__ import annotations

import torch
from torch import nn

from .cnn import DeconvHeatmapModel, downsampling_stages
from .config import ModelConfig
from .stem import StemNet


class StagedStem(nn.Module):
    """StemNet followed by stride-2 BasicBlock stages: (B, 3, H, W) -> (B, C, H/s, W/s).

    Args:
        cfg: ``stem_channels``/``stem_planes``/``stem_blocks`` for StemNet, ``stem_stages`` for the
            widths of the extra stages (2 BasicBlocks each, the first with stride 2).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.stem = StemNet(cfg.stem_channels, cfg.stem_planes, cfg.stem_blocks)
        self.stages, self.out_channels = downsampling_stages(self.stem.out_channels, cfg.stem_stages, blocks=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))  # (B, C, H/s, W/s)


def build_backbone(cfg: ModelConfig) -> nn.Module:
    """StemNet itself when ``cfg.stem_stages`` is empty (official ``backbone.*`` keys load
    unchanged), else a :class:`StagedStem`."""
    if not cfg.stem_stages:
        return StemNet(cfg.stem_channels, cfg.stem_planes, cfg.stem_blocks)
    return StagedStem(cfg)


class PretrainModel(DeconvHeatmapModel):
    """A token model's backbone + more stages + deconvs back to stride 4 + 1x1 conv to heatmaps.

    Trained with heatmap MSE (recipe ``backbone``); students then load ``backbone.*`` from it.

    Args:
        cfg: the backbone fields as in the students' config, plus ``cnn_widths`` (stages after the
            backbone), ``cnn_blocks`` and ``cnn_deconv`` (one 4x4 stride-2 deconv per halving).
    """

    entry_name = "backbone"

    def __init__(self, cfg: ModelConfig) -> None:
        backbone = build_backbone(cfg)
        super().__init__(cfg, backbone, backbone.out_channels, entry_halvings=len(cfg.stem_stages))


def load_backbone_(model: nn.Module, source: nn.Module | dict[str, torch.Tensor], freeze: bool = True) -> nn.Module:
    """Copy a pretrained backbone into ``model.backbone`` (shapes must match) and optionally freeze it.

    ``source`` is a model with a ``.backbone`` or a state dict of ``backbone.*`` weights (a shared
    backbone file, see ``io.checkpoint.read_backbone``). A frozen backbone has
    ``requires_grad=False``; the trainer also keeps its BatchNorm layers in eval mode so their
    running statistics stay those of pretraining.
    """
    if not hasattr(model, "backbone"):
        raise ValueError("the model has no .backbone to copy a pretrained one into")
    if isinstance(source, dict):
        theirs, origin = {k[len("backbone."):]: v for k, v in source.items() if k.startswith("backbone.")}, "file"
    elif hasattr(source, "backbone"):
        theirs, origin = source.backbone.state_dict(), getattr(source.config, "name", "?")
    else:
        raise ValueError("the pretrained source has no .backbone")
    mine = model.backbone.state_dict()
    bad = sorted(k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape)
    if bad or len(mine) != len(theirs):
        raise ValueError(f"the pretrained backbone ({origin}) does not fit this "
                         f"model's backbone ({model.config.name}): mismatched keys {bad[:5]}")
    model.backbone.load_state_dict({k: theirs[k].to(v.dtype) for k, v in mine.items()})
    if freeze:
        model.backbone.requires_grad_(False)
    return model
