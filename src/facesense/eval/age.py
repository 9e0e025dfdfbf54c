"""Age models scored on a labels.csv with an `age` column: mean absolute error overall, per
decade, per group (e.g. race) and per group within each decade, and how often the true age falls
within the model's stated uncertainty. Rows can be kept by conditions (`age>=18`, `race==Asian`)."""

from __future__ import annotations

import csv
import io
import logging
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import schema
from ..age import OLDEST_AGE, central_interval, decade, is_age_in_years, years_and_sd
from ..data.digests import trained_digests
from ..data.images import decode
from ..data.samples import Samples, closest, group_names
from ..data.split import is_number, read_scored_rows, recorded_held_out, trained_split_settings
from ..errors import DataError, FacesenseError
from ..labels import dropped_by_map
from ..markdown import cell as md_cell
from ..preprocess import InputSpec
from ..runs import building, write_json, write_text
from .groups import check_group_column, gap_text, group_table, natural_order, proportion_ci95
from .metrics import refuse_non_finite
from .report import REPORT_FILES, skipped_csv

log = logging.getLogger(__name__)
_OPS = {">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq, ">": operator.gt, "<": operator.lt, "=": operator.eq}
_WHERE = re.compile(r"^\s*([A-Za-z_][\w ]*?)\s*(>=|<=|!=|==|>|<|=)\s*(.+?)\s*$")


def parse_where(text: str) -> tuple[str, str, str]:
    """'age>=18' -> ('age', '>=', '18')."""
    match = _WHERE.match(text)
    if not match:
        raise DataError(f"--where {text!r}: write COLUMN OP VALUE with OP one of >=, <=, >, <, ==, != (e.g. --where 'age>=18')")
    column, op, value = match.group(1).strip().lower(), match.group(2), match.group(3)
    joined = re.search(r"(\s(and|or)\s+|\s*(&&|\|\||&|,)\s*)\w+\s*(>=|<=|==|!=|>|<)", value, flags=re.I)
    if joined:  # 'age>=18 and race==Asian' read as age >= '18 and race==Asian'
        raise DataError(f"--where {text!r}: one condition per --where; give each its own (--where 'age>=18' --where 'race==Asian': all must hold)")
    if set(value) <= set("<>=!"):  # 'race==' read as race = '='
        raise DataError(f"--where {text!r}: no value after the operator (a blank cell: COLUMN==\"\")")
    if value[0] in "<>=!":  # 'age=>18' read as age = '>18'
        raise DataError(f"--where {text!r}: {op + value[0]!r} is not an operator; use one of >=, <=, >, <, ==, != "
                        "(a blank cell: COLUMN==\"\")")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # race=='Asian', race==""
        value = value[1:-1]
    return column, op, value


def where_mask(samples: Samples, conditions: list[str]) -> np.ndarray:
    """Rows meeting every condition; numbers compare as numbers, anything else as text."""
    keep = np.ones(len(samples), bool)
    for text in conditions:
        column, op, value = parse_where(text)
        if column in ("label", "class"):
            values = samples.labels
        elif column in samples.columns:
            values = samples.columns[column]
        else:
            raise DataError(f"--where {text!r}: no column {column!r}{closest(column, ['label', *samples.columns])}; the manifest has {['label', *sorted(samples.columns)]}")
        compare = _OPS[op]
        try:
            target = float(value)
            # only the rows the earlier conditions kept: `quality!=""` first lets `quality>=5` pass a blank cell by
            numeric = np.array([float(v) if kept else np.nan for v, kept in zip(values, keep)])
            keep &= compare(numeric, target)
        except ValueError:
            if op not in ("==", "=", "!="):
                if not is_number(value):  # the value first: leaving rows out would not help
                    raise DataError(f"--where {text!r}: {op} needs numbers, and {value!r} is not one") from None
                if not any(is_number(v) for v, kept in zip(values, keep) if kept):
                    raise DataError(f"--where {text!r}: {op} needs numbers, and column {column!r} holds none (in the rows kept so far)") from None
                not_number = next(i for i, v in enumerate(values) if keep[i] and not is_number(v))
                bad = str(values[not_number]).strip()
                raise DataError(f"--where {text!r}: {op} needs numbers, and {samples.ids[not_number]}'s {column} is {bad!r}; "
                                f"--where '{column}!=\"{bad}\"' given before it leaves such rows out") from None
            hit = np.array([compare(str(v).strip(), value) for v in values])
            if op != "!=" and not hit.any():  # 'race==asian' left "no rows" without a word of why
                found = sorted({str(v).strip() for v in values})
                raise DataError(f"--where {text!r}: no row's {column} is {value!r} (text compares exactly, case too); "
                                f"its values are {', '.join(map(repr, found[:12]))}{' ...' if len(found) > 12 else ''}")
            keep &= hit
    return keep


@dataclass
class AgeScorer:
    """What evaluation needs of an age model: its input spec, an optional per-face preparation
    (an aligner), the age each output bin stands for, and a scorer of model-ready pixels that
    returns (class probabilities or None, age-bin probabilities)."""

    name: str
    spec: InputSpec
    bins: np.ndarray
    score: Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray]]
    classes: list[str] | None = None
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    config: dict | None = None  # the training config the model carries (what it trained on)
    metadata: dict | None = None  # an export's metadata (its training images' hashes)


