"""One training run end to end: data -> run directory -> fit -> evaluation of the best checkpoint."""

from __future__ import annotations

import contextlib
import csv
import errno
import logging
import os
import shutil
from pathlib import Path

import torch
import yaml

from .checkpoint import load_model
from .config import Config, config_from_dict, read_yaml_file, warn_of_idle_options
from .data.digests import manifest_digests, pixel_digest
from .data.prepare import PreparedData, manifest_csv, pixel_digests, prepare_data, rows_digest, unaligned_digests
from . import schema
from .errors import ConfigError, FacesenseError, OutputError
from .eval.evaluate import evaluate_dataset
from .eval.report import skipped_csv
from .models import build_model, count_parameters
from .runs import RunDir, being_trained, new_run_dir, remove_stale_temps, resume_command, train_longer_command, training_lock, unfinished_runs, write_json, write_text
from .train.distill import check_same_teachers
from .train.loop import Trainer, pick_device, read_resume_state

log = logging.getLogger(__name__)


def write_run_inputs(run: RunDir, cfg: Config | None, data: PreparedData) -> None:
    """The run's inputs; config.yaml last, since it marks a folder as a run that --resume can
    continue. `cfg` None (a resume): only the inputs a kill left unwritten."""
    if cfg is not None or not run.labels.is_file():
        write_json(run.labels, schema.stamped("labels", {"classes": data.classes, "input_spec": data.spec.to_dict()}))
    if cfg is not None or not run.split_manifest.is_file():
        write_text(run.split_manifest, manifest_csv(data.manifest_rows, pixel_digests(data), unaligned_digests(data)))
    if data.skipped and (cfg is not None or not run.skipped.is_file()):
        write_text(run.skipped, skipped_csv(data.skipped))
        log.warning("skipped %d unusable sample(s) (unreadable images, bad rows; skip_bad=true); listed in %s", len(data.skipped), run.skipped)
    if cfg is not None:
        write_text(run.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def evaluate_split(model_path: Path, data: PreparedData, split: str, out_dir: Path, title: str, history: Path | None = None, train_labels=None,
                   trained: set[str] | None = None) -> dict:
    """The best checkpoint, reloaded from disk (as a user would), on one prepared split; rows
    with a training image's pixels (`trained` digests) are noted, as evaluate notes them."""
    dataset = data.splits[split]
    unaligned = [data.unaligned_digests.get((split, i), "") for i in dataset.ids] if data.unaligned_digests else None
    return evaluate_dataset(load_model(model_path), dataset, out_dir, title, history, train_labels, str(pick_device("auto")),
                            trained=trained, model=model_path.parent.name, unaligned=unaligned)


def _check_model_fits(cfg: Config, width: int) -> None:
    """A network too large for this machine's memory (baseline_vgg at image_size=2000: 2 billion
    weights in its dense layer) is refused by its size, counted without allocating it; building
    it got the process killed by the system, with a half-made run folder left behind."""
    try:
        with torch.device("meta"):
            weights = sum(p.numel() for p in build_model(cfg.model, width, cfg.channels, cfg.image_size, **cfg.model_args).parameters())
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (RuntimeError, ValueError, TypeError, OSError, AttributeError, NotImplementedError):
        return  # a model that cannot be built this way, or no memory figure: the real build says what it says
    need = weights * 4 * 4  # float32 weights, their gradients and two optimiser moments
    if need > 0.8 * memory:
        raise ConfigError(f"model {cfg.model!r} at image_size={cfg.image_size} has {weights / 1e6:,.0f} million weights, about {need / 2**30:,.0f} GB to train "
                          f"where this machine has {memory / 2**30:,.0f} GB; lower image_size (or the model_args that widen it)")


def check_before_data(cfg: Config, resuming: bool = False) -> None:
    """Build the configured network once, and look for the weights files it starts from and
    learns from, before any data is read: a wrong model name, model_args, a missing packaged
    weights file, init_from or teacher fails at once rather than after minutes of decoding (and
    aligning) images, and leaves no run folder. The head width here is a stand-in: the data sets
    the real one. A resumed run takes its weights from last.pt: its init_from file may be gone."""
    from .age import output_width
    from .train.distill import existing_teacher_file
    from .train.init import load_backbone

    warn_of_idle_options(cfg)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cfg.threads > cores:  # more threads than cores fight over them: a 3 s epoch took 100 s at threads=1000
        log.warning("threads=%d is more than the %d CPU core(s) this process may use: training slows down; 0 lets PyTorch choose", cfg.threads, cores)
    width = output_width(2, cfg.age_max) if cfg.task == "gender_age" else max(8, len(cfg.classes or []))
    _check_model_fits(cfg, width)
    model = build_model(cfg.model, width, cfg.channels, cfg.image_size, **cfg.model_args)
    try:  # one tiny batch through it: an input the layers cannot take fails here, not in epoch 1
        with torch.no_grad():
            model.eval()(torch.zeros(2, cfg.channels, cfg.image_size, cfg.image_size))
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"model {cfg.model!r} cannot take image_size={cfg.image_size} with channels={cfg.channels} and model_args {cfg.model_args}: {' '.join(str(exc).split())[:300]}") from None
    if cfg.freeze:
        from .train.init import freeze

        freeze(model, cfg.freeze, quiet=True)  # names that match no layer, or every layer, first
        # frozen where they start: random values for the whole run (an onnx_graph network brings
        # its own weights; a run started before this rule goes on as it began)
        if not cfg.init_from and cfg.model != "onnx_graph" and not resuming:
            raise ConfigError(f"freeze={cfg.freeze} without init_from: those layers would stay at their random starting values; "
                              "give init_from (weights to start from, e.g. a run's best.pt), or leave freeze out")
    pick_device(cfg.device)
    if cfg.init_from and not resuming:
        load_backbone(model, cfg.init_from, quiet=True)  # readable, and some tensor matches by name and shape
    for path in cfg.teacher or []:
        existing_teacher_file(path)


