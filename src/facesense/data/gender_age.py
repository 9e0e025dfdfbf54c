"""Data for task=gender_age: a main labels.csv with an `age` column (both heads), plus optional
datasets with gender labels only (class head only). Targets are N x 2: class index, age in
whole years (-1 where the sample has no age, which masks the age loss)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..age import GENDER_CLASSES, OLDEST_AGE, is_age_in_years
from ..errors import DataError
from ..preprocess import InputSpec
from .batches import ArrayDataset
from .images import decode
from .prepare import PreparedData, face_preparer, input_spec, map_labels
from .samples import Samples
from .sources import read_dataset
from .split import assign_splits, trained_split_settings

log = logging.getLogger(__name__)
NO_AGE = -1


def ages_of(samples: Samples, age_max: int) -> np.ndarray:
    """The manifest's `age` column as whole years, clipped to the last bin."""
    if "age" not in samples.columns:
        raise DataError(f"{samples.source}: task=gender_age needs an `age` column in the manifest (path,label,age); give gender-only datasets as extra_data")
    bad = next((v for v in samples.columns["age"] if not is_age_in_years(v)), None)  # as age evaluation reads them
    if bad is not None:
        raise DataError(f"{samples.source}: age {bad!r} is not an age in years (a number from 0 to {OLDEST_AGE}); fix the age column")
    years = np.array([float(v) for v in samples.columns["age"]])
    over = int((np.rint(years) > age_max).sum())
    if over:  # the last bin stands for them: training's age MAE counts them at age_max
        log.warning("%s: %d of %d ages are above age_max=%d (oldest %g); they train, and count in the validation MAE, as %d",
                    samples.source, over, len(years), age_max, years.max(), age_max)
    return np.minimum(np.rint(years), age_max).astype(np.int64)


def _decode_part(samples: Samples, idx: np.ndarray, targets: np.ndarray, spec: InputSpec, skip_bad: bool, prefix: str):
    part = samples.subset(idx)
    unaligned: list[str] = []
    images, kept = decode(part, spec, skip_bad=skip_bad, prepare=face_preparer(spec), unaligned_digests=unaligned)
    ids = [prefix + part.ids[i] for i in kept]
    return images, targets[idx][kept], ids, part.skipped, unaligned


def prepare_gender_age(cfg) -> PreparedData:
    spec = input_spec(cfg)
    classes = list(cfg.classes) if cfg.classes else list(GENDER_CLASSES)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    rows: list[tuple[str, str, str]] = []
    skipped: list[tuple[str, str]] = []
    unaligned: dict[tuple[str, str], str] = {}
    dropped = 0
    t0 = time.perf_counter()
    sources = [(cfg.data, True)] + [(extra, False) for extra in cfg.extra_data]
    if any(Path(extra).resolve() == Path(cfg.data).resolve() for extra in cfg.extra_data):  # its held-out rows would train
        raise DataError(f"extra_data {cfg.data}: is the main dataset itself; extra_data takes other, gender-only datasets")
    seen = set()
    for extra in cfg.extra_data:  # the same dataset twice would count each of its images twice
        if Path(extra).resolve() in seen:
            raise DataError(f"extra_data {extra}: given twice; give each dataset once")
        seen.add(Path(extra).resolve())
    for source, with_age in sources:
        samples = read_dataset(source, cfg.data_format if with_age else "auto", skip_bad=cfg.skip_bad)
        classes_idx, keep = map_labels(samples, classes, cfg.label_map)
        dropped += int((~keep).sum())
        samples = samples.subset(np.flatnonzero(keep))
        classes_idx = classes_idx[keep]
        ages = ages_of(samples, cfg.age_max) if with_age else np.full(len(samples), NO_AGE, np.int64)
        targets = np.stack([classes_idx, ages], axis=1)
        if with_age:
            # the function evaluation and the benchmarks recompute this split with (folds_on)
            split = assign_splits(samples, **trained_split_settings(vars(cfg)))
            prefix = ""
        else:  # class-head data: a validation share (or, with folds_on: extra, a fold) for selection, never a test split
            folds = (cfg.folds, cfg.fold) if cfg.folds_on == "extra" else (0, 0)
            # its people kept together too where it names them in the same column (said where it does not)
            grouped = cfg.split_group if cfg.split_group and cfg.split_group.lower() in samples.columns else None
            if cfg.split_group and not grouped:
                log.warning("%s: no %r column, so split_group does not keep its people together: its validation rows may share people with its training rows", source, cfg.split_group)
            split = assign_splits(samples, cfg.train_split, cfg.val_split, None, cfg.val_size, *folds, cfg.seed, split_rule=cfg.split_rule, split_group=grouped)
            prefix = f"{Path(source).name}:"
        for name, idx in split.items():
            if len(idx) == 0:
                continue
            images, y, ids, bad, digests = _decode_part(samples, idx, targets, spec, cfg.skip_bad, prefix)
            skipped += bad
            unaligned.update(((name, i), d) for i, d in zip(ids, digests))
            parts[name].append((images, y, ids))
            rows += [(i, classes[t[0]], name) for i, t in zip(ids, y)]
    splits = {}
    for name, pieces in parts.items():
        if pieces:
            images = np.concatenate([p[0] for p in pieces])
            y = np.concatenate([p[1] for p in pieces])
            ids = [i for p in pieces for i in p[2]]
        else:
            images = np.zeros((0, spec.channels, spec.size, spec.size), np.uint8)
            y, ids = np.zeros((0, 2), np.int64), []
        splits[name] = ArrayDataset(torch.from_numpy(images), torch.from_numpy(y), ids)
    train_y = splits["train"].targets
    missing = [c for i, c in enumerate(classes) if not (train_y[:, 0] == i).any()]
    if missing:
        raise DataError(f"{cfg.data}: classes {missing} have no training samples")
    if cfg.age_weight > 0 and not (train_y[:, 1] >= 0).any():
        raise DataError(f"{cfg.data}: no training sample has an age; task=gender_age learns age from the main dataset's `age` column")
    return PreparedData(classes, spec, splits, rows, skipped, dropped, time.perf_counter() - t0, unaligned_digests=unaligned)
