"""Which labels to learn expression from: FER2013's original labels, the FER+ crowd's majority,
or the crowd's vote distribution, each trained with one recipe and budget over several seeds,
and scored on PublicTest against both the original labels and the FER+ majority labels.

    python bench/ferplus_labels.py [--config configs/expression_fast.yaml] [--seeds 0,1,2]
                                   [--runs-dir runs/ferplus] [--epochs N]

Runs are kept under --runs-dir (one folder per scheme and seed): finished runs are reused and
an interrupted one resumes from its last epoch, so the comparison can be built over several
sittings. Every run keeps its last epoch (keep=last): no checkpoint is picked on PublicTest.
"Original" scores every PublicTest row with its FER2013 label; "FER+ majority" scores the
PublicTest rows the crowd calls a face, with the crowd's most-voted of the seven classes
(contempt votes dropped: FER2013 has no contempt class). Intervals are 95% t-intervals over
seeds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "fer2013"
SCHEMES = {  # name -> config overrides
    "original": {},
    "FER+ majority": {"soft_label_mode": "majority"},
    "FER+ distribution": {"soft_label_mode": "distribution"},
}
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}


def run_name(scheme: str, seed: int) -> str:
    return f"{scheme.lower().replace('+', 'plus').replace(' ', '_')}_seed{seed}"


def train_one(config: Path, scheme: str, seed: int, runs_dir: Path, epochs: int | None) -> Path:
    """Train (or resume, or reuse) one run -> its best.pt (the last epoch)."""
    from facesense.config import load_config
    from facesense.experiment import train

    root = runs_dir / run_name(scheme, seed)
    if (root / "train_summary.json").is_file():
        return root / "best.pt"
    overrides = {"seed": seed, "keep": "last", "runs_dir": str(runs_dir), "data": str(DATA / "fer2013.csv.gz"), "name": run_name(scheme, seed)}
    if SCHEMES[scheme]:
        overrides.update(SCHEMES[scheme], soft_labels=str(DATA / "fer2013new.csv"))
    if epochs:
        overrides["epochs"] = epochs
    start = time.perf_counter()
    if (root / "config.yaml").is_file():
        train(None, resume=root, progress=False)
    else:
        train(load_config(config, overrides), progress=False, run_dir=root)
    print(f"  trained {root.name} in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return root / "best.pt"


def public_test():
    """-> (PublicTest images per input spec (cached), original labels, FER+ majority labels,
    mask of the rows the crowd calls a face), for the seven classes in the model's order."""
    from facesense.data.sources import read_dataset
    from facesense.eval.evaluate import select_split
    from facesense.labels import map_labels
    from facesense.train.soft_labels import crowd_faces, crowd_targets, non_class_votes, read_votes

    samples = read_dataset(DATA / "fer2013.csv.gz", "auto")
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    targets, _ = map_labels(samples, classes, {})
    idx = select_split(samples, "PublicTest", {}, DATA)
    samples, y = samples.subset(idx), targets[idx]
    votes = read_votes(DATA / "fer2013new.csv", classes, samples.ids, "PublicTest")
    face = crowd_faces(votes, non_class_votes(DATA / "fer2013new.csv", samples.ids, "PublicTest"))
    majority = crowd_targets(votes, len(classes), "majority")[0].numpy()
    return samples, classes, y, majority, face


def score(checkpoint: Path, samples, classes: list[str]) -> np.ndarray:
    from facesense.data.images import decode
    from facesense.eval.evaluate import load_for_evaluation, score_images

    model = load_for_evaluation(checkpoint, "cpu")
    if list(model.classes) != classes:
        raise SystemExit(f"{checkpoint}: classes {model.classes} are not FER2013's {classes}")
    images, kept = decode(samples, model.spec)
    if len(kept) != len(samples.ids):
        raise SystemExit(f"PublicTest: {len(samples.ids) - len(kept)} rows could not be decoded")
    return score_images(model, images)


def interval(values: list[float]) -> str:
    v = np.array(values)
    if len(v) < 2:
        return f"{v.mean():.4f}"
    half = T975.get(len(v) - 1, 1.96) * v.std(ddof=1) / np.sqrt(len(v))
    return f"{v.mean():.4f} ± {half:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "expression_fast.yaml")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "ferplus")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs (the same for every run)")
    ap.add_argument("--out", type=Path, help="also write the per-run figures here as JSON")
    args = ap.parse_args()
    if not (DATA / "fer2013new.csv").is_file():
        raise SystemExit(f"{DATA}: FER2013 and the FER+ vote table are needed (see ../shared/data/README.md)")
    from facesense.eval.metrics import classification_metrics

    seeds = [int(s) for s in args.seeds.split(",")]
    runs_dir = args.runs_dir.resolve()
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores; recipe {args.config.name}" + (f", {args.epochs} epochs" if args.epochs else ""), flush=True)
    samples, classes, y, majority, face = public_test()
    print(f"PublicTest: {len(y)} rows; the crowd calls {face.sum()} of them a face; their FER+ majority agrees with the original label on {np.mean(majority[face] == y[face]):.1%}", flush=True)
    rows, figures = [], {}
    for scheme in SCHEMES:
        per_seed = []
        for seed in seeds:
            ckpt = train_one(args.config, scheme, seed, runs_dir, args.epochs)
            probs = score(ckpt, samples, classes)
            orig = classification_metrics(y, probs, classes)
            plus = classification_metrics(majority[face], probs[face], classes)
            summary = json.loads((ckpt.parent / "train_summary.json").read_text())
            fig = {"accuracy": orig["accuracy"], "macro_f1": orig["macro_f1"], "ece": orig["calibration"]["ece"],
                   "ferplus_accuracy": plus["accuracy"], "ferplus_macro_f1": plus["macro_f1"],
                   "anger_recall": orig["per_class"]["angry"]["recall"], "fear_recall": orig["per_class"]["fear"]["recall"],
                   "train_minutes": summary.get("train_seconds", float("nan")) / 60}
            figures[run_name(scheme, seed)] = fig
            per_seed.append(fig)
            print(f"  {scheme} seed {seed}: original {fig['accuracy']:.4f} / F1 {fig['macro_f1']:.4f}; FER+ majority {fig['ferplus_accuracy']:.4f} / F1 {fig['ferplus_macro_f1']:.4f}", flush=True)
        rows.append((scheme, per_seed))
    print(f"\n| labels trained on | original: accuracy | original: macro-F1 | FER+ majority: accuracy | FER+ majority: macro-F1 | ECE | anger recall | fear recall | minutes per run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scheme, per_seed in rows:
        col = lambda k: interval([f[k] for f in per_seed])  # noqa: E731
        print(f"| {scheme} | {col('accuracy')} | {col('macro_f1')} | {col('ferplus_accuracy')} | {col('ferplus_macro_f1')} | {col('ece')} | {col('anger_recall')} | {col('fear_recall')} | {np.mean([f['train_minutes'] for f in per_seed]):.1f} |")
    print(f"\n{len(seeds)} seeds each ({args.seeds}); mean ± 95% t-interval over seeds.")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
