"""Studies: a grid of runs (configs x epoch budgets x seeds), resumable, summarised with
mean, standard deviation and 95% confidence intervals, and the research questions answered
from the numbers.

STUDY.yaml:
    name: source_a_expression
    configs: [../configs/emotion_model_3.yaml, ../configs/emotion_model_1.yaml]   # simplest first; relative to this file
    epochs: [5, 20]
    seeds: [0, 1, 2]
    overrides: {data: ../shared/data/fer2013/fer2013.csv.gz}           # applied to every run; paths from the working folder
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import shutil
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

import numpy as np

from . import schema
from .config import Config, apply_values, config_from_dict, load_config, read_yaml_file, resolve_paths
from .data.sources import outside_data
from .errors import ConfigError, FacesenseError
from .eval.compare import compare_runs
from .runs import RunDir, being_trained, building, missing_folders, remove_empty, write_text
from .markdown import cell as md_cell

log = logging.getLogger(__name__)
STUDY_KEYS = {"name", "configs", "epochs", "seeds", "overrides"}


@dataclass
class Study:
    name: str
    configs: list[Path]
    epochs: list[int]
    seeds: list[int]
    overrides: dict


def load_study(path: Path) -> Study:
    """Config paths are relative to the study file's folder."""
    if path.is_dir():  # `facesense study runs/`: said as train says it ('not found' of a folder that is there)
        raise ConfigError(f"{path}: is a folder; study takes a study file (YAML naming configs, seeds and epochs, as studies/source_a_expression.yaml)")
    if not path.is_file():
        raise ConfigError(f"study file {path} not found")
    spec = read_yaml_file(path) or {}  # overrides read as a config file's are (amp: off)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a mapping of study keys {sorted(STUDY_KEYS)} at the top level")
    unknown = set(spec) - STUDY_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown study keys {sorted(unknown)}; allowed: {sorted(STUDY_KEYS)}")
    for key in ("configs", "seeds"):
        if not spec.get(key) or not isinstance(spec[key], list):
            raise ConfigError(f"{path}: `{key}` must be a non-empty list, got {spec.get(key)!r}")
    if not isinstance(spec.get("epochs") or [], list):
        raise ConfigError(f"{path}: `epochs` must be a list of budgets, e.g. [10, 30], got {spec['epochs']!r}")
    if not isinstance(spec.get("overrides") or {}, dict):
        raise ConfigError(f"{path}: `overrides` must be a mapping of config keys, e.g. {{data: fer2013.csv}}, got {spec['overrides']!r}")
    grid = {"seed": "by `seeds`", "name": "from each cell, as CONFIG-eEPOCHS-sSEED", "runs_dir": "as OUT/runs", **({"epochs": "by `epochs`"} if spec.get("epochs") else {})}
    taken = sorted(k for k in (spec.get("overrides") or {}) if k in grid)
    if taken:  # the grid sets these for each run: an override of them was silently replaced
        raise ConfigError(f"{path}: overrides {taken} are set by the study itself for each run ({'; '.join(f'{k} {grid[k]}' for k in taken)}); leave them out of overrides")
    if any(not isinstance(c, str) for c in spec["configs"]):
        raise ConfigError(f"{path}: configs {spec['configs']} must be config file paths")
    seeds = spec["seeds"]
    if any(not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"{path}: seeds {seeds} must be whole numbers in [0, 2**32), e.g. [0, 1, 2]")
    if len(set(seeds)) < 3:
        raise ConfigError(f"{path}: at least 3 different seeds are needed for a confidence interval, got {seeds}")
    if len(set(seeds)) != len(seeds):  # a repeated seed is the same run counted twice
        raise ConfigError(f"{path}: seeds {seeds} repeat a seed; give each once")
    budgets = spec.get("epochs") or []
    if any(not isinstance(e, int) or isinstance(e, bool) or e < 1 for e in budgets) or len(set(budgets)) != len(budgets):
        raise ConfigError(f"{path}: epochs {budgets} must be different whole numbers >= 1 (leave it out to use each config's own epochs)")
    try:  # an unknown key or a value of the wrong type is named with this file; checks that
        # need a config's other keys (min_lr below lr) are made per cell, in check_cells
        apply_values(Config(), dict(spec.get("overrides") or {}))
    except ConfigError as exc:
        raise ConfigError(f"{path}: overrides: {exc}") from None
    configs = [(path.parent / c).resolve() for c in spec["configs"]]
    for c in configs:
        if c.is_dir():  # it said "not found" of a folder that is there
            raise ConfigError(f"{path}: config {c} is a folder; `configs` lists config files (e.g. configs/expression_fast.yaml), the data goes in overrides: {{data: {c.name}}}")
        if not c.is_file():
            raise ConfigError(f"{path}: config {c} not found")
    name = str(spec.get("name") or path.stem)
    if name in (".", "..") or "/" in name or "\\" in name:  # studies/NAME: '../../x' wrote the study outside studies/
        raise ConfigError(f"{path}: name {name!r} is a path; give a plain name (the study goes to studies/NAME, or --out elsewhere)")
    return Study(name, configs, [int(e) for e in spec.get("epochs") or [0]], [int(s) for s in spec["seeds"]], spec.get("overrides") or {})


