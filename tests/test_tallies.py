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
        values = rng.uniform(1, 90, n).round(2)  # as the frame logs round ages
        tally = Median()
        for v in values:
            tally.add(v)
        assert np.isclose(tally.value(), np.median(values)), n


def test_the_summary_keeps_timelines_of_the_busiest_tracks_only():
    """A camera left on sees ever more tracks; each kept its timeline, so memory still grew by the
    hour (found by review). The plot shows the six busiest: only those (and the tracks in view) stay."""
    from facesense.runtime.results import to_prediction
    from facesense.stream.detect import Box
    from facesense.stream.frames import Frame
    from facesense.stream.pipeline import FaceResult, FrameResult
    from facesense.stream.sinks import PLOTTED_TRACKS, SummaryCollector

    classes = ["angry", "happy"]
    collector = SummaryCollector()
    image = np.zeros((4, 4, 3), np.uint8)
    frame, seen = 0, []
    for track in range(1, 401):  # 400 people pass, one after another; track 7 stays longest
        for _ in range(100 if track == 7 else 10 + track % 5):
            face = FaceResult(track, Box(0, 0, 2, 2), expression=to_prediction(classes, np.array([0.3, 0.7])))
            collector.add(FrameResult(Frame(frame, frame / 30, image), [face], {"detect": 0.001}), 0.0)
            seen.append(track)
            frame += 1
    # the busiest, and the tracks the tracker may still give back their id (seen in its last 100 frames)
    from facesense.stream.track import KEEP_MISSED, REMEMBER

    recent = len(set(seen[-(KEEP_MISSED + REMEMBER + 1):]))
    assert len(collector.timeline) <= max(2 * PLOTTED_TRACKS + 1, PLOTTED_TRACKS + recent) < 30 and 7 in collector.timeline
    assert sum(1 for r in collector.tracks.values() if r.labels["expression"]) == 400 and len(collector.tracks) == 400


def test_a_track_missed_for_a_frame_keeps_its_timeline():
    """The pruning took 'not in this frame' for 'gone': a face the detector missed once lost its
    timeline, and its panel started where it came back (found by review)."""
    from facesense.runtime.results import to_prediction
    from facesense.stream.detect import Box
    from facesense.stream.frames import Frame
    from facesense.stream.pipeline import FaceResult, FrameResult
    from facesense.stream.sinks import SummaryCollector

    collector = SummaryCollector()
    image = np.zeros((4, 4, 3), np.uint8)
    frame = 0

    def add(tracks):
        nonlocal frame
        faces = [FaceResult(t, Box(0, 0, 2, 2), expression=to_prediction(["a", "b"], np.array([0.4, 0.6]))) for t in tracks]
        collector.add(FrameResult(Frame(frame, frame / 2, image), faces, {"detect": 0.001}), 0.0)  # 2 frames a second (a slow CPU, --stride)
        frame += 1

    for t in range(1, 13):
        for _ in range(10):
            add([t])
    first = (frame + 20) / 2
    for k in range(300):  # 19 comes later than 13-18 (fewer frames: not among the busiest), then is missed for 8 frames (4 s), which the tracker bridges
        add([*range(13, 19), *([] if k < 20 or 150 <= k < 158 else [19]), 1000 + k])  # and a new passer-by every frame
    for _ in range(1500):
        add([19])
    points = collector.timeline[19].all_points()
    assert abs(points[0][0] - first) < 1.0 and collector.tracks[19].first_s == first


def test_a_face_known_again_after_a_while_out_of_sight_keeps_its_whole_timeline():
    """The pruning took a track unseen for 30 frames for gone, but the tracker gives a face back
    its id when it knows it again by its look within 100 frames (hidden behind someone walking
    past): in a busy scene its timeline was dropped and its panel started where it came back,
    under a title and a summary giving its whole span (found by a bug hunt)."""
    from facesense.runtime.results import to_prediction
    from facesense.stream.detect import Box
    from facesense.stream.frames import Frame
    from facesense.stream.pipeline import FaceResult, FrameResult
    from facesense.stream.sinks import SummaryCollector
    from facesense.stream.track import KEEP_MISSED, REMEMBER

    collector = SummaryCollector()
    image = np.zeros((4, 4, 3), np.uint8)
    hidden = KEEP_MISSED + REMEMBER  # the longest a face may be out of sight and come back under its id
    for i in range(150 + hidden):
        tracks = ([1] if i < 30 or i >= 30 + hidden else [])  # track 1: out of sight, then known again
        tracks += list(range(2, 9)) if i < 80 else []  # seven people on stage, longer than track 1 at first
        tracks += [1000 + i // 3 * 3 + k for k in range(3)] if i < 120 else []  # passers-by, three at a time
        faces = [FaceResult(t, Box(0, 0, 2, 2), expression=to_prediction(["a", "b"], np.array([0.4, 0.6]))) for t in tracks]
        collector.add(FrameResult(Frame(i, i / 30, image), faces, {"detect": 0.001}), 0.0)
    points = collector.timeline[1].all_points()
    assert points[0][0] == 0.0 and len(points) == collector.tracks[1].frames == 150
