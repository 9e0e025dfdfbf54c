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
        return self.wait >= self.patience

    def state_dict(self) -> dict:
        return {"wait": self.wait, **self.monitor.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.wait = state["wait"]
        self.monitor.load_state_dict(state)


def monitor_mode(metric: str) -> str:
    return "min" if metric.endswith("loss") else "max"
