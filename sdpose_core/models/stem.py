"""StemNet: the small stride-4 CNN in front of TokenPose / SDPose / DistilPose-S.

Parameter names follow the official ``StemNet`` (MartyrPenink/SDPose,
``distilpose/models/backbones/stemnet.py``) so that ``backbone.*`` keys load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

BN_MOMENTUM = 0.1  # official BN_MOMENTUM


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 -> 3x3 -> 1x1 (x4 channels), BN after each, ReLU, residual."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, downsample: nn.Module | None = None) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class StemNet(nn.Module):
    """conv3x3 s2 + BN + ReLU, conv3x3 s2 + BN + ReLU, then ``blocks`` Bottlenecks (stride 4 total).

    Args:
        channels: width of the two stem convs (official 64).
        planes: Bottleneck planes; output has ``4 * planes`` channels (official 64 -> 256).
        blocks: number of Bottlenecks in ``layer1`` (official 4).
    """

    def __init__(self, channels: int = 64, planes: int = 64, blocks: int = 4) -> None:
        super().__init__()
        self.out_channels = planes * Bottleneck.expansion
        self.conv1 = nn.Conv2d(3, channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_layer(channels, planes, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (B, c, H/2, W/2)
        x = self.relu(self.bn2(self.conv2(x)))  # (B, c, H/4, W/4)
        return self.layer1(x)  # (B, 4*planes, H/4, W/4)


def _make_layer(inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    out = planes * Bottleneck.expansion
    downsample = None
    if inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, kernel_size=1, bias=False),
            nn.BatchNorm2d(out, momentum=BN_MOMENTUM),
        )
    layers = [Bottleneck(inplanes, planes, downsample)]
    layers += [Bottleneck(out, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def init_cnn_(module: nn.Module) -> None:
    """He-normal convs (fan_out, ReLU), BN weight 1 / bias 0: a from-scratch init that trains.

    (The official StemNet draws N(0, 0.001), which only works with long schedules.)
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
