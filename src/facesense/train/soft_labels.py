"""Crowd-vote soft labels (e.g. FER+'s 10 annotators per FER2013 face) mixed into the targets.

A vote table has one column per class (named like the task's classes or a known synonym,
e.g. FER+'s `happiness`, `anger`) and either an `id` column naming the dataset's sample ids or,
as FER+ ships it, one row per dataset row in the same order (sample ids `rowN`). Columns for
other answers (FER+'s contempt, unknown, NF) are ignored; a row with no vote for any class keeps
its original one-hot label. In the default "mix" mode the original labels stay the reference:
training aims at (1 - w) * one_hot(label) + w * votes, and evaluation still scores the original
labels. The crowd's own labels (the FER+ paper's schemes) replace them instead: its most-voted
class ("majority") or its vote shares ("distribution"), without the rows that the crowd calls
not-a-face or unknown (FER+'s `NF` and `unknown` answers ahead of every class).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import torch

from ..data.sources import CSV_HINT, CSV_READ_ERRORS, canonical_split, open_text
from ..errors import DataError
from ..labels import normalise

_ROW_ID = re.compile(r"^row(\d+)$")


NOT_A_CLASS = ("unknown", "nf")  # FER+'s "unknown" and "not a face" answers


def read_votes(path: str | Path, classes: list[str], ids: list[str], split: str | None = None) -> np.ndarray:
    """-> N x K vote counts (float32) for `ids`, in the order of `classes`."""
    return _read_columns(path, classes, ids, split, required=True)


def non_class_votes(path: str | Path, ids: list[str], split: str | None = None) -> np.ndarray:
    """-> N x 2 counts of the crowd's unknown and not-a-face answers (zeros where the table has no such column)."""
    return _read_columns(path, list(NOT_A_CLASS), ids, split, required=False)


def crowd_faces(votes: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Rows the crowd saw as a face with an expression: some vote for a class, and no unknown /
    not-a-face answer with more votes than the top class. -> boolean mask."""
    return (votes.sum(1) > 0) & (votes.max(1) >= other.max(1, initial=0))


def crowd_targets(votes: np.ndarray, k: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (hard labels: the most-voted class, ties to the first in class order; N x K targets:
    its one-hot for "majority", the vote shares for "distribution")."""
    counts = torch.from_numpy(votes)
    hard = counts.argmax(1)
    if mode == "majority":
        return hard, torch.nn.functional.one_hot(hard, k).float()
    return hard, counts / counts.sum(1, keepdim=True).clamp(min=1)


def _read_columns(path: str | Path, classes: list[str], ids: list[str], split: str | None, required: bool) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"soft_labels={path}: file not found (give a vote table such as FER+'s fer2013new.csv)")
    try:
        with open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            table = list(reader)
    except CSV_READ_ERRORS as exc:
        raise DataError(f"soft_labels={path}: cannot be read ({exc.__class__.__name__}: {exc}); {CSV_HINT}") from None
    if not header:
        raise DataError(f"soft_labels={path}: empty file")
    names = [normalise(h) for h in header]
    wanted = [normalise(c) for c in classes]
    missing = [c for c, w in zip(classes, wanted) if w not in names]
    if missing and required:
        raise DataError(f"soft_labels={path}: no vote column for classes {missing} (header: {header})")
    columns = [names.index(w) for w in wanted if w in names]
    rows = _row_positions(path, names, table, ids)
    usage = names.index("usage") if "usage" in names else None
    if usage is not None and split is not None:
        # a FER+ table says which split each row belongs to: catch a table of another row order
        off = [ids[i] for i, r in enumerate(rows) if not _same_split(table[r][usage], split)]
        if off:
            raise DataError(f"soft_labels={path}: {len(off)} rows (e.g. {off[:3]}) are not marked {split!r} in its Usage column; the table is not in the dataset's row order")
    try:
        votes = np.array([[float(table[r][c] or 0) for c in columns] for r in rows], dtype=np.float32).reshape(len(rows), len(columns))
    except ValueError as exc:
        raise DataError(f"soft_labels={path}: vote counts must be numbers ({exc})") from None
    if (votes < 0).any():
        raise DataError(f"soft_labels={path}: negative vote counts")
    return votes


def _same_split(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower() or (canonical_split(a) is not None and canonical_split(a) == canonical_split(b))


def _row_positions(path: Path, names: list[str], table: list[list[str]], ids: list[str]) -> list[int]:
    if "id" in names or "path" in names:
        key = names.index("id") if "id" in names else names.index("path")
        where = {row[key]: i for i, row in enumerate(table) if len(row) > key}
        absent = [i for i in ids if i not in where]
        if absent:
            raise DataError(f"soft_labels={path}: {len(absent)} sample ids have no row (e.g. {absent[:3]})")
        return [where[i] for i in ids]
    numbers = [_ROW_ID.match(i) for i in ids]
    if not all(numbers):
        raise DataError(f"soft_labels={path}: no id column, and the samples are not csv rows (ids like {ids[:2]}); add an `id` column")
    rows = [int(m.group(1)) - 1 for m in numbers]
    if rows and max(rows) >= len(table):
        raise DataError(f"soft_labels={path}: has {len(table)} rows but the dataset has row {max(rows) + 1}; it must list every row in the dataset's order")
    return rows


def check_alignment(path: str | Path, votes: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Crowd majorities agree with the dataset's labels far more often than chance (FER+ and
    FER2013: about 63%); a table in another row order agrees only at chance level. -> agreement."""
    voted = votes.sum(1) > 0
    if voted.sum() < 50:
        return float("nan")  # too few rows to tell
    majority, labels = votes[voted].argmax(1), targets[voted]
    agreement = float((majority == labels).mean())
    chance = float(sum(np.mean(labels == c) * np.mean(majority == c) for c in range(k)))
    if agreement < chance + 0.15:
        raise DataError(
            f"soft_labels={path}: its majority votes agree with the dataset's labels on {agreement:.1%} of "
            f"rows, about what unrelated rows give ({chance:.1%}); the table is not in the dataset's row "
            "order. Give it an `id` column with the sample ids, or a table made for this csv."
        )
    return agreement


def mixed_targets(votes: np.ndarray, targets: torch.Tensor, k: int, weight: float) -> torch.Tensor:
    """(1 - w) * one-hot + w * vote shares; rows without votes stay one-hot."""
    one_hot = torch.nn.functional.one_hot(targets.cpu(), k).float()
    counts = torch.from_numpy(votes)
    total = counts.sum(1, keepdim=True)
    shares = torch.where(total > 0, counts / total.clamp(min=1), one_hot)
    return (1 - weight) * one_hot + weight * shares
