"""Ordered class names per task, and mapping dataset labels onto them BY NAME.

FER2013 csv codes are angry, disgust, fear, happy, sad, surprise, neutral; alphabetical class
folders give angry, disgust, fear, happy, neutral, sad, surprise. Both go through names, never
through positions, so the two orders cannot be mixed up.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping

from .errors import DataError

log = logging.getLogger(__name__)

FER2013_CODES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Canonical class order of each built-in task. The expression task uses the FER2013 order.
TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "expression": FER2013_CODES,
    "gender": ("man", "woman"),
    "sentiment": ("negative", "positive"),
}

# Spellings seen in public datasets (FER+, AffectNet, RAF-DB, folder trees) -> canonical name.
SYNONYMS: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "scared": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "male": "man",
    "men": "man",
    "female": "woman",
    "women": "woman",
    "pos": "positive",
    "neg": "negative",
}


def _plain(name: str) -> str:
    # NFC: macOS writes "Zoë" decomposed (e + combining diaeresis), other systems composed;
    # the two looked alike and were two classes
    return unicodedata.normalize("NFC", str(name)).strip().lower().replace(" ", "_")


def normalise(name: str) -> str:
    """Case- and spacing-insensitive form of a label, with known synonyms resolved."""
    key = _plain(name)
    return SYNONYMS.get(key, key)


def fold_spellings(labels: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Labels that training reads as one class ('Angry' and 'angry', 'male' and 'man') -> that
    one class's name, as a custom task names it; a label spelled one way only is kept as is.
    -> (labels, {folded name: the spellings folded into it}), the second only for folds made."""
    labels = list(labels)
    spellings: dict[str, set[str]] = {}
    for raw in labels:
        spellings.setdefault(normalise(raw), set()).add(raw)
    folds = {key: sorted(raws) for key, raws in spellings.items() if len(raws) > 1}
    return [normalise(raw) if normalise(raw) in folds else raw for raw in labels], folds


def warn_of_folds(source, folds: dict[str, list[str]], taken_as: str) -> None:
    """Say which labels are read as one class (`fold_spellings`' folds): 'Dog' and 'dog' folders
    meant as two classes would otherwise be one without a word. `taken_as`: "counted as" (a
    report) or "trained as"."""
    for name, raws in folds.items():
        log.warning("%s: labels %s are one class to train (case, spaces and synonyms are folded): %s %r; rename them in the data to keep them apart",
                    source, " and ".join(map(repr, raws)), taken_as, name)


def task_classes(task: str, data_labels: Iterable[str] | None = None) -> tuple[str, ...]:
    """Class order for a task; a 'custom' task takes the sorted class names of the data's labels
    (mapped_labels: as a label map leaves them)."""
    if task in TASK_CLASSES:
        return TASK_CLASSES[task]
    if data_labels is None:
        raise DataError(f"task {task!r} has no built-in classes; give `classes:` in the config")
    return tuple(sorted(set(data_labels)))


def mapped_labels(data_labels: Iterable[str], label_map: Mapping[str, str | None] | None) -> list[str]:
    """The class names a custom task's labels become: each label normalised, or renamed as the
    label map says (dropped ones left out). A rename is kept as written (lower case): 'male'
    stays 'male', where normalising would have turned it back into 'man'."""
    explicit = {normalise(k): v for k, v in (label_map or {}).items()}
    keys = [normalise(raw) for raw in data_labels]
    out = [key if key not in explicit else _plain(explicit[key]) for key in keys if key not in explicit or explicit[key] is not None]
    # names that are one class to the label index (a rename to 'female' beside 'woman', its
    # synonym) stay one class, named as the map named it
    known = set(keys)
    renamed = {normalise(name): name for name in out if name not in known}
    return [renamed.get(normalise(name), name) for name in out]


