"""Test-time averaging as part of the model (the image, its mirror and zoomed copies), so
evaluate, predict, export and the live pipeline all score exactly what the model card reports."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def zoom_matrix(size: int, zoom: float) -> torch.Tensor:
    """(size, size) matrix R such that R @ img @ R.T is `img` zoomed about its centre by `zoom`
    (> 1 zooms in, < 1 out), bilinear, edge pixels repeated beyond the border: what
    grid_sample(..., padding_mode="border", align_corners=False) gives, as two matmuls that any
    runtime (ONNX included) runs fast."""
    centres = (torch.arange(size, dtype=torch.float64) * 2 + 1) / size - 1  # output pixel centres in [-1, 1]
    source = ((centres / zoom + 1) * size - 1) / 2  # where each samples the input, in pixels
    source = source.clamp(0, size - 1)
    left = source.floor().long().clamp(max=size - 2)
    frac = source - left
    r = torch.zeros(size, size, dtype=torch.float64)
    rows = torch.arange(size)
    r[rows, left] = 1 - frac
    r[rows, left + 1] += frac
    return r.float()


class ViewAveraged(nn.Module):
    """In eval mode, the logits averaged over several views of each image: as is and zoomed by
    each of `zooms`, each also mirrored when `flip` (one forward of the stacked views: V times the
    compute per face). In training mode, the bare network. The network is held as `.module`,
    like DistributedDataParallel's, so checkpoints store its plain state."""

    def __init__(self, module: nn.Module, size: int, flip: bool = True, zooms: Sequence[float] = ()):
        super().__init__()
        self.module = module
        self.flip = flip
        self.zooms = [float(z) for z in zooms]
        for i, z in enumerate(self.zooms):  # not persistent: rebuilt from the config, never in a checkpoint
            self.register_buffer(f"zoom{i}", zoom_matrix(size, z), persistent=False)

    @property
    def views(self) -> int:
        return (1 + len(self.zooms)) * (2 if self.flip else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.module(x)
        views = [x] + [getattr(self, f"zoom{i}") @ x @ getattr(self, f"zoom{i}").T for i in range(len(self.zooms))]
        if self.flip:
            views += [torch.flip(v, dims=[3]) for v in views]
        logits = self.module(torch.cat(views))
        return logits.reshape(len(views), x.shape[0], -1).mean(0)


def with_test_time_views(model: nn.Module, size: int, flip: bool, zooms: Sequence[float]) -> nn.Module:
    """The model wrapped to average the views a config's test_time_flip / test_time_zoom ask
    for, or as is when they ask for none."""
    return ViewAveraged(model, size, flip, zooms) if flip or zooms else model
