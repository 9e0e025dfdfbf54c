"""Compare finished runs: one table (Markdown + CSV) and plots, read from the runs' own files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .. import schema
from ..config import read_yaml_file
from ..data.digests import manifest_digests
from ..data.sources import outside_data
from ..errors import FacesenseError
from ..markdown import cell as md_cell
from ..runs import RunDir, being_trained, building, resume_command, write_text
from .plots import _figure, _save, read_history

COLUMNS = ["run", "model", "parameters", "epochs_run", "best_epoch", "train_min", "s_per_epoch", "val_loss", "val_accuracy", "val_macro_f1", "weakest_class", "weakest_recall", "val_set"]
# each run against the first run given of its validation set, on the same samples (paired_rows)
PAIRED_COLUMNS = ["vs", "accuracy_diff", "diff_ci95_low", "diff_ci95_high", "better_only", "worse_only", "mcnemar_p"]


def run_row(root: Path) -> dict:
    run = RunDir(root)
    if not root.exists():
        raise FacesenseError(f"{root}: not found; give run folders such as runs/expression/NAME-1")
    if not run.summary.is_file():
        runs_inside = sorted(p.parent.name for p in root.glob("*/train_summary.json"))
        if runs_inside:  # a folder of runs (runs/gender), not a run
            raise FacesenseError(f"{root}: a folder of runs, not a run; give the runs themselves, e.g. {root / runs_inside[0]}")
        if not (root / "config.yaml").is_file():
            raise FacesenseError(f"{root}: not a run folder (no config.yaml or train_summary.json); give run folders such as runs/expression/NAME-1")
        if being_trained(run):  # its resume would be refused by the lock
            raise FacesenseError(f"{root}: still being trained (no train_summary.json yet); compare it once it has finished")
        raise FacesenseError(f"{root}: not a finished run (no train_summary.json); finish it with `{resume_command(root)}`")
    s = _record(run.summary, ("model", "parameters", "epochs_run", "best_epoch", "train_seconds", "seconds_per_epoch"))
    metrics_path = run.eval_dir("val") / "metrics.json"
    if not metrics_path.is_file():
        if (s.get("samples") or {}).get("val"):  # it held rows out, and its training wrote their report: gone since
            raise FacesenseError(f"{root}: its validation report {metrics_path.relative_to(root)} is missing (its training wrote it; removed since?); compare reads each run's own: put it back, or train the run again")
        raise FacesenseError(f"{root}: has no validation evaluation (eval_val/metrics.json): it trained without a validation split (val_size 0); compare takes runs that held one out")
    m = _record(metrics_path)
    test_metrics = run.eval_dir("test") / "metrics.json"  # where the run held out a test split
    if "per_class" not in m and _task(run) == "gender_age":  # its validation is an age MAE and a calibration
        raise FacesenseError(f"{root}: a gender+age run; compare takes classifier runs (score gender+age runs with `facesense evaluate RUN --data DATA --split test`)")
    _require(metrics_path, m, ("loss", "accuracy", "macro_f1", "per_class"))
    # a class without validation samples has no recall to be weakest at (its 0 is no measurement)
    present = {c: v for c, v in m["per_class"].items() if v.get("support", 1)} or m["per_class"]
    # between equal recalls, the class with the most samples: a 0 on 31 samples says more than on 5
    weakest = min(present.items(), key=lambda kv: (kv[1]["recall"], -kv[1].get("support", 0)))
    labels = json.loads(run.labels.read_text()) if run.labels.is_file() else {}
    return {
        "run": f"{root.parent.name}/{root.name}",
        "model": s["model"],
        "parameters": s["parameters"],
        "epochs_run": s["epochs_run"],
        "best_epoch": s["best_epoch"],
        "train_min": round(s["train_seconds"] / 60, 2),
        "s_per_epoch": s["seconds_per_epoch"],
        "val_loss": round(m["loss"], 4),
        "val_accuracy": round(m["accuracy"], 4),
        "val_macro_f1": round(m["macro_f1"], 4),
        "_val_accuracy": m["accuracy"],  # unrounded, for a study's means and intervals
        # the held-out test split's, where the run drew one: rows no epoch or run was picked on
        "_test_accuracy": (s.get("test") or {}).get("accuracy"),
        "_val_macro_f1": m["macro_f1"],
        "weakest_class": weakest[0],
        "weakest_recall": round(weakest[1]["recall"], 4),
        "_history": run.history,
        **_validation_records(run),
        "_test_ids": _validation_ids(run, "test"),
        "_data": _saved(run).get("data"),
        "_val_pixels": _validation_digests(run, "pixels_digest"),
        "_val_images": _validation_digests(run, "unaligned_digest"),
        "_classes": labels.get("classes"),
        "_one_class": _one_class_predicted(m),
        "_test_one_class": _one_class_predicted(_record(test_metrics)) if test_metrics.is_file() else None,
        # what the pixel digests depend on (the uint8 model-ready pixels: not mean and std)
        "_pixel_spec": json.dumps({k: (labels.get("input_spec") or {}).get(k) for k in ("size", "channels", "align")}, sort_keys=True),
    }


def _one_class_predicted(metrics: dict) -> str | None:
    """The class a run gave every validation image where they hold several (an untrained or
    collapsed run: its accuracy is that class's share), else None; from its confusion matrix."""
    confusion = metrics.get("confusion")
    classes = metrics.get("classes") or []
    if not confusion or len(confusion) != len(classes):
        return None
    predicted = [j for j in range(len(classes)) if any(row[j] for row in confusion)]
    present = [i for i, row in enumerate(confusion) if any(row)]
    return classes[predicted[0]] if len(predicted) == 1 and len(present) > 1 else None


def one_class_note(rows: list[dict]) -> str | None:
    """The note on runs that gave every validation image one class, or None."""
    collapsed = [f"{r['run']} ('{r['_one_class']}')" for r in rows if r.get("_one_class")]
    if not collapsed:
        return None
    return (f"{len(collapsed)} of the {len(rows)} runs gave every validation image one class: {', '.join(collapsed)}; their accuracy is that class's "
            "share of the validation images, not what they learnt (train longer, or check the learning rate and the data)")


def _saved(run: RunDir) -> dict:
    """The run's saved config ({} where it does not read: compare itself needs none)."""
    try:
        saved = read_yaml_file(run.config)
    except (OSError, FacesenseError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _task(run: RunDir) -> str | None:
    return _saved(run).get("task")


def _record(path: Path, keys: tuple[str, ...] = ()) -> dict:
    """A run's JSON record with the keys compare reads; one line naming the file when it is
    damaged (a disk that filled, a hand edit) instead of a traceback."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            kind = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "array"}.get(type(record), "value")
            raise ValueError(f"a JSON {kind}, not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FacesenseError(f"{path}: damaged, not the JSON the run wrote ({exc.__class__.__name__}: {exc}); retrain the run, or leave it out of the comparison") from None
    _require(path, record, keys)
    return record


def _require(path: Path, record: dict, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise FacesenseError(f"{path}: lacks {', '.join(missing)}; not a record facesense wrote: retrain the run, or leave it out of the comparison")


def _predictions(run: RunDir, split: str) -> list[dict] | None:
    """The rows of the run's predictions.csv for `split` (None where it has none)."""
    path = run.eval_dir(split) / "predictions.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _validation_ids(run: RunDir, split: str = "val", rows: list[dict] | None = None) -> frozenset[tuple[str, str]] | None:
    """The run's validation (or test) samples as (id, label) pairs (`rows`: its predictions, read already)."""
    rows = _predictions(run, split) if rows is None else rows
    return None if rows is None else frozenset((row["id"], row.get("true", "")) for row in rows)


def _validation_records(run: RunDir) -> dict:
    """From one read of the run's validation predictions: `_val_ids` (_validation_ids) and
    `_val_hits`, whether it got each sample right, by id."""
    rows = _predictions(run, "val")
    if rows is None:
        return {"_val_hits": None, "_val_ids": None}
    return {"_val_hits": {row["id"]: row.get("true") == row.get("pred") for row in rows}, "_val_ids": _validation_ids(run, rows=rows)}


def paired_difference(hits: list[bool], reference: list[bool]) -> dict:
    """A run's accuracy minus a reference's on the same samples: the difference, its 95%
    interval (Newcombe's hybrid score interval for paired proportions, his method 10: it keeps
    within [-1, 1] and holds up with few discordant samples, where the Wald interval does not),
    the samples only the run got right and only the reference did, and McNemar's exact p (the
    chance of a split of those at least as uneven were both runs equally good)."""
    from scipy.stats import binomtest

    from .groups import proportion_interval

    n = len(hits)
    both = sum(h and r for h, r in zip(hits, reference))
    better = sum(h and not r for h, r in zip(hits, reference))
    worse = sum(r and not h for h, r in zip(hits, reference))
    neither = n - both - better - worse
    p1, p2 = (both + better) / n, (both + worse) / n
    (l1, u1), (l2, u2) = proportion_interval(both + better, n, 0.95), proportion_interval(both + worse, n, 0.95)
    # the two accuracies' correlation, continuity-corrected as Newcombe has it (0 where a margin is empty)
    spread = (both + better) * (worse + neither) * (both + worse) * (better + neither)
    cross = both * neither - better * worse
    phi = 0.0 if not spread else (cross - n / 2) / spread**0.5 if cross > n / 2 else cross / spread**0.5 if cross < 0 else 0.0
    low = (p1 - p2) - ((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2) ** 0.5
    high = (p1 - p2) + ((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2) ** 0.5
    p = binomtest(better, better + worse, 0.5).pvalue if better + worse else 1.0
    return {"accuracy_diff": round(p1 - p2, 4), "diff_ci95_low": round(max(-1.0, low), 4), "diff_ci95_high": round(min(1.0, high), 4),
            "better_only": better, "worse_only": worse, "mcnemar_p": round(float(p), 4)}


def paired_rows(rows: list[dict]) -> list[str]:
    """Fills each run's PAIRED_COLUMNS against the first run given of its validation set (a
    run alone on its set, or without predictions, has none); -> compare.md's lines on them.
    Two runs' accuracies on the same samples differ by less chance than two separate figures
    suggest, and more than a table of them shows: this says which gaps chance could make."""
    lines = []
    for row in rows:
        ref = next((r for r in rows if r.get("val_set") == row.get("val_set") and r["val_set"] != "-"), None)
        if ref is None or ref is row or row["_val_hits"] is None or ref["_val_hits"] is None or set(row["_val_hits"]) != set(ref["_val_hits"]):
            continue
        ids = sorted(ref["_val_hits"])
        if not ids:  # (predictions files without rows: nothing to pair)
            continue
        row.update(vs=ref["run"], **paired_difference([row["_val_hits"][i] for i in ids], [ref["_val_hits"][i] for i in ids]))
        verdict = ("within what chance gives (the interval holds 0)" if row["diff_ci95_low"] <= 0 <= row["diff_ci95_high"]
                   else "better" if row["accuracy_diff"] > 0 else "worse")
        if not verdict.startswith("within") and row["mcnemar_p"] >= 0.05:
            # an interval that only just leaves out 0 on a few discordant samples: McNemar's exact test does not back it
            verdict += f" by the interval, but McNemar's p is {row['mcnemar_p']:.2f}: too few differing samples to be sure"
        lines.append(f"| {md_cell(row['run'])} | {md_cell(ref['run'])} | {row['accuracy_diff']:+.4f} | {row['diff_ci95_low']:+.4f} to {row['diff_ci95_high']:+.4f} "
                     f"| {row['better_only']} / {row['worse_only']} | {row['mcnemar_p']:.4f} | {verdict} |")
    if not lines:
        return []
    return ["", "## Paired differences (same validation samples)", "",
            "Each run's validation accuracy minus that of the first run given on the same samples, with a 95% interval "
            "(Newcombe's, for paired proportions); `right only`: samples only this run / only the other got right; "
            "McNemar's exact p: the chance of a split at least that uneven were the two equally good.", "",
            "| run | vs | accuracy difference | 95% interval | right only (this / other) | McNemar p | reading |", "|---|---|---|---|---|---|---|", *lines]


def _validation_digests(run: RunDir, column: str) -> frozenset[str] | None:
    """The digests in one column of the run's split_manifest.csv for its validation samples,
    which tell two datasets with the same file names (or two FER-style csvs, whose ids are row
    numbers) apart: `pixels_digest`, or for a run on aligned faces `unaligned_digest`, the same on
    every CPU (the aligned chips follow landmarks found differently from one CPU to another).
    None for runs without that column."""
    digests = manifest_digests(run.split_manifest, "val", (column,))
    return frozenset(digests) if digests is not None else None


def _same_samples(a: dict, b: dict) -> bool:
    """Two runs' validation samples are one set: the same ids and labels, and the same pixels where
    both recorded them from inputs made alike (the digests are of the model-ready pixels, so one
    file read at 32 and at 48 px has two; same names with other images are other samples); runs
    whose inputs differ must have read the same data."""
    if a["_val_ids"] != b["_val_ids"]:
        return False
    if a.get("_pixel_spec") != b.get("_pixel_spec"):  # both digests are of pixels resized to the input: not comparable;
        return a.get("_data") == b.get("_data")  # ids (FER csv row numbers, relative paths) recur across datasets
    if a.get("_val_images") is not None and b.get("_val_images") is not None:
        return a["_val_images"] == b["_val_images"]
    if a.get("_val_pixels") is None or b.get("_val_pixels") is None:
        return True
    return a["_val_pixels"] == b["_val_pixels"]


def set_label(index: int) -> str:
    """A, B, ... Z, AA, AB, ... as spreadsheets name columns (past Z, chr() gave '[' and '\\')."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def validation_sets(rows: list[dict]) -> str | None:
    """Labels each row's validation samples (val_set A, B, ...: the same letter, the same
    samples); -> a note when the runs were validated on different samples (another seed or
    split moves the figures as well as the model does), None when all share one set."""
    sets: list[list[dict]] = []
    for row in rows:
        if row["_val_ids"] is None:
            row["val_set"] = "-"
            continue
        found = next((i for i, members in enumerate(sets) if all(_same_samples(row, m) for m in members)), None)
        if found is None:
            sets.append([row])
            found = len(sets) - 1
        else:
            sets[found].append(row)
        row["val_set"] = set_label(found)
    keys = [members[0] for members in sets]
    if len(keys) < 2:
        return None
    one_spec = len({k.get("_pixel_spec") for k in keys}) == 1
    by_images = all(k.get("_val_images") is not None for k in keys) and one_spec
    by_pixels = all(k.get("_val_pixels") is not None for k in keys) and one_spec
    one_data = len({k.get("_data") for k in keys}) == 1  # else equal ids may be other images, and no digest can tell
    shared = (len(frozenset.intersection(*[k["_val_images"] if by_images else k["_val_pixels"] if by_pixels else k["_val_ids"] for k in keys]))
              if by_images or by_pixels or one_data else None)
    common = "" if shared is None else f"; {shared} {'sample is' if shared == 1 else 'samples are'} in all of them"
    return (f"the runs were validated on {len(keys)} different sets of samples (val_set{common}): "
            f"their figures differ by the samples as well as by the models; to compare them on one set, train each on the same "
            f"split (a dataset with its own split column or folders, e.g. made once by `facesense data split`, or the same seed)")


def _check_out_apart(out: Path, roots: list[Path]) -> None:
    """The comparison's folder must not land in a run (its files would mix with the run's) nor
    in a run's folder dataset (its plots would be read as images), as study's and evaluate's may not."""
    for root in roots:
        if root.is_dir() and (out == root or out.is_relative_to(root)):
            raise FacesenseError(f"--out {out}: is inside the run folder {root}; write the comparison elsewhere")
        data = _saved(RunDir(root)).get("data")  # compare itself needs no config: one that does not read leaves this check out
        if isinstance(data, str) and data:
            outside_data(out, data)


def compare_runs(roots: list[Path], out: Path, same_classes: bool = True) -> tuple[list[dict], str | None]:
    """One table of `roots` and a note when they were validated on different samples;
    `same_classes` refuses runs over different class lists (their accuracies are not
    comparable)."""
    if not roots:
        raise FacesenseError("give at least one run directory")
    seen: set[Path] = set()
    for root in roots:
        if Path(root).resolve() in seen:
            raise FacesenseError(f"{root}: given twice; give each run once")
        seen.add(Path(root).resolve())
    _check_out_apart(Path(out).resolve(), [Path(r).resolve() for r in roots])
    rows = [run_row(Path(r)) for r in roots]
    named = [r["run"] for r in rows]
    for row, root in zip(rows, roots):  # two runs named alike in different folders: told apart by their paths
        if named.count(row["run"]) > 1:
            row["run"] = str(root)
    for row in rows[1:] if same_classes else []:
        if set(row["_classes"] or ()) != set(rows[0]["_classes"] or ()):  # the same classes in another order score alike
            raise FacesenseError(f"{row['run']} predicts {row['_classes']}, {rows[0]['run']} {rows[0]['_classes']}: compare runs of one task (one set of classes) at a time")
    note = validation_sets(rows)
    collapsed = one_class_note(rows)
    paired = paired_rows(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*COLUMNS, *PAIRED_COLUMNS, schema.KEY], extrasaction="ignore")
    writer.writeheader()
    writer.writerows([{**r, schema.KEY: schema.VERSIONS["compare"]} for r in rows])
    md = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    md += ["| " + " | ".join(f"{r[c]:,}" if c == "parameters" else md_cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    caution = "".join(f"**Note**: {said}.\n\n" for said in (note, collapsed) if said)
    # written as one set: a failure or Ctrl-C half way left a new compare.csv beside an old compare.md
    with building(Path(out), "compare.md", owned=COMPARE_FILES) as build:
        write_text(build / "compare.csv", buf.getvalue())
        plots = _plots(rows, build)
        write_text(build / "compare.md", "# Run comparison\n\n" + caution + "\n".join(md + paired) + "\n\n" + "".join(f"![{p}]({p})\n\n" for p in plots))
    return rows, note


# what a comparison writes: one an earlier comparison had and this one lacks goes with it
COMPARE_FILES = ("compare.csv", "accuracy_vs_parameters.png", "accuracy_vs_epochs.png", "learning_curves.png")


LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def _plots(rows: list[dict], out: Path) -> list[str]:
    from matplotlib.ticker import MaxNLocator

    names = []
    for x_key, label, name in (("parameters", "parameters", "accuracy_vs_parameters.png"), ("epochs_run", "epochs run", "accuracy_vs_epochs.png")):
        fig = _figure((6, 4))
        ax = fig.add_subplot()
        # runs at one point (equal budgets and accuracies) get one label listing them, where
        # labels of their own were drawn over each other
        at: dict[tuple, list[str]] = {}
        for r in rows:
            ax.scatter(r[x_key], r["val_accuracy"])
            at.setdefault((r[x_key], r["val_accuracy"]), []).append(r["run"])
        for point, runs in at.items():
            ax.annotate("\n".join(runs), point, fontsize=7, va="top" if len(runs) > 1 else "baseline")
        ax.margins(x=0.12, y=0.15)  # room for the labels of the outermost points
        if x_key == "epochs_run":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        sizes = [r["parameters"] for r in rows]
        if x_key == "parameters" and max(sizes) > 10 * min(sizes):  # a log axis over less than a decade prints unreadable ticks
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        names.append(_save(fig, out / name).name)
    # the legend beside the curves: columns of at most 20 runs, the figure as tall as the tallest
    columns = -(-len(rows) // 20)
    fig = _figure((7 + 2 * columns, max(4.0, 1.0 + 0.17 * -(-len(rows) // columns))))
    ax = fig.add_subplot()
    for i, r in enumerate(rows):
        if r["_history"].is_file():
            h = read_history(r["_history"])
            # past the 10 colours of the cycle, runs differ by line style and marker too (two runs
            # shared a colour; a run of one or two epochs shows too little line for its style)
            cycle = i // 10 % len(LINE_STYLES)
            ax.plot(h["epoch"], h["val_accuracy"], marker=MARKERS[cycle], markersize=3 + cycle, label=r["run"], color=f"C{i % 10}", linestyle=LINE_STYLES[cycle])
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0, ncol=columns)  # beside the curves, not over them
    names.append(_save(fig, out / "learning_curves.png").name)
    return names
