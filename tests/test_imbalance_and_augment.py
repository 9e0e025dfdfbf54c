from collections import Counter

import numpy as np
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
