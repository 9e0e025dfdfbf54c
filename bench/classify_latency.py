"""Latency of the shipped classifiers through the live pipeline's runtime (ONNX Runtime),
per model and for expression + gender together, one face and a batch of faces, including
preprocessing (crop -> model pixels).

    python bench/classify_latency.py [--models expression,gender,gender_age,dlib-gender] [--runs 300]

`gender_age` runs as the live path runs it: one pass gives gender and age. The pairs printed at
the end are expression with each gender model; expression + gender_age is what `live`, `demo`
and `serve` run by default.

A model may be given as NAME=FILE to time another file in that slot, e.g.
`--models expression=flip.int8.onnx,gender` (an exported candidate against the shipped gender).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from benchkit import cpu_name
from facesense.errors import FacesenseError
from facesense.runtime.classifier import FaceClassifier
from facesense.runtime.gender_age import GenderAgeModel


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
    ap.add_argument("--models", default="expression,gender,gender_age")
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    if args.runs < 1:
        ap.error(f"--runs {args.runs}: must be 1 or more")
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (120, 120, 3), dtype=np.uint8) for _ in range(4)]
    models = {}
    for entry in args.models.split(","):
        name, _, path = entry.partition("=")
        try:
            if name == "gender_age":  # gender and age from one run, as the pipeline asks it
                model = GenderAgeModel.load(path or name)
                # a new list each call: the model reuses its last outputs for the same list object
                model.predict = lambda crops, model=model: model.estimate(list(crops))
                models[name] = model
            else:
                models[name] = FaceClassifier.load(path or name)
        except Exception as exc:  # an optional backend may be absent
            print(f"{name}: skipped ({exc})")
    if not models:  # an empty table read as a result
        raise FacesenseError(f"--models {args.models}: none of them could be loaded (see above)")
    print(f"machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} cores; onnxruntime default threads; 120x120 BGR crops; median / p95 ms\n")
    print("| model | input | 1 face | 4 faces |")
    print("|---|---|---|---|")
    for name, m in models.items():
        one = timed(lambda: m.predict(crops[:1]), args.runs)
        four = timed(lambda: m.predict(crops), args.runs)
        print(f"| {name} | {m.spec.size}x{m.spec.size}x{m.spec.channels} | {one[0]:.2f} / {one[1]:.2f} | {four[0]:.2f} / {four[1]:.2f} |")
    e = models.get("expression")
    for other in [m for m in models if m != "expression"] if e else []:
        g = models[other]
        one = timed(lambda: (e.predict(crops[:1]), g.predict(crops[:1])), args.runs)
        four = timed(lambda: (e.predict(crops), g.predict(crops)), args.runs)
        print(f"| expression + {other} | | {one[0]:.2f} / {one[1]:.2f} | {four[0]:.2f} / {four[1]:.2f} |")


if __name__ == "__main__":
    from benchkit import run

    run(main)
