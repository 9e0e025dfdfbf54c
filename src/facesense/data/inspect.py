"""Exploratory data report: class counts per split, imbalance, naive baseline, duplicates, sample grid."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import DataError
from ..markdown import cell as md_cell
from ..preprocess import InputSpec
from ..runs import atomic_path, building, write_json, write_text
from .images import decode
from .split import group_column, group_keys, matching_split_names, sides_of_groups
from .samples import Samples, group_names, natural_order
from .sources import canonical_split


def content_hash(samples: Samples, i: int) -> str:
    """Exact-duplicate key: the file's bytes, or the pixel row for inline-pixel sources."""
    if samples.pixels is not None:
        return hashlib.md5(samples.pixels[i].tobytes()).hexdigest()
    return hashlib.md5(Path(samples.paths[i]).read_bytes()).hexdigest()


def exact_duplicate_groups(samples: Samples, decoded: np.ndarray | None = None) -> list[list[int]]:
    """Samples with the same bytes, among those that `decoded` (two empty files are no copies of
    one image: they are unreadable, and listed as such)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(samples)):
        if decoded is None or decoded[i]:
            groups[content_hash(samples, i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def small_gray(samples: Samples, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Every sample at size x size gray (uint8) and a mask of those that decoded."""
    images, kept = decode(samples, InputSpec(size=size, channels=1), skip_bad=True)
    full = np.zeros((len(samples), size, size), np.uint8)
    full[kept] = images[:, 0]
    ok = np.zeros(len(samples), bool)
    ok[kept] = True
    return full, ok


def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """64-bit DCT perceptual hash per N x 32 x 32 gray image (8x8 low frequencies > median).

    Vectorised over the whole array: a per-image library call is far slower on FER2013's 32k faces."""
    from scipy.fft import dctn

    low = dctn(images.astype(np.float32), axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(images), 64)
    bits = (low > np.median(low[:, 1:], axis=1, keepdims=True)).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))
    return (bits * weights).sum(axis=1, dtype=np.uint64)


def near_duplicate_groups(hashes: np.ndarray, threshold: int, blank: np.ndarray | None = None, chunk: int = 512) -> list[list[int]]:
    """Groups (connected components) of samples whose hashes differ in at most `threshold` bits."""
    n = len(hashes)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    skip = blank if blank is not None else np.zeros(n, bool)
    for start in range(0, n, chunk):
        block = hashes[start : start + chunk]
        dist = np.bitwise_count(block[:, None] ^ hashes[None, :])
        for a, b in zip(*np.nonzero(dist <= threshold)):
            i, j = start + int(a), int(b)
            if i < j and not skip[i] and not skip[j]:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def blank_images(images: np.ndarray, std_threshold: float = 3.0) -> np.ndarray:
    """Near-constant images: pixel standard deviation below the threshold."""
    return images.reshape(len(images), -1).std(axis=1) < std_threshold


def split_key(cell: str | None) -> str | None:
    """One key per split as train and evaluate match them: 'Training' and 'train' are one split
    (two copies of an image in them are no leak), so are 'PublicTest' and 'val'."""
    return None if cell is None else canonical_split(cell) or cell.strip().lower()


def summarise_groups(samples: Samples, groups: list[list[int]]) -> dict:
    cross = [g for g in groups if len({split_key(samples.splits[i]) for i in g}) > 1]
    conflicting = [g for g in groups if len({samples.labels[i] for i in g}) > 1]
    return {
        "groups": len(groups),
        "images_in_groups": sum(len(g) for g in groups),
        "groups_across_splits": len(cross),
        "images_in_cross_split_groups": sum(len(g) for g in cross),
        "groups_with_conflicting_labels": len(conflicting),
        # conflicting first, then across splits, then the rest; a group in several lists once
        "examples": [[samples.ids[i] for i in g] for g in list({tuple(g): g for g in conflicting + cross + groups}.values())[:10]],
    }


def group_leakage(samples: Samples, column: str, keys: list[str]) -> dict:
    """The groups of `column` (a person's id; `keys`, each row's: group_keys) whose rows lie in
    more than one split: a model validated or tested on a person it trained on. A blank cell is
    a group of its own."""
    splits = sides_of_groups(keys, (split_key(cell) for cell in samples.splits))
    rows: Counter = Counter(keys)
    cross = sorted((k for k, s in splits.items() if len(s) > 1), key=natural_order)
    return {
        "column": column.lower(),
        "groups": len(splits),
        "groups_across_splits": len(cross),
        "rows_in_cross_split_groups": sum(rows[k] for k in cross),
        "examples": {k: sorted(str(s) for s in splits[k]) for k in cross[:10]},
    }