def train(cfg: Config, resume: str | Path | None = None, progress: bool | str = True, on_epoch=None, stop_after: int | None = None, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> RunDir:
    """Train (or resume) one run; returns its directory. `cfg.runs_dir` must be absolute or
    relative to a folder the caller chose (the library never reads the working directory).
    `run_dir` fixes the directory instead of numbering a new one (used by studies). The run's
    folder is locked while it trains (`training_lock`). `progress`: True a bar, "lines" a log
    line a minute (for output that is no terminal), False none."""
    with contextlib.ExitStack() as held:
        return _train(cfg, resume, progress, on_epoch, stop_after, rank, world_size, run_dir, held)


def _train(cfg, resume, progress, on_epoch, stop_after, rank, world_size, run_dir, held: contextlib.ExitStack) -> RunDir:
    if resume is not None:
        run = RunDir(resume)
        if not run.config.is_file():
            inside = Path(resume).parent if Path(resume).is_file() and RunDir(Path(resume).parent).config.is_file() else None  # RUN/last.pt
            raise FacesenseError(f"--resume {resume}: not a run directory (no config.yaml)" + (f"; give the run's folder: --resume {inside}" if inside else ""))
        if rank == 0:  # before the finished check: a process that held the lock until now may have just finished it
            held.enter_context(training_lock(run))
        if run.summary.is_file():
            raise FacesenseError(f"--resume {resume}: this run has finished (see {run.summary.name}); to train more, start a new run from its weights: "
                                 f"{train_longer_command(run.root)}")
        try:
            cfg = config_from_dict(read_yaml_file(run.config)).validate()
        except ConfigError as exc:  # a value an earlier version accepted
            raise ConfigError(f"{run.config}: {exc}; correct it in that file, then resume") from None
        if rank == 0:
            for path in (run.last_checkpoint, run.best_checkpoint, run.history):  # what a kill mid-write left
                remove_stale_temps(path)
    resume_from = _resume_point(run) if resume is not None else None
    resuming = resume_from is not None
    started = read_resume_state(run, resume_from) if resuming else None
    if resuming:
        _check_same_config(run, cfg, resume_from, started)
        check_same_teachers(cfg.teacher, started.get("teacher_sha256"))
    check_before_data(cfg, resuming)
    if resume is not None:  # data moved since it started
        for key, path in [("data", cfg.data), *(("extra_data", extra) for extra in cfg.extra_data), ("soft_labels", cfg.soft_labels)]:
            if path and not Path(path).exists():
                named = f" under the same folder name {Path(path).name!r}, which its samples' ids carry" if key == "extra_data" else ""
                raise FacesenseError(f"--resume {run.root}: its {key} {path} is not there (moved or renamed?); put it back, or set `{key}:` in {run.config} to where it is now{named} "
                                     f"(the samples are checked against those the run started with)")
    data = prepare_data(cfg)
    if resume is not None:
        _check_same_data(run, data, started)
        if rank == 0:
            write_run_inputs(run, None, data)  # those a kill right after config.yaml left unwritten
    created = None
    if resume is None:
        if run_dir is not None:
            run = RunDir(run_dir)
            run.root.mkdir(parents=True, exist_ok=True)
        else:
            if rank == 0:
                for earlier in unfinished_runs(cfg.runs_dir, cfg.task, cfg.name)[-3:]:
                    busy = being_trained(earlier)
                    if busy:
                        log.info("note: %s is being trained by another process", earlier.root)
                    else:
                        maybe = " (killed, or training elsewhere)" if busy is None else ""
                        log.warning("note: %s stopped before it finished%s; `%s` continues it", earlier.root, maybe, resume_command(earlier.root))
            run = new_run_dir(cfg.runs_dir, cfg.task, cfg.name) if rank == 0 else None
            created = run
        if rank == 0:
            held.enter_context(training_lock(run))
        if world_size > 1:
            run = _broadcast_run(run)
    try:
        if resume is None and rank == 0:
            write_run_inputs(run, cfg, data)
        trainer_class = Trainer
        if cfg.task == "gender_age":
            from .train.gender_age import GenderAgeTrainer as trainer_class
        trainer = trainer_class(cfg, data, run, rank=rank, world_size=world_size, start_weights=not resuming)
        if resuming:
            trainer.resume(resume_from, started)
        elif resume is not None:
            log.warning("%s: stopped before its first checkpoint (interrupted or killed); starting it again from epoch 1", run.root)
        result = trainer.fit(progress=progress, on_epoch=on_epoch, stop_after=stop_after)
    except KeyboardInterrupt:
        if _discard_unstarted(created):  # nothing to resume: as after a failure, no folder is left
            raise KeyboardInterrupt("before the first epoch finished; no run folder was kept") from None
        if run_dir is None and run is not None and run.last_checkpoint.is_file():  # a study says how to resume itself
            raise KeyboardInterrupt(f"the run continues from its last checkpoint with `{resume_command(run.root)}`") from None
        raise
    except OutputError as exc:  # a full disk mid-run: "choose another place" alone did not say the epochs so far are kept
        if not _discard_unstarted(created) and run_dir is None and run is not None and run.last_checkpoint.is_file():
            full = getattr(exc.cause, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            failure = OutputError(f"{exc}; the epochs before it are kept: {'once there is room' if full else 'once it can be written'}, `{resume_command(run.root)}` continues the run")
            failure.path, failure.cause = exc.path, exc.cause
            raise failure from None
        raise
    except Exception:
        _discard_unstarted(created)
        raise
    if rank != 0 or (stop_after is not None and result.epochs_run < cfg.epochs and not result.stopped_early):
        return run
    try:
        return _finish(cfg, data, run, trainer, result, world_size)
    except KeyboardInterrupt:  # after the last epoch: a resume writes what is missing
        if run_dir is None:
            raise KeyboardInterrupt(f"its training is done; `{resume_command(run.root)}` writes the run's final evaluation and summary") from None
        raise


def _finish(cfg, data, run: RunDir, trainer, result, world_size: int) -> RunDir:
    """After the last epoch: the final evaluation of the kept checkpoint and the run's summary."""
    if not run.best_checkpoint.is_file():
        raise FacesenseError(f"{run.root}: no epoch gave a finite {trainer.monitor} to keep a best.pt by; the run diverged: lower lr (now {cfg.lr:g})")
    train_labels = data.splits["train"].targets.numpy()
    summary = {
        "model": cfg.model,
        "parameters": count_parameters(trainer.model),
        "device": result.device,
        "epochs_run": result.epochs_run,
        "epochs_max": cfg.epochs,
        "stopped_early": result.stopped_early,
        # what best.pt holds: the best epoch by the monitor, the last (keep=last, or nothing to
        # validate on), or the weight average (SWA) where it beat them
        "kept": "average" if (trainer.swa_result or {}).get("used_as_best") else "last" if cfg.keep == "last" or not len(data.splits["val"]) else "best",
        "best_epoch": result.best_epoch,
        "best_" + trainer.monitor: result.best_value,
        "train_seconds": round(result.train_seconds, 2),
        "seconds_per_epoch": round(result.train_seconds / max(1, len(trainer.history)), 2),
        "decode_seconds": round(data.decode_seconds, 2),
        "samples": {k: len(v) for k, v in data.splits.items()},
        "world_size": world_size,
    }
    if trainer.swa_result is not None:
        summary["swa"] = trainer.swa_result
    if cfg.task == "gender_age":
        # the held-out test split is scored by `facesense evaluate RUN --split test` (the age
        # report, per decade and group), touched once, when the user asks: nothing here looks at it
        from .train.gender_age import calibrate

        if len(data.splits["val"]):
            summary["val"] = calibrate(run.best_checkpoint, data, pick_device("auto"))
            write_json(run.eval_dir("val") / "metrics.json", schema.stamped("age_metrics", summary["val"]))
        if len(data.splits.get("test", ())):
            log.info("the test split (%d faces) is held out and not scored here: facesense evaluate %s --data %s --split test", len(data.splits["test"]), run.root, cfg.data)
        write_json(run.summary, schema.stamped("train_summary", summary))
        return run
    # the training images' digests, as split_manifest.csv recorded them when the run began
    trained = manifest_digests(run.split_manifest, "train") or {pixel_digest(image.numpy()) for image in data.splits["train"].images}
    for split in ("val", "test"):
        if len(data.splits[split]):
            m = evaluate_split(run.best_checkpoint, data, split, run.eval_dir(split), f"{cfg.name} on {split}", run.history, train_labels, trained)
            summary[split] = {k: m[k] for k in ("n", "loss", "accuracy", "macro_f1", "roc_auc")}
    write_json(run.summary, schema.stamped("train_summary", summary))
    return run


def _resume_point(run: RunDir) -> Path | None:
    """The checkpoint a resume goes on from: last.pt; best.pt where last.pt is missing (it holds
    the training state as of the best epoch, so only the epochs after it are lost); None for a
    run killed before its first checkpoint."""
    if run.last_checkpoint.is_file():
        return run.last_checkpoint
    if run.best_checkpoint.is_file():
        log.warning("%s: %s is missing; going on from %s, the best epoch so far (the epochs after it are trained again)", run.root, run.last_checkpoint.name, run.best_checkpoint.name)
        return run.best_checkpoint
    return None


def _discard_unstarted(created: RunDir | None) -> bool:
    """Remove a run folder this call made if it has no checkpoint yet: a run stopped before its
    first one holds nothing worth keeping (a later stop keeps its checkpoints, for a look or a
    resume). -> whether it was removed."""
    if created is None or created.last_checkpoint.is_file():
        return False
    shutil.rmtree(created.root, ignore_errors=True)
    with contextlib.suppress(OSError):  # runs_dir/task, when this run was its first
        created.root.parent.rmdir()
    return True


# what an edited config.yaml may change in a resumed run: where and how fast it runs, where its
# data lie (the samples themselves are checked against split_manifest.csv, the vote table's votes
# against their digest in the checkpoint), and how many epochs it trains where the learning-rate
# schedule does not span them
RESUME_MAY_CHANGE = frozenset({"device", "threads", "amp", "channels_last", "data", "extra_data", "soft_labels", "data_format", "runs_dir", "name", "epochs"})
SCHEDULES_OVER_EPOCHS = ("cosine", "onecycle")


def _check_same_config(run: RunDir, cfg: Config, checkpoint: Path, state: dict) -> None:
    """A resumed run goes on as it started. Its config.yaml edited since (another model, classes in
    another order, another lr or image size) loaded weights into the wrong network with a
    traceback, silently swapped what the head's outputs mean, or was half applied (lr kept from
    the checkpoint, image size taken): each such key is refused, naming both values."""
    started = dict(state.get("config") or {})
    with contextlib.suppress(Exception):  # the same defaults as the edited file gets (a checkpoint of an older version may lack keys)
        started = config_from_dict(started).validate().to_dict()
    now = cfg.to_dict()
    movable = set(RESUME_MAY_CHANGE)
    if state.get("teacher_sha256") and len(now.get("teacher") or []) == len(started.get("teacher") or []):
        movable.add("teacher")  # moved teacher files: the resume compares their bytes with the digests recorded
    if not (state.get("soft_labels_sha256") and now.get("soft_labels") and started.get("soft_labels")):
        movable.discard("soft_labels")  # moved only: not added, not dropped, and checked against the votes' digest
    if len(now.get("extra_data") or []) != len(started.get("extra_data") or []):
        movable.discard("extra_data")  # another number of datasets is other data, not moved data
    for key, value in now.items():
        if key in started and key not in movable and value != started[key]:
            raise ConfigError(f"{run.config}: {key} is {value!r}, but the run started with {started[key]!r} ({checkpoint.name}); a resumed run goes on as it started: "
                              f"put {key} back to {started[key]!r}, or start a new run with the new value")
    done = int(state.get("epoch") or 0)
    if now["epochs"] != started.get("epochs", now["epochs"]):
        if now["lr_schedule"] in SCHEDULES_OVER_EPOCHS:
            raise ConfigError(f"{run.config}: epochs is {now['epochs']}, but the run started with {started['epochs']}, over which its {now['lr_schedule']} learning rate runs; put epochs back, or start a new run")
        if now["epochs"] < done:
            raise ConfigError(f"{run.config}: epochs {now['epochs']}: the run has trained {done} epochs already; give at least {done}, or start a new run")


def _check_same_data(run: RunDir, data: PreparedData, state: dict | None) -> None:
    """A resumed run must see the samples (and split) it started with: new or relabelled images
    would make its epochs and its validation numbers a mix of two datasets. `state`: the
    checkpoint it goes on from (None: killed before its first one)."""
    if not run.split_manifest.is_file():  # written before config.yaml: deleted since, or a kill of an older version
        started = (state or {}).get("data_rows_sha256")
        if started and started != rows_digest(data.manifest_rows):
            raise FacesenseError(f"--resume {run.root}: the data changed since the run started (its samples or split differ from those its checkpoints record; {run.split_manifest.name} is missing); start a new run on the new data")
        return
    with open(run.split_manifest, newline="") as f:
        header, *rows = list(csv.reader(f))
    started = [tuple(row[:3]) for row in rows]
    if started != [tuple(row) for row in data.manifest_rows]:
        raise FacesenseError(f"--resume {run.root}: the data changed since the run started (its samples or split differ from {run.split_manifest.name}); start a new run on the new data")
    if "pixels_digest" not in header:  # a run started before manifests carried the pixels' hash
        return
    # aligned faces: their images' digests before alignment, which another CPU does not change
    before_alignment = unaligned_digests(data) if "unaligned_digest" in header else None
    column = header.index("unaligned_digest" if before_alignment is not None else "pixels_digest")
    changed = [row[0] for row, now in zip(rows, before_alignment if before_alignment is not None else pixel_digests(data)) if row[column] != now]
    if changed:  # a warning: a newer image library may decode the same JPEG a little differently
        log.warning("--resume %s: %d image(s) have other pixels than when the run started (e.g. %s): replaced under the same name, or decoded by another version of the image library; "
                    "the epochs from here train and validate on the new pixels (start a new run to train on one version of the data)", run.root, len(changed), changed[0])


def _broadcast_run(run: RunDir | None) -> RunDir:
    import torch.distributed as dist

    box = [str(run.root) if run is not None else None]
    dist.broadcast_object_list(box, src=0)
    return RunDir(box[0])
