"""The real-time pipeline as a generator: Frame in, FrameResult out. No GUI, no files here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import FacesenseError
from .classify import AgeEstimate, FaceClassifier, Prediction, crop_faces, to_prediction  # noqa: F401 (re-exported)
from .detect import Box
from .frames import Frame, Source
from .track import IoUTracker, smooth

STAGES = ("decode", "detect", "classify", "track")
ATTRIBUTES = ("expression", "gender", "age")  # FaceResult fields, in display order


@dataclass
class FaceResult:
    track_id: int
    box: Box
    expression: Prediction | None = None
    gender: Prediction | None = None
    age: AgeEstimate | None = None


@dataclass
class FaceModels:
    """What the pipeline asks of every face; None switches an attribute off. Each model has
    predict(crops) or predict_boxes(frame, boxes) -> N x K probabilities, and result(probs)."""

    expression: FaceClassifier | None = None
    gender: FaceClassifier | None = None
    age: object | None = None  # thirdparty.AgeModel (an optional package)

    def enabled(self) -> list[tuple[str, object]]:
        return [(key, m) for key in ATTRIBUTES if (m := getattr(self, key)) is not None]


@dataclass
class FrameResult:
    frame: Frame
    faces: list[FaceResult]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


@dataclass
class PipelineSettings:
    smoothing: float = 0.4  # EMA weight of the newest frame (1 = off)
    detect_every: int = 5  # full-frame detection every N frames; in between only around tracked faces
    margin: float = 0.0  # widen face crops by this fraction of the box
    confirm_hits: int = 3  # detections before a track's box may be held through a missed frame

    def __post_init__(self) -> None:
        # 0 would freeze every track's first prediction for good; 0 frames would divide by zero
        if not 0 < self.smoothing <= 1:
            raise FacesenseError(f"smoothing={self.smoothing}: must be in (0, 1] (weight of the newest frame; 1 = off, 0.4 = default)")
        if self.detect_every < 1:
            raise FacesenseError(f"detect_every={self.detect_every}: must be >= 1 (1 = detect on every frame)")
        if not 0 <= self.margin <= 1:
            raise FacesenseError(f"margin={self.margin}: must be in [0, 1] (fraction of the face box added on each side)")
        if self.confirm_hits < 1:
            raise FacesenseError(f"confirm_hits={self.confirm_hits}: must be >= 1")


def classify_faces(image: np.ndarray, boxes: list[Box], models, margin: float) -> dict[str, np.ndarray]:
    """Every face through every model, one batch per model -> {key: N x K probabilities}."""
    crops: dict[float, list] = {}  # one crop list per margin the models want
    outputs = {}
    for key, model in models:
        if hasattr(model, "predict_boxes"):  # it crops (aligns) the faces itself
            outputs[key] = model.predict_boxes(image, boxes)
            continue
        m = model.margin if model.margin is not None else margin
        if m not in crops:
            crops[m] = crop_faces(image, boxes, m)
        outputs[key] = model.predict(crops[m])
    return outputs


def analyze_image(image: np.ndarray, detector, face_models: FaceModels, margin: float = 0.0) -> FrameResult:
    """One still image (BGR): detection and classification, no tracking or smoothing."""
    t0 = time.perf_counter()
    boxes = detector.detect(image)
    t1 = time.perf_counter()
    models = face_models.enabled()
    outputs = classify_faces(image, boxes, models, margin)
    faces = []
    for i, box in enumerate(boxes):
        face = FaceResult(i + 1, box)
        for key, model in models:
            setattr(face, key, model.result(outputs[key][i]))
        faces.append(face)
    return FrameResult(Frame(0, 0.0, image), faces, {"detect": t1 - t0, "classify": time.perf_counter() - t1})


def run_pipeline(
    source: Source,
    detector,
    face_models: FaceModels,
    settings: PipelineSettings | None = None,
    max_frames: int | None = None,
) -> Iterator[FrameResult]:
    settings = settings or PipelineSettings()
    tracker = IoUTracker()
    models = face_models.enabled()
    frames = iter(source)
    count = 0
    while max_frames is None or count < max_frames:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            return
        t1 = time.perf_counter()
        tracked = [t for t in tracker.tracks if t.missed <= 1]
        if count % settings.detect_every == 0 or not tracked or not hasattr(detector, "detect_near"):
            boxes = detector.detect(frame.image)
        else:  # between full passes, look only around the faces being tracked
            near = detector.detect_near(frame.image, [Box(*map(int, t.box)) for t in tracked])
            # a confirmed face the window search missed keeps its last box until the next full
            # pass; an unconfirmed one (a likely false detection) is let go
            boxes = [b if b is not None else Box(*map(int, t.box), 0.0) for b, t in zip(near, tracked) if b is not None or t.hits >= settings.confirm_hits]
        t2 = time.perf_counter()
        outputs = classify_faces(frame.image, boxes, models, settings.margin)
        t3 = time.perf_counter()
        tracks = tracker.update(np.array([b.as_tuple() for b in boxes], dtype=float))
        faces = []
        for i, (box, track) in enumerate(zip(boxes, tracks)):
            face = FaceResult(track.id, box)
            for key, model in models:
                setattr(face, key, model.result(smooth(track, key, outputs[key][i], settings.smoothing)))
            faces.append(face)
        t4 = time.perf_counter()
        count += 1
        yield FrameResult(frame, faces, {"decode": t1 - t0, "detect": t2 - t1, "classify": t3 - t2, "track": t4 - t3})
