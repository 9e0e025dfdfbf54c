"""Age as a distribution over one-year bins: the output layout of a gender+age network and the
numbers read from it (expected years and spread). Numpy only, so every layer can use it."""

from __future__ import annotations

import numpy as np

GENDER_AGE_TASK = "gender_age"
GENDER_CLASSES = ("man", "woman")
# decade bands used by reports and by the stratified splits (the last one is open-ended)
DECADE_EDGES = (10, 20, 30, 40, 50, 60, 70, 80)


def age_bins(age_max: int) -> np.ndarray:
    """Ages 0, 1, ..., age_max; the last bin stands for age_max and older."""
    return np.arange(age_max + 1, dtype=np.float64)


def output_width(classes: int, age_max: int) -> int:
    """One linear layer on the shared trunk: class logits first, then one logit per age bin."""
    return classes + age_max + 1


def years_and_sd(age_probs: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N x B bin probabilities -> (expected age, standard deviation) per row."""
    p = np.asarray(age_probs, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    years = p @ bins
    sd = np.sqrt(np.maximum((p * (bins[None, :] - years[:, None]) ** 2).sum(axis=1), 0.0))
    return years, sd


def central_interval(age_probs: np.ndarray, bins: np.ndarray, mass: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The equal-tailed interval holding `mass` of each row's distribution: (low, high) ages."""
    p = np.asarray(age_probs, dtype=np.float64)
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    tail = (1 - mass) / 2
    low = bins[np.minimum((cdf < tail).sum(axis=1), len(bins) - 1)]
    high = bins[np.minimum((cdf < 1 - tail).sum(axis=1), len(bins) - 1)]
    return low, high


OLDEST_AGE = 130  # years: an age label above it (or below 0) is a typo, not a person


def is_age_in_years(text: str) -> bool:
    """Whether a cell is an age a person can have: a number from 0 to OLDEST_AGE."""
    try:
        return 0 <= float(text) <= OLDEST_AGE  # nan fails the comparison
    except ValueError:
        return False


def decade(age: float) -> str:
    """'0-9', '10-19', ..., '80+'."""
    top = DECADE_EDGES[-1]
    if age >= top:
        return f"{top}+"
    low = int(age // 10 * 10)
    return f"{low}-{low + 9}"


def age_band(age: float) -> str:
    """Coarser bands for stratifying splits: children, then decades of adults, 70+."""
    if age < 18:
        return "0-17"
    if age < 30:
        return "18-29"
    if age >= 70:
        return "70+"
    return decade(age)
