"""Source system A's Keras CNNs (batch norm, dropout, max-pooling), rebuilt in PyTorch."""

from __future__ import annotations

from torch import nn

from .layers import conv_pool_block, dense_block, pooled_size
from .registry import register


def _conv_stack_classifier(convs, dense, num_outputs, in_channels, image_size, dropout=0.25):
    layers, cin = [], in_channels
    for cout, kernel in convs:
        layers.append(conv_pool_block(cin, cout, kernel, dropout))
        cin = cout
    side = pooled_size(image_size, len(convs))
    head, fin = [nn.Flatten()], cin * side * side
    for width in dense:
        head.append(dense_block(fin, width, dropout))
        fin = width
    head.append(nn.Linear(fin, num_outputs))
    return nn.Sequential(*layers, *head)


@register("emotion_model_1", "source A: 4 Conv2D (64, 128 5x5, 512, 512) + 2 Dense (256, 512)", 48, 1, 7)
def emotion_model_1(num_outputs: int, in_channels: int = 1, image_size: int = 48, dropout: float = 0.25):
    return _conv_stack_classifier([(64, 3), (128, 5), (512, 3), (512, 3)], [256, 512], num_outputs, in_channels, image_size, dropout)


@register("emotion_model_2", "source A: 3 Conv2D (64, 128 5x5, 512) + 1 Dense (256)", 48, 1, 7)
def emotion_model_2(num_outputs: int, in_channels: int = 1, image_size: int = 48, dropout: float = 0.25):
    return _conv_stack_classifier([(64, 3), (128, 5), (512, 3)], [256], num_outputs, in_channels, image_size, dropout)


@register("emotion_model_3", "source A: 2 Conv2D (64, 128 5x5) + 1 Dense (256)", 48, 1, 7)
def emotion_model_3(num_outputs: int, in_channels: int = 1, image_size: int = 48, dropout: float = 0.25):
    return _conv_stack_classifier([(64, 3), (128, 5)], [256], num_outputs, in_channels, image_size, dropout)


@register("gender_model", "source A: 6 Conv2D in 3 pooled pairs (32, 64, 128) + Dense output", 96, 3, 2)
def gender_model(num_outputs: int, in_channels: int = 3, image_size: int = 96, dropout: float = 0.25):
    from .layers import conv_bn_relu

    layers, cin = [], in_channels
    for cout in (32, 64, 128):
        layers += [*conv_bn_relu(cin, cout), *conv_bn_relu(cout, cout), nn.MaxPool2d(2), nn.Dropout(dropout)]
        cin = cout
    side = pooled_size(image_size, 3)
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.5), nn.Linear(cin * side * side, num_outputs))
