"""Per-group figures (--group-by race, age...): groups in a natural order, and the gap between
the best and worst group measured only over groups large enough for the gap to mean something."""

from __future__ import annotations

from typing import Callable

from ..data.samples import closest, is_blank_group, natural_order
from ..errors import DataError

# A group of two faces is right 0%, 50% or 100% of the time: its figure is noise, and a gap
# that includes it says nothing about the model
MIN_GROUP_FOR_GAP = 30


def gap(values: dict[str, float], sizes: dict[str, int], min_n: int = MIN_GROUP_FOR_GAP, one_class: dict[str, str] | None = None, unknown: frozenset[str] = frozenset()) -> dict:
    """{gap, between, min_n, left_out, one_class, unknown, compared, small}: highest minus lowest over the
    groups of at least `min_n` samples (`between`: those two groups, highest first); over all
    groups when fewer than two are that large (a small test set), and then `small` says the gap
    is between groups too small to tell it from chance (`min_n` is set only when the size rule
    left groups out). A group whose labels are all one class (`one_class`: group -> that class)
    scores how often the model says that class, not the task: where other groups hold more than
    one class it is no side of the gap (`one_class` then names it); where every group is of one
    class they all measure the same thing and are compared. The `unknown` groups (rows without a
    value: no group of people) are never a side of it."""
    unknown = sorted(set(unknown) & set(values), key=natural_order)
    mixed = [g for g in values if g not in (one_class or {}) and g not in unknown]
    skipped = {g: c for g, c in (one_class or {}).items() if g in values and g not in unknown} if mixed else {}
    fit = [g for g in values if g not in skipped and g not in unknown]
    big = [g for g in fit if sizes[g] >= min_n]
    small = len(big) < 2
    if small:
        big = fit
    # of groups tied at the top or the bottom, the largest (its figure the surest; the last listed,
    # 5 faces, was taken over 17 that scored the same); two groups even when all are tied
    high = max(big, key=lambda g: (values[g], sizes[g])) if big else None
    low = min((g for g in big if g != high), key=lambda g: (values[g], -sizes[g]), default=high)
    too_small = sorted(set(fit) - set(big), key=natural_order)
    return {"gap": float(values[high] - values[low]) if len(big) > 1 else 0.0, "between": [high, low] if len(big) > 1 else None,
            "min_n": min_n if too_small else None, "left_out": sorted(set(values) - set(big), key=natural_order), "one_class": skipped, "unknown": unknown,
            "compared": len(big), "compared_groups": big, "small": small and len(big) > 1}


def difference_ci95(high: float, high_ci: list[float], low: float, low_ci: list[float]) -> list[float]:
    """95% interval of high - low for two independent groups, from each group's own 95% interval
    (MOVER, Zou & Donner 2008; with Wilson intervals it is Newcombe's interval for a difference of
    proportions): whether a gap is larger than chance would make it."""
    d = high - low
    return [d - ((high - high_ci[0]) ** 2 + (low_ci[1] - low) ** 2) ** 0.5, d + ((high_ci[1] - high) ** 2 + (low - low_ci[0]) ** 2) ** 0.5]


def group_table(groups: dict[str, dict], key: str, gap_key: str, interval_at: Callable[[str, float], list[float] | None] | None = None) -> dict:
    """{"groups": groups, gap_key: the gap of each group's `key` figure, gap_between (the two
    groups), gap_ci95, gap_pairs, gap_min_n, gap_left_out, gap_one_class, gap_groups (how many it
    compares), gap_small_groups}: a report's per-group table (each group a dict with its n, and
    `classes` where a classifier's labels are known).

    The gap is the best minus the worst of k groups: the widest of k(k-1)/2 differences, which
    chance alone makes wide when k is large (eight groups of equal accuracy: half of plain 95%
    intervals of max - min missed zero). Each group's interval is taken at 1 - 0.05/pairs
    (Bonferroni over the `gap_pairs` pairs), so that every pair's difference interval (MOVER)
    holds at once with 95% or more; the gap's interval runs from the low end of the two named
    groups' difference to the highest high end of any pair's (the true best and worst may be
    other groups). `interval_at(group, level)` gives a group's interval at a level (accuracy:
    Wilson, from its n and accuracy, without it)."""
    one_class = {g: v["classes"][0] for g, v in groups.items() if len(v.get("classes") or [None, None]) == 1}
    spread = gap({g: v[key] for g, v in groups.items()}, {g: v["n"] for g, v in groups.items()}, one_class=one_class,
                 unknown=frozenset(g for g in groups if is_blank_group(g)))
    between, ci, pairs = spread["between"], None, None
    if interval_at is None and key == "accuracy":
        def interval_at(g: str, level: float) -> list[float]:
            return proportion_interval(round(groups[g]["accuracy"] * groups[g]["n"]), groups[g]["n"], level)
    if between:
        compared = spread["compared_groups"]
        pairs = len(compared) * (len(compared) - 1) // 2
        if interval_at is not None:
            intervals = {g: interval_at(g, 1 - 0.05 / pairs) for g in compared}
        elif pairs == 1:  # two groups: their own 95% intervals are the ones to use
            intervals = {g: groups[g].get(f"{key}_ci95") for g in compared}
        else:  # no way to widen them: no interval rather than one too narrow
            intervals = {}
        if intervals and all(v is not None for v in intervals.values()):
            def difference(a: str, b: str) -> list[float]:
                return difference_ci95(groups[a][key], intervals[a], groups[b][key], intervals[b])

            highest = max(difference(a, b)[1] for a in compared for b in compared if a != b)
            ci = [round(difference(*between)[0], 4), round(highest, 4)]
    return {"groups": groups, gap_key: spread["gap"], "gap_between": between, "gap_ci95": ci, "gap_pairs": pairs if ci else None, "gap_min_n": spread["min_n"],
            "gap_left_out": spread["left_out"], "gap_one_class": spread["one_class"], "gap_unknown": spread["unknown"], "gap_groups": spread["compared"], "gap_small_groups": spread["small"]}


