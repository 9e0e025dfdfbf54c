"""The aligner: landmarks land on the model's reference points; plain crops where the model
was trained on plain crops; the box fallback for detectors without landmarks."""

import numpy as np
import pytest

from facesense.preprocess import InputSpec
from facesense.runtime.align import BOX_LANDMARKS, align_face, face_crops, landmarks_of, similarity_to
from facesense.runtime.faces import Box

REFERENCE = ((0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75))


def synthetic_face(landmarks: np.ndarray, shape=(240, 320)) -> np.ndarray:
    """A grey image with a distinct bright dot (a different colour each) at every landmark."""
    import cv2

    image = np.full((*shape, 3), 60, np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for (x, y), c in zip(landmarks, colours):
        cv2.circle(image, (int(round(x)), int(round(y))), 3, c, -1)
    return image


def dot_centre(chip: np.ndarray, colour) -> np.ndarray:
    mask = np.all(np.abs(chip.astype(int) - colour) < 90, axis=2)
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_similarity_recovers_a_known_rotation_scale_and_shift():
    ref = np.array(REFERENCE) * 100
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([40.0, -12.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (ref @ rot.T) * scale + shift  # the face: the reference turned, scaled and moved
    m = similarity_to(points, ref)
    assert np.c_[points, np.ones(5)] @ m.T == pytest.approx(ref, abs=1e-6)


def test_a_tilted_synthetic_face_is_aligned_onto_the_reference_points():
    size = 112
    ref = np.array(REFERENCE) * size
    angle = np.deg2rad(-15)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (ref - size / 2) @ rot.T * 1.6 + np.array([170.0, 120.0])
    image = synthetic_face(landmarks)
    chip = face_crops(image, [Box(100, 40, 140, 160, 1.0, landmarks.astype(np.float32))], InputSpec(size=size, channels=3, align=REFERENCE))[0]
    assert chip.shape == (size, size, 3)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for point, colour in zip(ref, colours):
        assert np.linalg.norm(dot_centre(chip, colour) - point) < 1.5


def test_plain_crop_models_get_the_box_with_its_margin():
    image = np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3)
    crop = face_crops(image, [Box(20, 30, 40, 40)], InputSpec(size=48, channels=1), margin=0.25)[0]
    assert crop.shape == (60, 60, 3) and (crop == image[20:80, 10:70]).all()


def test_a_box_without_landmarks_gets_the_measured_fallback():
    box = Box(10, 20, 100, 120)
    expected = BOX_LANDMARKS * [100, 120] + [10, 20]
    assert landmarks_of(box) == pytest.approx(expected)
    # eyes above the nose above the mouth, left before right
    lm = landmarks_of(box)
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0] and lm[0, 1] < lm[2, 1] < lm[3, 1]
    chip = align_face(np.zeros((200, 200, 3), np.uint8), lm, REFERENCE, 32)
    assert chip.shape == (32, 32, 3)


def test_input_spec_keeps_its_reference_points_through_a_dict():
    spec = InputSpec(size=64, channels=3, align=REFERENCE)
    again = InputSpec.from_dict({**spec.to_dict(), "align": [list(p) for p in REFERENCE]})
    assert again == spec and InputSpec.from_dict({"size": 48}).align is None


def test_crop_aligner_builds_its_detector_once_across_threads(monkeypatch):
    # decode aligns on several threads; each must not build its own ONNX session
    import threading
    import time

    from facesense.runtime import align

    built = []

    class SlowDetector:
        def __init__(self, **kwargs):
            time.sleep(0.05)  # wide window for a race
            built.append(self)

        def detect(self, image, width=None):
            return []

    monkeypatch.setattr(align, "CenterFaceDetector", SlowDetector)
    align._build_crop_landmark_detector.cache_clear()
    try:
        threads = [threading.Thread(target=align.crop_landmarks, args=(np.zeros((40, 40, 3), np.uint8),)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        align._build_crop_landmark_detector.cache_clear()
    assert len(built) == 1


def test_a_face_in_a_panorama_wider_than_opencv_warps_is_aligned():
    """A 33,000 px wide photo with a face: warpAffine refuses images of 32,767 px or more a
    side, and `live` ended with a traceback (found by a bug hunt). The chip is cut from the part
    of the photo it samples: the same chip."""
    from facesense.preprocess import REFERENCES
    from facesense.runtime.align import align_face

    rng = np.random.default_rng(0)
    wide = rng.integers(0, 255, (300, 33000, 3), dtype=np.uint8)
    landmarks = np.array([[16050, 120], [16110, 120], [16080, 150], [16055, 180], [16105, 180]], np.float32)
    chip = align_face(wide, landmarks, REFERENCES["dlib_chip"], 64)
    assert np.array_equal(chip, align_face(wide[:, 15000:17500].copy(), landmarks - [15000, 0], REFERENCES["dlib_chip"], 64))
    edge = np.array([[10, 5], [60, 5], [35, 30], [15, 60], [55, 60]], np.float32)  # the chip leaves the photo: edges replicate as before
    assert np.array_equal(align_face(wide, edge, REFERENCES["dlib_chip"], 64), align_face(wide[:, :3000].copy(), edge, REFERENCES["dlib_chip"], 64))
    one_point = np.full((5, 2), 100, np.float32)  # a degenerate detection: no transform, but no OpenCV error either (found by a review)
    assert align_face(wide, one_point, REFERENCES["dlib_chip"], 64).shape == (64, 64, 3)
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    assert align_face(tall, landmarks[:, ::-1].copy(), REFERENCES["dlib_chip"], 64).shape == (64, 64, 3)