def cell_name(config: Path, epochs: int) -> str:
    return f"{config.stem}-e{epochs}" if epochs else config.stem


def run_study(study: Study, out: Path, base: Path, progress: bool = False) -> dict:
    """Run every (config, epochs, seed) not finished yet, then summarise. Finished runs are
    never redone; an interrupted one resumes from its last checkpoint."""
    from .experiment import train

    check_cells(study, out, base)
    made_folders = missing_folders(out / "runs")
    out.mkdir(parents=True, exist_ok=True)
    finished: dict[str, list[Path]] = {}
    for config, epochs, seed in product(study.configs, study.epochs, study.seeds):
        cell = cell_name(config, epochs)
        run_dir = out / "runs" / f"{cell}-s{seed}"
        finished.setdefault(cell, []).append(run_dir)
        if (run_dir / "train_summary.json").is_file():
            log.info("%s: finished earlier, kept", run_dir.name)
            continue
        resuming = (run_dir / "config.yaml").is_file()
        log.info("%s: %s", run_dir.name, "resuming" if resuming else "training")
        cfg = None if resuming else cell_config(study, config, epochs, seed, base)
        made = not run_dir.exists()
        def on_epoch(row: dict, name: str = run_dir.name, epochs: int = epochs) -> None:
            # a line per epoch: a study's runs take hours, and it said only "NAME: training"
            val = "" if math.isnan(row.get("val_loss", math.nan)) else f", val accuracy {row['val_accuracy']:.4f}"
            log.info("%s: epoch %d of %d, train loss %.4f%s (%.0f s)", name, row["epoch"], epochs, row["train_loss"], val, row["seconds"])

        try:
            train(cfg, resume=run_dir if resuming else None, run_dir=None if resuming else run_dir, progress=progress, on_epoch=on_epoch)
        except FacesenseError as exc:  # named by its run; a run this call made that never saved a checkpoint is not left to block --resume
            if made and not any(run_dir.glob("*.pt")) and being_trained(RunDir(run_dir)) is not True:
                shutil.rmtree(run_dir, ignore_errors=True)
            remove_empty(made_folders)  # a study whose first run failed leaves no empty folders behind
            raise type(exc)(f"{run_dir.name}: {exc}") from None
        if not (run_dir / "eval_val" / "metrics.json").is_file():  # the answers are validation accuracies: stop before the next run
            val_split = (cfg or cell_config(study, config, epochs, seed, base)).val_split
            where = f"no {val_split!r} split in its data" if val_split else "val_split null"
            raise ConfigError(f"{run_dir.name}: trained without a validation split (val_size 0, and {where}), "
                              "and a study compares validation accuracies; give the study val_size > 0 (or data with a val split) and a new --out")
    return summarise(study, finished, out)


class _DataPlans:
    """The study's datasets, each read once (labels and splits, no image decoded), and the rows
    each distinct split plan (data, labelling, split settings, seed) gives, each computed once."""

    def __init__(self):
        self.datasets: dict[tuple, object] = {}
        self.plans: dict[str, tuple] = {}

    def dataset(self, cfg: Config):
        from .data.sources import read_dataset

        key = (cfg.data, cfg.data_format, cfg.skip_bad)
        if key not in self.datasets:
            self.datasets[key] = read_dataset(cfg.data, cfg.data_format, skip_bad=cfg.skip_bad)
        return self.datasets[key]

    def plan(self, cfg: Config) -> tuple:
        """-> (the samples a run of `cfg` keeps, the set of (id, label, split) of every row it
        trains, validates and tests on); what its data preparation would refuse (a val_size too
        small for the classes, a stratify column the data lacks, a class with no training
        samples) is raised here."""
        from .data.prepare import check_planned_data, planned_splits
        from .data.split import SPLIT_KEYS

        plan = repr((cfg.data, cfg.data_format, cfg.skip_bad, cfg.task, cfg.classes, cfg.label_map, *(getattr(cfg, k) for k in SPLIT_KEYS)))
        if plan not in self.plans:
            samples, classes, targets, parts, _ = planned_splits(cfg, self.dataset(cfg))
            check_planned_data(cfg, classes, targets, parts)
            self.plans[plan] = (samples, {(samples.ids[i], classes[targets[i]], name) for name, idx in parts.items() for i in idx})
        return self.plans[plan]


