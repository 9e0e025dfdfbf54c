"""Writes an evaluation's artefacts: metrics.json, predictions.csv, plots, report.md."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .. import schema
from ..markdown import cell as md_cell
from ..runs import building, write_json, write_text
from .groups import gap_text
from .metrics import classification_metrics, group_metrics, roc_curves
from .plots import plot_confusion, plot_learning_curves, plot_reliability, plot_roc


def predictions_csv(ids: list[str], y_true: np.ndarray, probs: np.ndarray, classes: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "true", "pred", *[f"p_{c}" for c in classes], schema.KEY])
    pred = probs.argmax(axis=1)
    version = schema.VERSIONS["predictions"]
    for i, sample_id in enumerate(ids):
        w.writerow([sample_id, classes[y_true[i]], classes[pred[i]], *[f"{p:.9g}" for p in probs[i]], version])
    return buf.getvalue()


# what an evaluation writes besides metrics.json; one an earlier report had and this one does not
# (roc.png of a binary task, learning curves of a run) is removed with it
REPORT_FILES = ("predictions.csv", "confusion.png", "roc.png", "reliability.png", "learning_curves.png", "report.md", "skipped.csv")
# what an age evaluation writes: one folder holds one report, so each kind removes the other's
AGE_REPORT_FILES = ("age_metrics.json", "age_predictions.csv")


def skipped_csv(skipped: list[tuple[str, str]]) -> str:
    """The samples an evaluation with --skip-bad left out, each with why."""
    buf = io.StringIO()
    csv.writer(buf).writerows([("id", "reason", schema.KEY), *[(i, why, schema.VERSIONS["skipped"]) for i, why in skipped]])
    return buf.getvalue()


def write_evaluation(
    out_dir: Path,
    ids: list[str],
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    loss: float,
    title: str,
    history_csv: Path | None = None,
    train_labels: np.ndarray | None = None,
    extra: dict | None = None,
) -> dict:
    metrics = classification_metrics(y_true, probs, classes, loss=loss, train_labels=train_labels)
    extra = dict(extra or {})
    groups = extra.pop("_groups", None)
    skipped = extra.pop("_skipped", None)
    metrics.update(extra)
    if groups is not None:
        metrics["by_group"] = group_metrics(y_true, probs, groups, classes)
    with building(out_dir, "metrics.json", REPORT_FILES, replaces=("age_metrics.json", AGE_REPORT_FILES)) as build:
        if skipped:
            write_text(build / "skipped.csv", skipped_csv(skipped))
        _write_report(build, metrics, ids, y_true, probs, classes, title, history_csv)
    return metrics


def _write_report(out_dir: Path, metrics: dict, ids, y_true, probs, classes, title: str, history_csv: Path | None) -> None:
    write_text(out_dir / "predictions.csv", predictions_csv(ids, y_true, probs, classes))
    plots = {"confusion": plot_confusion(metrics, out_dir / "confusion.png").name}
    curves = roc_curves(y_true, probs, classes)
    if curves:
        plots["roc"] = plot_roc(curves, out_dir / "roc.png", title=f"ROC ({title})").name
    plots["reliability"] = plot_reliability(metrics["calibration"], out_dir / "reliability.png").name
    if history_csv is not None and history_csv.is_file():
        plots["learning_curves"] = plot_learning_curves(history_csv, out_dir / "learning_curves.png").name
    metrics["plots"] = plots
    write_text(out_dir / "report.md", markdown_report(metrics, title))
    write_json(out_dir / "metrics.json", schema.stamped("metrics", metrics))  # it marks the report complete


def _fmt(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _accuracy_interval(m: dict) -> list[str]:
    """The accuracy's 95% interval: what these samples say of the model's accuracy on more like them."""
    ci = m.get("accuracy_ci95")
    if not ci:  # a report of a version before the interval
        return []
    return [f"Accuracy {m['accuracy']:.4f}, 95% interval {ci[0]:.4f}-{ci[1]:.4f} (Wilson, {m['n']} samples).", ""]


def _absent_note(m: dict) -> list[str]:
    """A sentence naming the task's classes the labels lack (macro-F1, balanced accuracy and
    ROC AUC average over the others), or nothing."""
    absent = m.get("absent_classes") or []
    if not absent:
        return []
    present = len(m["classes"]) - len(absent)
    names = ", ".join(f"'{c}'" for c in absent)
    if present == 1:
        return [f"Absent from the labels: {names}. Macro-F1 and balanced accuracy are over the one class present (whose precision is 1 by definition: "
                "read its recall); ROC AUC needs two.", ""]
    return [f"Absent from the labels: {names}. Macro-F1, balanced accuracy and ROC AUC average over the {present} classes present.", ""]


def _training_data_note(m: dict) -> list[str]:
    """The note on the model's own training images among those scored, with the figures
    without them where some are not, or nothing."""
    if not m.get("training_data"):
        return []
    rest = m.get("without_training_pixels")
    without = f" Without them ({rest['n']} images): accuracy {rest['accuracy']:.4f}, macro-F1 {rest['macro_f1']:.4f}." if rest else ""
    return [f"Note: {m['training_data']}.{without}", ""]


def _baseline_cell(b: dict) -> str:
    """The majority baseline's score and class; classes tied as the majority (a balanced training
    set) score differently on other labels: the lowest and highest of their scores."""
    training = b.get("majority_of") == "training labels"
    low, high = b.get("accuracy_range") or (b["accuracy"], b["accuracy"])
    if _fmt(low) != _fmt(high):
        return f"{_fmt(low)}-{_fmt(high)} (one of {', '.join(repr(md_cell(c)) for c in b['tied_classes'])}, tied{' in training' if training else ''})"
    return f"{_fmt(b['accuracy'])} ('{md_cell(b['majority_class'])}'{', of training' if training else ''})"


def markdown_report(m: dict, title: str) -> str:
    lines = [f"# Evaluation: {title}", ""]
    lines += [
        "| samples | loss | accuracy | macro-F1 | weighted-F1 | balanced acc. | ROC AUC | ECE | majority baseline |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {m['n']} | {_fmt(m['loss'])} | {_fmt(m['accuracy'])} | {_fmt(m['macro_f1'])} | {_fmt(m['weighted_f1'])} "
        f"| {_fmt(m['balanced_accuracy'])} | {_fmt(m['roc_auc'])} | {_fmt(m['calibration']['ece'])} | {_baseline_cell(m['baseline'])} |",
        "",
        *_accuracy_interval(m),
        "Each image was scored whole, with no face search (a face model expects face crops).",
        "",
        *_absent_note(m),
        *_training_data_note(m),
        *[line for key in ("selection_split", "unfinished_run", "one_class_predicted", "decision_threshold") if m.get(key) for line in (f"Note: {m[key]}.", "")],
        "## Per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    predicted = np.asarray(m["confusion"]).sum(axis=0)  # how often each class was predicted
    for (c, v), times in zip(m["per_class"].items(), predicted):
        precision = f"{v['precision']:.3f}" if times else "-"  # never predicted: 0/0, where metrics.json keeps sklearn's 0
        if v["support"]:
            lines.append(f"| {md_cell(c)} | {precision} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
        else:  # no recall or F1 to measure; a precision of 0 counts wrong predictions of it, and never predicted it is 0/0
            lines.append(f"| {md_cell(c)} (absent) | {precision} | - | - | 0 |")
    if "binary" in m:
        b = m["binary"]
        rate = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731  (-: a class absent from the labels)
        lines += ["", f"Positive class '{b['positive_class']}': TPR {rate(b['tpr'])}, FPR {rate(b['fpr'])}, TNR {rate(b['tnr'])}, FNR {rate(b['fnr'])}"]
    if "by_group" in m:
        lines += ["", f"## By {m.get('group_by', 'group')}", "", "Accuracy " + gap_text(m["by_group"], "accuracy_gap", 100, " points", 1) + ".", "", "| group | n | accuracy | 95% CI | macro-F1 |", "|---|---|---|---|---|"]
        groups = m["by_group"]["groups"].items()
        lines += [f"| {md_cell(g)} | {v['n']} | {v['accuracy']:.3f} | {v['accuracy_ci95'][0]:.3f}-{v['accuracy_ci95'][1]:.3f} | {_fmt(v['macro_f1'], 3)} |" for g, v in groups]
        single = [g for g, v in groups if v["macro_f1"] is None]
        if single:
            holds = "holds one class only" if len(single) == 1 else "each hold one class only"
            lines += ["", f"Macro-F1 '-': {', '.join(map(md_cell, single))} {holds} (whose precision is 1 by definition); accuracy there is that class's recall."]
    if m.get("dropped_by_label_map"):
        names = ", ".join(f"'{label}'" for label in m.get("dropped_labels", []))
        lines += ["", f"Left out {m['dropped_by_label_map']} sample(s) labelled {names}, which the label map drops (null): not in these figures."]
    if m.get("skipped"):
        lines += ["", f"Skipped {m['skipped']} unusable sample(s) (unreadable images, bad rows; --skip-bad): not in these figures; listed with why in skipped.csv."]
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
    classes = m["classes"]
    lines += ["| true \\ pred | " + " | ".join(map(md_cell, classes)) + " |", "|---" * (len(classes) + 1) + "|"]
    for c, row in zip(classes, m["confusion"]):
        lines.append(f"| {md_cell(c)} | " + " | ".join(str(v) for v in row) + " |")
    lines.append("")
    for key, name in m.get("plots", {}).items():
        lines += [f"![{key}]({name})", ""]
    return "\n".join(lines)
