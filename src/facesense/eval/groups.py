"""Per-group figures (--group-by race, age...): groups in a natural order, and the gap between
the best and worst group measured only over groups large enough for the gap to mean something."""

from __future__ import annotations

from ..data.samples import natural_order

# A group of two faces is right 0%, 50% or 100% of the time: its figure is noise, and a gap
# that includes it says nothing about the model
MIN_GROUP_FOR_GAP = 30


def gap(values: dict[str, float], sizes: dict[str, int], min_n: int = MIN_GROUP_FOR_GAP) -> dict:
    """{gap, min_n, left_out}: best minus worst over the groups of at least `min_n` samples;
    over all groups when fewer than two are that large (a small test set), since a gap of one
    group would read as parity."""
    big = [g for g in values if sizes[g] >= min_n]
    if len(big) < 2:
        big = list(values)
    picked = [values[g] for g in big]
    return {"gap": float(max(picked) - min(picked)) if picked else 0.0, "min_n": min_n if len(big) < len(values) else None,
            "left_out": sorted(set(values) - set(big), key=natural_order)}


def group_table(groups: dict[str, dict], key: str, gap_key: str) -> dict:
    """{"groups": groups, gap_key: the gap of each group's `key` figure, gap_min_n, gap_left_out}:
    a report's per-group table (each group a dict with its n)."""
    spread = gap({g: v[key] for g, v in groups.items()}, {g: v["n"] for g, v in groups.items()})
    return {"groups": groups, gap_key: spread["gap"], "gap_min_n": spread["min_n"], "gap_left_out": spread["left_out"]}


def gap_note(table: dict) -> str:
    """' (groups of n >= 30; 3 smaller left out)' when a group table's gap left groups out."""
    if not table.get("gap_left_out"):
        return ""
    return f" (groups of n >= {table['gap_min_n']}; {len(table['gap_left_out'])} smaller left out)"
