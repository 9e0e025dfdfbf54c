"""What a model says about one face."""

from __future__ import annotations

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


def to_prediction(classes: list[str], probs: np.ndarray) -> Prediction:
    i = int(np.argmax(probs))
    return Prediction(classes[i], float(probs[i]), {c: float(v) for c, v in zip(classes, probs)})
