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


class CNNPoseModel(nn.Module):
    """SimpleBaseline-style heatmap model.

    Args:
        cfg: uses ``stem_channels``, ``cnn_widths`` (one stride-2 stage each), ``cnn_blocks``,
            ``cnn_deconv`` (one 4x4 stride-2 deconv per stage; SimpleBaseline: 3 x 256) and
            ``num_keypoints``; heatmaps come out at input / 4.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if len(cfg.cnn_deconv) != len(cfg.cnn_widths):
            raise ValueError("cnn_deconv needs one entry per cnn_widths stage (back to stride 4)")
        self.config = cfg
        self.cycle_num = 1
        c = cfg.stem_channels
        self.stem = nn.Sequential(conv_bn_relu(3, c, 2), conv_bn_relu(c, c, 2))
        self.stages, cin = downsampling_stages(c, cfg.cnn_widths, cfg.cnn_blocks)
        self.deconv, cin = deconv_stages(cin, cfg.cnn_deconv)
        self.final_layer = nn.Conv2d(cin, cfg.num_keypoints, 1)
        init_cnn_(self)
        nn.init.normal_(self.final_layer.weight, std=0.001)

    def resolve_cycles(self, cycles: int | None) -> int:
        if cycles is not None and int(cycles) != 1:
            raise ValueError(f"cycles must be 1 for a CNN model, got {cycles}")
        return 1

    def forward(self, images: torch.Tensor, cycles: int | None = None,
                return_attention: bool = False) -> list[CycleOutput]:
        """(B, 3, H, W) -> [CycleOutput(heatmaps (B, K, H/4, W/4), features)]; no tokens, no attention."""
        self.resolve_cycles(cycles)
        feats = self.stages(self.stem(images))  # (B, C_last, H/2^(2+S), W/2^(2+S))
        heatmaps = self.final_layer(self.deconv(feats))  # (B, K, H/4, W/4)
        return [CycleOutput(heatmaps=heatmaps, features=feats)]
