"""What a model says about one face."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Prediction:
    label: str
    p: float
    probs: dict[str, float]


@dataclass
class AgeEstimate:
    years: float  # expected age under the model's distribution over ages
    sd: float  # that distribution's standard deviation: how unsure the model is
    # the distribution's central 90% interval (equal tails), in the model's age bins: a
    # two-humped or skewed distribution is not mean +- sd; None where the model gives no distribution
    low90: float | None = None
    high90: float | None = None


AGE_COLUMNS = ("age_years", "age_sd", "age_low90", "age_high90")


def age_fields(age: AgeEstimate) -> dict:
    """An estimate as a log or prediction row's age columns (AGE_COLUMNS), rounded as every
    output rounds them; a model without a distribution leaves the interval blank."""
    low, high = (None if v is None else round(v, 2) for v in (age.low90, age.high90))
    return dict(zip(AGE_COLUMNS, (round(age.years, 2), round(age.sd, 2), low, high)))


def whole_years(years: float) -> int | str:
    """An age in whole years as every output shows it: the logs' two-decimal figure rounded half
    up (as the web page's Math.round does), so that a face's label, its printed line and its log
    row agree (27.497 was drawn "~27y", logged 27.5 and printed "age 28"); "?" for a model's
    non-finite answer, which must not end a live run."""
    return math.floor(round(years, 2) + 0.5) if math.isfinite(years) else "?"


def to_prediction(classes: list[str], probs: np.ndarray) -> Prediction:
    i = int(np.argmax(probs))
    return Prediction(classes[i], float(probs[i]), {c: float(v) for c, v in zip(classes, probs)})
