"""The fit loop: train one epoch, validate, apply the policies, checkpoint. Resumable."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..checkpoint import save_checkpoint
from ..config import Config
from ..data.batches import ArrayDataset, Batches, build_augment, inference_batch_size
from ..data.prepare import PreparedData, rows_digest
from ..errors import FacesenseError
from ..eval.inference import autocast_for, loss_fn, run_inference
from ..eval.metrics import macro_f1
from ..models import build_model, with_test_time_views
from ..preprocess import denormalise, normalise
from ..progress import Progress
from ..runs import RunDir, write_text
from .callbacks import EarlyStopping, KerasPlateau, Monitor, monitor_mode
from .degrade import Degrader
from .distill import Teachers, distillation_loss, warn_of_teachers_trained_on_held_out_rows
from .soft_labels import check_alignment, crowd_faces, crowd_targets, mixed_targets, non_class_votes, read_votes

log = logging.getLogger(__name__)

# progress="lines": a log line a minute instead of a bar, for output that is no terminal (a log
# file, CI, nohup): an epoch of 13 minutes on a 2-core CPU showed nothing until it ended
PROGRESS_LINES = "lines"
PROGRESS_EVERY_S = 60.0


# oneDNN computes the weight gradient of a strided 1x1 convolution with fewer input channels
# than its channel block (8 with AVX2, 16 with AVX-512) wrongly in channels_last, or never
# finishes it (uxlfoundation/oneDNN#6035): 49% off with 4 channels on an AVX2 CPU, and a
# 2-thread run that hung for over 15 minutes
ONEDNN_CHANNEL_BLOCK = 16


def _channels_last_breaks(model: torch.nn.Module, device: torch.device) -> bool:
    """Whether training `model` in channels_last on this CPU meets the oneDNN fault above; said
    once in the log, and the model trains in the default memory format instead."""
    if device.type != "cpu" or platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):  # oneDNN's x64 kernels only
        return False
    for name, conv in model.named_modules():
        if isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (1, 1) and max(conv.stride) > 1 and conv.in_channels < ONEDNN_CHANNEL_BLOCK:
            log.info("channels_last off: %s is a strided 1x1 convolution of %d input channels, whose weight gradient oneDNN computes wrongly "
                     "in channels_last on x86 CPUs (fewer than %d; oneDNN issue 6035)", name, conv.in_channels, ONEDNN_CHANNEL_BLOCK)
            return True
    return False


def progress_lines(batches, title: str, every_s: float = PROGRESS_EVERY_S, clock=time.monotonic):
    """The batches, with a line logged every `every_s` seconds: how far the epoch is and about how
    long it has left."""
    try:
        total = len(batches)
    except TypeError:
        total = 0
    progress = Progress(title, total, every_s, clock, unit="batch ")
    for batch in batches:
        yield batch
        progress()

HISTORY_COLUMNS = ["epoch", "lr", "samples", "train_loss", "train_accuracy", "train_macro_f1", "val_loss", "val_accuracy", "val_macro_f1", "seconds"]


@dataclass
class FitResult:
    epochs_run: int
    best_epoch: int
    best_value: float
    stopped_early: bool
    train_seconds: float
    device: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise FacesenseError("device=cuda but no CUDA GPU is visible; use device=auto or device=cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def class_weights(targets: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse-frequency weights n / (k * count_c), as scikit-learn's 'balanced'."""
    counts = torch.bincount(targets, minlength=k).double().clamp(min=1)
    return (len(targets) / (k * counts)).float()


def history_csv(rows: list[dict], columns: list[str] = HISTORY_COLUMNS) -> str:
    buf = io.StringIO()
    from .. import schema

    w = csv.DictWriter(buf, fieldnames=[*columns, schema.KEY])
    w.writeheader()
    for r in rows:
        w.writerow({**{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}, schema.KEY: schema.VERSIONS["history"]})
    return buf.getvalue()


def build_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.weight_decay else torch.optim.Adam(params, lr=cfg.lr)


class PlateauScheduler:
    """Applies a KerasPlateau policy to an optimiser's learning rate(s), stepped with the
    monitored value like PyTorch's ReduceLROnPlateau."""

    def __init__(self, optimizer: torch.optim.Optimizer, policy: KerasPlateau):
        self.optimizer, self.policy = optimizer, policy

    def step(self, value: float) -> None:
        groups = self.optimizer.param_groups
        old = groups[0]["lr"]
        new = self.policy.step(value, old)
        if new != old:
            for group in groups:  # keep the groups' ratios, as PyTorch's policy does
                group["lr"] = max(group["lr"] * new / old, self.policy.min_lr)

    def state_dict(self) -> dict:
        return self.policy.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state)