def _check_validation_split(config: Path, cfg: Config, plans: _DataPlans) -> None:
    """A cell that would train without a validation split (val_size 0 and no val split in its
    data) stopped the study after its first run had trained: said before any training."""
    if cfg.val_size or (cfg.folds or 0) >= 2:
        return
    if cfg.val_split:
        from .data.split import matching_split_names

        if matching_split_names(plans.dataset(cfg).split_names(), cfg.val_split):
            return
    where = f"no {cfg.val_split!r} split in its data" if cfg.val_split else "val_split null"
    raise ConfigError(f"{config}: would train without a validation split (val_size 0, and {where}), and a study compares validation accuracies; "
                      "give the study val_size > 0 in its overrides (or data with a val split)")


def cell_config(study: Study, config: Path, epochs: int, seed: int, base: Path) -> Config:
    """The config of one (config, epochs, seed) run, its relative paths resolved against `base`."""
    overrides = {**study.overrides, "seed": seed, "name": f"{cell_name(config, epochs)}-s{seed}"}
    if epochs:
        overrides["epochs"] = epochs
    return resolve_paths(load_config(config, overrides), base)


def check_cells(study: Study, out: Path, base: Path) -> None:
    """What would otherwise fail after hours of the earlier cells' training, before any folder
    is made: no two cells share a name (their runs would be one set), the cells share one task,
    a run kept from an earlier start (--resume) was made with the settings its cell has now, and
    each cell with runs still to train has a dataset (not around --out), and a network,
    init_from, teachers and data files that train's own checks accept."""
    from .experiment import check_before_data

    names: dict[str, Path] = {}
    tasks = set()
    seen_labelling = None  # (the first config, what its accuracies are of)
    seen_rows = None  # (the first config with runs to train, the rows its first seed's runs use)
    plans = _DataPlans()
    kept, any_pending = [], False  # runs kept from an earlier start: (run, the config of its draw)
    for config, epochs in product(study.configs, study.epochs):
        cell = cell_name(config, epochs)
        if cell in names:
            raise ConfigError(f"{config} and {names[cell]} make the same cell {cell!r} (runs are named after the config file): rename one, or list each config once")
        names[cell] = config
        try:
            cfg = cell_config(study, config, epochs, study.seeds[0], base)
        except ConfigError as exc:  # the config file, or the study's overrides on top of it
            raise ConfigError(f"{config} with the study's overrides: {exc}") from None
        tasks.add(cfg.task)
        if len(tasks) > 1:
            raise ConfigError(f"the study's configs train different tasks {sorted(tasks)}; a study compares configs of one task")
        # what the accuracies are of: the same data, read and labelled the same way (3-class
        # accuracy beside 2-class accuracy answered "does a more complex model help?" anyway)
        labelling = (str(Path(cfg.data).resolve()) if cfg.data else None, tuple(cfg.classes or ()), tuple(sorted((cfg.label_map or {}).items(), key=str)),
                     cfg.train_split, cfg.val_split)
        if seen_labelling and labelling != seen_labelling[1]:
            raise ConfigError(f"{config} and {seen_labelling[0]} score on other data or classes (data, classes, label_map or the splits differ); "
                              "a study compares configs on one dataset and one set of classes: give them the same in the study's overrides")
        seen_labelling = seen_labelling or (config, labelling)
        runs = [out / "runs" / f"{cell}-s{seed}" for seed in study.seeds]
        rules = {}  # each run's hold-out rule: a kept run's own (an older version's may differ, see _check_kept_run)
        for seed, run in zip(study.seeds, runs):
            run_cfg = cell_config(study, config, epochs, seed, base)
            saved_rule = _check_kept_run(run, run_cfg, base)
            rules[run] = run_cfg.split_rule if saved_rule is None else saved_rule
            if run.is_dir():  # its draw by its own rule
                kept.append((run, replace(run_cfg, split_rule=rules[run])))
        pending = [run for run in runs if not (run / "train_summary.json").is_file()]
        any_pending = any_pending or bool(pending)
        if not pending:
            continue  # nothing left to train: its data may have moved since
        if not cfg.data:
            raise ConfigError(f"{config}: no dataset; set `data:` in it or in the study's overrides")
        for key, path in [("data", cfg.data), ("soft_labels", cfg.soft_labels), *(("extra_data", d) for d in cfg.extra_data)]:
            if path and not Path(path).exists():  # relative paths (the config's or the overrides') are read from the working folder
                raise ConfigError(f"{config}: {key} {path} not found (relative paths in configs and the study's overrides are taken from the working folder, {base})")
        outside_data(out, cfg.data, "--out")
        _check_validation_split(config, cfg, plans)
        try:  # runs that resume from last.pt need no init_from file any more
            check_before_data(cfg, resuming=all((run / "last.pt").is_file() for run in pending))
            if cfg.task != "gender_age":  # (refused below) what its data preparation would refuse, before any run trains,
                for rule in sorted({rules[run] for run in pending}):  # by the rule each pending run draws with
                    plans.plan(replace(cfg, split_rule=rule))
        except FacesenseError as exc:
            raise type(exc)(f"{config}: {exc}") from None
        if cfg.task != "gender_age":  # the rows the first seed trains, validates and tests on: the same for every config
            rows = plans.plan(cfg)[1]
            if seen_rows and rows != seen_rows[1]:
                moved = len({sample_id for sample_id, _, _ in rows ^ seen_rows[1]})
                raise ConfigError(f"{config} and {seen_rows[0]} split the data otherwise (seed {study.seeds[0]}: {moved} rows in another split or left out): their runs "
                                  "would validate and test on other rows, one training on more; give them the same split settings (val_size, test_size, "
                                  "test_split, stratify, split_group, folds) in the study's overrides")
            seen_rows = seen_rows or (config, rows)
    if tasks == {"gender_age"}:  # its answers are validation accuracies of classifiers
        raise ConfigError("a study compares classifier configs; task=gender_age runs are scored with `facesense evaluate RUN --data DATA --split test`")
    for run, cfg in kept if any_pending else ():  # kept beside runs still to train, they must have trained on the data those will
        if cfg.data and Path(cfg.data).exists():
            _check_kept_run_data(run, cfg, plans)