def check_map_keys(label_map: Mapping[str, str | None] | None, data_labels: Iterable[str], source: str, map_option: str = "`label_map: {old: new}` in the config") -> None:
    """A label map's keys must each name a label of the data: a typo ('nobody'), or YAML read
    without the space after a colon ('{man:null}' is the one key 'man:null'), changed nothing
    without a word."""
    labels = sorted(set(data_labels))
    said: dict[str, list] = {}
    for key, value in (label_map or {}).items():  # 'happy: sad' and 'Happy: null' are one label: the last one won without a word
        said.setdefault(normalise(key), []).append((key, value))
    for both in said.values():
        if len({normalise(v) if v is not None else None for _, v in both}) > 1:
            raise DataError(f"{source}: the label map's {' and '.join(repr(k) for k, _ in both)} name one label (case, spaces and synonyms are folded) "
                            f"but say {' and '.join('drop it' if v is None else f'rename it {v!r}' for _, v in both)}; keep one of them in {map_option}")
    present = {normalise(x) for x in labels}
    stray = [k for k in label_map or {} if normalise(k) not in present]
    if stray:
        colon = " (YAML needs a space after each colon: {man: null})" if any(":" in str(k) for k in stray) else ""
        raise DataError(f"{source}: the label map renames {stray}, which {'is no label' if len(stray) == 1 else 'are no labels'} of the data (its labels: {labels}){colon}; fix {map_option}")
    for key in label_map or {}:  # a key matches every spelling of its label: renaming 'Dog' renames 'dog' too
        spelled = [x for x in labels if normalise(x) == normalise(key)]
        if len(spelled) > 1:
            log.warning("%s: the label map's %r stands for the labels %s (case, spaces and synonyms are folded): all are %s",
                        source, key, " and ".join(map(repr, spelled)), "dropped" if label_map[key] is None else f"renamed {label_map[key]!r}")


CONFIG_MAP_OPTION = "`label_map: {old: new}` in the config"  # how training is given a label map


def build_label_index(
    classes: Iterable[str],
    data_labels: Iterable[str],
    label_map: Mapping[str, str | None] | None = None,
    source: str = "dataset",
    map_option: str = CONFIG_MAP_OPTION,
) -> dict[str, int | None]:
    """Map every raw label of a dataset to its index in `classes` (None = dropped by label_map).

    Raises a DataError that lists the difference when a label has no class and no mapping, or
    when the map sends a label to a name that is no class; `map_option` is how the user gives
    the map in the calling command.
    """
    classes = tuple(classes)
    position = {normalise(c): i for i, c in enumerate(classes)}
    explicit = {normalise(k): v for k, v in (label_map or {}).items()}
    index: dict[str, int | None] = {}
    unknown = []
    for raw in sorted(set(data_labels)):
        key = normalise(raw)
        if key in explicit:
            target = explicit[key]
            if target is None:
                index[raw] = None
                continue
            key = normalise(target)
            if key not in position:  # a typo in the map itself: name the target, not the label
                raise DataError(f"{source}: the label map sends {raw!r} to {target!r}, which is not a class of this task {list(classes)}; fix {map_option}")
        if key in position:
            index[raw] = position[key]
        else:
            unknown.append(raw)
    if unknown:
        reached = {i for i in index.values() if i is not None}  # through the map too ('calm: neutral')
        missing = [c for i, c in enumerate(classes) if i not in reached]
        custom = ", or use `task: custom` to train on the dataset's own classes." if map_option == CONFIG_MAP_OPTION else "."  # training a task's fixed classes
        if not reached and None not in index.values():  # not one label is a class, and no map at work: most likely data for another task
            raise DataError(f"{source}: none of its labels {unknown[:8]}{' ...' if len(unknown) > 8 else ''} is a class of this task {list(classes)}: "
                            f"data for another task? If not, rename them with {map_option} (null drops a label){custom}")
        raise DataError(
            f"{source}: labels {unknown} are not classes of this task {list(classes)}"
            + (f" (task classes absent from the data: {missing})" if missing else "")
            + f". Rename them with {map_option} (null drops a label)"
            + custom
        )
    return index


def dropped_by_map(labels, label_map: Mapping[str, str | None] | None):
    """Mask of the labels a label map drops (sends to null), as training dropped them."""
    import numpy as np

    dropped = {normalise(k) for k, v in (label_map or {}).items() if v is None}
    return np.array([normalise(x) in dropped for x in labels], dtype=bool)


def map_labels(samples, classes: list[str], label_map: dict | None, map_option: str | None = None):
    """A dataset's (data.samples.Samples) labels -> (targets int64, keep mask); names decide,
    never positions. A map that drops every sample is an error, not an empty dataset."""
    import numpy as np

    extra = {"map_option": map_option} if map_option else {}
    index = build_label_index(classes, samples.labels, label_map, source=samples.source, **extra)
    targets = np.array([-1 if index[x] is None else index[x] for x in samples.labels], dtype=np.int64)
    if len(targets) and not (targets >= 0).any():
        raise DataError(f"{samples.source}: the label map drops every sample (labels {sorted(set(samples.labels))}); fix {map_option or 'label_map in the config'}")
    return targets, targets >= 0