def build_scheduler(cfg: Config, optimizer: torch.optim.Optimizer, mode: str, steps_per_epoch: int = 1):
    """Learning-rate policy: plateau (on the monitored metric) or cosine, stepped per epoch;
    one-cycle (warm up to `lr`, then anneal; PyTorch's OneCycleLR), stepped per batch; or none."""
    kind = cfg.lr_schedule
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=max(1, steps_per_epoch))
    if kind == "auto":
        kind = "plateau" if cfg.reduce_lr_patience is not None else "constant"
    if kind == "plateau" and cfg.plateau_policy == "torch":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=cfg.reduce_lr_factor, patience=cfg.reduce_lr_patience,
            threshold=cfg.reduce_lr_min_delta, cooldown=cfg.reduce_lr_cooldown, min_lr=cfg.min_lr,
        )
    if kind == "plateau":
        policy = KerasPlateau(mode, cfg.reduce_lr_patience, cfg.reduce_lr_factor, cfg.reduce_lr_min_delta, cfg.reduce_lr_cooldown, cfg.min_lr)
        return PlateauScheduler(optimizer, policy)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.min_lr)
    return None


def read_resume_state(run, path: Path) -> dict:
    """A run's checkpoint to go on from, with the way out where it is damaged (last.pt: its
    best.pt may be whole) or holds weights only."""
    from ..checkpoint import read_checkpoint

    try:
        state = read_checkpoint(path, suggest_other=False)
    except FacesenseError as exc:
        if path == run.last_checkpoint and run.best_checkpoint.is_file():
            raise FacesenseError(f"{exc}; delete {path.name} to go on from {run.best_checkpoint.name}, the best epoch so far") from None
        raise
    if "optimizer_state" not in state:  # an averaged (SWA) best.pt holds weights only
        raise FacesenseError(f"{path}: holds no training state to go on from; start a new run")
    return state


