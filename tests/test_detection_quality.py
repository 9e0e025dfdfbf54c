"""The default detector on the real clips and photos in ../shared/data (skipped when absent)."""

import cv2
import pytest

from conftest import shared_data
from facesense.stream.detect import build_detector
from facesense.stream.frames import open_source


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
