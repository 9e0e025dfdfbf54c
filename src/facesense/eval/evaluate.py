"""Evaluate a saved model on any dataset: labels mapped by name onto the model's classes.

Models are scored through the model runtime (ONNX Runtime), so evaluating a shipped or exported
model needs no PyTorch; a training checkpoint is exported on the fly (training extra)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..data.digests import pixel_digest
from ..data.images import decode
from ..data.samples import group_names
from ..data.sources import SPLIT_ALIASES, canonical_split
from ..data.split import _match, assign_splits, matching_split_names, read_scored_rows, recorded_held_out, rows_ids_digest, trained_split_settings
from ..errors import DataError, FacesenseError
from ..runs import RunDir
from ..labels import check_map_keys, map_labels
from ..onnx_files import folded_threshold
from ..preprocess import InputSpec
from ..progress import Progress
from ..runtime.assets import carried_digests
from ..runtime.loading import load_classifier, resolve
from .groups import check_group_column
from .metrics import macro_f1
from .report import write_evaluation

log = logging.getLogger(__name__)

# images per runtime batch: enough to amortise a run, small enough for 384 px photos
PIXELS_PER_BATCH = 2**21


@dataclass
class EvalModel:
    """What evaluation needs of a model: its classes, input spec, and a scoring function."""

    name: str
    classes: list[str]
    spec: InputSpec
    config: dict  # the training config, when the model carries it (for its split)
    path: Path | None  # the file it came from (None: a backend by name)
    score: Callable[[np.ndarray], np.ndarray]  # uint8 N x C x H x W -> N x K probabilities
    prepare: Callable[[np.ndarray], np.ndarray] | None = None  # a face aligner, for the dlib backends
    metadata: dict | None = None  # an export's metadata (its training images' hashes)


def load_for_evaluation(model: str | Path, device: str = "auto") -> EvalModel:
    """A checkpoint/run dir/shipped name, an exported .onnx, or a third-party backend name."""
    clf = load_classifier(model, threads=0, device=device)
    where = resolve(model)
    return EvalModel(str(model), clf.classes, clf.spec, getattr(clf, "config", {}), where if isinstance(where, Path) else None, clf.predict_pixels, getattr(clf, "prepare", None), getattr(clf, "metadata", None))


def score_images(model: EvalModel, images: np.ndarray) -> np.ndarray:
    """All images, in order, through the model in batches -> N x K probabilities (float64)."""
    step = max(1, min(256, PIXELS_PER_BATCH // (model.spec.size * model.spec.size)))
    progress, out = Progress("scoring", len(images)), []
    for i in range(0, len(images), step):
        out.append(model.score(images[i : i + step]))
        progress(len(out[-1]))
    probs = np.concatenate(out) if out else np.zeros((0, len(model.classes)))
    if len(probs) != len(images):
        raise RuntimeError(f"evaluation scored {len(probs)} of {len(images)} samples; refusing to report")
    return probs.astype(np.float64)


# the smallest probability a model's float32 output can hold above 0: only a true-class probability
# the output rounded to 0 is raised to it (log loss 103.3 for that image). A floor of 1e-12 capped
# every image at 27.6: a run whose eval_val (cross-entropy of its logits) said loss 8.97 was
# scored 6.41 by evaluate on the same rows, 11 of its 80 images capped
_SMALLEST_PROBABILITY = float(np.finfo(np.float32).smallest_subnormal)


def mean_log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log of each image's true-class probability, as training's cross-entropy
    of the logits gives it for the same model and rows."""
    if len(y) == 0:
        return float("nan")
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], _SMALLEST_PROBABILITY, None)).mean())


def evaluate_dataset(loaded, dataset, out_dir: Path, title: str, history: Path | None = None, train_labels=None, device: str = "cpu", extra: dict | None = None,
                     trained: set[str] | None = None, model: str = "the model", unaligned: list[str] | None = None) -> dict:
    """A training run's in-memory PyTorch model on a prepared split (used right after training).
    `trained`: its training images' pixel digests, to note held-out rows with their pixels;
    `unaligned`: for aligned faces, each row's image digest before alignment."""
    import torch

    from ..data.batches import Batches, inference_batch_size
    from .inference import run_inference

    batches = Batches(dataset, loaded.spec, inference_batch_size(loaded.spec), train=False)
    idx, y, probs, loss = run_inference(loaded.model.to(device), batches, torch.device(device), loaded.binary_logit)
    ids = [dataset.ids[i] for i in idx]
    extra = dict(extra or {})
    matches = training_images_among(trained, [dataset.images[i].numpy() for i in idx] if trained else None,  # views: no copy of the split
                                    [unaligned[i] for i in idx] if unaligned else None)
    if matches is not None and matches.any():  # rows the data holds in two splits: as evaluate says of them
        add_note(extra, "training_data", duplicates_note(int(matches.sum()), len(matches), model))
        without = figures_without(matches, y, probs, len(loaded.classes))
        if without:
            extra["without_training_pixels"] = without
    return write_evaluation(out_dir, ids, y, probs, loaded.classes, loss, title, history_csv=history, train_labels=train_labels, extra=extra or None)


