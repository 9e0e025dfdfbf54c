"""Minutes of training until PublicTest accuracy first reaches a target (default 61.2%, source
A's best), for the project's fast recipe and for source A's emotion_model_1, in one run.

    python bench/time_to_accuracy.py [--target 0.612] [--budget-min 120] [--configs a.yaml,b.yaml]

Each recipe trains with its own config (full FER2013 Training set, validation on PublicTest)
until the target is reached, its epochs run out, or the time budget is spent. Training time is
the sum of the epochs' seconds (data loading excluded, validation included).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import torch

from facesense.config import load_config
from facesense.experiment import train

ROOT = Path(__file__).resolve().parents[1]


class Reached(Exception):
    pass


def minutes_to(config: Path, target: float, budget_min: float, runs_dir: str) -> tuple[float | None, int, float, float]:
    """-> (minutes when reached or None, epochs run, best accuracy, minutes spent)."""
    cfg = load_config(config, {"runs_dir": runs_dir})
    cfg.data = str((ROOT / cfg.data).resolve()) if not Path(cfg.data).is_absolute() else cfg.data
    state = {"seconds": 0.0, "epochs": 0, "best": 0.0, "reached": None}

    def on_epoch(row: dict) -> None:
        state["seconds"] += row["seconds"]
        state["epochs"] = row["epoch"]
        state["best"] = max(state["best"], row["val_accuracy"])
        if row["val_accuracy"] >= target:
            state["reached"] = state["seconds"] / 60
            raise Reached
        if state["seconds"] / 60 >= budget_min:
            raise Reached

    try:
        train(cfg, progress=False, on_epoch=on_epoch)
    except Reached:
        pass
    return state["reached"], state["epochs"], state["best"], state["seconds"] / 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=float, default=0.612)
    ap.add_argument("--budget-min", type=float, default=120.0)
    ap.add_argument("--configs", default="configs/expression_fast.yaml,configs/emotion_model_1.yaml")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"target PublicTest accuracy {args.target:.1%}; budget {args.budget_min:.0f} min per recipe; {device}\n")
    print("| recipe | minutes to target | epochs run | best accuracy | minutes spent |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as runs:
        for name in args.configs.split(","):
            reached, epochs, best, spent = minutes_to(ROOT / name, args.target, args.budget_min, runs)
            shown = f"{reached:.1f}" if reached is not None else f"not reached in {spent:.0f}"
            print(f"| {name} | {shown} | {epochs} | {best:.4f} | {spent:.1f} |", flush=True)


if __name__ == "__main__":
    main()
