"""Seeded stratified splits and k-fold, and resolving split names (with aliases) in a dataset."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from ..errors import DataError
from .samples import Samples
from .sources import canonical_split


def stratified_holdout(labels: list[str], fraction: float, seed: int, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` (indices) into (keep, held_out) with `fraction` held out, per class."""
    y = np.asarray(labels)[pool]
    counts = np.unique(y, return_counts=True)[1]
    stratify = y if counts.min() >= 2 else None
    keep, held = train_test_split(pool, test_size=fraction, random_state=seed, shuffle=True, stratify=stratify)
    return np.sort(keep), np.sort(held)


def kfold(labels: list[str], folds: int, fold: int, seed: int, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)[pool]
    if np.unique(y, return_counts=True)[1].min() < folds:
        raise DataError(f"{folds}-fold split needs at least {folds} samples of every class")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_idx, val_idx = list(splitter.split(pool, y))[fold]
    return np.sort(pool[train_idx]), np.sort(pool[val_idx])


def _match(samples: Samples, wanted: str | None) -> np.ndarray | None:
    """Indices whose split is `wanted` (exact name, case-insensitive, or same alias group)."""
    if wanted is None:
        return None
    names = samples.split_names()
    hits = [n for n in names if n.lower() == wanted.lower()]
    if not hits and canonical_split(wanted):
        hits = [n for n in names if canonical_split(n) == canonical_split(wanted)]
    if not hits:
        return None
    return np.array([i for i, s in enumerate(samples.splits) if s in hits], dtype=np.int64)


def assign_splits(
    samples: Samples,
    train_split: str | None = "train",
    val_split: str | None = "val",
    test_split: str | None = "test",
    val_size: float = 0.2,
    folds: int = 0,
    fold: int = 0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """-> {'train': idx, 'val': idx, 'test': idx}: from the dataset's own splits where it has them,
    else seeded and stratified from the training pool."""
    n = len(samples)
    has_splits = bool(samples.split_names())
    val = _match(samples, val_split)
    test = _match(samples, test_split)
    taken = np.zeros(n, bool)
    for idx in (val, test):
        if idx is not None:
            taken[idx] = True
    train = _match(samples, train_split)
    if train is None:
        if has_splits and train_split is not None and canonical_split(train_split) != "train":
            raise DataError(
                f"{samples.source}: no split named {train_split!r}; the data has {samples.split_names()} "
                "(set train_split to one of them, or to null to train on everything else)"
            )
        if has_splits and train_split is not None and any(canonical_split(s) for s in samples.split_names()):
            raise DataError(f"{samples.source}: no training split among {samples.split_names()}")
        train = np.flatnonzero(~taken)
    if val is None and val_split is not None and has_splits and not canonical_split(val_split):
        raise DataError(f"{samples.source}: no split named {val_split!r}; the data has {samples.split_names()}")
    if folds > 1:
        train, val = kfold(samples.labels, folds, fold, seed, train)
    elif val is None and val_size > 0:
        train, val = stratified_holdout(samples.labels, val_size, seed, train)
    out = {"train": train, "val": val if val is not None else np.zeros(0, np.int64)}
    out["test"] = test if test is not None else np.zeros(0, np.int64)
    if len(out["train"]) == 0:
        raise DataError(f"{samples.source}: the training split is empty")
    return out