def gap_text(table: dict, gap_key: str, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    """'gap 5.2 points (Indian - Black, 95% CI 2.1 to 8.3)': a table's gap, the two groups it is
    between and its interval, then gap_note. `scale`/`unit` print accuracies in points."""
    head = f"gap {scale * table[gap_key]:.{digits}f}{unit}"
    between, ci = table.get("gap_between"), table.get("gap_ci95")
    if between:
        pairs = table.get("gap_pairs") or 1
        widened = f", widened for {table['gap_groups']} groups" if pairs > 1 else ""
        head += f" ({between[0]} - {between[1]}" + (f", 95% CI {scale * ci[0]:.{digits}f} to {scale * ci[1]:.{digits}f}{widened})" if ci else ")")
    return head + gap_note(table)


def gap_note(table: dict) -> str:
    """What a report says beside a group table's gap: which groups it left out (too small, with
    their n; of one class; rows without a value), that it compares groups too small to mean
    much, or that one group has nothing to compare."""
    sizes, one_class, unknown = table.get("groups", {}), table.get("gap_one_class") or {}, table.get("gap_unknown") or []
    set_aside = set(one_class) | set(unknown)  # not compared for what they are, whatever their size
    why = ([f"left out as of one class: {', '.join(f'{g} (only {c})' for g, c in sorted(one_class.items(), key=lambda x: natural_order(x[0])))}"] if one_class else [])
    why += [f"left out as rows without a value: {', '.join(unknown)}"] if unknown else []
    set_aside_text = "; ".join(why)
    and_set_aside = f"; {set_aside_text}" if set_aside_text else ""
    if table.get("gap_groups", 0) <= 1:
        one = "one group left to compare" if set_aside else "one group: nothing to compare"
        return f" ({one}{and_set_aside})" if table.get("gap_groups") == 1 else f" (no group to compare{and_set_aside})"
    if table.get("gap_small_groups"):
        compared = [v["n"] for g, v in sizes.items() if g not in set_aside]
        if compared and max(compared) >= MIN_GROUP_FOR_GAP:
            compared_word = " compared" if set_aside else ""
            return f" (only one group{compared_word} has {MIN_GROUP_FOR_GAP} samples or more: the gap includes groups too small to tell it from chance{and_set_aside})"
        return f" (every group has under {MIN_GROUP_FOR_GAP} samples: too few to tell this gap from chance{and_set_aside})"
    small = [g for g in table.get("gap_left_out") or [] if g not in set_aside]
    if not small and not set_aside:
        return ""
    named = ", ".join(f"{g} (n {sizes[g]['n']})" if g in sizes else g for g in small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
    parts = ([f"groups of n >= {table['gap_min_n']}; left out: {named}"] if small else []) + ([set_aside_text] if set_aside_text else [])
    return f" ({'; '.join(parts)})"


def check_group_column(columns: dict, group_by: str | None, data, per_class: bool = True, split_column: str | None = None) -> None:
    """--group-by must name one of a manifest's extra columns; the label itself is not one (a
    classifier's per-class figures are its report's per-class table; `per_class` False: an age
    report, which has none)."""
    if group_by is None or group_by.lower() in columns:
        return
    others = sorted(columns) or "no extra columns"
    if group_by.lower() in ("label", "class"):
        where = "whose figures per class are already in the report (per_class: recall per class)" if per_class else "which an age report does not group by"
        raise DataError(f"--group-by {group_by}: that is the class itself, {where}; group by another column ({others})")
    if split_column is not None and group_by.lower() == split_column:  # read as the data's splits, not as groups
        raise DataError(f"{data}: --group-by {group_by}: a {group_by.lower()!r} column holds the data's splits; score one at a time with --split NAME")
    if not columns:  # class folders, or a csv of images and labels only
        raise DataError(f"{data}: no column {group_by!r} to group by: groups come from a csv's extra columns (a labels.csv's path,label,{group_by.lower()}; "
                        f"a FER2013-style csv's emotion,pixels,Usage,{group_by.lower()}), and this data has none")
    raise DataError(f"{data}: no column {group_by!r} to group by{closest(group_by, columns)}; the data has {others}")


def proportion_ci95(hits: int, n: int) -> list[float]:
    """The 95% Wilson interval of a proportion (a group's accuracy): wide for a small group,
    so that a figure of 5 faces is read as the guess it is."""
    return [round(v, 4) for v in proportion_interval(hits, n, 0.95)]


def proportion_interval(hits: int, n: int, level: float) -> list[float]:
    """The Wilson interval of a proportion at `level`."""
    from scipy.stats import binomtest

    if n == 0:
        return [0.0, 1.0]
    ci = binomtest(hits, n).proportion_ci(level, method="wilson")
    return [float(ci.low), float(ci.high)]