def load_age_scorer(model: str | Path) -> AgeScorer:
    """The dlib CC0 age backend (`dlib-age`), or a gender+age model (shipped name, .onnx,
    checkpoint or run directory)."""
    from ..runtime import dlib_models

    if str(model) in dlib_models.AGE_BACKENDS:
        backend = dlib_models.AGE_BACKENDS[str(model)](2)
        return AgeScorer(backend.name, backend.spec, backend.ages, lambda pixels: (None, backend.predict_pixels(pixels)), None, backend.prepare)
    from ..runtime.gender_age import GenderAgeModel

    net = GenderAgeModel.load(model, threads=2)
    return AgeScorer(net.name, net.spec, net.bins, net.run_pixels, net.classes, net.prepare, net.config, net.metadata)


def _mae_table(err: np.ndarray, keys: list[str]) -> dict[str, dict]:
    out = {}
    for key in sorted(set(keys), key=natural_order):
        pick = np.array([k == key for k in keys])
        out[key] = {"n": int(pick.sum()), "mae": float(err[pick].mean())}
        ci = mean_interval(err[pick], floor=0.0)
        if ci is not None:  # a group of one face has none
            out[key]["mae_ci95"] = [round(ci[0], 3), round(ci[1], 3)]
    return out


def mean_interval(values: np.ndarray, floor: float | None = None, level: float = 0.95) -> tuple[float, float] | None:
    """t-interval of the mean (95% unless `level` says), its low end raised to `floor` when
    given (an MAE is never below 0); None with fewer than two values."""
    from scipy import stats

    if len(values) < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    low = float(values.mean() - half)
    return (low if floor is None else max(floor, low)), float(values.mean() + half)


def age_metrics(years: np.ndarray, sd: np.ndarray, ages: np.ndarray, groups: list[str] | None = None, low: np.ndarray | None = None, high: np.ndarray | None = None) -> dict:
    """MAE overall, per decade, per group and per group within decade; uncertainty coverage."""
    err = np.abs(years - ages)
    decades = [decade(a) for a in ages]
    m = {
        "n": int(len(ages)),
        "mae": float(err.mean()),
        # how far this MAE could move on another sample of faces like these: a target a few
        # hundredths away is inside it (None with fewer than two faces)
        "mae_ci95": mean_interval(err, floor=0.0),
        "median_abs_error": float(np.median(err)),
        "bias": float((years - ages).mean()),
        "uncertainty": {
            "mean_sd": float(sd.mean()),
            "within_1sd": float((err <= sd).mean()),
            "within_2sd": float((err <= 2 * sd).mean()),
        },
        "by_decade": _mae_table(err, decades),
    }
    if low is not None and high is not None:
        m["uncertainty"]["within_90pct_interval"] = float(((ages >= low) & (ages <= high)).mean())
    if groups is not None:
        group_of = np.array(groups)
        # the gap's interval from each group's own, unclipped, at the level the number of groups asks
        m["by_group"] = group_table(_mae_table(err, groups), "mae", "mae_gap", lambda g, level: mean_interval(err[group_of == g], level=level))
        m["by_group_within_decade"] = {
            d: _mae_table(err[np.array([x == d for x in decades])], [g for g, x in zip(groups, decades) if x == d])
            for d in m["by_decade"]
        }
    return m


