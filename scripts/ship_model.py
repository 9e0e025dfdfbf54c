"""Package a finished run as a shipped model: a slim checkpoint (weights, config, classes, input
spec; no optimiser state) in src/facesense/assets/models/NAME.pt, and a model card generated
from the run's own files (config, summary, validation metrics). A gender+age model gets the
slim checkpoint only: its card quotes bench/face_attributes.py on the held-out split.

    python scripts/ship_model.py RUN_DIR NAME --command "facesense train configs/X.yaml" [--limits "..."]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from facesense.checkpoint import read_checkpoint
from facesense.runs import atomic_path, write_text
from ship_paths import without_local_paths  # scripts/ beside this file

ASSETS = Path(__file__).resolve().parents[1] / "src" / "facesense" / "assets" / "models"
KEEP = ("format", "version", "model_state", "config", "classes", "input_spec", "epoch", "age_temperature")


def peer_rows(name: str, ours: dict, peers: list[str], ours_command: str = "") -> list[str]:
    """'LABEL=COMMAND=METRICS_JSON' entries -> a side-by-side table on the same samples."""
    if not peers:
        return []
    lines = ["", "## Side by side, same validation samples", "", "| model | command | n | accuracy | macro-F1 | ROC AUC |", "|---|---|---|---|---|---|"]
    lines.append(f"| `{name}` (this card) | `{ours_command or f'facesense evaluate {name} ... --split val'}` | {ours['n']} | {ours['accuracy']:.4f} | {ours['macro_f1']:.4f} | {ours['roc_auc']:.4f} |")
    for entry in peers:
        label, command, path = entry.split("=", 2)
        m = json.loads(Path(path).read_text())
        lines.append(f"| {label} | `{command}` | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['roc_auc']:.4f} |")
    return lines


def cv_metrics(cv_dir: Path) -> tuple[dict, list[str]]:
    """Pooled validation metrics of a bench/cross_validate.py output folder (every fold's
    validation samples once), plus a per-fold table."""
    import numpy as np

    from facesense.study import mean_ci

    folds = sorted(cv_dir.glob("*/*-cv*/eval_val/metrics.json"))
    if not folds:
        raise SystemExit(f"--cv {cv_dir}: no fold runs (*/NAME-cvK-N/eval_val/metrics.json); run bench/cross_validate.py --out {cv_dir} first")
    ms = [json.loads(p.read_text()) for p in folds]
    acc = [m["accuracy"] for m in ms]
    mean, std, lo, hi = mean_ci(acc)
    pooled = {"n": sum(m["n"] for m in ms), "folds": len(ms)}
    for key in ("loss", "accuracy", "macro_f1", "weighted_f1", "balanced_accuracy", "roc_auc"):
        pooled[key] = float(np.average([m[key] for m in ms], weights=[m["n"] for m in ms]))
    pooled["baseline"] = {"accuracy": float(np.average([m["baseline"]["accuracy"] for m in ms], weights=[m["n"] for m in ms]))}
    pooled["per_class"] = {
        c: {k: (sum(m["per_class"][c]["support"] for m in ms) if k == "support" else float(np.average([m["per_class"][c][k] for m in ms], weights=[m["per_class"][c]["support"] for m in ms])))
            for k in ("precision", "recall", "f1", "support")}
        for c in ms[0]["per_class"]
    }
    # each fold's last epoch: the estimate for a model trained on all the data, which has no
    # epoch to choose and keeps its last (the folds' best epochs were chosen on the held-out fold)
    last = []
    for p in folds:
        history = p.parents[1] / "history.csv"
        if history.is_file():
            with open(history, newline="") as f:
                epochs = list(csv.DictReader(f))
            if epochs and epochs[-1].get("val_accuracy"):
                last.append(float(epochs[-1]["val_accuracy"]))
    pooled["last_epoch_accuracy"] = mean_ci(last) if len(last) == len(ms) and len(last) > 1 else None
    auc_mean, auc_std, auc_lo, auc_hi = mean_ci([m["roc_auc"] for m in ms])
    kind = "the dataset's own partitions, each held out in turn" if all("partition" in p.parents[1].name for p in folds) else "seeded, stratified"
    lines = ["", f"## {len(ms)}-fold cross-validation of this recipe ({kind})", "",
             f"Accuracy mean {mean:.4f} +- {std:.4f} (95% CI {lo:.4f} to {hi:.4f}); ROC AUC mean {auc_mean:.4f} +- {auc_std:.4f} (95% CI {auc_lo:.4f} to {auc_hi:.4f}). "
             "The tables above pool the folds' validation samples (sample-weighted means).", "",
             "| fold run | val n | accuracy | macro-F1 | ROC AUC |", "|---|---|---|---|---|"]
    lines += [f"| {p.parents[1].name} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['roc_auc']:.4f} |" for p, m in zip(folds, ms)]
    return pooled, lines


LICENCE = "MIT, as facesense ([LICENSE](../../../../LICENSE))"


def card(name: str, run: Path, payload: dict, command: str, limits: list[str], size_bytes: int, machine: str, peers: list[str] = (), notes: list[str] = (), cv_dir: Path | None = None,
         licence: str = LICENCE) -> str:
    cfg = payload["config"]
    summary = json.loads((run / "train_summary.json").read_text())
    if not summary["samples"].get("val"):
        selection = "no validation split: the last epoch is kept"
    elif cfg.get("keep") == "last":
        selection = "the last epoch is kept (keep: last; validation only reports)"
    else:
        selection = f"best epoch {summary['best_epoch']} by {cfg['monitor']}"
    if cv_dir is not None:
        m, cv_lines = cv_metrics(cv_dir)
        heading = f"## Validation metrics ({m['n']} samples: the validation folds of {m['folds']}-fold cross-validation; this model itself trained on all the data)"
    else:
        m, cv_lines = json.loads((run / "eval_val" / "metrics.json").read_text()), []
        heading = f"## Validation metrics ({m['n']} samples; `facesense evaluate {name} ...` reproduces them)"
    # the listing's figure (facesense models): for a model that keeps its last epoch, its folds'
    # last epochs, not their best ones (which the held-out folds chose)
    figure = []
    if cv_dir is not None and selection.startswith("no validation split") and cfg.get("keep") != "last" and m.get("last_epoch_accuracy"):
        last_mean, last_std, _, _ = m["last_epoch_accuracy"]
        figure = [f"* **Test figure**: accuracy {last_mean:.4f} +- {last_std:.4f} ({m['folds']}-fold cross-validation, each fold's last epoch, as this model keeps its last; "
                  f"{m['accuracy']:.4f} at each fold's best epoch)"]
    spec = payload["input_spec"]
    rows = "\n".join(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |" for c, v in m["per_class"].items())
    data_splits = ", ".join(f"{k}={cfg.get(k)}" for k in ("train_split", "val_split", "val_size", "folds", "fold", "seed"))
    auc = "-" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
    lines = [
        f"# Model card: `{name}`",
        "",
        f"* **Task**: {cfg['task']}; classes in output order: {', '.join(payload['classes'])}",
        f"* **Architecture**: `{cfg['model']}`{' ' + str(cfg['model_args']) if cfg.get('model_args') else ''}, {summary['parameters']:,} parameters, file {size_bytes / 1e6:.2f} MB",
        f"* **Input spec**: {spec['size']}x{spec['size']}, {'gray' if spec['channels'] == 1 else 'RGB'}, pixels / 255"
        + (f", then (x - {spec['mean']}) / {spec['std']}" if spec.get("mean") or spec.get("std", 1) != 1 else "")
        + ("; whole images, resized (not cropped) with bilinear filtering" if cfg["task"] == "sentiment" else "; face crops from the detector, resized with bilinear filtering"),
        f"* **Data**: `{Path(cfg['data']).name}` from ../shared/data; splits: {data_splits}; samples {summary['samples']}",
        f"* **Command**: `{command}` (seed {cfg['seed']})",
        *figure,
        f"* **Licence**: {licence}",
        f"* **Training**: {summary['epochs_run']} of {summary['epochs_max']} epochs, {selection}, "
        f"{summary['train_seconds'] / 60:.1f} min on {summary['device']}, {machine} ({summary['seconds_per_epoch']:.0f} s/epoch)",
        "",
        heading,
        "",
        "| loss | accuracy | macro-F1 | weighted-F1 | balanced acc. | ROC AUC | majority baseline |",
        "|---|---|---|---|---|---|---|",
        f"| {m['loss']:.4f} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} | {m['balanced_accuracy']:.4f} | {auc} | {m['baseline']['accuracy']:.4f} |",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        rows,
        *cv_lines,
        *peer_rows(name, m, list(peers), "python bench/cross_validate.py (pooled validation folds)" if cv_dir else ""),
        *(["", "## How it was made", "", *[f"* {x}" for x in notes]] if notes else []),
        "",
        "## Known limits",
        "",
        *[f"* {x}" for x in limits],
        "",
        "## Responsible use",
        "",
        *[f"* {x}" for x in RESPONSIBLE_USE.get(cfg["task"], RESPONSIBLE_USE["gender"][1:])],
        "",
    ]
    return "\n".join(lines)


RESPONSIBLE_USE = {  # every card ends with these lines (see README, "Responsible use")
    "gender": [
        "Gender is a binary estimate of how a face looks (man/woman, as the training data labels it), not a person's gender identity.",
        "The estimates are wrong on some faces, and more often for some groups of people: see the error rates and the group gaps stated above (and what was not measured).",
        "Not for decisions about people (hiring, admission, policing, credit, access); show people what is estimated about them and let them say no to being analysed.",
    ],
}
RESPONSIBLE_USE["expression"] = ["An expression estimate is the look of a face in one moment, not what a person feels.", *RESPONSIBLE_USE["gender"][1:]]
RESPONSIBLE_USE["sentiment"] = [
    "It estimates the mood a photo conveys, not what the people in it feel.",
    "The estimates are wrong on some photos (see the error rates above); the people and places in the training photos are not balanced by any measure.",
    RESPONSIBLE_USE["gender"][2],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--command", required=True, help="the exact training command, for the card")
    ap.add_argument("--limits", action="append", default=[], help="a known limit (repeatable)")
    ap.add_argument("--machine", default="", help="where it was trained, for the card")
    ap.add_argument("--cv", type=Path, help="bench/cross_validate.py output folder: its folds give the card's validation metrics (for a model trained on all the data)")
    ap.add_argument("--note", action="append", default=[], help="a line for the card's 'how it was made' section (repeatable)")
    ap.add_argument("--peer", action="append", default=[], help="LABEL=COMMAND=METRICS_JSON of another model on the same samples")
    ap.add_argument("--licence", default=LICENCE, help="the card's licence line (default: MIT, as facesense; a model built on third-party weights names theirs)")
    args = ap.parse_args()
    payload = read_checkpoint(args.run / "best.pt")
    slim = {k: payload[k] for k in KEEP if k in payload}
    slim["config"] = without_local_paths(slim["config"])
    ASSETS.mkdir(parents=True, exist_ok=True)
    target = ASSETS / f"{args.name}.pt"
    with atomic_path(target) as tmp:
        torch.save(slim, tmp)
    if slim["config"].get("task") == "gender_age":
        # its card quotes bench/face_attributes.py on the held-out split: written from that output
        print(target)
        return
    write_text(ASSETS / f"{args.name}.md", card(args.name, args.run, payload, args.command, args.limits, target.stat().st_size, args.machine, args.peer, args.note, args.cv, args.licence))
    print(target)


if __name__ == "__main__":
    main()