def manifest_split(samples, split: str, model_path: Path | None, data, read_ids: set[str], config: dict | None = None, read_paths: set[str] | None = None) -> np.ndarray | None:
    """A run's own `split` rows, by the ids its split_manifest.csv lists, where that file is at
    hand: exact whatever order, layout of the same names or added images the data has (a split
    recomputed from the run's seed on data in another layout or order was another draw, mostly
    of training images). Every listed id must be among the data's (`read_ids`, before a
    --label-map drops rows); else the data is not the run's and the split cannot be scored.
    None: no manifest at hand, or the run held no such split out."""
    listed = _manifest_ids(model_path)
    part = canonical_split(split)
    if listed is None or part is None:
        return None
    # a gender+age run's extra_data rows are `name:path` (data/gender_age): never rows of the data evaluated here
    extra = tuple(f"{Path(str(e)).name}:" for e in (config or {}).get("extra_data") or [])
    ids = [_posix(i) for i, where in listed.items() if where == part and not (extra and i.startswith(extra))]
    if not ids:
        return None  # select_split says the run held none out
    run = model_path if model_path.is_dir() else model_path.parent
    refuse = f"its {split!r} split can be scored only on the data it trained on, as it read it; evaluate it without --split, knowing the rows may include its training images"
    recorded = _recorded_data(config)
    own_file = recorded is not None and recorded.is_file() and recorded.resolve() == Path(str(data)).resolve()
    if samples.paths is None and not own_file:  # csv rows are named by number: any csv has a row12 (a csv is known only by its path)
        raise DataError(f"{data}: {run.name} trained on {(config or {}).get('data')}: a csv's rows are matched by their number, so {refuse}")
    # an id is found as the data names it (the same layout, wherever the data now is), or as the
    # file it names (a copy of the run's manifest elsewhere, a subset, the whole folder it came from)
    have = {_posix(i) for i in read_ids} | (read_paths or set())
    paths = _id_path_list(ids, config) if samples.paths is not None else None
    as_path = dict(zip(ids, paths)) if paths else {}
    missing = [i for i in ids if i not in have and as_path.get(i) not in have]
    if missing:
        raise DataError(f"{data}: {len(missing)} of the {len(ids)} {part} samples {run.name} held out ({run / 'split_manifest.csv'}) are not in it (e.g. {missing[0]}): {refuse}")
    where = {_posix(sample_id): k for k, sample_id in enumerate(samples.ids)}
    if samples.paths is not None:
        where.update({_normal_path(p): k for k, p in enumerate(samples.paths) if _normal_path(p) not in where})
    found = {where.get(i, where.get(as_path.get(i))) for i in ids}
    return np.asarray(sorted(k for k in found if k is not None), dtype=np.int64)  # those a --label-map kept


def _posix(sample_id: str) -> str:
    """An id as written on any system (a run trained on Windows wrote happy\\x.png)."""
    return sample_id.replace("\\", "/")


def _recorded_data(config: dict | None) -> Path | None:
    """The data a run recorded, where it is at hand here (an absolute path that exists: a
    relative one would be read from wherever evaluate runs)."""
    recorded = str((config or {}).get("data") or "").strip()
    path = Path(recorded) if recorded else None
    return path if path is not None and path.is_absolute() and path.exists() else None


def training_data_note(config: dict, data, split: str | None, model, scored_ids: list[str] | None = None, model_path: Path | None = None, data_splits: list[str] | None = None,
                       scored_paths: list | None = None, matches: np.ndarray | None = None, own_split: bool = True) -> str | None:
    """A sentence when the evaluated rows include the model's own training images. With the
    run's split_manifest.csv at hand, counted exactly (whatever split was asked for: another
    run's recomputed split can hold this run's training samples), by the images' paths where the
    data it trained on is at hand (so a copy of its manifest, a subset or the whole folder it
    was a subset of count too), else by id on the same dataset; otherwise judged from its
    config: the data it trained on (shipped models record a name only) with no held-out split
    chosen, or data it took whole (extra_data)."""
    name = _dataset_path(data).name
    same = _same_dataset(config.get("data"), data)
    extra_data = not same and any(_same_dataset(d, data) for d in config.get("extra_data") or [])
    listed = _manifest_ids(model_path)  # the run's split_manifest.csv, read once: {id: split}
    trained = None if listed is None else {_posix(i) for i, where in listed.items() if where == "train"}
    by_path = _id_paths(trained, config) if trained is not None and scored_paths is not None else None
    held_out = _held_out_split(config, data_splits) if same else None
    advice = f"score the rows it held out (--split {held_out})" if held_out else "score it on images it did not train on"
    if trained is not None and scored_ids is not None and (same or by_path):
        scored = {_posix(i) for i in scored_ids} if same else set()
        n = len(trained & scored) if same else 0
        if by_path:
            n = max(n, sum(1 for p in scored_paths if _normal_path(p) in by_path))
        if n:
            advice_ids = advice if held_out else "it held none of this data out: score it on other data"
            return f"{model} trained on {n} of the {len(scored_ids)} samples scored here (its split_manifest.csv): these figures overstate it; {advice_ids}"
    # then by the pixels themselves, on any data: a copy of the training data anywhere, an
    # export's training images; a row the run held out (by id or file) with a training image's
    # pixels is one of the duplicates a dataset holds across its splits
    if matches is not None and matches.any() and not extra_data:
        held = np.zeros(len(matches), bool)
        if trained is not None and scored_ids is not None:
            held_ids = {_posix(i) for i, where in listed.items() if where != "train"}
            held_paths = _id_paths(held_ids, config) if scored_paths is not None else None
            held = np.array([_posix(i) in held_ids or bool(held_paths and _normal_path(p) in held_paths) for i, p in zip(scored_ids, scored_paths or [None] * len(scored_ids))])
        elif own_split and _held_out_rows(config, data, split, data_splits):  # its held-out rows, without a manifest (a shipped model)
            held[:] = True
        n_scored, copies, duplicates = len(matches), int((matches & ~held).sum()), int((matches & held).sum())
        also = f" ({duplicates} more are held-out rows with a training image's pixels: duplicates the data holds across its splits)" if duplicates else ""
        if copies:  # a split was asked for and still held training images: another draw than its held-out rows
            advice_px = advice if split is None else "score it on images it did not train on"
            return f"{model} trained on {copies} of the {n_scored} images scored here (the same pixels as its training images){also}: these figures overstate it; {advice_px}"
        return duplicates_note(duplicates, n_scored, model)
    if trained is not None and scored_ids is not None and same:  # the run's own ids said none was trained on
        return None
    if extra_data:  # (a manifest lists extra_data rows as NAME:path, no file of that data: its config tells)
        return f"{model} trained on {_extra_share(config)} of {name} (extra_data): these figures are on its training images and overstate it; score it on other data"
    if not same:
        return None
    train_split = config.get("train_split")
    if not _trained_on_split(config, split, data_splits):
        return None
    held_out = _held_out_split(config, data_splits)
    if held_out is None:
        return f"{model} trained on all of {name}: these figures are on its training images and overstate it; it held none of this data out: score it on other data"
    where = f"its {train_split!r} split" if train_split and data_splits else "its training split"
    return f"{model} trained on {where} of {name}: these figures include its training images and overstate it; score the rows it held out instead (--split {held_out})"


