"""PNG plots drawn from saved numbers (metrics dicts, history.csv). Agg backend, no display."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import FacesenseError

from ..figures import save_png


def _figure(figsize=(6, 5)):
    # a bare Figure renders with Agg and never touches pyplot or a display
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=100)


def _save(fig, path: Path) -> Path:
    return save_png(fig, path, tight=True)


def plot_confusion(metrics: dict, path: Path, normalised: bool = True) -> Path:
    classes = metrics["classes"]
    matrix = np.array(metrics["confusion_normalised" if normalised else "confusion"], dtype=float)
    counts = np.array(metrics["confusion"])
    k = len(classes)
    fig = _figure((max(4.5, 1.2 + 0.75 * k), max(4.0, 1.0 + 0.7 * k)))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalised else None)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            text = f"{matrix[i, j]:.2f}\n({counts[i, j]})" if normalised else f"{counts[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_title(f"confusion (row-normalised)\naccuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}", fontsize=9)
    return _save(fig, path)


def plot_roc(curves: dict, path: Path, title: str = "ROC") -> Path:
    fig = _figure()
    ax = fig.add_subplot()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def read_history(path: Path) -> dict[str, list[float]]:
    """A run's history.csv as columns of numbers; a damaged one is named, not a traceback."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "schema_version"]
    try:
        history = {k: [float(r[k]) if r[k] not in ("", "nan", None) else np.nan for r in rows] for k in keys}
    except ValueError as exc:
        raise FacesenseError(f"{path}: not a training history as facesense writes it ({exc}); restore it from the run, or leave that run out") from None
    if rows and "epoch" not in history:
        raise FacesenseError(f"{path}: not a training history as facesense writes it (no epoch column); restore it from the run, or leave that run out")
    return history


def plot_learning_curves(history_csv: Path, path: Path) -> Path:
    h = read_history(history_csv)
    fig = _figure((10, 4))
    for i, metric in enumerate(("loss", "accuracy", "macro_f1")):
        ax = fig.add_subplot(1, 3, i + 1)
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if key in h:
                ax.plot(h["epoch"], h[key], marker="o", ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_sample_grid(images: np.ndarray, labels: list[str], classes: list[str], path: Path, per_class: int = 8) -> Path:
    """images: N x C x H x W uint8; one row of samples per class."""
    fig = _figure((1.1 * per_class + 1.5, 1.1 * len(classes) + 0.3))
    labels_arr = np.asarray(labels)
    for row, cls in enumerate(classes):
        picks = np.flatnonzero(labels_arr == cls)[:per_class]
        for col in range(per_class):
            ax = fig.add_subplot(len(classes), per_class, row * per_class + col + 1)
            ax.axis("off")
            if col < len(picks):
                img = images[picks[col]]
                ax.imshow(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255)
            if col == 0:
                ax.set_title(cls, fontsize=8, loc="left")
    return _save(fig, path)


def plot_reliability(calibration: dict, path: Path) -> Path:
    fig = _figure((5, 5))
    ax = fig.add_subplot()
    bins = calibration["bins"]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    ax.bar(centres, [b["accuracy"] for b in bins], width=0.09, alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="C3", ms=4, label="per bin")
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability, ECE {calibration['ece']:.3f}")
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)
