"""Building blocks shared by the architectures."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def conv_pool_block(cin: int, cout: int, kernel: int = 3, dropout: float = 0.25) -> nn.Sequential:
    """Keras-style Conv2D -> BatchNorm -> ReLU -> MaxPool(2) -> Dropout, as in source A."""
    return nn.Sequential(*conv_bn_relu(cin, cout, kernel), nn.MaxPool2d(2), nn.Dropout(dropout))


def dense_block(cin: int, cout: int, dropout: float = 0.25) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True), nn.Dropout(dropout))


def pooled_size(image_size: int, pools: int) -> int:
    size = image_size
    for _ in range(pools):
        size //= 2
    if size < 1:
        raise ValueError(f"input {image_size}px is too small for {pools} 2x poolings")
    return size
