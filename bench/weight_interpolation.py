"""Expression models between two checkpoints: their weights interpolated (WiSE-FT / model soups).

A robustness fine-tune trades clean accuracy for holding up on damaged faces. Interpolating the
weights of the model before and after the fine-tune (one network, same size and speed) often
keeps most of both (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022). For each
mixing weight alpha (0 = the first checkpoint, 1 = the last), this prints PublicTest accuracy,
macro-F1, ECE, anger and fear recall, clean and under each perturbation of
`facesense.eval.perturb.standard_set()`, as `bench/crop_robustness.py` measures them (float32,
the checkpoint's own test-time views). With three checkpoints, alpha runs along A -> B, then
B -> C.

    python bench/weight_interpolation.py A.pt B.pt [C.pt] [--alphas 0,0.25,0.5,0.75,1]
        [--save ALPHA OUT.pt] [--data ../shared/data/fer2013/fer2013.csv.gz] [--limit N]
"""

from __future__ import annotations

import argparse
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


def path_weights(n_checkpoints: int, alpha: float) -> list[float]:
    """Weights of each checkpoint at position alpha along the path A -> B (-> C)."""
    segments = n_checkpoints - 1
    position = alpha * segments
    segment = min(int(position), segments - 1)
    t = position - segment
    weights = [0.0] * n_checkpoints
    weights[segment] = 1 - t
    weights[segment + 1] = t
    return weights


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="two or three checkpoints of one architecture, in path order")
    ap.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--save", nargs=2, metavar=("ALPHA", "OUT"), help="also write the blend at ALPHA to OUT (a checkpoint)")
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--limit", type=int, default=None, help="only the first N PublicTest faces (a quick look)")
    args = ap.parse_args()
    if not 2 <= len(args.checkpoints) <= 3:
        print("weight_interpolation: give two or three checkpoints", file=sys.stderr)
        return 2
    data = Path(args.data)
    if not data.is_file():
        print(f"weight_interpolation: {data} not found; pass --data path/to/fer2013.csv.gz", file=sys.stderr)
        return 2
    alphas = [float(a) for a in args.alphas.split(",")]
    t0 = time.perf_counter()
    perturbations = standard_set()
    print(f"machine: {platform.machine()} CPU, {platform.system()}; path: {' -> '.join(args.checkpoints)}\n")
    faces = labels = damaged = None
    header = "| alpha | accuracy | macro-F1 | ECE | anger recall | fear recall | " + " | ".join(f"{row} drop" for row in perturbations) + " | largest drop | mean drop |"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for alpha in alphas:
                blend = blend_checkpoints(args.checkpoints, path_weights(len(args.checkpoints), alpha), Path(tmp) / "blend.pt")
                model = FaceClassifier.load(blend, threads=2)
                if faces is None:
                    faces, labels = publictest(data, model.classes, args.limit)
                    damaged = {row: perturb_all(faces, p, seed=0) for row, p in perturbations.items()}
                    print(f"FER2013 PublicTest, {len(faces)} faces; float32, each checkpoint's test-time views; drops in accuracy points\n")
                    print(header)
                    print("|---" * (header.count("|") - 1) + "|", flush=True)
                probs = probabilities(model, faces)
                pred = probs.argmax(1)
                accuracy = float(np.mean(pred == labels))
                recall = {c: float(np.mean(pred[labels == i] == i)) for i, c in enumerate(model.classes)}
                drops = [100 * (accuracy - float(np.mean(probabilities(model, damaged[row]).argmax(1) == labels))) for row in perturbations]
                worst = int(np.argmax(drops))
                cells = [f"{alpha:g}", f"{accuracy:.4f}", f"{macro_f1(labels, pred, len(model.classes)):.4f}", f"{calibration(labels, probs)['ece']:.4f}",
                         f"{recall.get('angry', float('nan')):.3f}", f"{recall.get('fear', float('nan')):.3f}", *(f"{d:+.1f}" for d in drops),
                         f"{drops[worst]:.1f} ({list(perturbations)[worst]})", f"{np.mean(drops):.1f}"]
                rows.append(cells)
                print("| " + " | ".join(cells) + " |", flush=True)
        if args.save:
            out = blend_checkpoints(args.checkpoints, path_weights(len(args.checkpoints), float(args.save[0])), Path(args.save[1]))
            print(f"\nwrote {out} (alpha {float(args.save[0]):g})")
    except FacesenseError as exc:
        print(f"weight_interpolation: {exc}", file=sys.stderr)
        return 2
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