class Trainer:
    """Owns the model, optimiser and policies of one run; `fit` runs (or resumes) the epochs."""

    history_columns = HISTORY_COLUMNS

    def __init__(self, cfg: Config, data: PreparedData, run: RunDir, rank: int = 0, world_size: int = 1, start_weights: bool = True):
        """`start_weights`: load cfg.init_from (a resumed run loads last.pt instead)."""
        self.cfg, self.data, self.run = cfg, data, run
        self.rank, self.world_size = rank, world_size
        self.device = pick_device(cfg.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.k = len(data.classes)
        self.binary_logit = cfg.loss == "bce"
        if self.binary_logit and self.k != 2:
            raise FacesenseError(f"loss=bce needs exactly 2 classes, the task has {self.k}: {data.classes}")
        seed_everything(cfg.seed)
        model = build_model(cfg.model, self.output_width(), cfg.channels, cfg.image_size, **cfg.model_args)
        loaded = None
        if cfg.init_from and start_weights:
            from .init import load_backbone

            loaded = load_backbone(model, cfg.init_from)
        if cfg.freeze:
            from .init import check_frozen_loaded, freeze

            if loaded is not None:
                check_frozen_loaded(model, cfg.freeze, loaded, cfg.init_from)
            freeze(model, cfg.freeze)
        self.model = model.to(self.device)
        self.channels_last = cfg.channels_last and not _channels_last_breaks(model, self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net = self.model
        if world_size > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.amp = cfg.amp == "auto"
        self.optimizer = build_optimizer(cfg, [p for p in self.model.parameters() if p.requires_grad])
        # without a validation split the callbacks can only watch the training loss
        self.monitor = cfg.monitor if len(data.splits["val"]) else "train_loss"
        mode = monitor_mode(self.monitor)
        self.stopper = EarlyStopping(cfg.early_stopping, mode) if cfg.early_stopping else None
        self.best = Monitor(mode)
        train, val = (self._on_device(data.splits[s]) for s in ("train", "val"))
        self.teachers = None
        if cfg.teacher:
            if self.binary_logit:
                raise FacesenseError("distillation (teacher=...) needs loss=ce")
            self.teachers = Teachers(cfg.teacher, data.classes, data.spec, self.device)
            if rank == 0:
                warn_of_teachers_trained_on_held_out_rows(self.teachers.paths, data.splits)
        # per-sample targets, indexed by the batches' sample indices
        self.label_targets = None
        self.votes_sha256 = None  # of the vote table's rows used: a resumed run learns from the same votes
        self.data_rows_sha256 = rows_digest(data.manifest_rows)  # in each checkpoint: the data do not change during a run
        cpu_targets = data.splits["train"].targets
        if cfg.soft_labels:
            train, cpu_targets, self.label_targets = self._crowd_labels(train, cpu_targets)
        self.weight = class_weights(cpu_targets, self.k).to(self.device) if cfg.class_balance == "weights" else None
        sample_weights = class_weights(cpu_targets, self.k)[cpu_targets].numpy() if cfg.class_balance == "sampler" else None
        if cfg.batch_size % world_size:
            raise FacesenseError(f"batch_size={cfg.batch_size} must be divisible by the {world_size} processes (it is the global batch)")
        self.train_batches = Batches(train, data.spec, cfg.batch_size // world_size, train=True, seed=cfg.seed, augment=build_augment(cfg.augment, data.spec), sample_weights=sample_weights, rank=rank, world_size=world_size)
        self.val_batches = Batches(val, data.spec, max(cfg.batch_size, inference_batch_size(data.spec)), train=False)
        self.degrader = Degrader(cfg.augment.degrade, cfg.seed) if cfg.augment.degrade else None
        self.scheduler = build_scheduler(cfg, self.optimizer, mode, len(self.train_batches))
        self.per_batch_schedule = cfg.lr_schedule == "onecycle"
        self.holding_lr = False  # SWA epochs at a constant swa_lr
        self.cached_soft = None
        if self.teachers and cfg.teacher_mode == "cached":
            # teachers score each clean image once instead of every augmented batch: ~5x cheaper
            # epochs on a CPU, at the price of targets that ignore the augmentation
            scoring = Batches(train, data.spec, inference_batch_size(data.spec), train=False)
            self.cached_soft = self.teachers.cached_targets(scoring, cfg.distill_temperature, run.root.parent / ".cache", lambda: autocast_for(self.device, self.amp)).to(self.device)
        self.swa = None
        if cfg.swa_start:
            from torch.optim.swa_utils import AveragedModel

            self.swa = AveragedModel(self.model)
        self.swa_result: dict | None = None
        self.history: list[dict] = []
        self.start_epoch = 1
        self.train_seconds = 0.0

    def _crowd_labels(self, train: ArrayDataset, cpu_targets: torch.Tensor) -> tuple[ArrayDataset, torch.Tensor, torch.Tensor]:
        """Vote-table targets per cfg.soft_label_mode -> (training rows, their hard labels on the
        CPU, per-row targets on the device)."""
        cfg = self.cfg
        votes = read_votes(cfg.soft_labels, self.data.classes, train.ids, cfg.train_split)
        # the votes used: the class columns, and in the crowd modes the not-a-face/unknown ones, which decide the rows kept
        non_class = None if cfg.soft_label_mode == "mix" else non_class_votes(cfg.soft_labels, train.ids, cfg.train_split)
        used = [votes] if non_class is None else [votes, non_class]
        self.votes_sha256 = hashlib.sha256(b"".join(np.ascontiguousarray(v, dtype=np.float32).tobytes() for v in used)).hexdigest()
        agreement = check_alignment(cfg.soft_labels, votes, cpu_targets.numpy(), self.k)
        if math.isnan(agreement):
            log.info("soft labels %s: too few voted rows to check that they line up with the dataset's", cfg.soft_labels)
        else:
            log.info("soft labels %s: vote majority agrees with the labels on %.1f%% of rows", cfg.soft_labels, 100 * agreement)
        if cfg.soft_label_mode == "mix":
            return train, cpu_targets, mixed_targets(votes, cpu_targets, self.k, cfg.soft_label_weight).to(self.device)
        keep = crowd_faces(votes, non_class)
        if not keep.any():
            raise FacesenseError(f"soft_labels={cfg.soft_labels}: the crowd calls every training row not-a-face or unknown")
        log.info("soft labels (%s): %d of %d training rows kept; the crowd calls the rest not-a-face or unknown", cfg.soft_label_mode, keep.sum(), len(keep))
        hard, targets = crowd_targets(votes[keep], self.k, cfg.soft_label_mode)
        rows = torch.from_numpy(np.flatnonzero(keep))
        kept = ArrayDataset(train.images[rows.to(train.images.device)], hard.to(train.targets.device), [train.ids[i] for i in rows.tolist()])
        return kept, hard, targets.to(self.device)

    def output_width(self) -> int:
        """Outputs of the network's last layer."""
        return 1 if self.binary_logit else self.k

    def _on_device(self, part: ArrayDataset) -> ArrayDataset:
        """On a GPU the decoded uint8 images live there, so batching and augmentation run there too."""
        if self.device.type == "cpu":
            return part
        return ArrayDataset(part.images.to(self.device), part.targets.to(self.device), part.ids)

    # -- checkpoint state -------------------------------------------------------------------
    def _state(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "data_rows_sha256": self.data_rows_sha256,
            "teacher_sha256": self.teachers.digests if self.teachers else None,
            "soft_labels_sha256": self.votes_sha256,
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler else None,
            "stopper_state": self.stopper.state_dict() if self.stopper else None,
            "best_state": self.best.state_dict(),
            "swa_state": self.swa.state_dict() if self.swa else None,
            "history": self.history,
            "train_seconds": self.train_seconds,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }

    def resume(self, path: Path | None = None, state: dict | None = None) -> None:
        """Go on from a checkpoint of this run (last.pt unless told; `state`: its contents, read
        already): its weights, optimiser, policies, history and random states."""
        path = path or self.run.last_checkpoint
        state = state if state is not None else read_resume_state(self.run, path)
        if self.votes_sha256 and state.get("soft_labels_sha256") and state["soft_labels_sha256"] != self.votes_sha256:
            raise FacesenseError(f"soft_labels={self.cfg.soft_labels}: its votes for the training rows changed since the run started; a resumed run learns from the votes it started with: put that table back, or start a new run")
        self.model.load_state_dict(state["model_state"])
        try:
            self.optimizer.load_state_dict(state["optimizer_state"])
        except ValueError:  # other parameters train now than when it was saved
            raise FacesenseError(f"{path}: its optimiser state is for another set of trainable layers than freeze={self.cfg.freeze} gives now "
                                 "(a run started before freeze named layers part by part: _blocks.1 froze _blocks.10-15 too); "
                                 "start a new run, with init_from its last.pt to keep its weights") from None
        if self.scheduler and state["scheduler_state"]:
            self.scheduler.load_state_dict(state["scheduler_state"])
        if self.stopper and state["stopper_state"]:
            self.stopper.load_state_dict(state["stopper_state"])
        self.best.load_state_dict(state["best_state"])
        if self.swa and state.get("swa_state"):
            self.swa.load_state_dict(state["swa_state"])
        self.history = state["history"]
        self.train_seconds = state["train_seconds"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        self.start_epoch = state["epoch"] + 1
        if self.start_epoch > self.cfg.epochs or (self.stopper and self.stopper.spent()):  # stopped during the final evaluation
            log.info("resumed %s: its training is done (%d epochs); its final evaluation follows", self.run.root, state["epoch"])
        else:
            log.info("resumed %s at epoch %d", self.run.root, self.start_epoch)

    def _save(self, path, epoch: int) -> None:
        save_checkpoint(path, self.model, self.cfg.to_dict(), self.data.classes, self.data.spec, **self._state(epoch))

    # -- epochs -----------------------------------------------------------------------------
    def _start_epoch(self, epoch: int) -> None:
        """Training mode, and the epoch's seeded shuffle and degradations (resume draws the same)."""
        self.net.train()
        self.train_batches.set_epoch(epoch)
        if self.degrader:
            self.degrader.set_epoch(epoch)

    def _shown(self, epoch: int, progress: bool | str):
        """The epoch's training batches, with a bar (progress True), a line a minute
        (PROGRESS_LINES) or nothing shown."""
        if progress == PROGRESS_LINES:
            return progress_lines(self.train_batches, f"epoch {epoch}/{self.cfg.epochs}")
        if progress:
            from tqdm import tqdm

            return tqdm(self.train_batches, desc=f"epoch {epoch}/{self.cfg.epochs}", leave=False, unit="batch")
        return self.train_batches

    def train_epoch(self, epoch: int, progress: bool | str) -> dict:
        self._start_epoch(epoch)
        total, correct, loss_sum = 0, 0, 0.0
        preds, trues = [], []
        batches = self._shown(epoch, progress)
        for x, y, idx in batches:
            x, y, idx = (t.to(self.device, non_blocking=True) for t in (x, y, idx))
            seen = self._degraded(x) if self.degrader else x  # the teachers score x
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
                seen = seen.contiguous(memory_format=torch.channels_last)
            with autocast_for(self.device, self.amp):
                logits = self.net(seen)
                soft = None
                if self.cached_soft is not None:
                    soft = self.cached_soft[idx]
                elif self.teachers:
                    soft = self.teachers.soft_targets(x, self.cfg.distill_temperature, self.cfg.distill_flip)
            if self.label_targets is not None:
                target = self.label_targets[idx]
                loss = F.cross_entropy(logits.float(), target, weight=self.weight, label_smoothing=self.cfg.label_smoothing)
            else:
                loss = loss_fn(logits, y, self.binary_logit, self.weight, self.cfg.label_smoothing)
            if soft is not None:
                a = self.cfg.distill_weight
                loss = (1 - a) * loss + a * distillation_loss(logits, soft, self.cfg.distill_temperature)
            if not torch.isfinite(loss):
                raise FacesenseError(f"training diverged at epoch {epoch} (loss {loss.item()}); lower lr (now {self.cfg.lr})")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.per_batch_schedule and not self.holding_lr:
                self.scheduler.step()
            with torch.no_grad():
                pred = (logits.float().reshape(-1) > 0).long() if self.binary_logit else logits.argmax(1)
            loss_sum += loss.item() * len(y)
            total += len(y)
            correct += (pred == y).sum().item()
            preds.append(pred.cpu())
            trues.append(y.cpu())
        y_true, y_pred = torch.cat(trues).numpy(), torch.cat(preds).numpy()
        if self.world_size > 1:  # epoch numbers over every process's share
            import torch.distributed as dist

            sums = torch.tensor([loss_sum, correct, total], dtype=torch.float64)
            dist.all_reduce(sums)
            loss_sum, correct, total = sums.tolist()
            parts = [None] * self.world_size
            dist.all_gather_object(parts, (y_true, y_pred))
            y_true, y_pred = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return {
            "samples": int(total),
            "train_loss": loss_sum / total,
            "train_accuracy": correct / total,
            "train_macro_f1": macro_f1(y_true, y_pred, self.k),
        }

    def _degraded(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.data.spec
        return normalise(self.degrader(denormalise(x, spec)), spec)

    def _scored(self, model=None) -> torch.nn.Module:
        """The model as validation scores it: with the test-time views (test_time_flip, _zoom)
        that export, evaluate and the live pipeline average, so selection sees what they will."""
        return with_test_time_views(model or self.model, self.cfg.image_size, self.cfg.test_time_flip, self.cfg.test_time_zoom).to(self.device)

    def validate(self, model=None) -> dict:
        if len(self.data.splits["val"]) == 0:
            return {"val_loss": math.nan, "val_accuracy": math.nan, "val_macro_f1": math.nan}
        # float32, so the numbers that choose the best epoch are the ones the final report shows
        model = self._scored(model)
        _, y, probs, loss = run_inference(model, self.val_batches, self.device, self.binary_logit, False, self.channels_last)
        pred = probs.argmax(1)
        return {
            "val_loss": loss,
            "val_accuracy": float((pred == y).mean()),
            "val_macro_f1": macro_f1(y, pred, self.k),
        }

    def fit(self, progress: bool = True, on_epoch=None, stop_after: int | None = None) -> FitResult:
        """Run epochs start_epoch..epochs. `stop_after` ends the process early (as a kill would) for tests."""
        has_val = len(self.data.splits["val"]) > 0
        plateau = isinstance(self.scheduler, (PlateauScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau))  # stepped by the monitored value
        if not has_val:
            log.warning("no validation split: best.pt is the last epoch%s%s", "; early stopping is off (it needs validation numbers)" if self.stopper else "",
                        "; the plateau schedule watches train_loss" if plateau else "")
        # resumed after early stopping had stopped it (killed during the final evaluation): no more epochs
        stopped = self.stopper is not None and has_val and self.start_epoch > 1 and self.stopper.spent()
        keep_last = self.cfg.keep == "last" or not has_val
        swa_from = self.cfg.swa_start or self.cfg.epochs + 1
        for epoch in range(self.start_epoch, self.cfg.epochs + 1 if not stopped else self.start_epoch):
            t0 = time.perf_counter()
            holding_lr = epoch >= swa_from and bool(self.cfg.swa_lr)  # SWA epochs at swa_lr replace the schedule
            self.holding_lr = holding_lr
            if holding_lr:
                for group in self.optimizer.param_groups:
                    group["lr"] = self.cfg.swa_lr
            row = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch(epoch, progress if self.rank == 0 else False))
            if epoch >= swa_from:
                self.swa.update_parameters(self.model)
            row.update(self.validate() if self.rank == 0 else {})
            if self.world_size > 1:  # every process takes the same decisions from process 0's numbers
                import torch.distributed as dist

                box = [row]
                dist.broadcast_object_list(box, src=0)
                row = box[0]
            if has_val and not math.isfinite(row["val_loss"]):  # the weights overflowed; every later epoch would too
                raise FacesenseError(f"training diverged at epoch {epoch} (validation loss {row['val_loss']}); lower lr (now {self.cfg.lr:g})")
            row["seconds"] = time.perf_counter() - t0
            self.train_seconds += row["seconds"]
            self.history.append(row)
            value = row[self.monitor]
            if self.stopper is not None and has_val:
                stopped = self.stopper.step(value, epoch)
            improved = self.best.update(value, epoch) or keep_last
            if plateau:
                self.scheduler.step(value)
            elif self.scheduler is not None and not holding_lr and not self.per_batch_schedule:
                self.scheduler.step()
            if self.rank == 0:
                if improved:
                    self._save(self.run.best_checkpoint, epoch)
                self._save(self.run.last_checkpoint, epoch)
                write_text(self.run.history, history_csv(self.history, self.history_columns))
            if on_epoch is not None:
                on_epoch(row)
            if stopped and epoch < self.cfg.epochs and self.rank == 0:  # (the epoch lines had just ended, the reason unsaid)
                log.info("early stopping: %s has not improved for %d epoch%s (early_stopping %d): stopped after epoch %d of %d",
                         self.monitor, self.stopper.wait, "" if self.stopper.wait == 1 else "s", self.cfg.early_stopping, epoch, self.cfg.epochs)
            if stopped or (stop_after is not None and epoch >= stop_after):
                break
        epochs_run = self.history[-1]["epoch"] if self.history else 0
        finished = stop_after is None or epochs_run >= self.cfg.epochs or stopped
        if self.swa is not None and finished and self.swa.n_averaged.item() > 0:
            self._finish_swa(epochs_run, has_val, keep_last)
        best_epoch = epochs_run if keep_last else self.best.best_epoch
        best_value = self.history[-1][self.monitor] if keep_last and self.history else self.best.best
        if self.swa_result and self.swa_result["used_as_best"] and self.monitor in self.swa_result:
            best_value = self.swa_result[self.monitor]
        return FitResult(epochs_run, best_epoch, best_value, stopped, self.train_seconds, str(self.device))

    def _finish_swa(self, epoch: int, has_val: bool, keep_last: bool = False) -> None:
        """Re-estimate batch-norm statistics for the averaged weights (one pass over the training
        batches), validate, and keep the average as best.pt when it beats every single epoch
        (keep=last: the last epoch, which best.pt holds then)."""
        from torch.optim.swa_utils import update_bn

        from .init import frozen_batch_norms

        averaged = self.swa.module
        # update_bn re-estimates every batch-norm layer; frozen ones keep the statistics they came with
        frozen = [(m, m.running_mean.clone(), m.running_var.clone()) for _, m in frozen_batch_norms(averaged, self.cfg.freeze or []) if m.running_mean is not None]
        # the last epoch's shuffle, as an uninterrupted run has it here: a run stopped during its
        # final evaluation and resumed trains no epoch, and its batches were still at epoch 0, so
        # the statistics (and best.pt, and every figure) came out otherwise (found by a bug hunt)
        self.train_batches.set_epoch(epoch)
        with autocast_for(self.device, self.amp):
            update_bn(self.train_batches, self.swa, self.device)
        for module, mean, var in frozen:
            module.running_mean.copy_(mean)
            module.running_var.copy_(var)
        row = self.validate(averaged) if self.rank == 0 else {}
        value = row.get(self.monitor, math.nan)
        rival = self.best
        if keep_last:
            rival = Monitor(monitor_mode(self.monitor))
            rival.update(self.history[-1][self.monitor], epoch)
        better = has_val and rival.update(value, epoch)
        self.swa_result = {"epochs_averaged": int(self.swa.n_averaged.item()), **row, "used_as_best": bool(better or not has_val)}
        log.info("SWA of %d epochs: %s", self.swa_result["epochs_averaged"], ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        if self.rank == 0 and (better or not has_val):
            save_checkpoint(self.run.best_checkpoint, averaged, self.cfg.to_dict(), self.data.classes, self.data.spec, epoch=epoch, swa=self.swa_result)
