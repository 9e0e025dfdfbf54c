"""task=gender_age: one network on a shared trunk, a gender head and an age head (a distribution
over one-year bins), trained with a masked multi-task loss (samples without an age train the
gender head only). After training, a temperature for the age head is fitted on the validation
split so that the spread of each face's age distribution means what it says."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch.nn import functional as F

from ..age import age_bins, central_interval, output_width, years_and_sd
from ..data.batches import Batches, inference_batch_size
from ..eval.inference import autocast_for
from ..eval.metrics import macro_f1
from ..errors import FacesenseError
from .loop import HISTORY_COLUMNS, Trainer

log = logging.getLogger(__name__)

AGE_COLUMNS = ["train_age_mae", "val_age_mae"]


def gender_age_loss(logits: torch.Tensor, targets: torch.Tensor, classes: int, bins: torch.Tensor, sigma: float,
                    age_weight: float = 1.0, gender_weight: float = 1.0, label_smoothing: float = 0.0,
                    age_l1: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (loss, expected age per sample). targets: N x 2 (class, age or -1). The age terms are
    summed over the samples with an age and divided by the batch size (a masked mean): the
    label-distribution loss plus `age_l1` times the L1 error of the expected age (DLDL-v2, Gao
    et al. 2018: the distribution term alone leaves the expectation biased towards the crowded
    ages)."""
    logits = logits.float()
    gender, age_logits = logits[:, :classes], logits[:, classes:]
    loss = gender_weight * F.cross_entropy(gender, targets[:, 0], label_smoothing=label_smoothing)
    log_p = F.log_softmax(age_logits, dim=1)
    expected = (log_p.exp() * bins).sum(dim=1)
    has_age = targets[:, 1] >= 0
    if age_weight and has_age.any():
        age = targets[has_age, 1].float()
        target = torch.exp(-0.5 * ((bins[None, :] - age[:, None]) / sigma) ** 2)
        target = target / target.sum(dim=1, keepdim=True)
        per_sample = -(target * log_p[has_age]).sum(dim=1) + age_l1 * (expected[has_age] - age).abs()
        loss = loss + age_weight * per_sample.sum() / len(targets)
    return loss, expected.detach()


