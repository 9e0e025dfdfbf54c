"""Minutes until PublicTest accuracy first reaches a target (default 61.2%, source A's best,
which took the source 103 minutes), for the project's fast recipes and source A's
emotion_model_1, one after another in one run (so their ratio holds on any machine).

    python bench/time_to_accuracy.py [--target 0.612] [--budget-min 120] [--configs a.yaml,b.yaml]

Each recipe trains with its own config (full FER2013 Training set, validation on PublicTest)
until the target is reached, its epochs run out, or the time budget is spent. Wall minutes run
from the start of the run (reading and decoding the data included) to the end of the epoch that
reached the target; training minutes sum the epochs alone (training and validation). The last
column compares each recipe's wall time with the first recipe's.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch

from facesense.config import load_config
from facesense.experiment import train

ROOT = Path(__file__).resolve().parents[1]


class Reached(Exception):
    pass


def minutes_to(config: Path, target: float, budget_min: float, runs_dir: str) -> dict:
    """-> {"wall": wall minutes when reached or None, "train": training minutes when reached or
    None, "epochs", "best" accuracy, "spent" wall minutes}."""
    cfg = load_config(config, {"runs_dir": runs_dir})
    cfg.data = str((ROOT / cfg.data).resolve()) if not Path(cfg.data).is_absolute() else cfg.data
    start = time.perf_counter()
    state = {"seconds": 0.0, "epochs": 0, "best": 0.0, "wall": None, "train": None}

    def on_epoch(row: dict) -> None:
        state["seconds"] += row["seconds"]
        state["epochs"] = row["epoch"]
        state["best"] = max(state["best"], row["val_accuracy"])
        if row["val_accuracy"] >= target:
            state["wall"], state["train"] = (time.perf_counter() - start) / 60, state["seconds"] / 60
            raise Reached
        if (time.perf_counter() - start) / 60 >= budget_min:
            raise Reached

    try:
        train(cfg, progress=False, on_epoch=on_epoch)
    except Reached:
        pass
    state["spent"] = (time.perf_counter() - start) / 60
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", type=float, default=0.612)
    ap.add_argument("--budget-min", type=float, default=120.0)
    ap.add_argument("--configs", default="configs/expression_fast.yaml,configs/expression_fast_onecycle.yaml,configs/emotion_model_1.yaml")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill removes the temporary runs too
    device = "cuda" if torch.cuda.is_available() else f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(f"target PublicTest accuracy {args.target:.1%}; budget {args.budget_min:g} min per recipe; {device}\n")
    print("| recipe | wall minutes to target (data loading included) | training minutes to target | epochs run | best accuracy | wall minutes spent | wall time vs first recipe |")
    print("|---|---|---|---|---|---|---|")
    print("| source A emotion_model_1 (the report, its machine) | - | 103 | 50 | 0.6122 | - | - |")
    first = None
    with tempfile.TemporaryDirectory() as runs:
        for name in args.configs.split(","):
            r = minutes_to(ROOT / name, args.target, args.budget_min, runs)
            if r["wall"] is None:
                wall, trained, ratio = f"not reached in {r['spent']:.1f}", "-", "-"
            else:
                wall, trained = f"{r['wall']:.1f}", f"{r['train']:.1f}"
                first = r["wall"] if first is None else first
                ratio = f"{r['wall'] / first:.2f}x"
            print(f"| {name} | {wall} | {trained} | {r['epochs']} | {r['best']:.4f} | {r['spent']:.1f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