NO_SPLIT = "(no split)"
# a column of more distinct values than this (ids, file names, exact ages) is not a grouping
MAX_GROUPS = 20


def column_counts(samples: Samples, classes: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """{column: {group: {class: count}}} for each extra manifest column that groups the samples
    (race, source, `age` in decades): how the classes spread over the groups that evaluate's
    --group-by then compares. Columns of one group, of more than MAX_GROUPS, or of more groups than
    half the rows (ids) are left out."""
    out = {}
    for name, values in samples.columns.items():
        groups = group_names(values, name)
        distinct = sorted(set(groups), key=natural_order)
        if not 2 <= len(distinct) <= min(MAX_GROUPS, len(values) / 2):  # one group, or mostly groups of one
            continue
        table = {g: dict.fromkeys(classes, 0) for g in distinct}
        for group, label in zip(groups, samples.labels):
            table[group][label] += 1
        out[name] = table
    return out


def inspect_samples(samples: Samples, out_dir: Path, grid_size: int = 48, duplicates: bool = True, near_threshold: int | None = None, skip_bad: bool = False,
                    leak_free_to: Path | None = None, group: str | None = None) -> tuple[dict, list[list[int]], Samples]:
    """Writes summary.json, report.md and samples.png, and with `leak_free_to` the data without
    its leaked copies (`leak_free_bytes`); -> (report, duplicate groups: the exact ones, joined
    with the near ones when asked for, and the samples they index). Images that do not decode
    are named in `unreadable` either way; `skip_bad` leaves them out of every count too, as
    training leaves them out. `group`: a column naming each row's person, whose groups found in
    more than one split are reported (identity leakage)."""
    from ..eval.plots import plot_sample_grid

    # every image is decoded once, always: an unreadable file must be named, not silently left
    # out; the same decode serves the blank check and the hashes
    if group:  # before the images are read
        group_column(samples, group, "--group")
    listed = len(samples.skipped)
    small, decoded = small_gray(samples)  # its decode lists the unreadable files as skipped
    unreadable = [samples.ids[i] for i in np.flatnonzero(~decoded)]
    if len(samples) and not decoded.any():  # a report of counts and a baseline over no image (exit 0) said nothing true
        raise DataError(f"{samples.source}: none of its {len(samples)} images could be read (e.g. {unreadable[0]}); check the files")
    left_out = skip_bad and bool(unreadable) and bool(decoded.any())
    # why each did not decode (empty, cut short, too large...): the names alone told a truncated
    # file from a 30,000 px one no better than a corrupt one
    why = dict(samples.skipped[listed:])
    if not left_out:  # counted, so not skipped (they are named under `unreadable`)
        del samples.skipped[listed:]
    if left_out:
        keep = np.flatnonzero(decoded)
        samples, small, decoded = samples.subset(keep), small[keep], decoded[keep]
    # a FER2013-style csv's classes in FER's code order, as evaluate and its models list them
    from ..labels import FER2013_CODES

    classes = sorted(samples.class_counts(), key=lambda c: (FER2013_CODES.index(c), c) if samples.pixels is not None and c in FER2013_CODES else (len(FER2013_CODES), c))
    # in the order data flows: training, validation, test, then any others (alphabetical put test first)
    order = {"train": 0, "val": 1, "test": 2}
    split_names = sorted(samples.split_names(), key=lambda name: (order.get(canonical_split(name), 3), name)) or ["(all)"]
    if samples.split_names() and None in samples.splits:  # rows with a blank split cell: counted too
        split_names = [*split_names, NO_SPLIT]
    counts: dict[str, dict[str, int]] = {}
    for split in split_names:
        labels = [l for l, s in zip(samples.labels, samples.splits) if s == split or split == "(all)" or (split == NO_SPLIT and s is None)]
        c = Counter(labels)
        counts[split] = {k: c.get(k, 0) for k in classes}
    total = samples.class_counts()
    # the split train takes by default: 'train' in any case, else its alias ('Training')
    # without one (partitions, each held out in turn), the majority over all rows
    train_name = next(iter(matching_split_names([s for s in split_names if s not in ("(all)", NO_SPLIT)], "train")), "all rows")
    from_counts = counts[train_name] if train_name in counts else total
    tied = [c for c in classes if from_counts[c] == max(from_counts.values())]  # a balanced train: any of them is its majority
    majority = tied[0]

    def scores(label: str) -> dict[str, float]:
        return {s: (counts[s][label] / sum(counts[s].values())) if sum(counts[s].values()) else 0.0 for s in split_names}

    baseline = scores(majority)
    naive = {"majority_class": majority, "from_split": train_name, "accuracy": baseline}
    if len(tied) > 1:  # always 'a' scored 20% on test where always 'b', as much a majority, scored 80%: the range
        by_class = [scores(c) for c in tied]
        naive |= {"tied_classes": tied, "accuracy_range": {s: [min(b[s] for b in by_class), max(b[s] for b in by_class)] for s in split_names}}
    report = {
        "source": samples.source,
        "n": len(samples),
        "classes": classes,
        "counts": counts,
        "total": {k: total[k] for k in classes},
        "imbalance_ratio": max(total.values()) / max(1, min(total.values())),
        "naive_baseline": naive,
        "skipped": [list(x) for x in samples.skipped],
        "by_column": column_counts(samples, classes),
    }
    people = group_keys(samples, group, "--group") if group else None  # once: its warnings too
    if group:
        report["group_leakage"] = group_leakage(samples, group, people)
    groups: list[list[int]] = []
    blank = blank_images(small) & decoded
    report["unreadable"] = {"count": len(unreadable), "files": unreadable, "reasons": [_reason(why.get(name, "not decoded"), name) for name in unreadable], "counted": not left_out}
    if duplicates:
        groups = exact_duplicate_groups(samples, decoded)
        report["exact_duplicates"] = summarise_groups(samples, groups)
        report["blank_images"] = {"count": int(blank.sum()), "examples": [samples.ids[i] for i in np.flatnonzero(blank)[:10]]}
    if near_threshold is not None:
        near = near_duplicate_groups(perceptual_hashes(small), near_threshold, blank | ~decoded)
        report["near_duplicates"] = {"threshold_bits": near_threshold, **summarise_groups(samples, near)}
        groups = merged_groups(groups, near)
    # 8 of each class drawn at random (seeded: the same grid each time), in their order: the first
    # 8 by path were UTKFace's 100-year-olds and 10-year-olds, named by age
    rng = np.random.default_rng(0)
    members = {c: [j for j, label in enumerate(samples.labels) if label == c] for c in classes}
    picks = [i for c in classes for i in sorted(rng.choice(members[c], min(8, len(members[c])), replace=False).tolist())]
    grid_samples = samples.subset(picks)
    images, kept = decode(grid_samples, InputSpec(size=grid_size, channels=3), skip_bad=True)
    # the leak-free copy is written beside its place first and put there only once the report
    # is: either failing leaves neither new (exit 2, none written)
    with atomic_path(leak_free_to) if leak_free_to is not None else nullcontext() as leak_tmp:
        if leak_tmp is not None:
            copies = leak_free(samples, groups)
            keep = copies & ~rows_of_people_in_training(samples, people) if people is not None else copies
            report["leak_free"] = {"removed": int((~keep).sum()), "duplicates": int((~copies).sum()), "of_people_in_training": int((copies & ~keep).sum())}
            leak_tmp.write_bytes(leak_free_bytes(samples, keep, gzipped=leak_free_to.suffix.lower() == ".gz"))
        with building(out_dir, "summary.json") as build:
            report["plots"] = {"samples": plot_sample_grid(images, [grid_samples.labels[i] for i in kept], classes, build / "samples.png").name}
            write_text(build / "report.md", markdown(report))
            write_json(build / "summary.json", schema.stamped("inspect_summary", report))
    return report, groups, samples


def leak_free(samples: Samples, groups: list[list[int]]) -> np.ndarray:
    """Keep-mask that removes every evaluation-split sample with a (near-)duplicate in another
    split, and all but one copy of duplicates inside an evaluation split; training (a split named
    'train' or 'Training', in any case) keeps its own. A group with no training copy (k-fold
    partitions, or only val and test) keeps its first copy: one is enough to end the leak."""
    keep = np.ones(len(samples), bool)
    for g in groups:
        keys = [split_key(samples.splits[i]) for i in g]
        if "train" in keys:
            keep[[i for i, key in zip(g, keys) if key != "train"]] = False
        else:
            keep[g[1:]] = False
    return keep


def rows_of_people_in_training(samples: Samples, people: list[str]) -> np.ndarray:
    """Mask of the evaluation rows whose person (`people`: each row's, group_keys of the --group
    column) has training rows: identity leakage, which --leak-free leaves out with --group (the
    report named such people, and the copy kept them)."""
    sides = [split_key(cell) for cell in samples.splits]
    trained = {person for person, side in zip(people, sides) if side == "train"}
    return np.array([side != "train" and person in trained for person, side in zip(people, sides)], bool)


def merged_groups(*lists: list[list[int]]) -> list[list[int]]:
    """Groups that share a sample joined into one (exact and near duplicates: the near search
    leaves out blank images, which the exact one groups)."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = i = parent[parent[i]]
        return i

    for groups in lists:
        for g in groups:
            for i in g[1:]:
                parent[root(i)] = root(g[0])
    joined: dict[int, list[int]] = {}
    for i in sorted(parent):
        joined.setdefault(root(i), []).append(i)
    return [g for g in joined.values() if len(g) > 1]


def leak_free_bytes(samples: Samples, keep: np.ndarray, gzipped: bool = False) -> bytes:
    """FER2013 csv in, FER2013 csv out; file datasets -> labels.csv manifest with absolute paths
    (the readers take .csv.gz as well)."""
    import csv
    import io

    from ..labels import FER2013_CODES

    buf = io.StringIO()
    w = csv.writer(buf)
    extra = list(samples.columns)  # the data's other columns (age, race, a subject) stay, for --group-by and age evaluation
    if samples.pixels is not None:
        w.writerow(["emotion", "pixels", "Usage", *extra])
        for i in np.flatnonzero(keep):
            w.writerow([FER2013_CODES.index(samples.labels[i]), " ".join(map(str, samples.pixels[i].ravel())), samples.splits[i] or "", *(samples.columns[c][i] for c in extra)])
    else:
        w.writerow(["path", "label", "split", *extra])
        for i in np.flatnonzero(keep):
            w.writerow([str(Path(samples.paths[i]).resolve()), samples.labels[i], samples.splits[i] or "", *(samples.columns[c][i] for c in extra)])
    data = buf.getvalue().encode()
    if gzipped:
        import gzip

        return gzip.compress(data, mtime=0)
    return data


def markdown(r: dict) -> str:
    splits = [s for s in r["counts"] if s != "(all)"]  # without splits, the one column would repeat the total
    lines = [f"# Dataset report: {r['source']}", "", f"{r['n']} samples, {len(r['classes'])} class{'es' if len(r['classes']) != 1 else ''}.", ""]
    lines += ["| class | " + "".join(f"{md_cell(s)} | " for s in splits) + "total | share |", "|---" * (len(splits) + 3) + "|"]
    for c in r["classes"]:
        lines.append(f"| {md_cell(c)} | " + "".join(f"{r['counts'][s][c]} | " for s in splits) + f"{r['total'][c]} | {r['total'][c] / r['n']:.1%} |")
    nb = r["naive_baseline"]
    if "tied_classes" in nb:  # each tied class's score, as a range
        always = "one of " + ", ".join(f"'{c}'" for c in nb["tied_classes"]) + (f", tied as the majority of {nb['from_split']}" if splits else ", tied as the majority class")
        shown = {s: f"{lo:.1%}" if f"{lo:.1%}" == f"{hi:.1%}" else f"{lo:.1%}-{hi:.1%}" for s, (lo, hi) in nb["accuracy_range"].items()}
    else:
        always = f"'{nb['majority_class']}', the majority " + (f"of {nb['from_split']}" if splits else "class")
        shown = {s: f"{a:.1%}" for s, a in nb["accuracy"].items()}
    lines += [
        "",
        f"Imbalance ratio (largest / smallest class): {r['imbalance_ratio']:.1f}",
        "",
        f"Naive baseline (always {always}): " + (", ".join(f"{s} {a}" for s, a in shown.items()) if splits else shown["(all)"]),
    ]
    for column, table in r.get("by_column", {}).items():
        lines += ["", f"By {column} (class counts per group; the share of the data; the majority class's share within the group):", "",
                  f"| {md_cell(column)} | " + " | ".join(map(md_cell, r["classes"])) + " | total | share | majority share |", "|---" * (len(r["classes"]) + 4) + "|"]
        for group, counts in table.items():
            n = sum(counts.values())
            top = max(counts, key=counts.get)
            lines.append(f"| {md_cell(group)} | " + " | ".join(str(counts[c]) for c in r["classes"]) + f" | {n} | {n / r['n']:.1%} | {md_cell(top)} {counts[top] / n:.1%} |")
    if "exact_duplicates" in r:
        d = r["exact_duplicates"]
        lines += [
            "",
            f"Exact duplicates: {d['groups']} groups ({d['images_in_groups']} images); "
            f"{d['groups_across_splits']} groups cross splits (leakage); {d['groups_with_conflicting_labels']} carry conflicting labels.",
        ]
    if "group_leakage" in r:
        g = r["group_leakage"]
        shown = "; ".join(f"{md_cell(k)} ({', '.join(map(md_cell, v))})" for k, v in g["examples"].items())
        if g["groups_across_splits"]:
            lines += ["", f"By {md_cell(g['column'])} ({g['groups']} groups): {g['groups_across_splits']} appear in more than one split "
                      f"({g['rows_in_cross_split_groups']} rows; identity leakage: a person validated or tested on was trained on), e.g. {shown}."]
        else:
            lines += ["", f"By {md_cell(g['column'])} ({g['groups']} groups): none appears in more than one split."]
    if "blank_images" in r:
        lines += ["", f"Blank or near-constant images: {r['blank_images']['count']}."]
    if "near_duplicates" in r:
        d = r["near_duplicates"]
        lines += [
            "",
            # a group is a chain (each image near another of it, not all of them), and it holds the exact
            # copies counted above: said, so that the two counts are not read as adding up
            f"Near duplicates (perceptual hash, each <= {d['threshold_bits']} of 64 bits from another of its group; the exact duplicates included, "
            f"blank images excluded): {d['groups']} groups "
            f"({d['images_in_groups']} images); {d['groups_across_splits']} groups ({d['images_in_cross_split_groups']} images) cross splits; "
            f"{d['groups_with_conflicting_labels']} carry conflicting labels.",
        ]
    bad = r.get("unreadable", {}).get("files", [])
    unusable = unusable_rows(r)
    if unusable:
        lines += ["", f"Skipped {len(unusable)} rows or files that could not be used (missing images, bad rows, non-image files; --skip-bad):", ""]
        lines += _listed([f"{name}: {_reason(reason, name)}" for name, reason in unusable])
    if bad:
        said = "left out of the counts above (--skip-bad), as training leaves them out" if not r["unreadable"].get("counted", True) else "train and evaluate refuse this data unless `skip_bad=true` / `--skip-bad`"
        lines += ["", f"**Unreadable images: {len(bad)}** ({said}):", ""]
        lines += _listed([f"{name}: {reason}" for name, reason in zip(bad, r["unreadable"].get("reasons") or [""] * len(bad))])
    lines += ["", "![samples](samples.png)", ""]
    return "\n".join(lines)


def unusable_rows(report: dict) -> list[tuple[str, str]]:
    """The report's skipped rows and files, (name, reason), but for the unreadable images, which
    have a list of their own."""
    unreadable = set(report.get("unreadable", {}).get("files", []))
    return [(name, reason) for name, reason in report["skipped"] if name not in unreadable]


def _reason(reason: str, name: str) -> str:
    """A skip's reason without the path it starts with (the list names it) or the advice to
    remove it (the report is where that decision is made)."""
    text = reason.split(": ", 1)[1] if ": " in reason and name in reason.split(": ", 1)[0] else reason
    return text.split("; remove or replace")[0]


def _listed(items: list[str], most: int = 50) -> list[str]:
    """Markdown bullets, at most `most` (summary.json lists all)."""
    return [f"* {item}" for item in items[:most]] + ([f"* ... and {len(items) - most} more (summary.json lists all)"] if len(items) > most else [])