def _decided_by_validation(config: dict, last_epoch: bool = False, run: Path | None = None) -> list[str]:
    """What a run's validation rows decided: its best epoch (keep: best; not for its last.pt,
    `last_epoch`), when it stopped (early stopping), when its rate fell (a plateau schedule), its
    age temperature (gender_age); nothing for a run that kept its last epoch on a fixed schedule.
    The `run` folder's history, where at hand, says what happened: a run of one epoch chose no
    epoch, and a rate that never fell was not lowered (a one-epoch run was said to have both)."""
    history = _history(run)
    rows = history.get("lr") if history is not None else None
    one_epoch = rows is not None and len(rows) <= 1
    if rows is not None and config.get("swa_start") and config.get("swa_lr"):  # SWA's epochs hold swa_lr: a lower one is no plateau's fall
        rows = [lr for epoch, lr in zip(history["epoch"], rows) if epoch < config["swa_start"]]
    decided = []
    if config.get("keep", "best") == "best" and not last_epoch:
        if not one_epoch:
            decided.append("its best epoch")
    elif config.get("early_stopping") and not one_epoch:
        decided.append("when it stopped")
    plateau = config.get("lr_schedule") == "plateau" or (config.get("lr_schedule", "auto") == "auto" and config.get("reduce_lr_patience") is not None)
    if plateau and (rows is None or any(later < earlier for earlier, later in zip(rows, rows[1:]))):
        decided.append("when its learning rate fell")
    if config.get("task") == "gender_age" and not last_epoch:  # (last.pt carries none)
        decided.append("its age temperature")
    return decided


def _history(run: Path | None) -> dict[str, list[float]] | None:
    """A run folder's history.csv as columns (epoch, lr, ...); None where it is not at hand (or
    damaged: the note then goes by the config alone)."""
    from .plots import read_history

    history = RunDir(run).history if run is not None else None
    if history is None or not history.is_file():
        return None
    try:
        return read_history(history)
    except (OSError, FacesenseError):
        return None


def run_folder_of(model_path: Path | None) -> Path | None:
    """The run folder a scored model is (a run folder) or lies in (its best.pt); None for no path
    or an ONNX export, which has no run beside it."""
    if model_path is None or Path(model_path).suffix.lower() == ".onnx":
        return None
    path = Path(model_path)
    return path if path.is_dir() else path.parent