def _interval(ci: list[float] | None) -> str:
    return f", {ci[0]:.2f}-{ci[1]:.2f}" if ci else ""


def format_age_report(m: dict, group_by: str | None = None) -> list[str]:
    u = m["uncertainty"]
    # one face: no spread to give an interval from, and a figure that says little; said, not left blank
    ci = "95% CI {:.2f}-{:.2f}; ".format(*m["mae_ci95"]) if m.get("mae_ci95") else "one face: no interval; " if m["n"] == 1 else ""
    lines = [f"n {m['n']}  age MAE {m['mae']:.2f} years ({ci}median {m['median_abs_error']:.2f}, bias {m['bias']:+.2f})  "
             f"true age within +-1 sd {100 * u['within_1sd']:.1f}%, +-2 sd {100 * u['within_2sd']:.1f}%"
             + (f", 90% interval {100 * u['within_90pct_interval']:.1f}%" if "within_90pct_interval" in u else "") + f" (mean sd {u['mean_sd']:.2f})"]
    lines.append("by decade: " + ", ".join(f"{d} {v['mae']:.2f} (n {v['n']})" for d, v in m["by_decade"].items()))
    # (the figure without training images is on the warning line beside the note: not twice)
    if "by_group" in m:
        lines.append(f"MAE by {group_by} (95% CI): " + ", ".join(f"{g} {v['mae']:.2f} (n {v['n']}{_interval(v.get('mae_ci95'))})" for g, v in m["by_group"]["groups"].items())
                     + "; MAE " + gap_text(m["by_group"], "mae_gap", 1, " years", 2))
        groups = list(m["by_group"]["groups"])
        if str(group_by).lower() != "age":  # by age, each group is its decade: the table would repeat the line above
            lines.append(f"MAE by {group_by} within decade: decade | " + " | ".join(groups))
            for d, row in m["by_group_within_decade"].items():
                lines.append(f"  {d} | " + " | ".join(f"{row[g]['mae']:.2f} ({row[g]['n']})" if g in row else "-" for g in groups))
    if "gender_accuracy" in m:
        n = m.get("gender_n", m.get("n"))
        lines.append(f"gender accuracy {m['gender_accuracy']:.4f} ({'the same rows' if n == m.get('n') else f'{n} of these rows: those with a gender label'})")
    if "gender_by_group" in m:
        by = m["gender_by_group"]
        lines.append(f"gender accuracy by {group_by} (95% CI): " + ", ".join(f"{g} {v['accuracy']:.4f} (n {v['n']}, {v['accuracy_ci95'][0]:.3f}-{v['accuracy_ci95'][1]:.3f})" for g, v in by["groups"].items())
                     + "; accuracy " + gap_text(by, "accuracy_gap", 100, " points", 1))
    return lines


