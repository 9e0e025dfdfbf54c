"""Batches over decoded uint8 tensors. The `train` flag is the ONLY place where shuffling,
drop_last, balanced sampling and augmentation are decided. Every batch carries the indices
of its samples, so predictions can never be paired with the wrong labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from ..preprocess import InputSpec, normalise, scale


@dataclass
class ArrayDataset:
    images: torch.Tensor  # N x C x H x W uint8
    targets: torch.Tensor  # N int64
    ids: list[str]

    def __post_init__(self) -> None:
        if not (len(self.images) == len(self.targets) == len(self.ids)):
            raise ValueError("images, targets and ids differ in length")

    def __len__(self) -> int:
        return len(self.targets)


def inference_batch_size(spec: InputSpec, most: int = 256, pixel_budget: int = 2**21) -> int:
    """Images per scoring batch: `most` for face-sized inputs, fewer for large ones, so the
    activations stay within memory (256 photos at 384x384 with two views took over 24 GB)."""
    return max(1, min(most, pixel_budget // (spec.size * spec.size)))


class Batches:
    """Iterable of (x float32, y int64, idx int64) for one split."""

    def __init__(
        self,
        data: ArrayDataset,
        spec: InputSpec,
        batch_size: int,
        train: bool,
        seed: int = 0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        sample_weights: np.ndarray | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.data, self.spec, self.batch_size, self.train = data, spec, batch_size, train
        self.seed, self.epoch = seed, 0
        self.augment = augment if train else None
        self.sample_weights = sample_weights if train else None
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        """The shuffle order is a function of (seed, epoch), so a resumed run sees the same one."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        n = len(self.data)
        if not self.train:
            order = torch.arange(n)
        else:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            if self.sample_weights is not None:
                w = torch.as_tensor(self.sample_weights, dtype=torch.double)
                order = torch.multinomial(w, n, replacement=True, generator=gen)
            else:
                order = torch.randperm(n, generator=gen)
        if self.world_size > 1:
            # step k of every process together covers exactly the samples of step k of a single
            # process whose batch is world_size times larger: same global batches, same order
            width = self.batch_size * self.world_size
            usable = len(order) // width * width
            order = order[:usable].reshape(-1, self.world_size, self.batch_size)[:, self.rank].reshape(-1)
        return order

    def __len__(self) -> int:
        n = len(self._order())
        return n // self.batch_size if self._drop_last(n) else -(-n // self.batch_size)

    def _drop_last(self, n: int) -> bool:
        # a trailing batch of one breaks batch norm in training; evaluation keeps every sample
        return self.train and n > self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = self._order()
        n = len(order)
        stop = n - n % self.batch_size if self._drop_last(n) else n
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.augment is None:
                x = scale(self.data.images[idx], self.spec)
            else:  # augmentation works on [0, 1] pixels (colour jitter clamps to them), then the model's normalisation
                x = normalise(self.augment(self.data.images[idx].float() / 255.0), self.spec)
            yield x, self.data.targets[idx], idx


def build_augment(aug, spec: InputSpec) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Batched train-time augmentation on float tensors (kornia), or None when all are off."""
    import kornia.augmentation as K

    ops = []
    if aug.rotation or aug.shift or aug.shear or aug.zoom:
        ops.append(
            K.RandomAffine(
                degrees=aug.rotation,
                translate=(aug.shift, aug.shift) if aug.shift else None,
                scale=(1 - aug.zoom, 1 + aug.zoom) if aug.zoom else None,
                shear=aug.shear or None,
                padding_mode="border",
                p=1.0,
            )
        )
    if aug.hflip:
        ops.append(K.RandomHorizontalFlip(p=0.5))
    if aug.grayscale:
        ops.append(K.RandomGrayscale(p=aug.grayscale))
    if aug.blur:
        ops.append(K.RandomGaussianBlur((3, 3), (0.1, 1.2), p=aug.blur))
    if aug.erasing:  # mid-grey patches (augmentation runs before the model's normalisation)
        ops.append(K.RandomErasing(p=aug.erasing, value=0.5))
    photometric = aug.brightness or aug.contrast or aug.saturation
    if not ops and not photometric:
        return None
    seq = K.AugmentationSequential(*ops) if ops else None

    def augment(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if photometric:
                x = jitter_colour(x, aug.brightness, aug.contrast, aug.saturation)
            return seq(x) if seq is not None else x

    return augment


def jitter_colour(x: torch.Tensor, brightness: float, contrast: float, saturation: float) -> torch.Tensor:
    """Per-image random brightness, contrast and saturation factors in [1 - s, 1 + s], on [0, 1]
    pixels (augmentation runs before the model's normalisation). Three blends per batch:
    kornia's ColorJitter (HSV round trip) took ten times longer than the network's step on a
    2-core CPU."""
    n = x.shape[0]

    def factor(strength: float) -> torch.Tensor:
        return (1 + strength * (2 * torch.rand(n, 1, 1, 1, device=x.device) - 1)) if strength else None

    b, c, s = factor(brightness), factor(contrast), factor(saturation)
    if b is not None:
        x = x * b
    if c is not None:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean
    if s is not None and x.shape[1] == 3:
        gray = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        x = (x - gray) * s + gray
    return x.clamp(0, 1)