def _check_kept_run_data(run_dir: Path, cfg: Config, plans: _DataPlans) -> None:
    """A run kept beside runs still to train: its samples and split (split_manifest.csv) must be
    those the data gives now, or the study would compare runs trained and validated on two
    versions of the dataset (said before anything trains; an unfinished run's resume would
    refuse it only when its turn came)."""
    manifest = RunDir(run_dir).split_manifest
    if not manifest.is_file():
        return
    with open(manifest, newline="", encoding="utf-8") as f:
        kept = {(r["id"], r["label"], r["split"]) for r in csv.DictReader(f)}
    try:
        samples, now = plans.plan(cfg)
    except FacesenseError as exc:
        raise type(exc)(f"{run_dir}: {exc}") from None
    # a run that skipped unreadable images recorded only those it read: the rows it lacks must still be unreadable
    if kept != now and not (cfg.skip_bad and kept < now and not _readable(samples, {row[0] for row in now - kept}, cfg)):
        raise ConfigError(f"{run_dir}: trained on other samples or another split than the data gives now ({len(kept ^ now)} row(s) differ from its {manifest.name}), "
                          "so the study would compare runs of two versions of the dataset; use a new --out for the changed data, or remove the runs made before it changed")


def _readable(samples, ids: set[str], cfg: Config) -> bool:
    """Whether any of these samples' images decodes now (one at a time: the first is enough)."""
    from .data.images import decode
    from .data.prepare import input_spec

    spec = input_spec(cfg)
    return any(decode(samples.subset([i]), spec, skip_bad=True, workers=1)[1] for i, sample_id in enumerate(samples.ids) if sample_id in ids)


# settings of the machine, not of the experiment, and split_rule, the hold-out rule of the
# version that made the run (a newer rule moves only a class too small for its share): a kept run may
# have others
_RUN_ONLY_KEYS = {"runs_dir", "device", "threads", "split_rule"}


