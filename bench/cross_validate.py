"""k-fold cross-validation of a config: seeded stratified folds, or the dataset's own partitions.
Prints each fold's validation accuracy, macro-F1 and ROC AUC, then mean +- std and a 95% interval.

    python bench/cross_validate.py configs/gender_small.yaml --folds 5 [--out runs/cv] [key=value ...]
    python bench/cross_validate.py configs/baseline_vgg.yaml --partitions partition1,partition2,partition3,partition4,partition5
    python bench/cross_validate.py configs/gender_age.yaml --folds 5 folds_on=extra [--reuse]

task=gender_age: accuracy is the gender accuracy on the folded data's validation rows (with
folds_on=extra, the gender-only datasets such as gender_faces; the main dataset keeps its split),
the macro-F1 and AUC columns are left out, and the checkpoint scored is the one the config keeps.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from facesense.config import load_config
from facesense.experiment import train
from facesense.study import mean_ci

ROOT = Path(__file__).resolve().parents[1]


def gender_age_row(m: dict, folds_on: str) -> dict:
    """A gender_age run's validation metrics as this table's row: the gender accuracy on the rows
    of the folded data (gender-only rows for folds_on=extra, the aged rows for main)."""
    g = m["gender"]
    n_age = m["age"]["n"]
    acc, n = (g["gender_only_rows_accuracy"], g["n"] - n_age) if folds_on == "extra" else (g["with_age_rows_accuracy"], n_age)
    return {"n": n, "accuracy": acc, "macro_f1": None, "roc_auc": None}


def finished_run(runs_dir: Path, name: str):
    """The newest run of `name` under runs_dir that got as far as its validation metrics."""
    from facesense.runs import RunDir

    found = sorted(runs_dir.glob(f"*/{name}-*/eval_val/metrics.json"), key=lambda p: p.stat().st_mtime)
    return RunDir(found[-1].parent.parent) if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--partitions", help="comma-separated split names used as validation in turn")
    ap.add_argument("--out", default="runs/cv")
    ap.add_argument("--reuse", action="store_true", help="a fold whose finished run is already in --out is read, not trained again (to finish a cut-off run)")
    args = ap.parse_intermixed_args()  # overrides may follow the options
    folds = args.partitions.split(",") if args.partitions else list(range(args.folds))
    print("| fold | run | val n | accuracy | macro-F1 | ROC AUC | last-epoch accuracy |\n|---|---|---|---|---|---|---|", flush=True)
    results = []
    for fold in folds:
        extra = [f"val_split={fold}", "train_split=null"] if args.partitions else [f"folds={args.folds}", f"fold={fold}"]
        cfg = load_config(Path(args.config), args.overrides + extra)
        cfg.name = f"{cfg.name}-cv{fold}"
        cfg.data = str((Path.cwd() / cfg.data).resolve())
        cfg.runs_dir = str((Path.cwd() / args.out).resolve())
        done = finished_run(Path(cfg.runs_dir), cfg.name) if args.reuse else None
        run = done or train(cfg.validate(), progress=False)
        m = json.loads((run.eval_dir("val") / "metrics.json").read_text())
        if cfg.task == "gender_age":  # the history's val_accuracy mixes both datasets' rows
            m = gender_age_row(m, cfg.folds_on) | {"last_epoch_accuracy": None}
        else:  # a model trained on all the data has no epoch to select: its estimate is the last epoch's
            with open(run.history, newline="") as f:
                m["last_epoch_accuracy"] = float(list(csv.DictReader(f))[-1]["val_accuracy"])
        results.append(m)
        auc = "-" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
        f1 = "-" if m["macro_f1"] is None else f"{m['macro_f1']:.4f}"
        last = "-" if m["last_epoch_accuracy"] is None else f"{m['last_epoch_accuracy']:.4f}"
        print(f"| {fold} | {run.root.name} | {m['n']} | {m['accuracy']:.4f} | {f1} | {auc} | {last} |", flush=True)
    for key in ("accuracy", "macro_f1", "roc_auc", "last_epoch_accuracy"):
        values = [m[key] for m in results if m[key] is not None]
        if len(values) > 1:
            mean, std, lo, hi = mean_ci(values)
            print(f"{key}: mean {mean:.4f} +- {std:.4f} (95% CI {lo:.4f} to {hi:.4f}, {len(values)} folds)")


if __name__ == "__main__":
    from benchkit import run

    run(main)
