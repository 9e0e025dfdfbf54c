"""Package a finished run as a shipped model: a slim checkpoint (weights, config, classes, input
spec; no optimiser state) in src/facesense/assets/models/NAME.pt, and a model card generated
from the run's own files (config, summary, validation metrics).

    python scripts/ship_model.py RUN_DIR NAME --command "facesense train configs/X.yaml" [--limits "..."]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from facesense.checkpoint import read_checkpoint
from facesense.runs import atomic_path, write_text

ASSETS = Path(__file__).resolve().parents[1] / "src" / "facesense" / "assets" / "models"
KEEP = ("format", "version", "model_state", "config", "classes", "input_spec", "epoch")


def peer_rows(name: str, ours: dict, peers: list[str]) -> list[str]:
    """'LABEL=COMMAND=METRICS_JSON' entries -> a side-by-side table on the same samples."""
    if not peers:
        return []
    lines = ["", "## Side by side, same validation samples", "", "| model | command | n | accuracy | macro-F1 | ROC AUC |", "|---|---|---|---|---|---|"]
    lines.append(f"| `{name}` (this card) | `facesense evaluate {name} ... --split val` | {ours['n']} | {ours['accuracy']:.4f} | {ours['macro_f1']:.4f} | {ours['roc_auc']:.4f} |")
    for entry in peers:
        label, command, path = entry.split("=", 2)
        m = json.loads(Path(path).read_text())
        lines.append(f"| {label} | `{command}` | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['roc_auc']:.4f} |")
    return lines


def card(name: str, run: Path, payload: dict, command: str, limits: list[str], size_bytes: int, machine: str, peers: list[str] = (), notes: list[str] = ()) -> str:
    cfg = payload["config"]
    summary = json.loads((run / "train_summary.json").read_text())
    m = json.loads((run / "eval_val" / "metrics.json").read_text())
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
        + "; face crops from the detector, resized with bilinear filtering",
        f"* **Data**: `{Path(cfg['data']).name}` from ../shared/data; splits: {data_splits}; samples {summary['samples']}",
        f"* **Command**: `{command}` (seed {cfg['seed']})",
        f"* **Training**: {summary['epochs_run']} of {summary['epochs_max']} epochs, best epoch {summary['best_epoch']} by {cfg['monitor']}, "
        f"{summary['train_seconds'] / 60:.1f} min on {summary['device']}, {machine} ({summary['seconds_per_epoch']:.0f} s/epoch)",
        "",
        f"## Validation metrics ({m['n']} samples; `facesense evaluate {name} ...` reproduces them)",
        "",
        "| loss | accuracy | macro-F1 | weighted-F1 | balanced acc. | ROC AUC | majority baseline |",
        "|---|---|---|---|---|---|---|",
        f"| {m['loss']:.4f} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} | {m['balanced_accuracy']:.4f} | {auc} | {m['baseline']['accuracy']:.4f} |",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        rows,
        *peer_rows(name, m, list(peers)),
        *(["", "## How it was made", "", *[f"* {x}" for x in notes]] if notes else []),
        "",
        "## Known limits",
        "",
        *[f"* {x}" for x in limits],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--command", required=True, help="the exact training command, for the card")
    ap.add_argument("--limits", action="append", default=[], help="a known limit (repeatable)")
    ap.add_argument("--machine", default="", help="where it was trained, for the card")
    ap.add_argument("--note", action="append", default=[], help="a line for the card's 'how it was made' section (repeatable)")
    ap.add_argument("--peer", action="append", default=[], help="LABEL=COMMAND=METRICS_JSON of another model on the same samples")
    args = ap.parse_args()
    payload = read_checkpoint(args.run / "best.pt")
    slim = {k: payload[k] for k in KEEP if k in payload}
    slim["config"] = {**slim["config"], "data": Path(slim["config"]["data"]).name, "runs_dir": "runs"}  # no local paths
    if slim["config"].get("teacher"):
        slim["config"]["teacher"] = [str(Path("runs", *Path(t).parts[-3:])) for t in slim["config"]["teacher"]]
    ASSETS.mkdir(parents=True, exist_ok=True)
    target = ASSETS / f"{args.name}.pt"
    with atomic_path(target) as tmp:
        torch.save(slim, tmp)
    write_text(ASSETS / f"{args.name}.md", card(args.name, args.run, payload, args.command, args.limits, target.stat().st_size, args.machine, args.peer, args.note))
    print(target)


if __name__ == "__main__":
    main()