def age_report_md(m: dict, group_by: str | None = None) -> str:
    """report.md of an age evaluation: the figures `format_age_report` prints, as tables, with
    the notes on training images and on the validation split."""
    split = f" [{m['split']}]" if m.get("split") else ""
    where = f", where {' and '.join(m['where'])}" if m.get("where") else ""
    column = group_by or m.get("group_by", "group")

    def span(ci: list[float] | None) -> str:
        return f"{ci[0]:.2f}-{ci[1]:.2f}" if ci else "-"

    lines = [f"# Age evaluation: {Path(str(m['model'])).name} on {Path(str(m['data'])).name}{split}{where}", ""]
    lines += [f"Note: {m[key]}.\n" for key in ("training_data", "selection_split", "unfinished_run") if m.get(key)]
    if m.get("skipped"):
        lines += [f"{m['skipped']} row(s) skipped (--skip-bad: unreadable images, ages that are not numbers), listed with why in skipped.csv.\n"]
    lines += ["| faces | MAE (years) | 95% CI | median error | bias | within +-1 sd | within +-2 sd | within the 90% interval |", "|---|---|---|---|---|---|---|---|"]
    u, ci = m["uncertainty"], m.get("mae_ci95")
    inside = f"{100 * u['within_90pct_interval']:.1f}%" if "within_90pct_interval" in u else "-"
    lines.append(f"| {m['n']} | {m['mae']:.2f} | {span(ci)} | {m['median_abs_error']:.2f} | {m['bias']:+.2f} "
                 f"| {100 * u['within_1sd']:.1f}% | {100 * u['within_2sd']:.1f}% | {inside} |")
    if "without_training_pixels" in m:
        rest = m["without_training_pixels"]
        gender = f"; gender accuracy {rest['gender_accuracy']:.4f} ({rest['gender_n']} with a gender label)" if "gender_accuracy" in rest else ""
        lines += ["", f"Without the images that have a training image's pixels ({rest['n']}): MAE {rest['mae']:.2f} years{gender}."]

    def table(title: str, rows: dict) -> list[str]:
        out = ["", f"## {title}", "", "| | n | MAE | 95% CI |", "|---|---|---|---|"]
        return out + [f"| {md_cell(k)} | {v['n']} | {v['mae']:.2f} | {span(v.get('mae_ci95'))} |" for k, v in rows.items()]

    lines += table("By decade", m["by_decade"])
    if "by_group" in m:
        lines += table(f"By {column}", m["by_group"]["groups"]) + ["", "MAE " + gap_text(m["by_group"], "mae_gap", 1, " years", 2) + "."]
    if "gender_accuracy" in m:
        n = m.get("gender_n", m.get("n"))
        lines += ["", "## Gender", "", f"Accuracy {m['gender_accuracy']:.4f} on {n} faces with a gender label."]
        if "gender_by_group" in m:
            by = m["gender_by_group"]
            lines += ["", f"By {column}:", "", "| | n | accuracy | 95% CI |", "|---|---|---|---|"]
            lines += [f"| {md_cell(g)} | {v['n']} | {v['accuracy']:.4f} | {v['accuracy_ci95'][0]:.3f}-{v['accuracy_ci95'][1]:.3f} |" for g, v in by["groups"].items()]
            lines += ["", "Accuracy " + gap_text(by, "accuracy_gap", 100, " points", 1) + "."]
    return "\n".join(lines) + "\n"


def select_rows(samples: Samples, model_config: dict | None, split: str | None, data, model_path: Path | None = None, pixels_checked: bool = False,
                held_out: dict[str, str] | None = None) -> Samples:
    """The named split (for data without one: the rows the run's split_manifest.csv lists, where
    that file is at hand, else recomputed from the model's config); all rows without a split."""
    if split is None:
        return samples
    from .evaluate import select_split

    return samples.subset(select_split(samples, split, model_config or {}, data, model_path, pixels_checked=pixels_checked, held_out=held_out))


def _export_metadata(model: str | Path) -> dict | None:
    """The metadata of an exported model (an .onnx, or a shipped name's file); None for a checkpoint."""
    from ..runtime.assets import names_a_local_model, shipped_model_path

    path = Path(str(model))
    if path.suffix.lower() == ".onnx" or not names_a_local_model(path):
        onnx = path if path.suffix.lower() == ".onnx" else shipped_model_path(str(model), ".int8.onnx")
        if onnx is not None and onnx.is_file():
            from ..onnx_files import onnx_metadata

            return onnx_metadata(onnx)
    return None


def split_config_of(model: str | Path) -> dict:
    """The split settings a model was trained with: its checkpoint's config, or the facesense_split
    metadata of an exported gender+age model."""
    import json

    meta = _export_metadata(model)
    if meta is not None:  # with the label map, whose dropped rows were not in the draw
        trained = json.loads(meta.get("facesense_config", "{}"))
        return json.loads(meta.get("facesense_split", "{}")) | {"label_map": trained.get("label_map") or {}}
    from ..checkpoint import read_checkpoint

    return read_checkpoint(model)["config"]


