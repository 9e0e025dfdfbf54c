"""Classification metrics from labels and probabilities (numpy in, plain dict out)."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from ..errors import FacesenseError
from .groups import group_table, natural_order, proportion_ci95


def present_classes(y_true: np.ndarray, k: int) -> list[int]:
    """Class indices that occur in the labels: a class the evaluation set lacks has no recall to
    measure, so averaging its F1 of 0 in would only say what the data left out."""
    return sorted(int(c) for c in np.unique(np.asarray(y_true, dtype=np.int64)) if 0 <= c < k)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the classes present in `y_true` (as balanced accuracy averages recall);
    predictions of an absent class still count against the present classes."""
    present = present_classes(y_true, k)
    if not present:
        return 0.0
    return float(skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def refuse_non_finite(probs: np.ndarray) -> None:
    """A model's outputs with NaN or inf in them are refused: argmax picks a NaN's column, so a
    broken model scored perfect accuracy and ROC AUC 1.0, and an age of NaN wrote NaN to JSON."""
    bad = int((~np.isfinite(np.asarray(probs, dtype=np.float64))).reshape(len(probs), -1).any(axis=1).sum()) if len(probs) else 0
    if bad:
        raise FacesenseError(f"the model gave probabilities that are not numbers (NaN or inf) for {bad} of {len(probs)} images: its weights are broken "
                             "(a run whose loss diverged, a damaged file); no figures can be computed from them")


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, classes: list[str], loss: float | None = None, train_labels: np.ndarray | None = None) -> dict:
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(classes)
    if probs.shape != (len(y_true), k):
        raise ValueError(f"probabilities have shape {probs.shape}, expected ({len(y_true)}, {k})")
    refuse_non_finite(probs)
    y_pred = probs.argmax(axis=1)
    labels = list(range(k))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    confusion = skm.confusion_matrix(y_true, y_pred, labels=labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(confusion / confusion.sum(axis=1, keepdims=True))
    counts = np.bincount(train_labels if train_labels is not None else y_true, minlength=k)
    majority = int(counts.argmax())
    tied = [int(c) for c in np.flatnonzero(counts == counts.max())]  # a balanced training set: each is as much its majority
    out = {
        "classes": list(classes),
        "n": int(len(y_true)),
        "loss": None if loss is None else float(loss),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        # how far the accuracy of these few (or many) samples may be from the model's own
        "accuracy_ci95": proportion_ci95(int(np.sum(y_pred == y_true)), len(y_true)),
        "macro_f1": macro_f1(y_true, y_pred, k),
        "absent_classes": [classes[i] for i in labels if s[i] == 0],
        "weighted_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "balanced_accuracy": float(np.mean(r[s > 0])) if (s > 0).any() else 0.0,
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion": confusion.tolist(),
        "confusion_normalised": normalised.round(4).tolist(),
        "baseline": {  # always the majority class: of the training labels where given (a run's own report), else of these
            "majority_class": classes[majority],
            "majority_of": "training labels" if train_labels is not None else "these labels",
            "accuracy": float(np.mean(y_true == majority)) if len(y_true) else 0.0,
        },
        "roc_auc": roc_auc(y_true, probs),
        "calibration": calibration(y_true, probs),
    }
    if len(tied) > 1:  # always 'a' scored 20% where always 'b', as much the majority, scored 80%: each one's score, as data inspect gives it
        scores = [float(np.mean(y_true == c)) if len(y_true) else 0.0 for c in tied]
        out["baseline"] |= {"tied_classes": [classes[c] for c in tied], "accuracy_range": [min(scores), max(scores)]}
    if k == 2:
        tn, fp, fn, tp = confusion.ravel()
        rate = lambda a, b: float(a / (a + b)) if (a + b) else None  # noqa: E731  (None: a class absent from the labels leaves nothing to count)
        out["binary"] = {
            "positive_class": classes[1],
            "tpr": rate(tp, fn), "fpr": rate(fp, tn), "tnr": rate(tn, fp), "fnr": rate(fn, tp),
        }
    return out


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary AUC of the second class; one-vs-rest macro AUC over classes present for multiclass."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if probs.shape[1] == 2:
        return float(skm.roc_auc_score(y_true, probs[:, 1]))
    aucs = [skm.roc_auc_score(y_true == c, probs[:, c]) for c in present]
    return float(np.mean(aucs))


def roc_curves(y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per-class (one-vs-rest) or binary ROC curves: name -> (fpr, tpr, auc)."""
    curves = {}
    targets = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    for c in targets:
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = skm.roc_curve(positive, probs[:, c])
        curves[classes[c]] = (fpr, tpr, float(skm.auc(fpr, tpr)))
    return curves


def calibration(y_true: np.ndarray, probs: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error of the top-class confidence over equal-width bins, with the
    per-bin numbers a reliability diagram draws."""
    y_true = np.asarray(y_true)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        acc, conf = correct[mask].mean(), confidence[mask].mean()
        ece += mask.mean() * abs(acc - conf)
        table.append({"low": round(float(edges[b]), 6), "high": round(float(edges[b + 1]), 6), "count": int(mask.sum()), "accuracy": float(acc), "confidence": float(conf)})
    return {"ece": float(ece), "bins": table}


def group_metrics(y_true: np.ndarray, probs: np.ndarray, groups: list[str], classes: list[str]) -> dict:
    """Accuracy and macro-F1 per group value, and the gap between the best and worst group."""
    y_true, groups_arr = np.asarray(y_true), np.asarray(groups)
    pred = probs.argmax(axis=1)
    table = {}
    for g in sorted(set(groups), key=natural_order):
        mask = groups_arr == g
        present = sorted({classes[int(c)] for c in y_true[mask]})
        hits = int(np.sum(pred[mask] == y_true[mask]))
        table[g] = {
            "n": int(mask.sum()),
            "accuracy": float(np.mean(pred[mask] == y_true[mask])),
            "accuracy_ci95": proportion_ci95(hits, int(mask.sum())),
            # a group of one class (35 women) scores how often that class is said, not the task:
            # its accuracy is no fair side of a gap, and its macro-F1 (precision 1 by definition) none at all
            "macro_f1": macro_f1(y_true[mask], pred[mask], len(classes)) if len(present) > 1 else None,
            "classes": present,
        }
    return group_table(table, "accuracy", "accuracy_gap")