def selection_split_note(config: dict, data, split: str | None, model, data_splits: list[str] | None, own_split: bool = True,
                         validation: np.ndarray | None = None, run: Path | None = None) -> str | None:
    """A sentence when the rows scored are the model's own validation rows and they decided
    something of it (its best epoch, when it stopped, its age temperature), so that its figures
    on them lean a little optimistic, naming its test split where it has one. Not for another
    model's draw (--split-from) nor for a k-fold run, whose validation rows were a fold.
    `validation`: which scored images have the pixels of its validation rows
    (validation_images_among), so that a copy or subset of them under other names is noted too."""
    decided = _decided_by_validation(config, last_epoch=Path(str(model)).name == "last.pt", run=run)
    if not decided or (config.get("folds") or 0) >= 2:
        return None
    test = config.get("test_split")
    if split is None or not own_split or not _same_dataset(config.get("data"), data):
        if validation is None or not validation.any():
            return None
        said = f"{int(validation.sum())} of the {len(validation)} images scored here have the same pixels as the validation rows of {model}"
        if split is not None and canonical_split(split) != "val":  # its held-out test rows, say, on a copy: images the data holds twice
            return f"{said} (duplicates the data holds across its splits), which decided {' and '.join(decided)}: these figures lean a little optimistic"
        has_test = test and (matching_split_names(data_splits or [], str(test)) or config.get("test_size"))
        advice = f"score its test split (--split {test})" if split is not None and has_test else "score it on images it never saw"
        return f"{said}, which decided {' and '.join(decided)}: these figures lean optimistic; {advice}"
    val = config.get("val_split")
    named = matching_split_names(data_splits or [], str(val)) if val else []
    if named:  # the data's own split column
        asked = matching_split_names(data_splits or [], split)
        if not asked or not set(asked) <= set(named):
            return None
    elif matching_split_names(data_splits or [], split) or canonical_split(split) != "val" or not (val or config.get("val_size")):
        return None  # not the validation rows its settings carve out of the training pool
    tests = matching_split_names(data_splits or [], str(test)) if test else []
    if not tests and test and not named and config.get("test_size"):
        tests = ["test"]  # held out by the run's settings, recomputed like its val rows
    advice = f"score its test split for a figure it never saw (--split {tests[0]})" if tests else "score it on rows it never saw for a figure they did not decide"
    return f"these rows are the validation split of {model}, which decided {' and '.join(decided)}: these figures lean optimistic; {advice}"


def unfinished_note(model, checkpoint: Path | None) -> str | None:
    """The note on a run scored before its training reached its end (compare refuses such runs)."""
    from ..runs import unfinished_run

    found = unfinished_run(model)
    if not found:
        return None
    scored = f"its {checkpoint.name}" if checkpoint is not None and checkpoint.suffix == ".pt" else "its best checkpoint"
    return f"{found[0]} {found[1]}: these figures are of {scored} so far, not of the finished model"


def one_class_note(y: np.ndarray, probs: np.ndarray, classes: list[str], group_by: str | None = None) -> str | None:
    """The note on a model that gave every image one class (an untrained or collapsed one) where
    the images hold several: its accuracy is that class's share, and a group's its share in the
    group (a race gap of 11.9 points was reported of such a model; found by a bug hunt)."""
    predicted = np.unique(probs.argmax(axis=1))
    if len(predicted) != 1 or len(np.unique(y)) < 2:
        return None
    name = classes[int(predicted[0])]
    groups = f"; each {group_by} group's accuracy is its share of {name!r}, so the gaps between groups measure their class mix, not the model" if group_by else ""
    return f"it read every one of the {len(y)} images as {name!r}: its accuracy is the share of {name!r} among them{groups}"


def threshold_note(metadata: dict | None) -> str | None:
    """The note on a model whose decision threshold is folded into its probabilities (as the
    shipped sentiment model's): its loss and calibration are those of the shifted ones."""
    folded = folded_threshold(metadata)
    if folded is None:
        return None
    name, threshold, chosen_by = folded
    return (f"the model decides {name!r} at p >= {threshold:g}, folded into the probabilities it gives ({chosen_by or 'facesense export --threshold'}): "
            "accuracy and the per-class figures are of that decision, and the loss and calibration (ECE) of those shifted probabilities")


def add_note(record: dict, key: str, sentence: str | None) -> None:
    """A report's note, where there is one: on the console and under `key` in its metrics."""
    if sentence:
        log.warning("note: %s", sentence)
        record[key] = sentence


def duplicates_note(duplicates: int, n_scored: int, model) -> str:
    """The note on held-out rows that have a training image's pixels (the dataset's own
    duplicates across its splits: FER2013's PublicTest holds 280 Training faces)."""
    return (f"{duplicates} of the {n_scored} images scored here ({duplicates / n_scored:.1%}) have the same pixels as training images of {model} "
            "(duplicates the data holds across its splits; data inspect lists them): these figures include them")


def figures_without(matches: np.ndarray | None, y: np.ndarray, probs: np.ndarray, n_classes: int, validation: np.ndarray | None = None) -> dict | None:
    """Accuracy and macro-F1 on the images without a training image's pixels, where some (not
    all) of those scored have them; logged beside the note, saying how many of them have the
    pixels of its validation rows (`validation`)."""
    if matches is None or not 0 < matches.sum() < len(matches):
        return None
    rest = ~matches
    pred = probs[rest].argmax(axis=1)
    figures = {"n": int(rest.sum()), "accuracy": float((pred == y[rest]).mean()), "macro_f1": macro_f1(y[rest], pred, n_classes)}
    among = int((validation & rest).sum()) if validation is not None else 0
    if among:
        figures["validation_rows"] = among
    # "(3309 of them ...)" beside 3309 images read as a slip: all of them, said so
    said = " (all of them its validation rows)" if among and among == figures["n"] else f" ({among} of them its validation rows)" if among else ""
    log.warning("on the %d images without a training image's pixels%s: accuracy %.4f, macro-F1 %.4f", figures["n"], said, figures["accuracy"], figures["macro_f1"])
    return figures


def _held_out_rows(config: dict, data, split: str | None, data_splits: list[str] | None) -> bool:
    """Whether the rows scored are rows the model held out, known without its manifest: a split
    of the data's own split column that its config held out, or a split recomputed from its
    settings on the very data it read (by its path here). A recomputed split on data that only
    has its data's name (a subset, a copy) is another draw, which may hold training images."""
    if split is None or not _same_dataset(config.get("data"), data) or _trained_on_split(config, split, data_splits):
        return False
    return bool(matching_split_names(data_splits or [], split)) or _is_recorded_data(config, data)


