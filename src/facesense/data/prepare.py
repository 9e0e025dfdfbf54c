"""Config -> decoded train/val/test tensors with class indices mapped by name, plus the split manifest."""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import schema
from ..errors import DataError
from ..labels import check_map_keys, fold_spellings, map_labels, mapped_labels, normalise, task_classes, warn_of_folds
from ..preprocess import InputSpec
from .batches import ArrayDataset
from .images import decode
from .samples import Samples
from .sources import read_dataset
from .split import assign_splits


@dataclass
class PreparedData:
    classes: list[str]
    spec: InputSpec
    splits: dict[str, ArrayDataset]
    manifest_rows: list[tuple[str, str, str]]  # (id, label, assigned split)
    skipped: list[tuple[str, str]]
    dropped: int  # samples whose label the label_map drops
    decode_seconds: float = 0.0
    source_splits: dict[str, str] = field(default_factory=dict)
    # aligned inputs: each row's image digest before alignment, by (split, id) (images.decode)
    unaligned_digests: dict[tuple[str, str], str] = field(default_factory=dict)


def input_spec(cfg) -> InputSpec:
    """The input spec a training config asks for: size, channels, normalisation, alignment."""
    from ..preprocess import REFERENCES

    def norm(value):
        return tuple(float(v) for v in value) if isinstance(value, (list, tuple)) else float(value)

    return InputSpec(size=cfg.image_size, channels=cfg.channels, mean=norm(cfg.input_mean), std=norm(cfg.input_std), align=REFERENCES[cfg.align] if cfg.align else None)


def face_preparer(spec: InputSpec):
    """What each training image goes through before resizing: for a model trained on aligned
    faces, the runtime's own aligner (five landmarks found on the crop, mapped onto the spec's
    reference), so training and inference see the same chips; None otherwise."""
    if spec.align is None:
        return None
    from ..runtime.align import align_crop

    return lambda image: align_crop(image, spec)


def prepare_data(cfg, progress=None) -> PreparedData:
    if cfg.task == "gender_age":
        from .gender_age import prepare_gender_age

        return prepare_gender_age(cfg)
    samples, classes, targets, parts, dropped = planned_splits(cfg, read_dataset(cfg.data, cfg.data_format, skip_bad=cfg.skip_bad))
    spec = input_spec(cfg)
    t0 = time.perf_counter()
    splits: dict[str, ArrayDataset] = {}
    rows: list[tuple[str, str, str]] = []
    unaligned: dict[tuple[str, str], str] = {}
    if progress is None:  # a line every few seconds through a large dataset's first read
        from ..progress import Progress

        progress = Progress("reading images", sum(len(idx) for idx in parts.values()))
    for name, idx in parts.items():
        part = samples.subset(idx)
        digests: list[str] = []
        images, kept = decode(part, spec, skip_bad=cfg.skip_bad, progress=progress, prepare=face_preparer(spec), unaligned_digests=digests)
        samples.skipped = part.skipped
        y = targets[idx][kept]
        ids = [part.ids[i] for i in kept]
        unaligned.update(((name, i), d) for i, d in zip(ids, digests))
        splits[name] = ArrayDataset(torch.from_numpy(images), torch.from_numpy(y), ids)
        rows += [(i, classes[t], name) for i, t in zip(ids, y)]
    _check_training_classes(cfg, classes, set(splits["train"].targets.tolist()), samples.skipped)
    return PreparedData(classes, spec, splits, rows, samples.skipped, dropped, time.perf_counter() - t0, unaligned_digests=unaligned)


def planned_splits(cfg, samples: Samples) -> tuple[Samples, list[str], np.ndarray, dict[str, np.ndarray], int]:
    """The rows a run of `cfg` trains, validates and tests on, from the labels alone (no image
    decoded): (the samples its label_map keeps, its classes, their targets, the split's indices
    into them, how many rows the map dropped)."""
    check_map_keys(cfg.label_map, samples.labels, samples.source)
    if cfg.task == "custom" and not cfg.classes:  # the data's own labels are the classes: two spellings of one would silently be one class
        mapped = {normalise(key) for key in cfg.label_map or {}}  # the map renames or drops every spelling of its keys (check_map_keys says so)
        warn_of_folds(cfg.data, fold_spellings(sorted(x for x in set(samples.labels) if normalise(x) not in mapped))[1], "trained as")
    classes = list(cfg.classes) if cfg.classes else list(task_classes(cfg.task, mapped_labels(set(samples.labels), cfg.label_map)))
    # a custom task's own classes list: the fix is there (the advice to use task: custom would send it in a circle)
    own_classes = "`label_map: {old: new}` in the config, or the config's `classes` list" if cfg.task == "custom" and cfg.classes else None
    targets, keep = map_labels(samples, classes, cfg.label_map, map_option=own_classes)
    samples = samples.subset(np.flatnonzero(keep))
    targets = targets[keep]
    parts = assign_splits(samples, cfg.train_split, cfg.val_split, cfg.test_split, cfg.val_size, cfg.folds, cfg.fold, cfg.seed, cfg.test_size, cfg.stratify, cfg.split_rule, cfg.split_group)
    return samples, classes, targets, parts, int((~keep).sum())


