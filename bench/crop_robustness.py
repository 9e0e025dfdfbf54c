"""How well expression models hold up on faces cropped the way the live path crops them.

Part 1: accuracy and macro-F1 on FER2013 PublicTest, clean and under each perturbation of
`facesense.eval.perturb.standard_set()` (box shifted 10%, box 0.8x / 1.4x, rotated +-15
degrees, Gaussian blur sigma 1.5 px, JPEG quality 30, downscaled to 24 px and back, brightness
+-30%, contrast 0.6x / 1.4x), one row per perturbation with the drop against the clean row.
Models run through ONNX Runtime as `live` runs them (a shipped name runs its int8 copy).

Part 2: the shared videos have no labels, so steadiness is measured instead: how often the raw
(unsmoothed, smoothing 1) expression label of a tracked face differs between consecutive frames
of its track (haar_alt2, the default pipeline otherwise). Lower is steadier, at equal accuracy.

    python bench/crop_robustness.py [--models expression[,other.onnx]] [--data ../shared/data/fer2013/fer2013.csv.gz]
        [--videos ../shared/data/videos] [--clips WolfgangLanger_Pexels.mp4,short_hamilton_clip.mp4] [--limit N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from facesense.data.sources import read_fer2013
from facesense.eval.metrics import macro_f1
from facesense.eval.perturb import perturb_all, standard_set
from facesense.runtime.classifier import FaceClassifier


def publictest(path: Path, classes: list[str], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """-> (N x 48 x 48 uint8 faces, N class indices in the model's order)."""
    samples = read_fer2013(path)
    keep = [i for i, s in enumerate(samples.splits) if s == "PublicTest"]
    if limit:
        keep = keep[:limit]
    faces = samples.pixels[keep]
    labels = np.array([classes.index(samples.labels[i]) for i in keep])
    return faces, labels


def probabilities(model: FaceClassifier, faces: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([model.predict(list(faces[i : i + batch])) for i in range(0, len(faces), batch)])


def scores(model: FaceClassifier, faces: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    pred = probabilities(model, faces).argmax(1)
    return float(np.mean(pred == labels)), macro_f1(labels, pred, len(model.classes))


def robustness_table(names: list[str], data: Path, limit: int | None) -> None:
    models = {name: FaceClassifier.load(name) for name in names}
    classes = next(iter(models.values())).classes
    faces, labels = publictest(data, classes, limit)
    print(f"Part 1: FER2013 PublicTest, {len(faces)} faces; accuracy / macro-F1 (drop vs clean, points)\n")
    print("| perturbation | " + " | ".join(f"{n} accuracy | {n} macro-F1 | {n} drop (acc) | {n} drop (F1)" for n in names) + " |")
    print("|---|" + "---|---|---|---|" * len(names))
    clean = {n: scores(m, faces, labels) for n, m in models.items()}
    print("| clean | " + " | ".join(f"{clean[n][0]:.4f} | {clean[n][1]:.4f} | - | -" for n in names) + " |", flush=True)
    worst = {n: ("", 0.0) for n in names}
    for row, perturbation in standard_set().items():
        changed = perturb_all(faces, perturbation, seed=0)
        cells = []
        for n, m in models.items():
            acc, f1 = scores(m, changed, labels)
            drop = 100 * (clean[n][0] - acc)
            if drop > worst[n][1]:
                worst[n] = (row, drop)
            cells.append(f"{acc:.4f} | {f1:.4f} | {drop:+.1f} | {100 * (clean[n][1] - f1):+.1f}")
        print(f"| {row} | " + " | ".join(cells) + " |", flush=True)
    for n in names:
        print(f"\n{n}: largest accuracy drop {worst[n][1]:.1f} points ({worst[n][0] or 'none'})")


def raw_label_flips(video: Path, model: FaceClassifier) -> tuple[int, int, int]:
    """-> (tracks, consecutive-frame pairs within a track, pairs whose raw label differs)."""
    from facesense.stream.detect import build_detector
    from facesense.stream.frames import open_source
    from facesense.stream.pipeline import FaceModels, PipelineSettings, run_pipeline

    labels: dict[int, list[tuple[int, str]]] = defaultdict(list)
    source = open_source(str(video))
    try:
        # every face every frame: a raw label that repeats for want of a turn would hide flips
        for index, result in enumerate(run_pipeline(source, build_detector("haar_alt2"), FaceModels(expression=model), PipelineSettings(smoothing=1, classify_per_frame=0))):
            for face in result.faces:
                labels[face.track_id].append((index, face.expression.label))
    finally:
        source.close()
    pairs = flips = 0
    for series in labels.values():
        for (i, a), (j, b) in zip(series, series[1:]):
            if j == i + 1:
                pairs += 1
                flips += a != b
    return len(labels), pairs, flips


def flip_table(names: list[str], videos: Path, clips: list[str]) -> None:
    print("\nPart 2: raw (smoothing 1) expression label flips between consecutive frames of a tracked face\n")
    print("| video | model | tracks | frame pairs | flips | flip rate |")
    print("|---|---|---|---|---|---|")
    for clip in clips:
        path = videos / clip
        if not path.is_file():
            print(f"| {clip} | - | missing: {path} | | | |")
            continue
        for name in names:
            tracks, pairs, flips = raw_label_flips(path, FaceClassifier.load(name))
            rate = f"{flips / pairs:.3f}" if pairs else "-"
            print(f"| {clip} | {name} | {tracks} | {pairs} | {flips} | {rate} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="expression", help="comma-separated: shipped names, .onnx files, checkpoints or run dirs")
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--videos", default="../shared/data/videos")
    ap.add_argument("--clips", default="WolfgangLanger_Pexels.mp4,short_hamilton_clip.mp4", help="comma-separated; '' skips part 2")
    ap.add_argument("--limit", type=int, default=None, help="only the first N PublicTest faces (a quick look)")
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_file():
        print(f"crop_robustness: {data} not found; pass --data path/to/fer2013.csv.gz", file=sys.stderr)
        return 2
    names = [n for n in args.models.split(",") if n]
    print(f"machine: {platform.machine()} CPU, {platform.system()}; models: {', '.join(names)} (ONNX Runtime)\n")
    t0 = time.perf_counter()
    robustness_table(names, data, args.limit)
    clips = [c for c in args.clips.split(",") if c]
    if clips:
        flip_table(names, Path(args.videos), clips)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    from benchkit import run

    run(main)
