"""Write a seeded stratified split to disk as root/{train,val,test}/<class>/* (source B's prep_data)."""

from __future__ import annotations

import csv
import io
import logging
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ..labels import normalise
from ..preprocess import InputSpec
from ..runs import WRITE_ERRNOS, building, remove_stale_temps, write_failure, write_text
from .images import decode
from .prepare import manifest_csv
from .samples import Samples
from .split import group_column, group_keys, grouped_holdout, strata_keys, stratified_by_strata, stratified_holdout

log = logging.getLogger(__name__)


def split_indices(samples: Samples, test_size: float, val_size: float, seed: int, group: str | None = None, copies: list[list[int]] = (),
                  stratify: list[str] | tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Seeded stratified hold-outs; with `stratify` (manifest columns), each label and column
    value together holds its share (as training's `stratify:` does), so that a small group is in
    every split in proportion; with `group` (a manifest column), each group's rows whole on
    one side (about the shares asked: see grouped_holdout), the groups that share one of the
    exact `copies` taken as one."""
    pool = np.arange(len(samples))
    groups = _joined_by_copies(group_keys(samples, group, "--group"), copies) if group else None
    keys = strata_keys(samples, stratify, warn=False) if stratify else None  # (said as `data split` checked its columns)
    out = {}
    # val_size is a fraction of the whole dataset, like test_size
    for split, size, fraction in (("test", test_size, test_size), ("val", val_size, val_size / (1 - test_size))):
        option = f"--{split}-size"
        if size <= 0:
            continue
        if groups is not None:
            pool, out[split] = grouped_holdout(samples.labels, keys or samples.labels, groups, fraction, seed, pool, option, size, group_option="--group")
        elif keys is not None:
            pool, out[split] = stratified_by_strata(samples.labels, keys, fraction, seed, pool, option, size, stratify)
        else:
            pool, out[split] = stratified_holdout(samples.labels, fraction, seed, pool, option, size)
    out["train"] = pool
    return out


def _joined_by_copies(groups: list[str], copies: list[list[int]]) -> list[str]:
    """Groups that share an exact copy of an image made one (the copies are kept on one side,
    and so must their people be: moving a copy alone put a person on both sides)."""
    root = {g: g for g in groups}

    def find(g: str) -> str:
        while root[g] != g:
            root[g] = root[root[g]]
            g = root[g]
        return g

    for members in copies:
        first = find(groups[members[0]])
        for i in members[1:]:
            root[find(groups[i])] = first
    return [find(g) for g in groups]


def readable_samples(samples: Samples, skip_bad: bool = False) -> Samples:
    """The samples whose images decode: a split copies files, so an unreadable one would only
    fail later, in training. Without `skip_bad` the first one is an error naming it; with it,
    the rest are kept and the skipped listed in `samples.skipped`."""
    _, kept = decode(samples, InputSpec(size=8, channels=1), skip_bad=skip_bad)
    if not kept:
        raise DataError(f"{samples.source}: no readable images (skipped all {len(samples.skipped)}); check the files")
    lost = sorted(set(samples.labels) - {samples.labels[i] for i in kept})
    if lost:  # a split without a class is no split of this dataset
        raise DataError(f"{samples.source}: no readable image of class {', '.join(map(repr, lost))} (all skipped); fix or remove them")
    return samples if len(kept) == len(samples) else samples.subset(kept)


def check_shares(test_size: float, val_size: float) -> None:
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise DataError(f"--test-size {test_size:g} and --val-size {val_size:g} hold out {test_size + val_size:g} of the data: each in [0, 1), their sum below 1, so that rows are left to train on")


def check_folder_names(samples: Samples) -> None:
    """Each label becomes a folder of the split: a label with a path in it ('../x', 'N/A') would
    write outside --out or into nested folders that read back as another class."""
    for label in sorted(set(samples.labels)):
        if label in (".", "..") or any(c in label for c in "/\\\0\n\r"):
            raise DataError(f"{samples.source}: label {label!r} cannot be a folder name; rename it in the dataset")


MANIFEST = "split_manifest.csv"


def check_empty_out(out: Path) -> None:
    """A split goes into a new or empty folder (a killed run's half-built split in it is removed
    first: it is not the user's, nor one an earlier version built beside it; a new file
    system's lost+found does not count)."""
    remove_stale_temps(out / MANIFEST)
    remove_stale_temps(out)
    if out.exists() and any(p.name != "lost+found" for p in out.iterdir()):
        raise DataError(f"{out} exists and is not empty; choose a new --out folder")


def materialise_split(samples: Samples, out: Path, test_size: float = 0.2, val_size: float = 0.0, seed: int = 0, group: str | None = None,
                      stratify: list[str] | tuple[str, ...] = ()) -> dict[str, int]:
    from .inspect import exact_duplicate_groups

    check_shares(test_size, val_size)
    check_empty_out(out)
    check_folder_names(samples)
    if group:  # before every file is read for its copies
        group_column(samples, group, "--group")
    strata_keys(samples, stratify)  # (likewise: a column it lacks)
    copies = exact_duplicate_groups(samples)  # every file read once: copies kept together, and the people sharing one
    parts = _copies_kept_together(samples, split_indices(samples, test_size, val_size, seed, group, copies, stratify), copies)
    rows, kept = [], []  # each copied file's (path, label, split), and its sample's index
    # built inside --out and moved up when complete, the manifest last: an existing empty folder
    # (a mount point, a folder shared with a group) is kept as it is, not replaced
    with building(out, MANIFEST) as build:
        for split, idx in parts.items():
            for i in idx:
                label = samples.labels[i]
                name = _path_in_class_folder(samples.ids[i], label) if samples.paths is not None else f"{samples.ids[i]}.png"
                target = build / split / label / name
                if not target.resolve().is_relative_to((build / split / label).resolve()):  # (see _path_in_class_folder)
                    target = build / split / label / Path(samples.ids[i]).name
                target.parent.mkdir(parents=True, exist_ok=True)
                while target.exists():  # the same file name in two source folders (or one named like the renamed copy)
                    target = target.with_name(f"{i}_{target.name}")
                try:
                    if samples.paths is not None:
                        shutil.copyfile(samples.paths[i], target)  # the bytes only: a read-only source gave read-only copies
                    else:
                        Image.fromarray(samples.pixels[i]).save(target)
                except OSError as exc:
                    if exc.errno in WRITE_ERRNOS:  # (copyfile names the source file, which is fine)
                        raise write_failure(out / target.relative_to(build), exc) from None
                    raise
                rows.append((str(target.relative_to(build)), label, split))
                kept.append(i)
        if samples.columns:  # a manifest's other columns (age, race...): the split reads back with them
            write_text(build / "labels.csv", _labels_csv(rows, {name: [values[i] for i in kept] for name, values in samples.columns.items()}))
        write_text(build / MANIFEST, manifest_csv(rows))
    return {k: len(v) for k, v in parts.items()}


def _path_in_class_folder(sample_id: str, label: str) -> Path:
    """Where a file goes inside its class folder of the split: the subfolders it had inside its
    own class folder kept (cat/a/5.jpg and cat/b/5.jpg were flattened, one renamed 13_5.jpg, and
    per-person subfolders were lost), else (a manifest's images/x.jpg) its name alone."""
    path = Path(sample_id)
    parts = path.parts
    if path.is_absolute() or ".." in parts:  # a manifest's path out of its folder: nothing of it may lead out of --out
        return Path(parts[-1])
    # the first folder named for the class: `happy/...`, `train/happy/...`, a manifest's
    # `faces/images/happy/bob/0.png`; `happy/2019/happy/1.png` keeps `2019/happy/`
    place = next((i for i in range(len(parts) - 1) if normalise(parts[i]) == normalise(label)), None)
    return Path(*parts[place + 1:]) if place is not None else Path(parts[-1])


def _copies_kept_together(samples: Samples, parts: dict[str, np.ndarray], copies: list[list[int]]) -> dict[str, np.ndarray]:
    """Identical images (the same bytes, or for a csv the same pixels) all go to training when the
    split put them on both sides: a test copy of a training image scores the model on what it
    learned (data inspect calls it leakage). Where that would take the last images of a class out
    of a held-out split, a training image of that class that is nobody's copy goes there instead;
    where there is none, those copies stay as drawn, and a warning says so. `copies`:
    the exact duplicate groups (data.inspect.exact_duplicate_groups)."""
    side = {int(i): split for split, idx in parts.items() for i in idx}
    crossing = [members for members in copies if len({side[m] for m in members}) > 1]
    if not crossing:
        return parts
    moved = {**side, **{m: "train" for members in crossing for m in members}}
    copied = {m for members in copies for m in members}
    left, short, stand_ins = [], [], []  # groups left across the split so that a held-out split keeps every class it had; (class, split, its copy there); (image, split)
    for split in (s for s in parts if s != "train"):
        had = {samples.labels[i] for i, s in side.items() if s == split}
        for label in sorted(had):
            if any(samples.labels[i] == label and s == split for i, s in moved.items()):
                continue
            # a training image of this class that is nobody's copy takes the place its copies left
            stand_in = next((i for i in sorted(moved) if moved[i] == "train" and side[i] == "train" and samples.labels[i] == label and i not in copied), None)
            if stand_in is not None:
                moved[stand_in] = split
                stand_ins.append((stand_in, split))
                continue
            # none: one group of this class that had a copy here is enough to give it back
            members = next(g for g in crossing if g not in left and any(side[m] == split and samples.labels[m] == label for m in g))
            moved.update({m: side[m] for m in members})
            left.append(members)
            short.append((label, split, next(samples.ids[m] for m in members if side[m] == split and samples.labels[m] == label)))
    # a group given back to its sides for another split brings its class back to the split a
    # stand-in went to: the stand-in goes back to training, whose last image of that class it
    # may be (a class of three, two of them copies drawn into test and val, trained on none)
    for i, split in stand_ins:
        if any(j != i and s == split and samples.labels[j] == samples.labels[i] for j, s in moved.items()):
            moved[i] = "train"
    n_moved = sum(side[i] != "train" and moved[i] == "train" for i in side)
    n_stand_ins = sum(side[i] == "train" and moved[i] != "train" for i in side)
    if n_moved:
        log.warning("%d held-out image(s) are exact copies of images on another side of the split: moved to train with their copies, so that no copy crosses the split%s", n_moved,
                    f" ({n_stand_ins} training image(s) of their classes, copies of none, took their places)" if n_stand_ins else "")
    if left:
        log.warning("%d group(s) of identical images still cross the split: no other image of their class could go to that held-out side (%s); remove the copies for a split without leakage",
                    len(left), "; ".join(f"{label} in {split}: {name}" for label, split, name in short))
    return {split: np.asarray(sorted(i for i, s in moved.items() if s == split), dtype=np.int64) for split in parts}


def _labels_csv(rows: list[tuple[str, str, str]], columns: dict[str, list[str]]) -> str:
    """A labels.csv manifest of the split's files (path,label,split) with the source manifest's
    other columns, so that the split folder reads as that manifest did (`--group-by race`)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "label", "split", *columns])
    w.writerows([(*row, *(values[n] for values in columns.values())) for n, row in enumerate(rows)])
    return buf.getvalue()