def _check_kept_run(run_dir: Path, cfg: Config, base: Path) -> int | None:
    """A kept run must be the run its cell asks for now: the saved config (defaults of keys added
    since filled in, relative paths resolved as the study resolves them) equals the cell's.
    -> the hold-out rule it was made under (None: no saved config)."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return None
    try:
        before = _flat(resolve_paths(config_from_dict(read_yaml_file(saved) or {}), base).to_dict())
    except ConfigError as exc:
        raise ConfigError(f"{run_dir}: its config.yaml is not one this version reads ({exc}); use a new --out") from None
    now = _flat(cfg.to_dict())
    changed = [k for k in now if k.split(".")[0] not in _RUN_ONLY_KEYS and before.get(k) != now[k]]
    if before.get("split_rule") != now.get("split_rule"):  # the same split unless a class is tiny
        log.warning("%s: made under hold-out rule %s, new runs use %s; where a class has a single sample or too few for its share, their validation and test splits differ",
                    run_dir, before.get("split_rule"), now.get("split_rule"))
    if changed:
        raise ConfigError(f"{run_dir}: made with other settings than its cell has now ({', '.join(f'{k}: {before.get(k)!r} -> {now[k]!r}' for k in changed[:3])}); "
                          "use a new --out for the changed study, or remove that run to redo it")
    return before["split_rule"]


def _flat(values: dict, prefix: str = "") -> dict:
    """{'augment': {'blur': 0.0}} -> {'augment.blur': 0.0}"""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and key == "augment":
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def mean_ci(values: list[float]) -> tuple[float, float, float, float]:
    """mean, sample std, and the 95% t-interval of the mean."""
    from scipy import stats

    a = np.asarray(values, float)
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    half = float(stats.t.ppf(0.975, len(a) - 1) * std / np.sqrt(len(a))) if len(a) > 1 else float("nan")
    return mean, std, mean - half, mean + half


def difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of b - a with a Welch 95% interval."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(b.mean() - a.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, dof) * se)
    return diff, diff - half, diff + half


def paired_difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Mean of b - a over pairs (one seed's two runs) with a 95% t-interval on n - 1 degrees."""
    from scipy import stats

    d = np.asarray(b, float) - np.asarray(a, float)
    diff = float(d.mean())
    half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return diff, diff - half, diff + half


def answer(question: str, low_name: str, high_name: str, low: list[float], high: list[float], paired: bool = False, measure: str = "validation accuracy") -> str:
    """One question's answer from the two cells' accuracies. `paired`: the lists are in seed
    order and each seed drew its own validation rows, shared by its two runs, so that the
    seed's draw is taken out by comparing the runs seed by seed; otherwise (one validation set
    for every run) the runs are independent and Welch's interval compares them."""
    # (a near-zero-wide interval from float noise said "yes")
    split = measure.split()[0]  # validation, test
    no_spread = np.ptp(np.asarray(high, float) - np.asarray(low, float)) <= 1e-9 if paired else np.ptp(low) == 0 and np.ptp(high) == 0
    if no_spread:  # the t-interval is undefined, not zero-wide
        diff = float(np.mean(high) - np.mean(low))
        same = "every seed gave the same difference" if paired else "every seed of each cell scored the same"
        return (f"{question} cannot be told: {high_name} vs {low_name}, {measure} difference {diff:+.4f}, but {same} "
                f"({f'n = {len(low)} seeds, paired' if paired else f'n = {len(low)} and {len(high)} seeds'}), so there is no spread to judge it by: the {split} set is "
                f"likely too small to tell the runs apart; use more {split} samples")
    diff, lo, hi = paired_difference(low, high) if paired else difference(low, high)
    excludes = lo > 0 or hi < 0
    verdict = ("yes" if diff > 0 else "no, it predicts worse") if excludes else "no clear difference"
    return (
        f"{question} {verdict}: {high_name} vs {low_name}, {measure} difference {diff:+.4f} "
        f"(95% CI {lo:+.4f} to {hi:+.4f}, {'excludes' if excludes else 'includes'} zero; "
        + (f"paired by seed, each seed's runs {'tested' if split == 'test' else 'validated'} on the same rows; n = {len(low)} seeds)" if paired else f"n = {len(low)} and {len(high)} seeds)")
    )


def _seed(run_dir: Path) -> int | None:
    found = re.search(r"-s(\d+)$", Path(run_dir).name)
    return int(found.group(1)) if found else None