def _is_recorded_data(config: dict, data) -> bool:
    """Whether `data` is, by its path here, the very dataset the model's config recorded (not a
    copy or subset that only shares its name)."""
    recorded = _recorded_data(config)
    return recorded is not None and _dataset_path(recorded).resolve() == _dataset_path(data).resolve()


def _trained_on_split(config: dict, split: str | None, data_splits: list[str] | None) -> bool:
    """Whether the rows of `split` (None: every row) were among the model's training rows, by its
    config. train_split null trains on every row its val_split and test_split do not take."""
    if split is None:
        return True
    train_split = config.get("train_split")
    if canonical_split(split) in ("val", "test") and not matching_split_names(data_splits or [], split):
        return False  # a split recomputed from the run's settings: the rows it held out
    if train_split is not None or not data_splits:  # a split named in the config, or one recomputed
        return canonical_split(split) == "train" or (bool(train_split) and split.lower() == str(train_split).lower())
    return not _held_out_by_name(config, [split])


def _held_out_by_name(config: dict, data_splits: list[str]) -> list[str]:
    """Those of the data's splits that the config's val_split or test_split take."""
    return [s for key in ("val_split", "test_split") if config.get(key) for s in matching_split_names(data_splits, str(config[key]))]


def _held_out_split(config: dict, data_splits: list[str] | None) -> str | None:
    """How to name the rows a model did not train on: one of the data's other named splits, or
    the split its config held out (recomputed); None when it trained on every row."""
    if config.get("train_split") is None and data_splits:  # the rows no val_split or test_split took
        others = _held_out_by_name(config, data_splits)
    else:
        others = [s for s in data_splits or [] if canonical_split(s) != "train" and s.lower() != str(config.get("train_split")).lower()]
    if others:
        return others[0]
    recomputed_from = not data_splits or config.get("train_split") is None  # every row its pool
    if recomputed_from:  # name only the splits the run drew ("test" for a run that held none out was refused)
        drawn = [name for name, held in (("val", config.get("val_size") or (config.get("folds") or 0) >= 2), ("test", config.get("test_size"))) if held]
        if drawn:
            return f"{' or '.join(drawn)}: its own split, recomputed"
    return None


def check_not_extra_data(config: dict, data, split: str, model) -> None:
    """A dataset the model took whole as extra_data has no split held out of it: recomputing
    one from the main data's settings failed with another dataset's column ('no column race')."""
    if any(_same_dataset(d, data) for d in config.get("extra_data") or []):
        held = "" if _extra_share(config) == "all" else " (only its validation share, for choosing epochs, which evaluate does not recompute)"
        raise DataError(f"--split {split}: {_dataset_path(data).name} has no split column, and {model} trained on {_extra_share(config)} of it (extra_data), "
                        f"so no {split!r} rows of it were held out for testing{held}; evaluate it on other data")


def _extra_share(config: dict) -> str:
    """How much of an extra_data dataset a gender+age run trained on: all of it, or all but the
    validation share (val_size, or a fold with folds_on: extra) it chose epochs by."""
    if config.get("task") == "gender_age" and (config.get("val_size") or (config.get("folds_on") == "extra" and (config.get("folds") or 0) >= 2)):
        return "all but a validation share"
    return "all"


def _dataset_path(data) -> Path:
    """A dataset as its folder or file (a labels.csv stands for its folder)."""
    path = Path(str(data))
    return path.parent if path.name.lower() == "labels.csv" else path


def _same_dataset(recorded, data) -> bool:
    """Whether `data` is the dataset a config recorded: the same path where that (absolute) path
    exists here, else the same name (a shipped model's config records the name only, which is
    not looked for in the working folder, or a path on the machine that trained it)."""
    if not recorded or not str(recorded).strip():
        return False
    was, given = _dataset_path(recorded), _dataset_path(data).resolve()
    if was.is_absolute() and was.exists():
        return was.resolve() == given
    return was.name == given.name


def _manifest_ids(model_path: Path | None) -> dict[str, str] | None:
    """{sample id: split} from a run's split_manifest.csv (None: no manifest at hand)."""
    if model_path is None:
        return None
    manifest = (model_path if model_path.is_dir() else model_path.parent) / "split_manifest.csv"
    if not manifest.is_file():
        return None
    import csv

    with open(manifest, newline="", encoding="utf-8") as f:
        return {r["id"]: r["split"] for r in csv.DictReader(f)}


def training_images_among(trained: set[str] | None, pixels: "np.ndarray | list[np.ndarray] | None", unaligned: list[str] | None = None) -> np.ndarray | None:
    """Which of these decoded images have the pixels of one of the model's training images, by
    the digests it carries (runtime.assets.carried_digests; None: it carries none, as runs from
    before digests were recorded and exports made without them). `unaligned`: for a model of
    aligned faces, each image's digest before alignment (images.decode), which does not
    depend on the CPU that found the landmarks."""
    if not trained or pixels is None or not len(pixels):
        return None
    return np.array([pixel_digest(p) in trained or bool(unaligned and unaligned[i] in trained) for i, p in enumerate(pixels)])


