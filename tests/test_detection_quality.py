"""The default detector on the real clips and photos in ../shared/data (skipped when absent)."""

import cv2
import numpy as np
import pytest

from conftest import shared_data
from facesense.stream.detect import build_detector
from facesense.stream.frames import open_source
from facesense.stream.track import iou_matrix


def hit_rate(video) -> float:
    detector = build_detector()
    hits = [bool(detector.detect(f.image)) for f in open_source(str(video))]
    return sum(hits) / len(hits)


@pytest.mark.parametrize("name", ["single_face.mp4", "WolfgangLanger_Pexels.mp4"])
def test_finds_the_face_in_95_percent_of_frames(name):
    assert hit_rate(shared_data(f"videos/{name}")) >= 0.95


def test_at_most_1_percent_false_detections():
    assert hit_rate(shared_data("videos/no_face.mp4")) <= 0.01


def test_multi_face_photo():
    image = cv2.imread(str(shared_data("images/multi_face.jpg")))
    assert len(build_detector().detect(image)) >= 4


def test_profile_detector_finds_turned_faces_the_frontal_one_misses():
    video = shared_data("videos/short_hamilton_clip.mp4")
    frames = [f.image for f in open_source(str(video), stride=5)]
    frontal, profile = build_detector("haar_alt2"), build_detector("haar_profile")
    seen = [(bool(frontal.detect(f)), bool(profile.detect(f))) for f in frames]
    assert sum(p for _, p in seen) >= sum(f for f, _ in seen) + 0.08 * len(seen)  # measured: 67% -> 82%
    assert all(p for f, p in seen if f)  # it keeps every frontal find


def test_profile_detector_keeps_false_alarms_rare_and_mirrors_its_boxes():
    detector = build_detector("haar_profile")
    quiet = [f.image for f in open_source(str(shared_data("videos/no_face.mp4")), stride=3)]
    assert sum(bool(detector.detect(f)) for f in quiet) == 0
    assert len(detector.detect(cv2.imread(str(shared_data("images/multi_face.jpg"))))) >= 4
    # a face turned one way in the frame is found turned the other way in its mirror, at the mirrored place
    frame = next(f.image for f in open_source(str(shared_data("videos/short_hamilton_clip.mp4"))) if f.index == 230)
    width = frame.shape[1]
    boxes = np.array([b.as_tuple() for b in detector.detect(frame)], float)
    mirrored = np.array([(width - b.x - b.w, b.y, b.w, b.h) for b in detector.detect(cv2.flip(frame, 1))], float)
    assert len(boxes) >= 2 and len(boxes) == len(mirrored)  # the frontal face and a turned one
    assert (iou_matrix(boxes, mirrored).max(axis=1) >= 0.7).all()