def evaluate_age(model: str | Path, data: str | Path, out_dir: Path, split: str | None = None, split_from: str | Path | None = None,
                 group_by: str | None = None, where: list[str] | tuple[str, ...] = (), skip_bad: bool = False, label_map: dict | None = None) -> dict:
    """`label_map` ({old: new}, null drops) renames the labels a gender+age model's gender
    accuracy is scored against (UTKFace's own files say 0 and 1)."""
    from ..labels import check_map_keys
    from ..runtime import dlib_models

    scorer = load_age_scorer(model)
    if label_map and not scorer.classes:
        # worded for the CLI's --label-map and the API's label_map alike
        raise FacesenseError(f"the label map (--label-map, label_map=): {model} estimates age only, and the map renames the labels a gender accuracy is scored against; leave it out")
    samples, _ = read_scored_rows(data, split, skip_bad)
    if "age" not in samples.columns:
        raise DataError(f"{data}: no `age` column to score an age model against (labels.csv: path,label,age[,group columns])")
    check_map_keys(label_map, samples.labels, str(data), "--label-map FILE (YAML {old: new})")
    check_group_column(samples.columns, group_by, data, per_class=False, split_column=samples.split_column)
    if split is not None and not samples.split_names() and not split_from and str(model) in dlib_models.AGE_BACKENDS:
        from .evaluate import no_split_of_its_own

        raise DataError(no_split_of_its_own(data, split))
    config = split_config_of(split_from or model) if split is not None and not samples.split_names() else None
    if config is not None and "test_size" not in config:
        raise FacesenseError(f"{split_from or model}: its split settings are unknown; give data with a split column, or --split-from (split_from=) a gender+age model")
    data_splits = samples.split_names()  # for the training-data note: before the rows are narrowed
    # a draw recomputed from another model's settings is not this model's held-out rows
    own_split = config is None or not split_from or (str(model) not in dlib_models.AGE_BACKENDS and trained_split_settings(split_config_of(model)) == trained_split_settings(config))
    source = Path(str(split_from or model))
    own = Path(str(model))
    own = own if own.exists() else None
    trained = trained_digests(scorer.metadata, own)  # its training images' pixel digests, where it carries them
    held_out = recorded_held_out(_export_metadata(split_from) if split_from else scorer.metadata) if config is not None else None
    if config is not None:  # rows the split's model dropped by its label_map were not in its draw
        samples = samples.subset(np.flatnonzero(~dropped_by_map(samples.labels, config.get("label_map"))))
    # --where after the rows whose age is no number are skipped: `age>=18` refused data with one blank age, --skip-bad or not
    samples = drawn = select_rows(samples, config, split, data, source if source.exists() else None, pixels_checked=trained is not None, held_out=held_out)
    # a negative age or one of 150 is a typo: scored, it moved the MAE and made a decade '-10--1'
    bad = [i for i, v in enumerate(samples.columns["age"]) if not is_age_in_years(v)]
    if bad and not skip_bad:  # as training says it, with the row
        first = bad[0]
        raise DataError(f"{data}: age {samples.columns['age'][first]!r} of {samples.ids[first]} is not an age in years (a number from 0 to {OLDEST_AGE}); "
                        "fix the age column, or pass --skip-bad (skip_bad=True) to leave such rows out")
    if bad:
        skipped = [(samples.ids[i], f"age {samples.columns['age'][i]!r} is not an age in years") for i in bad]
        dropped = set(bad)
        samples = samples.subset([i for i in range(len(samples)) if i not in dropped])
        samples.skipped = samples.skipped + skipped
    if bad and not len(samples):  # every row's age skipped: no --where was to blame (none may have been given)
        raise DataError(f"{data}: no row has an age in years (a number from 0 to {OLDEST_AGE}; e.g. {skipped[0][1]}), so --skip-bad (skip_bad=True) left out all {len(skipped)}; "
                        "fix the age column")
    keep = where_mask(samples, list(where))
    if not keep.any():
        raise DataError(f"{data}: no rows left after --where {' and '.join(where)}")
    samples = samples.subset(np.flatnonzero(keep))
    unaligned: list[str] = []
    images, kept = decode(samples, scorer.spec, skip_bad=skip_bad, prepare=scorer.prepare, unaligned_digests=unaligned)
    if config is not None:
        from .evaluate import check_held_out

        def unreadable():  # those scored, and those --where left out (decoded only here)
            scored = set(samples.ids)
            left_out = drawn.subset([i for i, sample_id in enumerate(drawn.ids) if sample_id not in scored])
            decode(left_out, scorer.spec, skip_bad=True, prepare=scorer.prepare)
            return [i for i, _ in samples.skipped + left_out.skipped]

        check_held_out(list(drawn.ids), unreadable, split, held_out, data)
    if not kept:
        raise DataError(f"{data}: no readable images to evaluate (--skip-bad skipped all {len(samples.skipped)})")
    if samples.skipped:
        log.warning("skipped %d sample(s) (--skip-bad: unreadable images, unusable ages); they are not in these metrics and are listed in skipped.csv", len(samples.skipped))
    ages = np.array([float(samples.columns["age"][i]) for i in kept])
    gender_probs, age_probs = _score_in_batches(scorer, images)
    for probs in (age_probs, gender_probs):
        if probs is not None:
            refuse_non_finite(probs)
    years, sd = years_and_sd(age_probs, scorer.bins)
    low, high = central_interval(age_probs, scorer.bins, 0.9)
    groups = group_names([samples.columns[group_by.lower()][i] for i in kept], group_by) if group_by else None
    m = {"model": str(model), "data": str(data), "split": split, "where": list(where), "skipped": len(samples.skipped), **age_metrics(years, sd, ages, groups, low, high)}
    if split is not None and split_from:  # whose draw the rows are
        m["split_from"] = str(split_from)
    if group_by:
        m["group_by"] = group_by.lower()
    from .evaluate import add_note, among_held_out, run_folder_of, selection_split_note, training_data_note, training_images_among, unfinished_note, validation_images_among

    matches = training_images_among(trained, images, unaligned)
    note = training_data_note(scorer.config or {}, data, split, model, [samples.ids[i] for i in kept], own, data_splits,
                              [samples.paths[i] for i in kept] if samples.paths is not None else None, matches, own_split=own_split)
    add_note(m, "training_data", note)
    validation = validation_images_among(own, images, unaligned, matches, scorer.metadata)
    add_note(m, "selection_split", selection_split_note(scorer.config or {}, data, split, model, data_splits, own_split, among_held_out(validation, matches), run_folder_of(own)))
    add_note(m, "unfinished_run", unfinished_note(model, None))
    if matches is not None and 0 < matches.sum() < len(matches):  # the figure without them, beside the note
        rest = ~matches
        m["without_training_pixels"] = {"n": int(rest.sum()), "mae": float(np.abs(years[rest] - ages[rest]).mean())}
        log.warning("on the %d images without a training image's pixels: age MAE %.2f years", rest.sum(), m["without_training_pixels"]["mae"])
    if gender_probs is not None and scorer.classes:
        from ..labels import normalise

        renamed = {normalise(k): v for k, v in (label_map or {}).items()}
        mapped = [renamed.get(normalise(samples.labels[i]), samples.labels[i]) for i in kept]
        dropped = np.array([m is None for m in mapped], dtype=bool)
        labels = [normalise(str(m)) if m is not None else "" for m in mapped]
        known = np.array([x in scorer.classes for x in labels], dtype=bool) & ~dropped
        if dropped.any():
            log.warning("left out %d row(s) whose label the label map drops (null) of the gender accuracy", int(dropped.sum()))
        if not (known | dropped).all():  # said and counted: "(the same rows)" was printed over fewer
            other = sorted({str(m) for m, k, d in zip(mapped, known, dropped) if not k and not d})
            log.warning("%d of %d rows have a label that is not one of %s (%s): left out of the gender accuracy%s", int((~known & ~dropped).sum()), len(known), scorer.classes,
                        ", ".join(map(repr, other[:5])), "" if label_map else "; --label-map FILE (YAML {old: new}) renames them")
        if known.any():
            predicted = np.array(scorer.classes)[gender_probs.argmax(1)]
            correct = predicted == np.array(labels)
            m["gender_accuracy"] = float(correct[known].mean())
            m["gender_n"] = int(known.sum())
            rest = known & ~matches if "without_training_pixels" in m else None
            if rest is not None and rest.any():  # the gender figure without them too, as the age one
                m["without_training_pixels"].update(gender_accuracy=float(correct[rest].mean()), gender_n=int(rest.sum()))
                log.warning("on the %d images without a training image's pixels: gender accuracy %.4f", rest.sum(), m["without_training_pixels"]["gender_accuracy"])
            if groups is not None:  # the gender gap between groups, beside the age gap
                group_of = np.array(groups)
                picks = {g: known & (group_of == g) for g in sorted(set(group_of[known]), key=natural_order)}
                m["gender_by_group"] = group_table({g: {"n": int(p.sum()), "accuracy": float(correct[p].mean()), "accuracy_ci95": proportion_ci95(int(correct[p].sum()), int(p.sum())),
                                                        "classes": sorted(set(np.array(labels)[p]))}
                                                    for g, p in picks.items()}, "accuracy", "accuracy_gap")
    buf = io.StringIO()
    writer = csv.writer(buf)  # quotes an id or group with a comma in it
    # the gender columns too, so that gender_accuracy and its per-group gap can be checked by hand
    genders = gender_probs is not None and bool(scorer.classes)
    # the group column under its own name; `age` in decades is `age_group` (two `age` columns)
    group_column = ("age_group" if group_by.lower() == "age" else group_by.lower()) if group_by else None
    writer.writerow(["id", "age", "age_years", "age_sd", "age_low90", "age_high90", *(["label", "gender_pred"] if genders else []), *([group_column] if group_by else []), schema.KEY])
    for j, i in enumerate(kept):
        said = [labels[j], scorer.classes[int(gender_probs[j].argmax())]] if genders else []  # the label as the network names it
        writer.writerow([samples.ids[i], f"{ages[j]:g}", f"{years[j]:.2f}", f"{sd[j]:.2f}", f"{low[j]:g}", f"{high[j]:g}", *said, *([groups[j]] if groups else []), schema.VERSIONS["age_predictions"]])
    # an earlier report here stays whole until this one is; a classifier report's files go
    with building(out_dir, "age_metrics.json", ("age_predictions.csv", "report.md", "skipped.csv"), replaces=("metrics.json", ("metrics.json", *REPORT_FILES))) as build:
        write_text(build / "age_predictions.csv", buf.getvalue())
        if samples.skipped:
            write_text(build / "skipped.csv", skipped_csv(samples.skipped))
        write_text(build / "report.md", age_report_md(m, group_by))
        write_json(build / "age_metrics.json", schema.stamped("age_metrics", m))
    return m