def check_planned_data(cfg, classes: list[str], targets: np.ndarray, parts: dict[str, np.ndarray]) -> None:
    """What prepare_data would refuse about a planned split's classes (planned_splits), found
    from the labels alone: a study says it before any of its runs trains (unreadable images,
    which only a decode finds, are left to the run)."""
    _check_training_classes(cfg, classes, set(targets[parts["train"]].tolist()), [])


def _check_training_classes(cfg, classes: list[str], present: set[int], skipped: list) -> None:
    """The training split must hold at least two classes, and every class the run predicts."""
    missing = [c for i, c in enumerate(classes) if i not in present]
    if not present:
        raise DataError(f"{cfg.data}: the training split has no samples (skipped as unreadable: {len(skipped)}); check the data and the split settings")
    # a class can be empty because skip_bad skipped every image of it: say so, with an example
    unread = f" ({len(skipped)} image(s) were skipped as unreadable, e.g. {skipped[0][0]})" if skipped else ""
    if len(present) < 2:
        raise DataError(f"{cfg.data}: the training split has only class {[classes[i] for i in sorted(present)]}; need at least two{unread}")
    if missing:
        # the way that works for this task: a fixed task's classes cannot be narrowed in place
        if cfg.task != "custom":
            narrow = "train on the classes present with task=custom (its classes are the data's labels, or `classes: [...]`)"
        elif cfg.classes:  # named in `classes`: a label_map drop would leave them there
            narrow = f"remove them from `classes` (and drop their rows with label_map: {{{', '.join(f'{c}: null' for c in missing)}}})"
        else:
            narrow = f"drop them with label_map: {{{', '.join(f'{c}: null' for c in missing)}}}"
        raise DataError(f"{cfg.data}: classes {missing} have no training samples{unread}; add data, or {narrow}")


def manifest_csv(rows: list[tuple[str, str, str]], digests: list[str] | None = None, unaligned: list[str] | None = None) -> str:
    """The split manifest; `digests` (a training run's) adds each sample's pixels_digest, and
    `unaligned` (a run on aligned faces) each image's digest before alignment."""
    buf = io.StringIO()
    w = csv.writer(buf)
    extra = [d for d in (digests, unaligned) if d is not None]
    w.writerow(["id", "label", "split", *(["pixels_digest"] if digests is not None else []), *(["unaligned_digest"] if unaligned is not None else []), schema.KEY])
    w.writerows([(*row, *(d[n] for d in extra), schema.VERSIONS["split_manifest"]) for n, row in enumerate(rows)])
    return buf.getvalue()


def unaligned_digests(data: PreparedData) -> list[str] | None:
    """Each manifest row's image digest before alignment (None: the inputs are not aligned)."""
    if not data.unaligned_digests:
        return None
    return [data.unaligned_digests.get((split, sample_id), "") for sample_id, _, split in data.manifest_rows]


def rows_digest(rows: list[tuple[str, str, str]]) -> str:
    """One hash of the manifest rows (id, label, split), kept in a run's checkpoints: a resumed
    run whose split_manifest.csv has gone still knows whether its data is the same."""
    import hashlib

    return hashlib.sha256("\n".join("\t".join(row) for row in rows).encode()).hexdigest()


def pixel_digests(data: PreparedData) -> list[str]:
    """A short hash of each manifest row's decoded pixels, in `manifest_rows` order: a resumed
    run can tell an image replaced under the same name (its id and label unchanged)."""
    from .digests import pixel_digest

    where = {(name, i): (part, n) for name, part in data.splits.items() for n, i in enumerate(part.ids)}
    out = []
    for sample_id, _, split in data.manifest_rows:
        part, n = where[(split, sample_id)]
        out.append(pixel_digest(part.images[n].numpy()))
    return out
