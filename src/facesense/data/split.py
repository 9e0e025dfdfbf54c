"""Seeded stratified splits and k-fold, and resolving split names (with aliases) in a dataset."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from typing import Callable

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..errors import DataError
from .samples import Samples, closest, warn_of_odd_ages
from .sources import SPLIT_ALIASES, canonical_split, read_dataset

log = logging.getLogger(__name__)


# the hold-out rule of new runs (config split_rule): 4 holds test_size's hold-out and one
# stratified by `stratify` columns to val_size's rules too, 3 keeps single-sample classes in training and the
# rest stratified, 2 puts every class of two or more samples on both sides; a config without
# the key was made under rule 1
SPLIT_RULE = 4


def stratified_holdout(labels: list[str], fraction: float, seed: int, pool: np.ndarray, option: str = "val_size", given: float | None = None, split_rule: int = SPLIT_RULE) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` (indices) into (keep, held_out) with `fraction` held out, per class. A class
    with a single sample stays on the kept side and the others stay stratified (rules 1 and 2,
    of older runs: one such class made the whole split unstratified). `option` and `given` (the
    value as the user gave it, where `fraction` is derived from it) name the setting in the
    error when the pool is too small for that fraction."""
    y = np.asarray(labels)[pool]
    names, counts = np.unique(y, return_counts=True)
    single = names[counts < 2]
    if split_rule >= 3 and len(single):
        if len(single) == len(names):
            raise DataError(f"{option}={fraction if given is None else given:g}: every class has a single sample, so a hold-out would take whole classes out of training; add images or set {option} to 0")
        # (a class of two whose other sample an earlier hold-out took was said to have one)
        elsewhere = set(np.asarray(labels)[np.setdiff1d(np.arange(len(labels)), pool)].tolist())
        alone_here = [c for c in single.tolist() if c in elsewhere]
        for said, classes in (("", [c for c in single.tolist() if c not in elsewhere]), (" left here (its others are in another split)", alone_here)):
            if classes:
                log.warning("class(es) %s have one sample%s: kept out of the %s hold-out", ", ".join(map(repr, classes)), said, option)
        alone = np.isin(y, single)
        keep, held = stratified_holdout(labels, fraction, seed, pool[~alone], option, given, split_rule=split_rule)
        return np.sort(np.concatenate([keep, pool[alone]])), held
    try:
        keep, held = train_test_split(pool, test_size=fraction, random_state=seed, shuffle=True, stratify=None if len(single) else y)
    except ValueError:  # scikit-learn: a side with no sample, or fewer samples than classes
        held = int(np.ceil(fraction * len(pool)))
        raise DataError(f"{option}={fraction if given is None else given:g} holds out {held} of {len(pool)} samples, leaving {len(pool) - held}, "
                        f"and each side needs one sample of each of the {len(counts)} classes; choose a {option} that leaves that on both sides") from None
    if split_rule >= 2:
        keep, held = every_class_on_both_sides(labels, keep, held, seed, option)
    return np.sort(keep), np.sort(held)