def _score_in_batches(scorer: AgeScorer, images: np.ndarray, batch: int = 256):
    gender, age = [], []
    for start in range(0, len(images), batch):
        g, a = scorer.score(images[start : start + batch])
        age.append(np.asarray(a, dtype=np.float64))
        if g is not None:
            gender.append(np.asarray(g, dtype=np.float64))
    if not age:
        return None, np.zeros((0, len(scorer.bins)))
    return (np.concatenate(gender) if gender else None), np.concatenate(age)


def age_target(model: str | Path, data: str | Path) -> tuple[str | Path, bool]:
    """-> (`model`, with `age` read as the shipped gender+age network's name; whether evaluating
    it on `data` scores ages): asked for by an age name (`age`, `dlib-age`: an age report or an
    error), or a gender+age model on data with an `age` column."""
    from ..runtime.loading import is_age_name, without_age_alias

    asked = is_age_name(model)
    model = without_age_alias(model)
    return model, asked or scores_ages(model, data)


def scores_ages(model: str | Path, data: str | Path) -> bool:
    """Whether evaluating `model` on `data` scores ages: an age model on data with an `age`
    column. A gender+age model on gender-only data (no age column) is scored as the gender
    classifier it also is; dlib-age has nothing else to score."""
    from ..data.sources import _csv_header, detect_format
    from ..runtime import dlib_models

    if not is_age_model(model):
        return False
    if str(model) in dlib_models.AGE_BACKENDS:
        return True
    from ..runtime.gender_age import trained_without

    if trained_without(split_config_of(model), "age"):  # its age head never trained: its MAE would be a random head's
        log.warning("%s was trained without ages (age_weight 0): scored as the gender classifier it is", model)
        return False
    fmt, path = detect_format(data)
    return fmt == "manifest" and "age" in _csv_header(path)


def is_age_model(model: str | Path) -> bool:
    """True for the dlib age backend and for gender+age models (checked from their metadata)."""
    from ..runtime import dlib_models

    if str(model) in dlib_models.AGE_BACKENDS:
        return True
    try:
        config = split_config_of(model)
    except (FacesenseError, ImportError):  # not a model file, or a checkpoint without the training extra
        return False
    return config.get("task") == "gender_age"