def pairs_by_seed(low: list[Path], high: list[Path], val_set: dict[str, object], same_start: bool = False) -> list[tuple[Path, Path]] | None:
    """The two cells' runs seed by seed, where pairing them is what the design asks: every seed
    shared, each seed's two runs validated on one set of rows, and those sets differing between
    seeds (the seed drew the split), or `same_start`: two epoch budgets of one config, where a
    seed's runs share their start and first epochs whatever the split. None otherwise: with one
    validation set for every run (a dataset's own split), two configs' runs of one seed share
    nothing, and runs are independent."""
    by_low, by_high = {_seed(d): d for d in low}, {_seed(d): d for d in high}
    if None in by_low or set(by_low) != set(by_high) or len(by_low) < 3:
        return None
    sets = {s: (val_set.get(str(by_low[s])), val_set.get(str(by_high[s]))) for s in by_low}
    if any(a is None or a == "-" or a != b for a, b in sets.values()) or (len({a for a, _ in sets.values()}) < 2 and not same_start):
        return None
    return [(by_low[s], by_high[s]) for s in sorted(by_low)]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def accuracy_ci(values: list[float]) -> tuple[float, float, float | None, float | None]:
    """mean_ci of accuracies: the interval kept within [0, 1], and none where the seeds do not
    spread (every seed alike: undefined, not zero-wide)."""
    m, s, lo, hi = mean_ci(values)
    return (m, s, max(0.0, lo), min(1.0, hi)) if s > 0 else (m, s, None, None)


def _test_columns(accuracy: list[float]) -> dict:
    """A cell's test accuracy: mean, and its 95% interval where the seeds spread."""
    m, _, lo, hi = accuracy_ci(accuracy)
    return {"test_accuracy_mean": round(m, 4), "test_ci95_low": _rounded(lo), "test_ci95_high": _rounded(hi)}


