"""Source system B's VGG-style binary baseline."""

from __future__ import annotations

from torch import nn

from .layers import pooled_size
from .registry import register


@register("baseline_vgg", "source B: [conv, conv, max-pool] x 2 (64 filters), [dense 128, dropout] x 2", 64, 3, 2)
def baseline_vgg(num_outputs: int, in_channels: int = 3, image_size: int = 64, dense: int = 128, dropout: float = 0.5):
    layers, cin = [], in_channels
    for _ in range(2):
        layers += [nn.Conv2d(cin, 64, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, stride=2)]
        cin = 64
    side = pooled_size(image_size, 2)
    head = [nn.Flatten(), nn.Linear(64 * side * side, dense), nn.ReLU(inplace=True), nn.Dropout(dropout)]
    head += [nn.Linear(dense, dense), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(dense, num_outputs)]
    return nn.Sequential(*layers, *head)
