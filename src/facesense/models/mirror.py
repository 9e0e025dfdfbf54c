"""Horizontal-flip test-time averaging as part of the model, so evaluate, predict, export and the
live pipeline all score exactly what the model card reports."""

from __future__ import annotations

import torch
from torch import nn


class MirrorAveraged(nn.Module):
    """In eval mode, the logits of each image and of its mirror, averaged (one forward of the
    doubled batch: twice the compute per face). In training mode, the bare network. The network
    is held as `.module`, like DistributedDataParallel's, so checkpoints store its plain state."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.module(x)
        n = x.shape[0]
        logits = self.module(torch.cat([x, torch.flip(x, dims=[3])]))
        return (logits[:n] + logits[n:]) / 2