def split_logits(logits: np.ndarray, classes: int, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """N x (K + B) logits -> (class probabilities, age-bin probabilities at `temperature`)."""
    z = np.asarray(logits, dtype=np.float64)
    return _softmax(z[:, :classes]), _softmax(z[:, classes:] / temperature)


def _softmax(v: np.ndarray) -> np.ndarray:
    v = v - v.max(axis=1, keepdims=True)
    e = np.exp(v)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(age_logits: np.ndarray, ages: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of the true age bins."""
    from scipy.optimize import minimize_scalar

    z = np.asarray(age_logits, dtype=np.float64)
    idx = np.asarray(ages, dtype=np.int64)

    def nll(log_t: float) -> float:
        v = z / math.exp(log_t)
        v = v - v.max(axis=1, keepdims=True)
        log_p = v - np.log(np.exp(v).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(idx)), idx].mean())

    result = minimize_scalar(nll, bounds=(math.log(0.05), math.log(100.0)), method="bounded")
    return float(math.exp(result.x))


def choose_temperature(age_logits: np.ndarray, ages: np.ndarray, bins: np.ndarray) -> tuple[float, float]:
    """-> (the temperature to use, the one fitted). A temperature spreads or sharpens each
    face's age distribution, which also moves its mean, the age shown: fitted on few or badly
    predicted validation ages it can pull every estimate toward the middle of the age range (24
    ages of a 2-epoch run: T 3.5, validation MAE 6.0 -> 8.7 years). One that raises the
    validation MAE by more than 1% (and 0.02 years) is not used: the ages stay as trained, with
    their spread uncalibrated, and a warning says so."""
    fitted = fit_temperature(age_logits, ages)
    probs = lambda t: _softmax(np.asarray(age_logits, dtype=np.float64) / t)  # noqa: E731
    before, after = age_report(probs(1.0), ages, bins)["mae"], age_report(probs(fitted), ages, bins)["mae"]
    if after <= before * 1.01 + 0.02:
        return fitted, fitted
    log.warning("age temperature: the fitted %.3f would raise the validation MAE from %.2f to %.2f years (%d validation ages), so it is not used: "
                "ages are as trained and their spread (sd, intervals) is uncalibrated; more validation ages (val_size) or epochs help", fitted, before, after, len(ages))
    return 1.0, fitted


def age_report(age_probs: np.ndarray, ages: np.ndarray, bins: np.ndarray) -> dict:
    """MAE, and how often the true age falls within +-1 and +-2 sd and the central 90% interval."""
    years, sd = years_and_sd(age_probs, bins)
    err = np.abs(years - ages)
    low, high = central_interval(age_probs, bins, 0.9)
    return {
        "n": int(len(ages)),
        "mae": float(err.mean()) if len(ages) else math.nan,
        "mean_sd": float(sd.mean()) if len(ages) else math.nan,
        "within_1sd": float((err <= sd).mean()) if len(ages) else math.nan,
        "within_2sd": float((err <= 2 * sd).mean()) if len(ages) else math.nan,
        "within_90pct_interval": float(((ages >= low) & (ages <= high)).mean()) if len(ages) else math.nan,
    }


@torch.no_grad()
def predict_logits(model: torch.nn.Module, batches: Batches, device: torch.device, channels_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """-> (logits, targets) of every sample, in sample order (float32 forward pass)."""
    model.eval()
    out, ys, order = [], [], []
    for x, y, idx in batches:
        x = x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out.append(model(x).float().cpu())
        ys.append(y)
        order.append(idx)
    if not out:
        return np.zeros((0, 0), np.float32), np.zeros((0, 2), np.int64)
    idx = torch.cat(order).numpy()
    if len(np.unique(idx)) != len(batches.data):
        raise RuntimeError("evaluation did not score every sample exactly once; refusing to report")
    sort = np.argsort(idx, kind="stable")
    return torch.cat(out).numpy()[sort], torch.cat(ys).numpy()[sort]


class GenderAgeTrainer(Trainer):
    """The fit loop of Trainer (checkpoints, resume, schedule, early stopping) with the
    multi-task loss and metrics."""

    history_columns = HISTORY_COLUMNS[:-1] + AGE_COLUMNS + HISTORY_COLUMNS[-1:]

    def output_width(self) -> int:
        return output_width(self.k, self.cfg.age_max)

    @property
    def bins(self) -> torch.Tensor:
        return torch.as_tensor(age_bins(self.cfg.age_max), dtype=torch.float32, device=self.device)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor):
        cfg = self.cfg
        return gender_age_loss(logits, y, self.k, self.bins, cfg.age_sigma, cfg.age_weight, cfg.gender_weight, cfg.label_smoothing, cfg.age_l1)

    def train_epoch(self, epoch: int, progress: bool) -> dict:
        self._start_epoch(epoch)
        loss_sum, total, correct, abs_err, aged = 0.0, 0, 0, 0.0, 0
        preds, trues = [], []
        for x, y, _ in self._shown(epoch, progress):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if self.degrader:
                x = self._degraded(x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast_for(self.device, self.amp):
                logits = self.net(x)
            loss, expected = self._loss(logits, y)
            if not torch.isfinite(loss):
                raise FacesenseError(f"training diverged at epoch {epoch} (loss {loss.item()}); lower lr (now {self.cfg.lr})")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.per_batch_schedule and not self.holding_lr:  # one-cycle steps per batch
                self.scheduler.step()
            with torch.no_grad():
                pred = logits[:, : self.k].argmax(1)
                has_age = y[:, 1] >= 0
                abs_err += (expected[has_age] - y[has_age, 1].float()).abs().sum().item()
                aged += int(has_age.sum().item())
            loss_sum += loss.item() * len(y)
            total += len(y)
            correct += (pred == y[:, 0]).sum().item()
            preds.append(pred.cpu())
            trues.append(y[:, 0].cpu())
        y_true, y_pred = torch.cat(trues).numpy(), torch.cat(preds).numpy()
        return {
            "samples": total,
            "train_loss": loss_sum / total,
            "train_accuracy": correct / total,
            "train_macro_f1": macro_f1(y_true, y_pred, self.k),
            "train_age_mae": abs_err / aged if aged else math.nan,
        }

    def validate(self, model=None) -> dict:
        if len(self.data.splits["val"]) == 0:
            return {"val_loss": math.nan, "val_accuracy": math.nan, "val_macro_f1": math.nan, "val_age_mae": math.nan}
        logits, y = predict_logits(self._scored(model), self.val_batches, self.device, self.channels_last)
        t_logits, t_y = torch.from_numpy(logits), torch.from_numpy(y)
        loss, expected = gender_age_loss(t_logits, t_y, self.k, self.bins.cpu(), self.cfg.age_sigma, self.cfg.age_weight, self.cfg.gender_weight, age_l1=self.cfg.age_l1)
        pred = logits[:, : self.k].argmax(1)
        has_age = y[:, 1] >= 0
        return {
            "val_loss": float(loss),
            "val_accuracy": float((pred == y[:, 0]).mean()),
            "val_macro_f1": macro_f1(y[:, 0], pred, self.k),
            "val_age_mae": float(np.abs(expected.numpy()[has_age] - y[has_age, 1]).mean()) if has_age.any() else math.nan,
        }


def calibrate(checkpoint_path, data, device: torch.device) -> dict:
    """Fit the age temperature on the validation split with the best checkpoint, store it in the
    checkpoint (`age_temperature`), and return the validation metrics before and after."""
    from ..checkpoint import load_model, read_checkpoint, save_payload

    loaded = load_model(checkpoint_path, calibrating=True)
    cfg, k = loaded.config, len(loaded.classes)
    val = data.splits["val"]
    batches = Batches(val, loaded.spec, inference_batch_size(loaded.spec), train=False)
    logits, y = predict_logits(loaded.model.to(device), batches, device)
    has_age = y[:, 1] >= 0
    if not has_age.any():
        raise FacesenseError("task=gender_age: the validation split has no ages to calibrate the age head on; set val_size > 0")
    bins = age_bins(cfg["age_max"])
    temperature, fitted = choose_temperature(logits[has_age, k:], y[has_age, 1], bins)
    gender_p, raw = split_logits(logits, k, 1.0)
    _, calibrated = split_logits(logits, k, temperature)
    pred = gender_p.argmax(1)
    aged_ids = np.flatnonzero(has_age)
    metrics = {
        "n": int(len(y)),
        "gender": {
            "n": int(len(y)),
            "accuracy": float((pred == y[:, 0]).mean()),
            "with_age_rows_accuracy": float((pred[has_age] == y[has_age, 0]).mean()),
            "gender_only_rows_accuracy": float((pred[~has_age] == y[~has_age, 0]).mean()) if (~has_age).any() else None,
        },
        "age_temperature": temperature,
        **({"age_temperature_fitted": fitted} if fitted != temperature else {}),
        "age_before_calibration": age_report(raw[aged_ids], y[aged_ids, 1], bins),
        "age": age_report(calibrated[aged_ids], y[aged_ids, 1], bins),
    }
    payload = read_checkpoint(checkpoint_path)
    path = payload.pop("_path")
    payload["age_temperature"] = temperature
    save_payload(payload, path)
    log.info("age temperature %.3f on %d validation ages: MAE %.2f, within +-1 sd %.1f%% (was %.1f%%), 90%% interval %.1f%%",
             temperature, len(aged_ids), metrics["age"]["mae"], 100 * metrics["age"]["within_1sd"],
             100 * metrics["age_before_calibration"]["within_1sd"], 100 * metrics["age"]["within_90pct_interval"])
    return metrics
