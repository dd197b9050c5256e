"""A plain CNN heatmap teacher: a small SimpleBaseline (Xiao et al. 2018) for SynthPose.

stride-4 stem -> ResNet BasicBlock stages (each halves the resolution) -> as many 4x4 stride-2
deconvs as stages (back to stride 4) -> 1x1 conv to K heatmaps. One "cycle", no tokens.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .outputs import CycleOutput
from .stem import BN_MOMENTUM, init_cnn_


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout, momentum=BN_MOMENTUM), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, 1x1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout, momentum=BN_MOMENTUM))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def downsampling_stages(cin: int, widths: tuple[int, ...], blocks: int) -> tuple[nn.Sequential, int]:
    """One stride-2 stage of ``blocks`` BasicBlocks per width; returns (stages, out channels)."""
    stages = []
    for width in widths:
        stages.append(nn.Sequential(BasicBlock(cin, width, 2), *(BasicBlock(width, width) for _ in range(blocks - 1))))
        cin = width
    return nn.Sequential(*stages), cin


def deconv_stages(cin: int, widths: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    """SimpleBaseline's 4x4 stride-2 deconv + BN + ReLU per width; returns (deconvs, out channels)."""
    layers = []
    for width in widths:
        layers += [nn.ConvTranspose2d(cin, width, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(width, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
        cin = width
    return nn.Sequential(*layers), cin


class DeconvHeatmapModel(nn.Module):
    """SimpleBaseline (Xiao et al. 2018) after an entry network: stride-2 BasicBlock stages, one 4x4
    stride-2 deconv per halving back to stride 4, a 1x1 conv to K heatmaps. One "cycle", no tokens.

    Args:
        cfg: ``cnn_widths`` (stages after the entry), ``cnn_blocks``, ``cnn_deconv``, ``num_keypoints``.
        entry: the first layers, (B, 3, H, W) -> (B, C, H/s, W/s); registered as ``entry_name``.
        entry_channels / entry_halvings: C and log2(s / 4) of the entry's output.
    """

    entry_name = "stem"

    def __init__(self, cfg: ModelConfig, entry: nn.Module, entry_channels: int, entry_halvings: int = 0) -> None:
        super().__init__()
        halvings = entry_halvings + len(cfg.cnn_widths)
        if len(cfg.cnn_deconv) != halvings:
            raise ValueError(f"cnn_deconv needs {halvings} entries (one per stride-2 stage) to get back to stride 4")
        self.config, self.cycle_num = cfg, 1
        setattr(self, self.entry_name, entry)
        self.stages, cin = downsampling_stages(entry_channels, cfg.cnn_widths, cfg.cnn_blocks)
        self.deconv, cin = deconv_stages(cin, cfg.cnn_deconv)
        self.final_layer = nn.Conv2d(cin, cfg.num_keypoints, 1)
        init_cnn_(self)
        nn.init.normal_(self.final_layer.weight, std=0.001)

    def resolve_cycles(self, cycles: int | None) -> int:
        if cycles is not None and int(cycles) != 1:
            raise ValueError(f"cycles must be 1 for a {type(self).__name__}, got {cycles}")
        return 1

    def forward(self, images: torch.Tensor, cycles: int | None = None,
                return_attention: bool = False) -> list[CycleOutput]:
        """(B, 3, H, W) -> [CycleOutput(heatmaps (B, K, H/4, W/4), features)]; no tokens, no attention."""
        self.resolve_cycles(cycles)
        feats = self.stages(getattr(self, self.entry_name)(images))  # (B, C_last, H/2^(2+S), W/2^(2+S))
        heatmaps = self.final_layer(self.deconv(feats))  # (B, K, H/4, W/4)
        return [CycleOutput(heatmaps=heatmaps, features=feats)]


class CNNPoseModel(DeconvHeatmapModel):
    """The CNN teacher: a two-conv stride-4 stem + :class:`DeconvHeatmapModel`.

    Args:
        cfg: ``stem_channels`` for the stem; see DeconvHeatmapModel for the rest.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        c = cfg.stem_channels
        super().__init__(cfg, nn.Sequential(conv_bn_relu(3, c, 2), conv_bn_relu(c, c, 2)), c)
