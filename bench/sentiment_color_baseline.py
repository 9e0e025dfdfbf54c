"""How much of image sentiment do colour and edge statistics explain? A reference point for the
CNN sentiment models: HSV colour histogram (8x4x4), mean/std of saturation and brightness, edge
density and contrast, then a class-balanced logistic regression, scored with the benchmark's
own partitions (each one held out in turn).

    python bench/sentiment_color_baseline.py [--data ../shared/data/image_sentiment]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facesense.data.sources import read_dataset
from facesense.study import mean_ci


def colour_features(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    stats = [hsv[..., 1].mean(), hsv[..., 2].mean(), hsv[..., 1].std(), hsv[..., 2].std(), gray.std()]
    return np.concatenate([hist / hist.sum(), np.array(stats) / 255, [cv2.Canny(gray, 100, 200).mean() / 255]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/image_sentiment")
    args = ap.parse_args()
    samples = read_dataset(args.data)
    x = np.stack([colour_features(p) for p in samples.paths])
    y = np.array([label.lower().startswith("pos") for label in samples.labels], dtype=int)
    parts = np.array(samples.splits)
    print(f"{args.data}: {len(y)} images, {y.mean():.1%} positive\n")
    print("| held-out partition | n | accuracy | ROC AUC |\n|---|---|---|---|")
    accs, aucs = [], []
    for part in sorted(set(parts)):
        test = parts == part
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000, class_weight="balanced"))
        model.fit(x[~test], y[~test])
        prob = model.predict_proba(x[test])[:, 1]
        accs.append(accuracy_score(y[test], prob > 0.5))
        aucs.append(roc_auc_score(y[test], prob))
        print(f"| {part} | {test.sum()} | {accs[-1]:.4f} | {aucs[-1]:.4f} |")
    for name, values in (("accuracy", accs), ("ROC AUC", aucs)):
        mean, std, lo, hi = mean_ci(values)
        print(f"\n{name}: {mean:.4f} +- {std:.4f} (95% CI {lo:.4f}-{hi:.4f})", end="")
    print(f"\nmajority baseline accuracy: {max(y.mean(), 1 - y.mean()):.4f}")


if __name__ == "__main__":
    main()
