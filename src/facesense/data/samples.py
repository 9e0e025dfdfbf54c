"""`Samples`: the one in-memory table every dataset format is read into."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Samples:
    """One row per sample: id, raw label, split name from the source (or None), and where the
    pixels are: a file path, or a row of `pixels` (FER2013 csv)."""

    source: str
    ids: list[str]
    labels: list[str]
    splits: list[str | None]
    paths: list[Path] | None = None
    pixels: np.ndarray | None = None  # N x H x W uint8, for sources that carry pixels inline
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    skipped_splits: list[str | None] = field(default_factory=list)  # the split cell of each row skipped while reading
    skipped_labels: list[str | None] = field(default_factory=list)  # the label of each row skipped while reading (None: unknown)
    columns: dict[str, list[str]] = field(default_factory=dict)  # extra manifest columns (groups)
    split_column: str | None = None  # the csv column the splits were read from (split, partition, usage, fold)

    def __len__(self) -> int:
        return len(self.ids)

    def class_counts(self) -> Counter:
        return Counter(self.labels)

    def split_names(self) -> list[str]:
        return sorted({s for s in self.splits if s is not None})

    def subset(self, keep: list[int] | np.ndarray) -> "Samples":
        keep = list(keep)
        return Samples(
            source=self.source,
            ids=[self.ids[i] for i in keep],
            labels=[self.labels[i] for i in keep],
            splits=[self.splits[i] for i in keep],
            paths=[self.paths[i] for i in keep] if self.paths is not None else None,
            pixels=self.pixels[keep] if self.pixels is not None else None,
            skipped=list(self.skipped),
            skipped_splits=list(self.skipped_splits),
            skipped_labels=list(self.skipped_labels),
            columns={k: [v[i] for i in keep] for k, v in self.columns.items()},
            split_column=self.split_column,
        )


_NUMBER_OR_BAND = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:\+|-\s*\d+(?:\.\d+)?)?\s*$")  # 9, 10.5, -1, 80+, 10-19


def closest(name: str, columns) -> str:
    """' (did you mean 'race'?)' for a column name one typo away from one of `columns`, else ''."""
    import difflib

    match = difflib.get_close_matches(name.lower(), [str(c).lower() for c in columns], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def natural_order(name: str):
    """Sort key for group names: numbers and bands by their number (age 9 before 10 before 100;
    decade 10-19 before 80+), then text ('nan', 'Others')."""
    match = _NUMBER_OR_BAND.match(name)
    return (0, float(match.group(1)), name) if match else (1, 0.0, name)


# the name group_names gives the rows with no value ("(blank)", or where a cell says that, "(empty cell)", ...)
_BLANK_GROUP = re.compile(r"^\((blank|empty cell( \d+)?)\)$")


def is_blank_group(name: str) -> bool:
    """Whether a group is group_names' group of rows without a value (no group of people: a
    report does not compare it with the others)."""
    return bool(_BLANK_GROUP.match(name))


def group_names(values: list[str], column: str | None = None) -> list[str]:
    """A manifest column's cells as group names (--group-by, data inspect): a blank cell is a
    group of its own, named so (an empty name reads as a missing row in a report). An `age`
    column's years go in decades (one group a year made 96 groups, most too small to compare);
    ranges written as text (FairFace's 20-29) stay as written, and nan is blank; other text in a
    column of years is warned about."""
    # a cell that says "(blank)" itself is not merged with the empty ones
    written = {v.strip() for v in values}
    blank = next(name for name in ("(blank)", "(empty cell)", *(f"(empty cell {i})" for i in range(2, len(written) + 3))) if name not in written)
    names = [v.strip() or blank for v in values]
    if column is not None and column.lower() == "age":
        from ..age import decade, is_age_in_years

        grouped = [decade(float(v)) if is_age_in_years(v) else blank if v.lower() == "nan" else v for v in names]
        warn_of_odd_ages(values, column, "grouped as written, not by decade; fix {them} to group {them} by decade")
        return grouped
    cells = [v for v in names if v != blank]
    # a numeric column: "20" and "20.0" are one group, each number exactly (1000001 and 1000002
    # are two); codes with leading zeros (zip code 02134) are names as written
    if cells and all(is_finite_number(v) for v in cells) and not any(re.match(r"[+-]?0\d", v) for v in cells):
        return [v if v == blank else _number_name(v) for v in names]
    return names


def _number_name(text: str) -> str:
    """A number written in any of its ways, named one way: 20, 20.0 and 2e1 are '20', 0.50 is '0.5'."""
    from decimal import Decimal

    value = Decimal(text)
    if abs(value.adjusted()) > 40:  # written out it would run to hundreds of digits: kept as written
        return text
    plain = format(value, "f")  # exact, as written (normalize() rounds to 28 digits)
    plain = plain.rstrip("0").rstrip(".") if "." in plain else plain
    return "0" if plain in ("-0", "") else plain


def is_finite_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


def warn_of_odd_ages(cells: list[str], column: str, what_happens: str) -> None:
    """Warn of the cells (as written) of a column of years that are no age in years (text, below 0,
    above OLDEST_AGE: a typo, a -1 for 'unknown', 200) where the others are: they would pass for a
    group of their own. Blank and nan cells are the blank group. `what_happens` may say {them}."""
    from ..age import is_age_in_years

    written = [str(v).strip() for v in cells]
    odd = sorted({v for v in written if v and v.lower() != "nan" and not is_age_in_years(v)})
    if odd and any(is_age_in_years(v) for v in written):
        shown = ", ".join(repr(v) for v in odd[:5]) + (f" and {len(odd) - 5} more" if len(odd) > 5 else "")
        count = sum(v in odd for v in written)
        log.warning("%s column: %d cell%s not an age in years (%s), %s", column, count, "s are" if count > 1 else " is", shown,
                    what_happens.format(them="them" if count > 1 else "it"))
