"""What a summary keeps of a stream, in memory that does not grow with its length: a camera left
on all day, or a two-hour film, must not take more memory by the hour (1.3 kB per frame with two
faces: about 140 MB an hour at 30 FPS, before these). What still grows is a few hundred bytes
per track (its label counts), which summary.json lists one by one anyway."""

from __future__ import annotations

import random
from array import array
from collections import Counter

import numpy as np


class Percentiles:
    """Percentiles of a stream of numbers: every value up to `keep`, then a uniform random sample
    of `keep` of them (reservoir sampling), whose median and 95th percentile are those of the
    whole stream to well within the rounding a summary prints. The sum and count are exact."""

    def __init__(self, keep: int = 20_000, seed: int = 0):
        self.keep, self.count, self.total = keep, 0, 0.0
        self._values = array("d")
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if len(self._values) < self.keep:
            self._values.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.keep:
                self._values[j] = value

    def __bool__(self) -> bool:
        return self.count > 0

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.frombuffer(self._values, dtype=np.float64), q))


class Series:
    """A track's (time, values) points for a plot, at most `keep` of them: when full, each pair of
    neighbours becomes their mean and every later point averages twice as many frames. A plot is
    a few hundred pixels wide, so what it shows of a long track does not change; a short track
    keeps every frame."""

    def __init__(self, keep: int = 1000):
        self.keep, self.span = keep - keep % 2, 1  # frames per point
        self.points: list[tuple[float, np.ndarray]] = []
        self._pending: list[tuple[float, np.ndarray]] = []  # frames of the point being filled

    def add(self, time_s: float, values: np.ndarray) -> None:
        self._pending.append((time_s, np.asarray(values, dtype=np.float32)))
        if len(self._pending) == self.span:
            self.points.append(_mean(self._pending))
            self._pending = []
            if len(self.points) >= self.keep:
                self.points = [_mean(self.points[i:i + 2]) for i in range(0, len(self.points), 2)]
                self.span *= 2

    def all_points(self) -> list[tuple[float, np.ndarray]]:
        return self.points + ([_mean(self._pending)] if self._pending else [])


def _mean(points: list[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray]:
    return float(np.mean([t for t, _ in points])), np.mean([v for _, v in points], axis=0).astype(np.float32)


class Median:
    """The median of a stream of estimates, each rounded to `decimals` (ages as the frame logs
    round them, to 0.01 year, so that the median printed matches the rows: a track's ages span a
    few years, a few hundred values): a count per value instead of every value."""

    def __init__(self, decimals: int = 2):
        self.decimals = decimals
        self.counts: Counter = Counter()

    def add(self, value: float) -> None:
        self.counts[round(float(value), self.decimals)] += 1

    def __bool__(self) -> bool:
        return bool(self.counts)

    def value(self) -> float:
        values = sorted(self.counts)
        cumulative = np.cumsum([self.counts[v] for v in values])
        n = int(cumulative[-1])
        lower = values[int(np.searchsorted(cumulative, (n - 1) // 2, side="right"))]
        upper = values[int(np.searchsorted(cumulative, n // 2, side="right"))]
        return (lower + upper) / 2