def validation_images_among(model_path: Path | None, pixels, unaligned: list[str] | None = None, trained: np.ndarray | None = None,
                            metadata: dict[str, str] | None = None) -> np.ndarray | None:
    """Which of these decoded images, other than its training images (`trained`), have the pixels
    of a model's validation rows, by the digests an export (or a shipped model) carries in its
    `metadata`, else those its run's split_manifest.csv records. None: it carries none."""
    found = training_images_among(carried_digests(metadata, model_path, "val"), pixels, unaligned)
    return found & ~trained if found is not None and trained is not None else found


def among_held_out(validation: np.ndarray | None, trained: np.ndarray | None) -> np.ndarray | None:
    """The validation images for the selection note: none where mostly training images are
    scored, whose note says more (the figures without them still say how many they hold)."""
    return None if trained is not None and trained.mean() > 0.5 else validation


def _normal_path(path) -> str:
    return os.path.normpath(os.path.abspath(str(path)))


def _id_paths(ids, config: dict | None) -> set[str] | None:
    """A run's sample ids as the files they name, where the data it trained on is at hand here
    (ids are relative to its folder, or to its labels.csv's; absolute in a manifest that gave
    them so; a csv of pixel rows names rows, rowN, which name no file). None: that data is not
    here."""
    paths = _id_path_list(ids, config)
    return set(paths) if paths is not None else None


def _id_path_list(ids, config: dict | None) -> list[str] | None:
    """_id_paths, one per id in order."""
    recorded = _recorded_data(config)
    if recorded is None:
        return None
    base = recorded if recorded.is_dir() else recorded.parent
    return [_normal_path(base / _posix(i)) for i in ids]


def select_split(samples, split: str, config: dict, data, model_path: Path | None = None, read_ids: set[str] | None = None, read_paths: set[str] | None = None,
                 pixels_checked: bool = False, held_out: dict[str, str] | None = None) -> np.ndarray:
    """Indices of a named split. A dataset without its own splits gets the rows the run held out,
    as its split_manifest.csv beside `model_path` lists them (`manifest_split`; `read_ids`: the
    data's ids before a --label-map dropped rows), else the split recomputed from the seed and
    sizes in its training config (same samples, same order). `pixels_checked`: the evaluated
    model carries its training images' digests, so exact copies of its training images in a
    recomputed draw are found after decoding and counted as training images (training_data_note:
    a draw on data other than its own is not taken for its held-out rows), and the warning that
    they may be there is not needed. `held_out`: the ids digests of the rows an exported model
    held out (recorded_held_out); the draw is checked against them by check_held_out once the
    unreadable rows are known."""
    idx = _match(samples, split)
    if idx is not None:
        return idx
    if read_paths is None and read_ids is None and samples.paths is not None:  # the rows as read are these (age evaluation)
        read_paths = {_normal_path(p) for p in samples.paths}
    idx = manifest_split(samples, split, model_path, data, set(samples.ids) if read_ids is None else read_ids, config, read_paths)
    if idx is not None:
        return idx
    # recomputed on data without splits, or on the very data (by its path here, not a name a
    # shipped model recorded) of a run that drew val and test out of every row (train_split: null)
    own_data = _is_recorded_data(config, data)
    own_rows = config.get("train_split") is None and own_data and _dataset_path(data).is_dir()
    # data with its own train (and test) split, whose val the run drew out of its train rows: an
    # exported model (no split_manifest.csv beside it) was refused "no split named 'val'"
    part = canonical_split(split)
    names = samples.split_names()
    # (only on the very data it trained on, or where the export recorded those rows: on other
    # data a draw would be scored as its held-out rows)
    drawn_from_train = bool(part and names and config.get("train_split") and matching_split_names(names, str(config["train_split"]))
                            and not matching_split_names(names, str(config.get(f"{part}_split") or part))
                            and (own_data or (held_out or {}).get(part)))
    recomputable = not names or own_rows or drawn_from_train
    if not samples.split_names() and not own_rows and _named_for_a_dataset(split):  # --split PublicTest: a draw is no such split
        raise DataError(f"{data}: no split named {split!r} (the data has no split column); --split {canonical_split(split) or 'val'} scores the rows a model drew "
                        "by its seed and sizes from data without a split column, and leaving --split out (split=None) scores every row")
    if recomputable and canonical_split(split) and "val_size" in config:
        recorded = (held_out or {}).get(canonical_split(split))
        # a model whose settings name its data's own split (PublicTest) drew nothing where its data had that split
        named = next((config[k] for k in ("val_split", "test_split", "train_split") if _named_for_a_dataset(config.get(k))), None)
        if not own_data and not recorded and (not pixels_checked or named):  # a shipped model records its data's name only; a subset of it draws other rows
            where = f" ({_dataset_path(config['data']).name})" if str(config.get("data") or "").strip() else ""
            unless = (f"; where that data had a split column, its held-out rows were its {named!r} split and this draw is none of them" if named
                      else "; on a subset or other data the draw may hold its training images")
            log.warning("note: %r split recomputed from the model's training settings (seed and sizes): the rows it held out only on the data it trained on%s, whole and as it read it%s",
                        split, where, unless)
        # (advise=False: a copy without the model's named test split, PrivateTest held back, is
        # drawn as the model drew the rest, not refused as a training config's typo would be)
        idx = assign_splits(samples, **trained_split_settings(config), advise=False)[canonical_split(split)]
        own_split = config.get(f"{part}_split")
        if len(idx) == 0 and own_split and not config.get(f"{part}_size") and str(config.get("data") or "").strip():
            # no draw makes such rows ({part}_size 0): where its data had a split column, they were
            # its split of that name (the message blamed val_size 0.2); on its own data, it had none
            if own_data and names:  # its data's own split of that name, which this copy lacks (the shared FER2013 has no PrivateTest)
                raise DataError(_no_such_split_offering_others(data, split, names, config))
            if own_data:
                raise DataError(f"{data}: the model held out no {split!r} rows of this data ({part}_size 0, and the data has no split column); "
                                "evaluate without --split (every row, its training rows included), or pass --split-from MODEL (split_from=MODEL) to borrow another model's split")
            if not names and _same_dataset(config.get("data"), data):  # its data by name (a shipped model records no path), as it read it: no split column
                name = _dataset_path(data).name
                raise DataError(f"{data}: the model held out no {split!r} rows of {name} ({part}_size 0, and {name} has no split column here): unless the copy it trained on "
                                f"had a {own_split!r} split, it trained on all of it; score it on data it did not train on (without --split), "
                                "or pass --split-from MODEL (split_from=MODEL) to borrow another model's split")
            lacking = "data without a split column" if not names else f"data whose splits {names} hold no {own_split!r}"
            raise DataError(f"{data}: the model's settings draw no {split!r} rows from {lacking} ({part}_size 0): its {split!r} rows, if it had any, "
                            f"were the {own_split!r} split of the data it trained on ({config['data']}); evaluate on that data with --split {split}, "
                            "or pass --split-from MODEL (split_from=MODEL) to borrow another model's split")
        if len(idx) == 0:
            raise DataError(f"{data}: the model's training split has no {split!r} samples (it trained with val_size={config['val_size']}, folds={config['folds']}); evaluate on other data, or pass --split-from MODEL (split_from=MODEL) to borrow another model's split")
        return idx
    if not samples.split_names() and "val_size" not in config:  # a network trained elsewhere (dlib's) has no draw of its own here
        raise DataError(no_split_of_its_own(data, split))
    if names and _same_dataset(config.get("data"), data):  # a shipped model names its data only: the held-out splits by name
        raise DataError(_no_such_split_offering_others(data, split, names, config))
    raise DataError(f"{data}: no split named {split!r}; the data has {names or 'no split column'}")


