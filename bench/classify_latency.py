"""Latency of the shipped classifiers through the live pipeline's runtime (ONNX Runtime),
per model and for expression + gender together, one face and a batch of faces, including
preprocessing (crop -> model pixels).

    python bench/classify_latency.py [--models expression,gender,dlib-gender] [--runs 300]

A model may be given as NAME=FILE to time another file in that slot, e.g.
`--models expression=flip.int8.onnx,gender` (an exported candidate against the shipped gender).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from facesense.runtime.classifier import FaceClassifier


def timed(fn, runs: int) -> tuple[float, float]:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples) * 1000), float(np.percentile(samples, 95) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="expression,gender")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (120, 120, 3), dtype=np.uint8) for _ in range(4)]
    models = {}
    for entry in args.models.split(","):
        name, _, path = entry.partition("=")
        try:
            models[name] = FaceClassifier.load(path or name)
        except Exception as exc:  # an optional backend may be absent
            print(f"{name}: skipped ({exc})")
    print(f"machine: {platform.machine()}; onnxruntime default threads; 120x120 BGR crops; median / p95 ms\n")
    print("| model | input | 1 face | 4 faces |")
    print("|---|---|---|---|")
    for name, m in models.items():
        one = timed(lambda: m.predict(crops[:1]), args.runs)
        four = timed(lambda: m.predict(crops), args.runs)
        print(f"| {name} | {m.spec.size}x{m.spec.size}x{m.spec.channels} | {one[0]:.2f} / {one[1]:.2f} | {four[0]:.2f} / {four[1]:.2f} |")
    if {"expression", "gender"} <= set(models):
        e, g = models["expression"], models["gender"]
        one = timed(lambda: (e.predict(crops[:1]), g.predict(crops[:1])), args.runs)
        four = timed(lambda: (e.predict(crops), g.predict(crops)), args.runs)
        print(f"| expression + gender | | {one[0]:.2f} / {one[1]:.2f} | {four[0]:.2f} / {four[1]:.2f} |")


if __name__ == "__main__":
    main()