def every_class_on_both_sides(labels: list[str], keep: np.ndarray, held: np.ndarray, seed: int, option: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's stratified split rounds a small class's share of a small hold-out to
    nothing (2 of 41 samples, 9 held out: none held), and a validation set without a class then
    scores a perfect macro-F1. A class of two or more samples missing from one side gets one
    (seeded) sample moved over."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep, held, moved_for = list(keep), list(held), []
    for name in sorted(set(y[keep].tolist()) | set(y[held].tolist())):
        on_keep = [i for i in keep if y[i] == name]
        on_held = [i for i in held if y[i] == name]
        if len(on_keep) + len(on_held) < 2 or (on_keep and on_held):
            continue
        source, target = (keep, held) if not on_held else (held, keep)
        moved = int(rng.choice(on_keep or on_held))
        source.remove(moved)
        target.append(moved)
        moved_for.append(name)
    if moved_for:
        log.warning("class(es) %s too small for their share of the %s hold-out: one sample each moved so that both sides have every class", ", ".join(map(repr, moved_for)), option)
    return np.asarray(keep, dtype=np.int64), np.asarray(held, dtype=np.int64)


def strata_keys(samples: Samples, columns: list[str] | tuple[str, ...], warn: bool = True) -> list[str]:
    """One key per sample: its label plus each named manifest column (`age` binned into bands)."""
    from ..age import age_band

    keys = list(samples.labels)
    for column in columns:
        name = column.lower()
        if name == "label":
            raise DataError(f"{samples.source}: the label is stratified always; name other columns to stratify by besides it (race, age)")
        if name not in samples.columns:
            has = f"the manifest has {sorted(samples.columns)}" if samples.columns else "the data has no columns besides its labels (a labels.csv manifest can have them)"
            raise DataError(f"{samples.source}: no column {column!r} to stratify by{closest(column, samples.columns)}; {has}")
        values = samples.columns[name]
        if name == "age":  # years in bands; as data inspect and --group-by count them, a blank cell is a band of
            # its own and text (FairFace's ranges, 20-29) a band as written
            blank = [v is None or str(v).strip().lower() in ("", "nan") for v in values]
            if warn:  # (a caller that checked the columns first has said it)
                warn_of_odd_ages(["" if b else str(v) for v, b in zip(values, blank)], column, "stratified as written (text) or in the nearest band (numbers); fix {them} to stratify {them} by age")
            values = ["(blank)" if b else age_band(float(v)) if is_number(v) else str(v).strip() for v, b in zip(values, blank)]
        elif warn and len(values) > 1 and len(set(values)) == len(values):  # a note or an id per row: no group to keep in proportion (found by a bug hunt)
            log.warning("%s: every row has its own %r value, so stratifying by it changes nothing; give a column of groups (race, age)", samples.source, column)
        keys = [f"{k}|{v}" for k, v in zip(keys, values)]
    return keys


def group_column(samples: Samples, column: str, option: str = "split_group") -> str:
    """The manifest column that names each row's group (a person), as the samples hold it."""
    name = column.lower()
    if samples.split_column and name == samples.split_column.lower():  # FER2013's Usage: "this data has only images and labels" named it
        raise DataError(f"{samples.source}: {column!r} is the data's split column ({', '.join(samples.split_names())}), not a person's; {option} names the column of each row's person or group")
    if not samples.columns:  # class folders, a csv of images and labels only: nothing names a person
        raise DataError(f"{samples.source}: no column {column!r} for {option}: this data has only images and labels; "
                        f"{option} needs a csv with a column naming each row's person (a labels.csv's path,label,{name}; a FER2013-style csv's emotion,pixels,Usage,{name})")
    if name not in samples.columns:
        raise DataError(f"{samples.source}: no column {column!r} for {option}{closest(column, samples.columns)} (the column naming each row's person or group); the data has {sorted(samples.columns)}")
    return name


def group_keys(samples: Samples, column: str, option: str = "split_group") -> list[str]:
    """One group per sample from a manifest column (a person's id): the seeded splits keep each
    group on one side. A blank cell is a group of its own row (said once)."""
    values = [str(v).strip() for v in samples.columns[group_column(samples, column, option)]]
    blank = values.count("")
    if blank:
        log.warning("%s: %d row(s) have a blank %r cell: each is kept as a group of its own", samples.source, blank, column)
    named = [v for v in values if v]
    if len(named) > 1 and len(set(named)) == len(named):  # a path or an image id: no two rows kept together
        log.warning("%s: every row has its own %r value, so each group is a single row and %s changes nothing (fine if each person has one image; "
                    "otherwise give the column that names each row's person)", samples.source, column, option)
    return [v if v else f"\0row {i}" for i, v in enumerate(values)]  # \0: no cell's text


def sides_of_groups(groups: list[str], sides) -> dict[str, set]:
    """Each group's set of the sides (splits) its rows lie on; `sides` gives each row's."""
    found: dict[str, set] = {}
    for group, side in zip(groups, sides):
        found.setdefault(group, set()).add(side)
    return found


def grouped_holdout(labels: list[str], strata: list[str], groups: list[str], fraction: float, seed: int, pool: np.ndarray, option: str, given: float | None = None,
                    group_option: str = "split_group") -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` into (keep, held_out) with every group whole on one side. The groups are
    taken in a seeded random order, each held out where that brings the held-out count of every
    stratum (the label, or the label and the `stratify` columns) nearer its share of `fraction`:
    about `fraction` of the rows, stratified as far as whole groups allow, and each seed its own
    draw (scikit-learn's StratifiedGroupKFold orders the groups by their class mix, so where
    groups differ in size every seed drew the same ones)."""
    setting = f"{option}{' ' if option.startswith('-') else '='}{fraction if given is None else given:g} with {group_option}"
    pool = np.asarray(pool, dtype=np.int64)
    names, group_of = np.unique(np.asarray(groups)[pool], return_inverse=True)
    if len(names) < 2:
        raise DataError(f"{setting}: the rows are a single group, which cannot be on both sides of a hold-out; leave {group_option} out")
    kinds, stratum_of = np.unique(np.asarray(strata)[pool], return_inverse=True)
    counts = np.zeros((len(names), len(kinds)), np.int64)  # rows of each stratum in each group
    np.add.at(counts, (group_of, stratum_of), 1)
    target = fraction * counts.sum(axis=0)
    taken, held_groups = np.zeros(len(kinds)), np.zeros(len(names), bool)
    for g in np.random.default_rng(seed).permutation(len(names)):
        if ((taken + counts[g] - target) ** 2).sum() < ((taken - target) ** 2).sum():
            taken += counts[g]
            held_groups[g] = True
    if not held_groups.any():
        raise DataError(f"{setting}: every group has more rows than a share of {fraction:g} holds; hold out a larger share, or leave {group_option} out")
    held = np.sort(pool[held_groups[group_of]])
    keep = np.setdiff1d(pool, held)
    log.info("%s: %d of %d rows held out (%.1f%%), each group whole on one side", setting, len(held), len(pool), 100 * len(held) / max(len(pool), 1))
    _warn_of_one_sided_classes(labels, keep, held, setting)
    return keep, held


def _group_folds(strata: list[str], groups: list[str], folds: int, seed: int, pool: np.ndarray, setting: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """StratifiedGroupKFold's (train, test) positions in `pool`, refused in words where the
    groups, or the rows of the largest class, are fewer than the folds."""
    y, g = np.asarray(strata)[pool], np.asarray(groups)[pool]
    n_groups, largest = len(set(g.tolist())), max(Counter(y.tolist()).values())
    most = min(n_groups, largest)
    if most < 2:
        raise DataError(f"{setting}: the rows are a single group (or each class a single row), which cannot be split into folds; leave split_group out")
    if most < folds:
        raise DataError(f"{setting}: {folds} folds need {folds} groups and a class of {folds} rows, and the data has {n_groups} groups, its largest class "
                        f"{largest} rows; use at most {most} folds, or leave split_group out")
    with warnings.catch_warnings():  # "the least populated class has only N members": said in words, per class
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(pool, y, g))


def _warn_of_one_sided_classes(labels: list[str], keep: np.ndarray, held: np.ndarray, option: str) -> None:
    """Whole groups cannot always give both sides every class: say which is missing where."""
    labels = np.asarray(labels)
    kept, out = set(labels[keep].tolist()), set(labels[held].tolist())
    missing = [f"{c!r} (only held out)" for c in sorted(out - kept)] + [f"{c!r} (not held out)" for c in sorted(kept - out)]
    if missing:
        log.warning("%s: class(es) %s: their rows belong to too few groups for both sides", option, ", ".join(missing))


def is_number(text) -> bool:
    """Whether a cell reads as a number (float() takes it)."""
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def stratified_fraction(keys: list[str], fraction: float, seed: int, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` into (keep, held_out), holding out round(fraction * n) of every stratum (a
    seeded shuffle within each), so that even strata too small for scikit-learn's stratified
    split keep their share. Deterministic in (keys, fraction, seed, pool)."""
    rng = np.random.default_rng(seed)
    by_key: dict[str, list[int]] = {}
    for i in pool:
        by_key.setdefault(keys[i], []).append(int(i))
    held: list[int] = []
    carry = 0.0  # rounding remainder carried across strata, so the total share stays exact
    for key in sorted(by_key):
        members = np.array(by_key[key])
        want = fraction * len(members) + carry
        take = int(np.floor(want + 0.5))
        carry = want - take
        held += rng.permutation(members)[:take].tolist()
    held_arr = np.array(sorted(held), dtype=np.int64)
    keep = np.setdiff1d(np.asarray(pool, dtype=np.int64), held_arr)
    return keep, held_arr


def stratified_by_strata(labels: list[str], keys: list[str], fraction: float, seed: int, pool: np.ndarray, option: str, given: float | None,
                         stratify) -> tuple[np.ndarray, np.ndarray]:
    """stratified_fraction by class (and column value), held to the plain split's rules: a hold-out
    of no row is refused, a class of one row stays in training, and every other class is on both
    sides (each stratum rounds its own share, so a small class could go whole to one side)."""
    keep, held = stratified_fraction(keys, fraction, seed, pool)
    if not len(held) and stratify:
        named = f"--stratify {','.join(stratify)}" if option.startswith("-") else f"stratify {list(stratify)}"
        raise DataError(f"{option}={fraction if given is None else given:g} with {named}: every class-and-{' and '.join(stratify)} "
                        "share of the rows rounds to none held out; hold out a larger share, or stratify by fewer columns")
    if not len(held):
        raise DataError(f"{option}={fraction if given is None else given:g}: every class's share of the {len(pool)} rows rounds to none held out; hold out a larger share")
    y = np.asarray(labels)
    names, counts = np.unique(y[np.concatenate([keep, held])], return_counts=True)
    single = set(names[counts < 2].tolist())
    alone = np.isin(y[held], list(single))
    if alone.any():  # as stratified_holdout keeps it
        log.warning("class(es) %s have one sample: kept out of the %s hold-out", ", ".join(map(repr, sorted(set(y[held[alone]].tolist())))), option)
        keep, held = np.sort(np.concatenate([keep, held[alone]])), held[~alone]
    if not len(held):  # as stratified_holdout refuses it
        raise DataError(f"{option}={fraction if given is None else given:g}: every row it would hold out is its class's only sample, kept in training; add images or set {option} to 0")
    keep, held = every_class_on_both_sides(labels, keep, held, seed, option)
    return np.sort(keep), np.sort(held)


def kfold(labels: list[str], folds: int, fold: int, seed: int, pool: np.ndarray, groups: list[str] | None = None, strata: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    if groups is not None:  # every group whole in one fold
        train_idx, val_idx = _group_folds(strata or labels, groups, folds, seed, pool, f"folds={folds} with split_group")[fold]
        keep, held = np.sort(pool[train_idx]), np.sort(pool[val_idx])
        _warn_of_one_sided_classes(labels, keep, held, f"folds={folds} with split_group, fold {fold}")
        return keep, held
    y = np.asarray(labels)[pool]
    if np.unique(y, return_counts=True)[1].min() < folds:
        raise DataError(f"{folds}-fold split needs at least {folds} samples of every class")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    train_idx, val_idx = list(splitter.split(pool, y))[fold]
    return np.sort(pool[train_idx]), np.sort(pool[val_idx])


def matching_split_names(names: list[str], wanted: str) -> list[str]:
    """The split names among `names` that `wanted` selects: the same name in any case, else
    those of its alias group (val: PublicTest, validation...)."""
    hits = [n for n in names if n.lower() == wanted.lower()]
    if not hits and canonical_split(wanted):
        hits = [n for n in names if canonical_split(n) == canonical_split(wanted)]
    return hits


def read_scored_rows(data, split: str | None, skip_bad: bool, fmt: str = "auto") -> tuple[Samples, Callable[[str | None], bool]]:
    """The dataset as an evaluation of `split` reads it, and a test of whether a row's split cell
    is among those scored. Rows are read leniently: a bad row of a split that is not scored is
    not this evaluation's business, and is neither refused nor counted in `skipped`."""
    samples = read_dataset(data, fmt, skip_bad=True, min_classes=1)
    named = matching_split_names(sorted({*samples.split_names(), *filter(None, samples.skipped_splits)}), split) if split is not None else []
    # (not the rows asked for: a split of the data's own name, 'holdout' beside 'train')
    odd = Counter({cell: n for cell, n in odd_split_cells(samples.splits).items() if cell not in named}) if named else None
    if odd:  # a typo ('tset') or a blank cell would drop the row from --split test without a word, as train warns
        log.warning("%s: %d row(s) have a blank split cell or one that names no known split (%s): --split %s leaves them out; fix their split cells to score them",
                    data, sum(odd.values()), cells_shown(odd), split)

    def in_scope(cell: str | None) -> bool:
        return not named or cell in named

    scored = [i for i, cell in enumerate(samples.skipped_splits) if in_scope(cell)]
    samples.skipped, samples.skipped_splits = [samples.skipped[i] for i in scored], [samples.skipped_splits[i] for i in scored]
    if samples.skipped_labels:
        samples.skipped_labels = [samples.skipped_labels[i] for i in scored]
    if samples.skipped and not skip_bad:
        raise DataError(f"{samples.skipped[0][1]}; fix it, or pass --skip-bad to skip such samples")
    return samples, in_scope


def _match(samples: Samples, wanted: str | None) -> np.ndarray | None:
    """Indices whose split is `wanted` (exact name, case-insensitive, or same alias group)."""
    if wanted is None:
        return None
    hits = matching_split_names(samples.split_names(), wanted)
    if not hits:
        return None
    return np.array([i for i, s in enumerate(samples.splits) if s in hits], dtype=np.int64)


# the config keys that decide a training run's split (assign_splits' keyword arguments)
SPLIT_KEYS = ("train_split", "val_split", "test_split", "val_size", "folds", "fold", "seed", "test_size", "stratify", "split_rule", "split_group")


# an exported model's record of the rows it held out, where its split was drawn from data without
# a split column: {"val"|"test": sha256 of the rows' sorted ids}. With it, evaluation tells a draw
# on the very data it trained on from one on a subset or other data, without its split_manifest.csv.
HELD_OUT_KEY = "facesense_held_out"


def rows_ids_digest(ids) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def held_out_digests(rows, left_out_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """From a run's manifest rows (id, label, split): each held-out split's ids digest. Rows of a
    gender+age run's extra (gender-only) datasets, ids prefixed with the dataset's name, are left
    out: the split is recomputed on the main dataset alone."""
    ids: dict[str, list[str]] = {}
    for sample_id, _, split in rows:
        if split in ("val", "test") and not (left_out_prefixes and sample_id.startswith(left_out_prefixes)):
            ids.setdefault(split, []).append(sample_id)
    return {split: rows_ids_digest(found) for split, found in ids.items()}


def recorded_held_out(metadata: dict | None) -> dict[str, str] | None:
    import json

    text = (metadata or {}).get(HELD_OUT_KEY)
    return json.loads(text) if text else None


def trained_split_settings(config: dict) -> dict:
    """assign_splits keyword arguments that recompute the split a model's main data had in its
    training, from its config (or an exported model's split metadata). A task=gender_age run
    that folded its extra data (folds_on: extra) kept the main data's fixed split."""
    settings = {k: config[k] for k in SPLIT_KEYS if k in config}
    settings["split_rule"] = config.get("split_rule") or 1  # made before the key existed: rule 1
    if config.get("folds_on") == "extra":
        settings["folds"], settings["fold"] = 0, 0
    return settings


def _refuse_overlap(samples: Samples, named: dict[str, np.ndarray | None]) -> None:
    """Two split settings that select the same samples (one name twice, or two aliases of one
    split) would validate or test on training data."""
    found = [(key, set(idx.tolist())) for key, idx in named.items() if idx is not None and len(idx)]
    for i, (a, rows_a) in enumerate(found):
        for b, rows_b in found[i + 1:]:
            if rows_a & rows_b:
                raise DataError(f"{samples.source}: {a} and {b} select the same samples; give each a different split of {samples.split_names()}")


def assign_splits(
    samples: Samples,
    train_split: str | None = "train",
    val_split: str | None = "val",
    test_split: str | None = "test",
    val_size: float = 0.2,
    folds: int = 0,
    fold: int = 0,
    seed: int = 0,
    test_size: float = 0.0,
    stratify: list[str] | tuple[str, ...] = (),
    split_rule: int = SPLIT_RULE,
    split_group: str | None = None,
    advise: bool = True,
) -> dict[str, np.ndarray]:
    """-> {'train': idx, 'val': idx, 'test': idx}: from the dataset's own splits where it has them,
    else seeded and stratified from the training pool. `test_size` > 0 holds out that fraction of
    the pool as test first (when the data has no test split); `stratify` names manifest columns
    that both seeded holdouts balance besides the label; `split_group` a column whose rows every
    seeded hold-out and fold keeps together. val_size is a fraction of what remains. `advise`:
    check the settings as a training config's (refuse a test split name the data lacks, warn of
    settings that leave rows unused); False where a trained model's split is recomputed on data
    that may be a copy without its test split, as evaluate and export do."""
    n = len(samples)
    has_splits = bool(samples.split_names())
    val = _match(samples, val_split)
    test = _match(samples, test_split)
    taken = np.zeros(n, bool)
    for idx in (val, test):
        if idx is not None:
            taken[idx] = True
    train = _match(samples, train_split)
    _refuse_overlap(samples, {"train_split": train, "val_split": val, "test_split": test})
    if train is None:
        if has_splits and train_split is not None and canonical_split(train_split) != "train":
            raise DataError(
                f"{samples.source}: no split named {train_split!r}; the data has {samples.split_names()} "
                "(set train_split to one of them, or to null to train on everything else)"
            )
        if has_splits and train_split is not None and any(canonical_split(s) for s in samples.split_names()):
            raise DataError(f"{samples.source}: no training split among {samples.split_names()}")
        train = np.flatnonzero(~taken)
    # a generic name (val, validation) absent from the data is carved from training (val_size); a
    # split named for a dataset (PrivateTest on a file without it) is a mistake to say: carving
    # instead would leave the split the data does have (PublicTest) unused without a word
    generic = val_split is not None and val_split.lower() in SPLIT_ALIASES["val"] - {"publictest"}  # PublicTest: FER2013's own name
    if val is None and val_split is not None and has_splits and not generic:
        raise DataError(f"{samples.source}: no split named {val_split!r}; the data has {samples.split_names()} "
                        "(set val_split to one of them, or to val to hold val_size of the training rows out)")
    # the same for the test split: a typo (PrivTest) trained without one, its rows left out unsaid
    generic_test = test_split is not None and test_split.lower() in SPLIT_ALIASES["test"] - {"privatetest"}
    if advise and test is None and test_split is not None and has_splits and not generic_test:
        raise DataError(f"{samples.source}: no split named {test_split!r}; the data has {samples.split_names()} "
                        "(set test_split to one of them, to test to hold test_size of the training rows out, or to null for no test split)")
    if advise and test is not None and test_size > 0:  # the data's own test rows are the test split: nothing is carved
        log.warning("%s: test_size=%g has no effect: the data's own %r split (%d rows) is the test split; leave test_size out, "
                    "or set test_split: null to hold test_size of the training rows out instead", samples.source, test_size, test_split, len(test))
    keys = strata_keys(samples, stratify) if stratify else None
    groups = group_keys(samples, split_group) if split_group else None
    if test is None and test_size > 0 and groups is not None:
        train, test = grouped_holdout(samples.labels, keys or samples.labels, groups, test_size, seed, train, "test_size")
    elif test is None and test_size > 0 and split_rule >= 4:
        train, test = stratified_by_strata(samples.labels, keys or samples.labels, test_size, seed, train, "test_size", None, stratify)
    elif test is None and test_size > 0:  # (rules 1-3 held test_size's share to no rule)
        train, test = stratified_fraction(keys or samples.labels, test_size, seed, train)
    if folds > 1:
        if advise and val is not None and len(val):  # the data's own validation rows: neither fold nor training takes them
            log.warning("%s: folds=%d validates on fold %d of the training rows, so the data's own %r split (%d rows) is left out of the run; "
                        "set val_split: null to say so, or leave folds out to validate on it", samples.source, folds, fold, val_split, len(val))
        train, val = kfold(samples.labels, folds, fold, seed, train, groups, keys)
    elif val is None and val_size > 0 and groups is not None:
        train, val = grouped_holdout(samples.labels, keys or samples.labels, groups, val_size, seed + 1, train, "val_size")
    elif val is None and val_size > 0 and keys is not None and split_rule >= 4:
        train, val = stratified_by_strata(samples.labels, keys, val_size, seed + 1, train, "val_size", None, stratify)
    elif val is None and val_size > 0 and keys is not None:
        train, val = stratified_fraction(keys, val_size, seed + 1, train)
    elif val is None and val_size > 0:
        train, val = stratified_holdout(samples.labels, val_size, seed, train, split_rule=split_rule)
    out = {"train": train, "val": val if val is not None else np.zeros(0, np.int64)}
    out["test"] = test if test is not None else np.zeros(0, np.int64)
    if len(out["train"]) == 0:
        raise DataError(f"{samples.source}: the training split is empty")
    if has_splits:
        _warn_unused(samples, out)
    if has_splits and groups is not None:
        _warn_of_people_across(samples, out, groups, split_group)
    return out


def _warn_of_people_across(samples: Samples, parts: dict[str, np.ndarray], groups: list[str], column: str) -> None:
    """split_group keeps together the rows it holds out itself; the data's own splits are taken as
    they are, and may put one person on two sides: said, with how to split by person instead."""
    side = {int(i): name for name, idx in parts.items() for i in idx}
    taken = sorted(side)
    sides = sides_of_groups([groups[i] for i in taken], [side[i] for i in taken])
    across = sorted(g for g, s in sides.items() if len(s) > 1)
    if across:
        example = f"{across[0]} ({', '.join(sorted(sides[across[0]]))})"
        log.warning("%s: %d of %d people (%s) are in more than one of the data's own splits, e.g. %s: split_group keeps together only the rows "
                    "it holds out itself; to split by person, pool the rows (facesense data split DATA --out DIR --group %s, or train_split: null "
                    "with val_split and test_split names the data lacks)", samples.source, len(across), len(sides), column, example, column)


def _warn_unused(samples: Samples, out: dict[str, np.ndarray]) -> None:
    """Rows that no split takes because their split cell is blank or a name that is no known
    split ('tset'): a typo would otherwise drop them without a word. Rows of a known split left
    out on purpose (PrivateTest with test_split: null) stay quiet."""
    used = np.zeros(len(samples), bool)
    for idx in out.values():
        used[idx] = True
    # by the name a used split has in the data: 'validation' rows left out beside the 'val' rows taken
    taken = {canonical_split(samples.splits[i]): samples.splits[i] for i in np.flatnonzero(used) if samples.splits[i] and canonical_split(samples.splits[i])}
    unused = Counter(samples.splits[i] for i in np.flatnonzero(~used) if samples.splits[i] is None or not canonical_split(samples.splits[i]) or canonical_split(samples.splits[i]) in taken)
    if unused:
        def also(name: str) -> str:
            other = taken.get(canonical_split(name))
            return f" (the data also calls that split {other!r}: write one name)" if other else ""

        log.warning("%s: %d row(s) belong to no split and are left out (%s); fix their split cells, or name the split in train_split, val_split or test_split",
                    samples.source, sum(unused.values()), cells_shown(unused, also))


def odd_split_cells(splits: list[str | None]) -> Counter:
    """How many rows have each blank split cell (None) or, beside cells that name known splits,
    one that names none ('tset' beside 'train' and 'test'). A column of the data's own names
    only (image_sentiment's partition1-5, folds a config names) is no mistake."""
    known = any(s is not None and canonical_split(s) for s in splits)
    return Counter(s for s in splits if s is None or (known and not canonical_split(s)))


def cells_shown(counts: Counter, note=lambda name: "") -> str:
    """"a blank split: 2, 'tset': 2": split cells and their row counts as a warning shows them;
    `note(name)` adds a word to a named one."""
    return ", ".join(f"{'a blank split' if name is None else repr(name) + note(name)}: {n}" for name, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
