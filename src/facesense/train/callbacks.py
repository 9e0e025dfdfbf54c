"""Training policies as small objects driven by one number per epoch (testable with a list)."""

from __future__ import annotations

import math


class Monitor:
    """Tracks the best value of a metric; `mode` is 'min' for losses, 'max' for scores."""

    def __init__(self, mode: str, min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.mode, self.min_delta = mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record `value`; True when it is a new best."""
        if self.improved(value):
            self.best, self.best_epoch = value, epoch
            return True
        return False

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping:
    """Stop after `patience` epochs without improvement of the monitored value."""

    def __init__(self, patience: int, mode: str, min_delta: float = 0.0):
        self.patience = patience
        self.monitor = Monitor(mode, min_delta)
        self.wait = 0

    def step(self, value: float, epoch: int) -> bool:
        """Record one epoch; True means stop now."""
        if self.monitor.update(value, epoch):
            self.wait = 0
        else:
            self.wait += 1
        return self.spent()

    def spent(self) -> bool:
        """Whether the patience is used up: a run resumed after it stopped trains no more epochs."""
        return self.wait >= self.patience

    def state_dict(self) -> dict:
        return {"wait": self.wait, **self.monitor.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.wait = state["wait"]
        self.monitor.load_state_dict(state)


def monitor_mode(metric: str) -> str:
    return "min" if metric.endswith(("loss", "mae")) else "max"


class KerasPlateau:
    """Keras's ReduceLROnPlateau, as its documentation and code define it: after `patience` epochs
    in a row without improvement the rate is multiplied by `factor` (never below `min_lr`, and
    not at all once it is there); improvement means beating the best by more than `min_delta`,
    an absolute amount; after a reduction `cooldown` epochs pass before epochs count again (in
    Keras's code the last of them already counts: a cooldown of 1 changes nothing).
    (PyTorch's policy lowers the rate only after `patience + 1` such epochs and measures
    improvement relative to the best by default.)"""

    def __init__(self, mode: str, patience: int, factor: float = 0.1, min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.patience, self.factor, self.cooldown, self.min_lr = patience, factor, cooldown, min_lr
        self.monitor = Monitor(mode, min_delta)
        self.wait = 0
        self.cooldown_counter = 0

    def step(self, value: float, lr: float) -> float:
        """Record one epoch's monitored value; returns the learning rate for the next epoch."""
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor.improved(value):
            self.monitor.best = value
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                lr = max(lr * self.factor, self.min_lr)
                self.cooldown_counter = self.cooldown
                self.wait = 0
        return lr

    def state_dict(self) -> dict:
        return {"best": self.monitor.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.monitor.best = state["best"]
        # a run started before this policy existed stored PyTorch's scheduler state
        self.wait = state["wait"] if "wait" in state else state.get("num_bad_epochs", 0)
        self.cooldown_counter = state.get("cooldown_counter", 0)
