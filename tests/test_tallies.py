"""The summary's bounded-memory tallies: exact for short streams, close and bounded for long ones."""

import numpy as np

from facesense.stream.tallies import Median, Percentiles, Series


def test_percentiles_are_exact_until_the_sample_fills_then_close_in_bounded_memory():
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 5.0, 50_000)
    tally = Percentiles(keep=60_000)
    for v in values:
        tally.add(v)
    assert tally.percentile(50) == np.percentile(values, 50) and tally.percentile(95) == np.percentile(values, 95)
    small = Percentiles(keep=5_000)
    for v in values:
        small.add(v)
    assert len(small._values) == 5_000 and small.count == 50_000 and abs(small.total - values.sum()) < 1e-6 * values.sum()
    for q in (50, 95):
        assert abs(small.percentile(q) - np.percentile(values, q)) < 0.05 * np.percentile(values, q)


def test_a_long_series_keeps_at_most_its_points_and_their_mean():
    series = Series(keep=100)
    times = np.arange(1000) / 30
    for t in times:
        series.add(t, [t, 1 - t])
    points = series.all_points()
    assert len(points) <= 100 and abs(points[0][0] - 0) < 1 and abs(points[-1][0] - times[-1]) < 1
    assert np.isclose(np.mean([t for t, _ in points]), times.mean(), rtol=0.02)
    short = Series(keep=100)
    for t in times[:40]:
        short.add(t, [t, 0.0])
    assert [t for t, _ in short.all_points()] == list(times[:40].astype(float))  # a short track: every frame


def test_median_of_rounded_estimates():
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        values = rng.uniform(1, 90, n).round(3)
        tally = Median()
        for v in values:
            tally.add(v)
        assert np.isclose(tally.value(), np.median(values)), n
