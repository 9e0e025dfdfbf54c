from collections import Counter

import numpy as np
import pytest
import torch

from facesense.config import AugmentConfig
from facesense.data.batches import ArrayDataset, Batches, build_augment
from facesense.preprocess import InputSpec
from facesense.train.loop import class_weights


def test_class_weights_are_inverse_frequency():
    targets = torch.tensor([0] * 80 + [1] * 20)
    w = class_weights(targets, 2)
    np.testing.assert_allclose(w.numpy(), [100 / (2 * 80), 100 / (2 * 20)])
    # sklearn's 'balanced' gives the same numbers
    from sklearn.utils.class_weight import compute_class_weight

    np.testing.assert_allclose(w.numpy(), compute_class_weight("balanced", classes=np.array([0, 1]), y=targets.numpy()), rtol=1e-6)


def test_balanced_sampler_evens_out_classes():
    targets = torch.tensor([0] * 900 + [1] * 100)
    data = ArrayDataset(torch.zeros(1000, 1, 2, 2, dtype=torch.uint8), targets, [str(i) for i in range(1000)])
    weights = class_weights(targets, 2)[targets].numpy()
    batches = Batches(data, InputSpec(2, 1), 100, train=True, seed=0, sample_weights=weights)
    seen = Counter(int(y) for _, ys, _ in batches for y in ys)
    assert abs(seen[0] - seen[1]) < 120  # ~500 each instead of 900/100
    plain = Batches(data, InputSpec(2, 1), 100, train=True, seed=0)
    assert Counter(int(y) for _, ys, _ in plain for y in ys)[1] == 100


def test_only_training_batches_are_augmented_and_shuffled():
    images = torch.arange(16, dtype=torch.uint8).repeat_interleave(64).reshape(16, 1, 8, 8) * 10
    data = ArrayDataset(images, torch.zeros(16, dtype=torch.long), [str(i) for i in range(16)])
    spec = InputSpec(8, 1)
    augment = build_augment(AugmentConfig(rotation=30, shift=0.2, hflip=True, erasing=1.0), spec)
    assert build_augment(AugmentConfig(), spec) is None
    evaluation = Batches(data, spec, 4, train=False, augment=augment)
    x, _, idx = next(iter(evaluation))
    assert idx.tolist() == [0, 1, 2, 3] and torch.equal(x, images[:4].float() / 255)
    torch.manual_seed(0)
    training = Batches(data, spec, 4, train=True, seed=0, augment=augment)
    x, _, idx = next(iter(training))
    assert idx.tolist() != [0, 1, 2, 3] and not torch.equal(x, images[idx].float() / 255)


def test_colour_jitter_runs_on_pixels_before_a_models_normalisation():
    """A model with its own mean/std (dlib's networks) must still see pixels darker than the
    mean: the jitter clamps to [0, 1] pixels, so it runs before the normalisation."""
    images = torch.tensor([0, 64, 128, 255], dtype=torch.uint8).repeat_interleave(48).reshape(4, 3, 4, 4)
    data = ArrayDataset(images, torch.zeros(4, dtype=torch.long), [str(i) for i in range(4)])
    spec = InputSpec(4, 3, mean=(0.5, 0.5, 0.5), std=0.25)
    augment = build_augment(AugmentConfig(brightness=0.01, contrast=0.01), spec)
    x, _, idx = next(iter(Batches(data, spec, 4, train=True, seed=0, augment=augment)))
    black = x[(idx == 0).nonzero()[0, 0]]
    assert torch.allclose(black, torch.full_like(black, -2.0), atol=0.1)  # (0 - 0.5) / 0.25, not clamped to 0
    white = x[(idx == 3).nonzero()[0, 0]]
    assert white.max() <= 2.0 + 1e-5 and white.min() > 1.8


def test_degraded_faces_are_drawn_per_face_and_seeded_per_epoch():
    """Degrader(p): about p of the faces change (p=1: all, p=0: none), shape and [0, 1] range
    kept for gray and colour faces; the same (seed, epoch) draws the same copies, so a resumed
    run sees what an uninterrupted one saw."""
    from facesense.train.degrade import Degrader

    gen = torch.Generator().manual_seed(0)
    faces = torch.randint(0, 256, (64, 1, 48, 48), generator=gen).float() / 255  # whole pixel values survive the uint8 round trip
    every = Degrader(1.0, seed=3)
    every.set_epoch(2)
    out = every(faces)
    assert out.shape == faces.shape and 0 <= out.min() and out.max() <= 1
    assert (out != faces).flatten(1).any(1).all()
    again = Degrader(1.0, seed=3)
    again.set_epoch(2)
    assert torch.equal(again(faces), out)
    again.set_epoch(3)
    assert not torch.equal(again(faces), out)
    again.set_epoch(2)  # a used degrader set back to epoch 2 draws epoch 2's copies again
    assert torch.equal(again(faces), out)
    half = Degrader(0.5, seed=0)
    changed = (half(faces) != faces).flatten(1).any(1).sum().item()
    assert 16 <= changed <= 48
    assert torch.equal(Degrader(0.0)(faces), faces)
    colour = torch.rand(8, 3, 48, 48, generator=gen)
    assert every(colour).shape == colour.shape
    with pytest.raises(ValueError, match="probability"):
        Degrader(1.5)