def _no_such_split_offering_others(data, split: str, names: list[str], config: dict) -> str:
    """The data the model trained on lacks this split (the shared FER2013 has no PrivateTest):
    which of its splits the model held out, and which it trained on (train_split null: every
    one its val_split and test_split do not name)."""
    if config.get("train_split"):
        trained = matching_split_names(names, str(config["train_split"]))
        held = [name for name in names if name not in trained]
    else:
        held = _held_out_by_name(config, names)
        trained = [name for name in names if name not in held]
    offer = f"score {' or '.join(held)} with --split ({' and '.join(trained) or 'none'}: its training rows)" if held else "it trained on all of them"
    return f"{data}: no split named {split!r}; the data has {names}: {offer}, or pass --split-from MODEL (split_from=MODEL) to borrow another model's split"


def _named_for_a_dataset(split: str | None) -> bool:
    """Whether a split name is one dataset's own (FER2013's PublicTest, a benchmark's partition1),
    not a generic train/val/test that a run carves from any data by its seed and sizes."""
    return split is not None and str(split).strip().lower() not in set().union(*SPLIT_ALIASES.values()) - {"publictest", "privatetest"}


def check_held_out(drawn_ids: list[str], unreadable_ids: Callable[[], Iterable[str]], split: str, held_out: dict[str, str] | None, data) -> None:
    """Refuse a split recomputed from an exported model's settings that is not the rows it held
    out (its recorded ids digest, recorded_held_out), as a run's split_manifest.csv refuses data
    lacking its rows. Its training left out the rows it could not read (skip_bad) and recorded
    the rest, so the draw matches with or without the rows unreadable here (`unreadable_ids`:
    asked only when the whole draw does not match)."""
    recorded = (held_out or {}).get(canonical_split(split) or "")
    if not recorded or rows_ids_digest(drawn_ids) == recorded:
        return
    unreadable = set(unreadable_ids())
    if unreadable and rows_ids_digest(i for i in drawn_ids if i not in unreadable) == recorded:
        return
    raise DataError(f"{data}: the {len(drawn_ids)} rows drawn as {split!r} from the model's split settings are not the rows it held out, so this is not the data it trained on, whole and as it read it "
                    f"(a subset, a copy with other rows, or other data); evaluate without --split to score every row (the figures without its training images are printed beside), or on the data it trained on")


def no_split_of_its_own(data, split: str) -> str:
    """Why a model trained on other data (a dlib network) has no rows of `split` on data without
    a split column, and how to score the rows a facesense model held out there."""
    return (f"{data}: no split named {split!r} (the data has no split column), and this model was trained elsewhere, so it held no rows of it out; "
            f"add --split-from MODEL (split_from=MODEL) to score the rows a facesense model held out (e.g. --split-from gender_age on UTKFace), or leave --split out (split=None) to score every row")


