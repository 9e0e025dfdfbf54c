"""Exploratory data report: class counts per split, imbalance, naive baseline, duplicates, sample grid."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..preprocess import InputSpec
from ..runs import write_json, write_text
from .images import decode
from .samples import Samples


def content_hash(samples: Samples, i: int) -> str:
    """Exact-duplicate key: the file's bytes, or the pixel row for inline-pixel sources."""
    if samples.pixels is not None:
        return hashlib.md5(samples.pixels[i].tobytes()).hexdigest()
    return hashlib.md5(Path(samples.paths[i]).read_bytes()).hexdigest()


def find_exact_duplicates(samples: Samples) -> dict:
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(samples)):
        groups[content_hash(samples, i)].append(i)
    dups = [g for g in groups.values() if len(g) > 1]
    cross = [g for g in dups if len({samples.splits[i] for i in g}) > 1]
    conflicting = [g for g in dups if len({samples.labels[i] for i in g}) > 1]
    return {
        "groups": len(dups),
        "images_in_groups": sum(len(g) for g in dups),
        "groups_across_splits": len(cross),
        "groups_with_conflicting_labels": len(conflicting),
        "examples": [[samples.ids[i] for i in g] for g in (conflicting + cross + dups)[:10]],
    }


def inspect_samples(samples: Samples, out_dir: Path, grid_size: int = 48, duplicates: bool = True) -> dict:
    from ..eval.plots import plot_sample_grid

    out_dir.mkdir(parents=True, exist_ok=True)
    classes = sorted(samples.class_counts())
    split_names = samples.split_names() or ["(all)"]
    counts: dict[str, dict[str, int]] = {}
    for split in split_names:
        labels = [l for l, s in zip(samples.labels, samples.splits) if s == split or split == "(all)"]
        c = Counter(labels)
        counts[split] = {k: c.get(k, 0) for k in classes}
    total = samples.class_counts()
    train_name = next((s for s in split_names if s.lower() in ("train", "training")), split_names[0])
    majority = max(counts[train_name], key=counts[train_name].get)
    baseline = {s: (counts[s][majority] / sum(counts[s].values())) if sum(counts[s].values()) else 0.0 for s in split_names}
    report = {
        "source": samples.source,
        "n": len(samples),
        "classes": classes,
        "counts": counts,
        "total": {k: total[k] for k in classes},
        "imbalance_ratio": max(total.values()) / max(1, min(total.values())),
        "naive_baseline": {"majority_class": majority, "from_split": train_name, "accuracy": baseline},
        "skipped": [list(x) for x in samples.skipped],
    }
    if duplicates:
        report["exact_duplicates"] = find_exact_duplicates(samples)
    picks = [i for c in classes for i in [j for j, l in enumerate(samples.labels) if l == c][:8]]
    grid_samples = samples.subset(picks)
    images, kept = decode(grid_samples, InputSpec(size=grid_size, channels=3), skip_bad=True)
    report["plots"] = {"samples": plot_sample_grid(images, [grid_samples.labels[i] for i in kept], classes, out_dir / "samples.png").name}
    write_json(out_dir / "summary.json", report)
    write_text(out_dir / "report.md", markdown(report))
    return report


def markdown(r: dict) -> str:
    splits = list(r["counts"])
    lines = [f"# Dataset report: {r['source']}", "", f"{r['n']} samples, {len(r['classes'])} classes.", ""]
    lines += ["| class | " + " | ".join(splits) + " | total | share |", "|---" * (len(splits) + 3) + "|"]
    for c in r["classes"]:
        lines.append(f"| {c} | " + " | ".join(str(r["counts"][s][c]) for s in splits) + f" | {r['total'][c]} | {r['total'][c] / r['n']:.1%} |")
    nb = r["naive_baseline"]
    lines += [
        "",
        f"Imbalance ratio (largest / smallest class): {r['imbalance_ratio']:.1f}",
        "",
        f"Naive baseline (always '{nb['majority_class']}', the majority of {nb['from_split']}): "
        + ", ".join(f"{s} {a:.1%}" for s, a in nb["accuracy"].items()),
    ]
    if "exact_duplicates" in r:
        d = r["exact_duplicates"]
        lines += [
            "",
            f"Exact duplicates: {d['groups']} groups ({d['images_in_groups']} images); "
            f"{d['groups_across_splits']} groups cross splits (leakage); {d['groups_with_conflicting_labels']} carry conflicting labels.",
        ]
    if r["skipped"]:
        lines += ["", f"Skipped {len(r['skipped'])} unreadable items (see summary.json)."]
    lines += ["", "![samples](samples.png)", ""]
    return "\n".join(lines)
