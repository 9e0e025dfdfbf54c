"""Expression checkpoints combined: their outputs averaged (an ensemble, N networks per face)
and their weights averaged (a uniform "model soup", one network).

For every subset of the given checkpoints, the ensemble's PublicTest accuracy, macro-F1, ECE,
anger and fear recall, and its accuracy drop under each perturbation of
`facesense.eval.perturb.standard_set()`, as `bench/crop_robustness.py` measures them (float32,
each checkpoint's own test-time views); then the same row for the soup of all of them.
Each checkpoint is scored once per perturbation, and the subsets reuse those probabilities.

    python bench/ensembles.py A.pt B.pt [C.pt ...] [--data ../shared/data/fer2013/fer2013.csv.gz] [--limit N]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from crop_robustness import probabilities, publictest
from facesense.checkpoint import blend_checkpoints
from facesense.errors import FacesenseError
from facesense.eval.metrics import calibration, macro_f1
from facesense.eval.perturb import perturb_all, standard_set
from facesense.runtime.classifier import FaceClassifier

SHOWN = ("blur sigma 1.5", "JPEG q30", "box 1.4x (wider)", "downscale 24 px")


def all_probabilities(model: FaceClassifier, faces: np.ndarray, damaged: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"clean": probabilities(model, faces), **{row: probabilities(model, changed) for row, changed in damaged.items()}}


def row(name: str, probs: dict[str, np.ndarray], labels: np.ndarray, classes: list[str]) -> str:
    pred = probs["clean"].argmax(1)
    accuracy = float(np.mean(pred == labels))
    recall = {c: float(np.mean(pred[labels == i] == i)) for i, c in enumerate(classes)}
    drops = {r: 100 * (accuracy - float(np.mean(p.argmax(1) == labels))) for r, p in probs.items() if r != "clean"}
    worst = max(drops, key=drops.get)
    cells = [name, f"{accuracy:.4f}", f"{macro_f1(labels, pred, len(classes)):.4f}", f"{calibration(labels, probs['clean'])['ece']:.4f}",
             f"{recall.get('angry', float('nan')):.3f}", f"{recall.get('fear', float('nan')):.3f}", *(f"{drops[r]:+.1f}" for r in SHOWN),
             f"{drops[worst]:.1f} ({worst})", f"{np.mean(list(drops.values())):.1f}", str(sum(d > 3 for d in drops.values()))]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="two or more checkpoints of one architecture (the soup needs that; the ensembles do not)")
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--limit", type=int, default=None, help="only the first N PublicTest faces (a quick look)")
    args = ap.parse_args()
    if len(args.checkpoints) < 2:
        print("ensembles: give two or more checkpoints", file=sys.stderr)
        return 2
    data = Path(args.data)
    if not data.is_file():
        print(f"ensembles: {data} not found; pass --data path/to/fer2013.csv.gz", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    names = [Path(c).stem if Path(c).stem not in ("best", "last") else Path(c).parent.name for c in args.checkpoints]
    names = [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]  # one row per checkpoint, even with one name
    print(f"machine: {platform.machine()} CPU, {platform.system()}; checkpoints: {', '.join(f'{n} = {c}' for n, c in zip(names, args.checkpoints))}\n")
    try:
        models = [FaceClassifier.load(c, threads=2) for c in args.checkpoints]
        classes = models[0].classes
        faces, labels = publictest(data, classes, args.limit)
        damaged = {r: perturb_all(faces, p, seed=0) for r, p in standard_set().items()}
        scored = {n: all_probabilities(m, faces, damaged) for n, m in zip(names, models)}
        print(f"FER2013 PublicTest, {len(faces)} faces; float32, each checkpoint's test-time views; drops in accuracy points\n")
        header = "| models | accuracy | macro-F1 | ECE | anger recall | fear recall | " + " | ".join(f"{r} drop" for r in SHOWN) + " | largest drop | mean drop (12 rows) | rows over 3 |"
        print(header)
        print("|---" * (header.count("|") - 1) + "|", flush=True)
        for k in range(1, len(names) + 1):
            for subset in itertools.combinations(names, k):
                mean = {r: np.mean([scored[n][r] for n in subset], axis=0) for r in scored[subset[0]]}
                print(row(" + ".join(subset), mean, labels, classes), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            soup = blend_checkpoints(args.checkpoints, [1 / len(names)] * len(names), Path(tmp) / "soup.pt")
            print(row(f"soup of all {len(names)} (weights averaged)", all_probabilities(FaceClassifier.load(soup, threads=2), faces, damaged), labels, classes))
    except FacesenseError as exc:
        print(f"ensembles: {exc}", file=sys.stderr)
        return 2
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