def evaluate_model(model: str | Path, data: str | Path, out_dir: Path, split: str | None = None, data_format: str = "auto", skip_bad: bool = False, label_map: dict | None = None, group_by: str | None = None, split_from: str | Path | None = None, device: str = "auto") -> dict:
    """`split_from`: take the recomputed split of another model's training (to compare two
    models on exactly the same samples)."""
    loaded = load_for_evaluation(model, device)
    trained = carried_digests(loaded.metadata, loaded.path)  # its training images' pixel digests, where it carries them
    samples, in_scope = read_scored_rows(data, split, skip_bad, data_format)
    read_ids = set(samples.ids)
    read_paths = {_normal_path(p) for p in samples.paths} if samples.paths is not None else None
    check_group_column(samples.columns, group_by, data, split_column=samples.split_column)
    # name the map that was used: the one given, or the one the model was trained with
    map_option = "the label map given (--label-map FILE, YAML {old: new}; label_map=)" if label_map is not None else "a label map: --label-map FILE (YAML {old: new}; label_map={old: new})"
    if label_map is not None:  # the user's map for this data (the model's own may name labels of its training data only)
        check_map_keys(label_map, samples.labels, samples.source, map_option)
    label_map = label_map if label_map is not None else loaded.config.get("label_map") or {}
    data_splits = samples.split_names()
    scored = _match(samples, split)
    if scored is not None:  # the data's own split: a label only other splits hold is not this evaluation's business
        samples = samples.subset(scored)
    targets, keep = map_labels(samples, loaded.classes, label_map, map_option=map_option)
    gone = [label for label, k, s in zip(samples.labels, keep, samples.splits) if not k and in_scope(s)]  # the rows of the split scored that the map drops
    dropped, dropped_labels = len(gone), sorted(set(gone))
    samples, targets = samples.subset(np.flatnonzero(keep)), targets[keep]
    own_split = True  # the rows scored are this model's own split (not another model's draw)
    if split is not None:
        recomputed = _match(samples, split) is None  # from the training config: the data has no such split
        source = load_for_evaluation(split_from, device) if split_from else loaded
        if recomputed:  # none exists for data the split's model took whole
            check_not_extra_data(source.config, data, split, split_from or model)
        own_split = not recomputed or trained_split_settings(source.config) == trained_split_settings(loaded.config)
        held_out = recorded_held_out(source.metadata)
        idx = select_split(samples, split, source.config, data, source.path, read_ids, read_paths, pixels_checked=trained is not None, held_out=held_out)
        samples, targets = samples.subset(idx), targets[idx]
        if recomputed:  # the split is drawn from the rows the map kept, as training drew it: none it dropped was in it
            dropped, dropped_labels = 0, []
    drawn_ids = list(samples.ids)
    unaligned: list[str] = []
    images, kept = decode(samples, loaded.spec, skip_bad=skip_bad, prepare=loaded.prepare, unaligned_digests=unaligned, progress=Progress("reading images", len(samples)))
    if split is not None and recomputed:
        check_held_out(drawn_ids, lambda: (i for i, _ in samples.skipped), split, held_out, data)
    if len(kept) == 0:  # every image unreadable and skipped: there is nothing to score
        raise DataError(f"{data}: no readable images to evaluate (--skip-bad skipped all {len(samples.skipped)}); check the files")
    y = targets[kept]
    probs = score_images(loaded, images)
    path = loaded.path
    history = path.parent / "history.csv" if path is not None and path.is_file() else None
    extra = {"model": str(path or loaded.name), "data": str(data), "split": split, "skipped": len(samples.skipped), "dropped_by_label_map": dropped, "dropped_labels": dropped_labels, "_skipped": list(samples.skipped)}
    if split is not None and split_from:  # whose draw the rows are: not this model's own split
        extra["split_from"] = str(split_from)
    if group_by is not None:
        extra["group_by"] = group_by.lower()
        extra["_groups"] = group_names([samples.columns[group_by.lower()][i] for i in kept], group_by)
    ids = [samples.ids[i] for i in kept]
    matches = training_images_among(trained, images, unaligned)
    note = training_data_note(loaded.config, data, split, model, ids, path, data_splits, [samples.paths[i] for i in kept] if samples.paths is not None else None, matches,
                              own_split=own_split)
    add_note(extra, "training_data", note)
    validation = validation_images_among(path, images, unaligned, matches, loaded.metadata)
    add_note(extra, "selection_split", selection_split_note(loaded.config, data, split, model, data_splits, own_split, among_held_out(validation, matches), run_folder_of(path)))
    add_note(extra, "unfinished_run", unfinished_note(model, path))
    add_note(extra, "one_class_predicted", one_class_note(y, probs, loaded.classes, group_by))
    add_note(extra, "decision_threshold", threshold_note(loaded.metadata))
    without = figures_without(matches, y, probs, len(loaded.classes), validation)  # beside the note
    if without:
        extra["without_training_pixels"] = without
    name = f"{path.parent.name}/{path.name}" if path is not None else loaded.name
    title = f"{name} on {Path(str(data)).name}" + (f" [{split}" + (f", {split_from}'s draw]" if split_from else "]") if split else "")
    return write_evaluation(Path(out_dir), ids, y, probs, loaded.classes, mean_log_loss(y, probs), title, history if history and history.is_file() else None, extra=extra)