def summarise(study: Study, cells: dict[str, list[Path]], out: Path) -> dict:
    # the per-run comparison (a set of its own) first: its rows are the runs' figures, and their
    # validation sets decide how the answers pair runs
    run_dirs_all = [d for ds in cells.values() for d in ds]
    compared, _ = compare_runs(run_dirs_all, out / "compare", same_classes=False)  # the study's configs decide
    row_of = {str(d): row for d, row in zip(run_dirs_all, compared)}
    rows = []
    # each run's validation figure is its best epoch's, picked on those same rows: a longer budget
    # is the best over more epochs of the same start, so it can only gain there. Where every run
    # held out a test split, the answers are on it (rows nothing was picked on).
    on_test = all(row.get("_test_accuracy") is not None for row in compared)
    score, measure = ("_test_accuracy", "test accuracy") if on_test else ("_val_accuracy", "validation accuracy")

    def ask(question: str, low: str, high: str, epochs: bool = False) -> str:
        asked = [row_of[str(d)] for d in cells[low] + cells[high]]
        # on the rows the answer is on: a run can give every test image one class and not every validation one
        one_class, rows_named = ("_test_one_class", "test") if on_test else ("_one_class", "validation")
        collapsed = [r for r in asked if r.get(one_class)]
        if len(collapsed) == len(asked):  # accuracies that are class shares: no answer about the models, whatever the interval says
            said = sorted({r[one_class] for r in collapsed})
            return (f"{question} cannot be told: each run of {high} and {low} gave all its {rows_named} images one class ({' or '.join(map(repr, said))}), "
                    "so their accuracies are that class's share, not what the models learnt; train longer, or check the learning rate and the data")
        # the rows the figures are on decide the pairing: a seed that drew its own test rows shares them between its runs
        sets = {d: (row.get("_test_ids") if on_test else row["val_set"]) for d, row in row_of.items()}
        pairs = pairs_by_seed(cells[low], cells[high], sets, same_start=epochs)
        if pairs is None:
            said = answer(question, low, high, [row_of[str(d)][score] for d in cells[low]], [row_of[str(d)][score] for d in cells[high]], measure=measure)
        else:
            said = answer(question, low, high, [row_of[str(a)][score] for a, _ in pairs], [row_of[str(b)][score] for _, b in pairs], paired=True, measure=measure)
        if epochs and not on_test:
            said += ("; but each run's figure is its best epoch's, picked on these same validation rows, which favours the longer budget "
                     "(a longer run is the best over more epochs from the same start): give the configs test_size to answer on rows nothing was picked on")
        if collapsed:
            said += f"; but {len(collapsed)} of these {len(asked)} runs gave every {rows_named} image one class (their accuracy is that class's share): see compare/compare.md"
        return said

    for cell, run_dirs in cells.items():
        runs = [row_of[str(d)] for d in run_dirs]  # (read once, by compare)
        acc = [r["_val_accuracy"] for r in runs]  # unrounded: the table's 4 decimals are for reading
        f1 = [r["_val_macro_f1"] for r in runs]
        m, s, lo, hi = accuracy_ci(acc)
        fm, fs, _, _ = mean_ci(f1)
        rows.append({
            "cell": cell, "model": runs[0]["model"], "parameters": runs[0]["parameters"], "seeds": len(runs),
            "epochs_run_mean": round(float(np.mean([r["epochs_run"] for r in runs])), 1),
            "train_min_mean": round(float(np.mean([r["train_min"] for r in runs])), 2),
            "val_accuracy_mean": round(m, 4), "val_accuracy_std": round(s, 4), "ci95_low": _rounded(lo), "ci95_high": _rounded(hi),
            "val_macro_f1_mean": round(fm, 4), "val_macro_f1_std": round(fs, 4),
            **(_test_columns([r["_test_accuracy"] for r in runs]) if on_test else {}),
        })
    answers = []
    params = {r["cell"]: r["parameters"] for r in rows}
    top_epochs = max(study.epochs)
    if len(study.configs) > 1:
        simple, complex_ = cell_name(study.configs[0], top_epochs), cell_name(study.configs[-1], top_epochs)
        said = ask("Does a more complex model predict better?", simple, complex_)
        if params[simple] > params[complex_]:  # the order says which is "more complex"; the counts may say otherwise
            said += f" (more complex by the study's order of configs; {simple} has more parameters, {params[simple]:,} against {params[complex_]:,})"
        elif params[simple] == params[complex_]:
            said += f" (more complex by the study's order of configs only: both have {params[simple]:,} parameters, so they differ in their training, not their size)"
        answers.append(said)
    if len(study.epochs) > 1:
        for config in study.configs:
            short, long = cell_name(config, min(study.epochs)), cell_name(config, top_epochs)
            answers.append(ask(f"Does training for more epochs predict better ({config.stem})?", short, long, epochs=True))
    buf = io.StringIO()
    rows = [{**r, schema.KEY: schema.VERSIONS["study"]} for r in rows]
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    # the study's files as one set with study.json last: a Ctrl-C half way left a study.csv of 4
    # seeds beside a study.md of 3 (found by a bug hunt)
    cols = [c for c in rows[0] if c != schema.KEY]  # the version is for readers of study.csv, not of this page
    order = ", ".join(f"{c.name} ({params[cell_name(c, top_epochs)]:,} parameters)" for c in study.configs)
    budgets = f"epoch budgets {study.epochs}" if any(study.epochs) else "each config's own epochs (no `epochs` in the study)"  # [0]: none given
    md = [f"# Study: {study.name}", "", f"Configs in the study's order, the first taken as the simpler one: {order}; {budgets}; seeds {study.seeds}.", ""]
    md += ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    md += ["| " + " | ".join(md_cell("-" if r[c] is None else r[c]) for c in cols) + " |" for r in rows]  # (-: no spread, no interval)
    where = ("on the test split, which every run held out (each run's validation figure is its best epoch's, picked on those rows)" if on_test
             else "on the validation split (not every run held out a test split)")
    md += ["", f"## Answers (computed from the table, {where})", ""] + ([f"* {a}" for a in answers] or [
        "No question to answer: the study has one config and one epoch budget; list two configs (simpler first) or two epoch budgets to compare them."])
    if len(answers) > 1:  # each interval is 95% on its own
        md += ["", f"Each of these {len(answers)} intervals is 95% on its own: where there is no difference, each has a 1-in-20 chance of "
                   "excluding zero, so read a single \"yes\" among several with that in mind."]
    md += ["", "Per-run table and plots: [compare/compare.md](compare/compare.md)", ""]
    result = {"rows": rows, "answers": answers}
    with building(out, "study.json", owned=("study.csv", "study.md")) as build:
        write_text(build / "study.csv", buf.getvalue())
        write_text(build / "study.md", "\n".join(md))
        write_text(build / "study.json", json.dumps(schema.stamped("study", result), indent=2))
    return result
