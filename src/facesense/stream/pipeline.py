"""The real-time pipeline as a generator: Frame in, FrameResult out. No GUI, no files here."""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import FacesenseError
from ..runtime.align import crop_preparer, face_crops
from ..runtime.classifier import FaceClassifier
from ..runtime.faces import left_to_right
from ..runtime.results import AgeEstimate, Prediction
from .detect import Box, detect_photo
from .frames import Frame, Source
from .track import KEEP_MISSED, CutDetector, IoUTracker, iou_matrix, look, smooth

STAGES = ("decode", "detect", "classify", "track")
ATTRIBUTES = ("expression", "gender", "age")  # FaceResult fields, in display order
MAX_HOLD_FRAMES = KEEP_MISSED  # a held box needs its track, which the tracker keeps about that long


@dataclass
class FaceResult:
    track_id: int
    box: Box
    expression: Prediction | None = None
    gender: Prediction | None = None
    age: AgeEstimate | None = None
    held: bool = False  # no face was found here this frame: the track's last box, with its last labels
    # the models that read this face's crop this frame; the others (a crowd beyond the per-frame
    # budget, a held box) repeat its track's labels from the frame they last read it
    read: tuple[str, ...] = ()


def face_record(face: FaceResult) -> dict:
    """One face as plain data, for the Python API and the web app alike: track_id, box
    {x, y, w, h}, `held: true` where no face was found there this frame (the track's last box
    and labels), and per model that ran its label, probability and every class probability
    (age: years, sd, and low90 and high90, its central 90% interval), rounded as the logs round them; a model that is off leaves its key out."""
    out: dict = {"track_id": face.track_id, "box": {"x": face.box.x, "y": face.box.y, "w": face.box.w, "h": face.box.h}}
    if face.held:
        out["held"] = True
    for key in ("expression", "gender"):
        pred = getattr(face, key)
        if pred is not None:
            out[key] = {"label": pred.label, "p": round(pred.p, 4), "probs": {c: round(v, 4) for c, v in pred.probs.items()}}
    if face.age is not None:
        out["age"] = {"years": round(face.age.years, 2), "sd": round(face.age.sd, 2)}
        if face.age.low90 is not None:  # the central 90% interval of the age distribution
            out["age"].update(low90=round(face.age.low90, 2), high90=round(face.age.high90, 2))
    return out


@dataclass
class FaceModels:
    """What the pipeline asks of every face; None switches an attribute off. Each model has
    predict(crops) or predict_boxes(frame, boxes) -> N x K probabilities, and result(probs)."""

    expression: FaceClassifier | None = None
    gender: FaceClassifier | None = None
    age: object | None = None  # an age model (runtime.loading.load_age_model)

    def enabled(self) -> list[tuple[str, object]]:
        return [(key, m) for key in ATTRIBUTES if (m := getattr(self, key)) is not None]

    def names(self) -> dict[str, str | None]:
        """Which model gives each attribute, as it was named (a shipped name, a run folder, a
        file), None where it is off: a summary of one's own model looked like the default's."""
        return {key: None if (m := getattr(self, key)) is None else str(getattr(m, "name", type(m).__name__)) for key in ATTRIBUTES}


@dataclass
class FrameResult:
    frame: Frame
    faces: list[FaceResult]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    # a face in view that took back the id it had before (a face coming out from behind another
    # is given a new id until its first clear views show whose face it is): {new id: id taken}
    renamed: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)  # checked once, when made: a field set afterwards (smoothing=0) escaped the checks; dataclasses.replace makes a checked copy
class PipelineSettings:
    smoothing: float = 0.4  # EMA weight of the newest look at a face (a frame it was classified on; 1 = off)
    # the same for the age estimate, which does not change within a clip: at 0.4 a track's age
    # jumped up to 8 years between two frames on the shared clips, at 0.2 at most 4.3 (0.1: 2.4,
    # but a poor first look then weighs on for longer; bench/label_stability.py --age-smoothing)
    age_smoothing: float = 0.2
    detect_every: int = 5  # full-frame detection every N frames; in between only around tracked faces
    margin: float = 0.0  # widen face crops by this fraction of the box
    confirm_hits: int = 3  # detections before a track's box may be held through missed frames
    # at most this many frames in a row a confirmed face is shown undetected; 4 bridges the gap to
    # the next full pass (detect_every 5): 458 of 472 frames of WolfgangLanger_Pexels.mp4 show its
    # one face (2: 451, 6: 462); before the limit, a face that had left stayed on screen for good
    hold_frames: int = 4
    cut_threshold: float = 20.0  # frame change that counts as a scene cut: tracks restart (0 = off)
    # at most this many faces of a video frame go through the expression model (0 = every face);
    # the others show their track's smoothed labels until their turn, least recently classified
    # first, and a new face is always classified. 4: with six faces each is classified on two
    # frames of three, the step that takes six_faces_grid.mp4 from about 40 to 45+ FPS on a
    # 2-core CPU (bench/detectors.py); up to four faces every expression is fresh
    classify_per_frame: int = 4
    # the same for the gender and age models: a person's gender and age do not change from one
    # frame to the next, so they get fewer fresh looks than expression, which does (six faces:
    # each every third frame; smoothing weighs each look, so they settle over more frames);
    # 0 = every face
    gender_age_per_frame: int = 2

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # a number given as text ('0.5' from a form or a file)
            value, kind = getattr(self, f.name), (float if f.type in (float, "float") else int)
            try:
                usable = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and (kind is float or float(value).is_integer())
            except OverflowError:  # an integer past float's range: no sensible count or weight
                usable = False
            if not usable:
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                raise FacesenseError(f"{f.name}={shown}: must be a{'n integer' if kind is int else ' finite number'} in range")
            object.__setattr__(self, f.name, kind(value))  # numpy numbers too, as plain Python ones
        # 0 would freeze every track's first prediction for good; 0 frames would divide by zero
        for name in ("smoothing", "age_smoothing"):
            if not 0 < getattr(self, name) <= 1:
                raise FacesenseError(f"{name}={getattr(self, name)}: must be in (0, 1] (weight of the newest look at a face; 1 = off, "
                                     f"{getattr(PipelineSettings, name)} = default)")
        if self.detect_every < 1:
            raise FacesenseError(f"detect_every={self.detect_every}: must be >= 1 (1 = detect on every frame)")
        if not 0 <= self.margin <= 1:
            raise FacesenseError(f"margin={self.margin}: must be in [0, 1] (fraction of the face box added on each side)")
        if self.confirm_hits < 1:
            raise FacesenseError(f"confirm_hits={self.confirm_hits}: must be >= 1")
        if not 0 <= self.hold_frames <= MAX_HOLD_FRAMES:  # the tracker lets a face go after that many misses: beyond, the hold ended there all the same
            raise FacesenseError(f"hold_frames={self.hold_frames}: must be from 0 to {MAX_HOLD_FRAMES} (0 = show only detected faces; a face missed longer is let go)")
        if self.classify_per_frame < 0:
            raise FacesenseError(f"classify_per_frame={self.classify_per_frame}: must be >= 0 (faces classified per frame; 0 = every face)")
        if self.gender_age_per_frame < 0:
            raise FacesenseError(f"gender_age_per_frame={self.gender_age_per_frame}: must be >= 0 (faces given fresh gender and age per frame; 0 = every face)")
        if self.cut_threshold < 0:
            raise FacesenseError(f"cut_threshold={self.cut_threshold}: must be >= 0 (mean grey-level change 0-255 between frames; 0 = never restart tracks)")

    def budget(self, key: str) -> int:
        """Faces per video frame that the model of this FaceResult field sees (0 = all)."""
        return self.classify_per_frame if key == "expression" else self.gender_age_per_frame


def classify_faces(image: np.ndarray, boxes: list[Box], models, margin: float) -> dict[str, np.ndarray]:
    """Every face through every model, one batch per model -> {key: N x K probabilities}. Each
    model gets the crops its input spec asks for (aligned to its reference points, or plain with
    a margin); models that ask for the same crops share them."""
    crops: dict[tuple, list] = {}
    outputs = {}
    for key, model in models:
        if hasattr(model, "predict_boxes"):  # a model that takes the frame and crops it itself
            outputs[key] = model.predict_boxes(image, boxes)
            continue
        m = model.margin if model.margin is not None else margin
        spec = model.spec
        kind = (spec.align, spec.size) if spec.align is not None else (None, m)
        if kind not in crops:
            crops[kind] = face_crops(image, boxes, spec, m)
        outputs[key] = model.predict(crops[kind])
    return outputs


def analyze_image(image: np.ndarray, detector, face_models: FaceModels, margin: float = 0.0) -> FrameResult:
    """One still image (BGR): detection and classification, no tracking or smoothing; faces
    numbered left to right, as predict and live number a photo's faces."""
    t0 = time.perf_counter()
    boxes = left_to_right(detect_photo(detector, image))
    t1 = time.perf_counter()
    models = face_models.enabled()
    outputs = classify_faces(image, boxes, models, margin)
    faces = []
    for i, box in enumerate(boxes):
        face = FaceResult(i + 1, box.within(image.shape[1], image.shape[0]))
        for key, model in models:
            setattr(face, key, model.result(outputs[key][i]))
        faces.append(face)
    return FrameResult(Frame(0, 0.0, image), faces, {"detect": t1 - t0, "classify": time.perf_counter() - t1})


def classify_crop(image: np.ndarray, face_models: FaceModels) -> FrameResult:
    """One face crop (BGR) classified whole, as `predict --crops` reads a crop file: no
    detection, the image is the face's box (aligned first for a model trained on aligned faces)."""
    t0 = time.perf_counter()
    box = Box(0, 0, image.shape[1], image.shape[0])
    face = FaceResult(1, box)
    for key, model in face_models.enabled():
        if hasattr(model, "predict_boxes"):  # a model that takes the frame and crops it itself
            probs = model.predict_boxes(image, [box])[0]
        else:
            prepare = crop_preparer(model.spec)
            probs = model.predict([prepare(image) if prepare else image])[0]
        setattr(face, key, model.result(probs))
    return FrameResult(Frame(0, 0.0, image), [face], {"detect": 0.0, "classify": time.perf_counter() - t0})


def find_faces(detector, image: np.ndarray, recent: list, full_pass: bool, settings: PipelineSettings, iou_threshold: float) -> tuple[list[Box], list[bool]]:
    """-> (boxes, held flags). A full-frame pass on full-pass frames (or with no face to follow);
    then a closer, cheaper look around each recently seen face the pass did not find. A
    confirmed face that the closer look misses too is shown at its last box (held) for at most
    `hold_frames` frames in a row; an unconfirmed one (a likely false detection) is let go."""
    near_ok = hasattr(detector, "detect_near")
    boxes = detector.detect(image) if full_pass or not recent or not near_ok else []
    held = [False] * len(boxes)
    if not recent or not near_ok:
        return boxes, held
    def as_array(bs: list[Box]) -> np.ndarray:
        return np.array([b.as_tuple() for b in bs], dtype=float).reshape(-1, 4)

    ahead = [t.predicted() for t in recent]
    overlap = iou_matrix(np.array(ahead), as_array(boxes))
    pending = [(t, p) for t, p, row in zip(recent, ahead, overlap) if not (row >= iou_threshold).any()]
    # looked for where each face should be by now (a moving face's last box lags behind it), and
    # where it was last seen if not there (it stopped, or turned back)
    near = detector.detect_near(image, [Box(*map(int, p)) for _, p in pending]) if pending else []
    again = [i for i, (box, (track, p)) in enumerate(zip(near, pending)) if box is None and not np.array_equal(p, track.box)]
    for i, box in zip(again, detector.detect_near(image, [Box(*map(int, pending[i][0].box)) for i in again]) if again else []):
        near[i] = box
    for box in near:
        # a face this frame already has (found by the full pass, or by another face's closer
        # look) is not added twice
        if box is not None and iou_matrix(as_array([box]), as_array(boxes)).max(initial=0) < iou_threshold:
            boxes.append(box)
            held.append(False)
    found = as_array(boxes)
    for box, (track, p) in zip(near, pending):
        # a face its closer look missed is held, and one whose look found another face nearby
        # (two faces close together), unless a box was found where it should be or was: a face
        # found by another's look is not held as well (the held box would take its track)
        others = [q for t, q in zip(recent, ahead) if t is not track]
        someone_else = box is not None and iou_matrix(as_array([box]), np.array(others).reshape(-1, 4)).max(initial=0) >= iou_threshold
        # (a track after a scene cut, without an id until a face of the new scene is found there,
        # holds nothing: with confirm_hits 1 the last scene's face was held on the new one, as a new id)
        if (box is None or someone_else) and track.id is not None and track.hits >= settings.confirm_hits and track.missed < settings.hold_frames \
                and iou_matrix(np.array([p, track.box]), found).max(initial=0) < iou_threshold:
            boxes.append(Box(*map(int, track.box), 0.0))
            held.append(True)
    return boxes, held


class LiveSession:
    """One stream's state: its tracker, scene-cut detector and per-track smoothing. `process`
    takes the stream's frames in order; each stream (a video, a camera, a browser connection)
    has its own session, so two streams never share tracks. The detector and models may be
    shared between sessions (they keep no per-stream state)."""

    def __init__(self, detector, face_models: FaceModels, settings: PipelineSettings | None = None):
        self.detector = detector
        self.settings = settings or PipelineSettings()
        self.models = face_models.enabled()
        self.tracker = IoUTracker(confirm_hits=self.settings.confirm_hits)
        self.cuts = CutDetector(self.settings.cut_threshold)
        self.frames = 0  # frames processed so far

    def process(self, frame: Frame, decode_s: float = 0.0) -> FrameResult:
        """The next frame of this stream -> its faces with track ids and smoothed labels."""
        settings, tracker = self.settings, self.tracker
        t1 = time.perf_counter()
        # a photo is a scene of its own: a full search, and no track, smoothing or held box
        # carries over from the photo before; in a video, a hard cut means other people now
        photo = frame.photo is not None
        cut = not photo and self.cuts.is_cut(frame.image, getattr(frame, "between", ()))
        if photo:
            tracker.forget()
        elif cut:
            tracker.split()
        # the last scene's boxes are looked at on the cut frame only (a place to look first, beside
        # the full pass); one that no face took there is no face: its closer look on the next frames
        # found the part of a new face inside its window, which, looked at first, took that
        # face's place (half a face boxed and classified, after a cut in a concatenated clip)
        recent = [] if photo else [t for t in tracker.tracks if t.missed <= settings.hold_frames and (cut or t.id is not None)]
        # a confirmed face lost for longer than it is held, but still kept by the tracker, is
        # searched for on every frame: back within those frames, it keeps its id (with another
        # face in view, only the next full pass looked for it, and it came back under a new id)
        lost = any(t.hits >= settings.confirm_hits and t.missed > settings.hold_frames for t in tracker.tracks)
        # a scene cut shows other people, anywhere in the frame: the closer looks search only
        # where the last scene's faces were, and the new scene's other faces went unseen until
        # the next full pass (four frames at the cut of short_hamilton_clip.mp4)
        full_pass = photo or cut or lost or self.frames % settings.detect_every == 0
        if photo:  # searched for small faces too; numbered left to right, as predict numbers them
            boxes = left_to_right(detect_photo(self.detector, frame.image))
            held = [False] * len(boxes)
        else:
            boxes, held = find_faces(self.detector, frame.image, recent, full_pass, settings, tracker.iou_threshold)
        t2 = time.perf_counter()
        # each found face's colour look, by which the tracker tells crossing people apart and
        # knows one again after a while out of sight (a photo has no tracks to match)
        looks = None if photo else [None if h else look(frame.image, b.as_tuple()) for b, h in zip(boxes, held)]
        tracks = tracker.update(np.array([b.as_tuple() for b in boxes], dtype=float), held, looks)
        t3 = time.perf_counter()
        # models with the same budget see the same faces in one call, so one network that is
        # both the gender and the age model runs once (crops are shared within a call only)
        outputs, rows = {}, {}
        for budget in sorted({settings.budget(key) for key, _ in self.models}):
            group = [(key, model) for key, model in self.models if settings.budget(key) == budget]
            chosen = self._to_classify(tracks, held, photo, [key for key, _ in group], budget)
            outputs.update(classify_faces(frame.image, [boxes[i] for i in chosen], group, settings.margin))
            rows.update({key: {i: n for n, i in enumerate(chosen)} for key, _ in group})
        t4 = time.perf_counter()
        faces = []
        for i, (box, track) in enumerate(zip(boxes, tracks)):
            face = FaceResult(track.id, box.within(frame.image.shape[1], frame.image.shape[0]), held=held[i])  # the crop above used the whole box
            for key, model in self.models:
                if i in rows[key]:
                    track.classified_at[key] = self.frames
                    track.read_rank[key] = rows[key][i]  # its place in this frame's queue order
                    probs = smooth(track, key, outputs[key][rows[key][i]], settings.age_smoothing if key == "age" else settings.smoothing)
                    face.read += (key,)
                else:
                    probs = track.probs[key]
                setattr(face, key, model.result(probs))
            faces.append(face)
        self.frames += 1
        return FrameResult(frame, faces, {"decode": decode_s, "detect": t2 - t1, "classify": t4 - t3, "track": t3 - t2}, dict(tracker.renamed))

    @staticmethod
    def _to_classify(tracks: list, held: list[bool], photo: bool, keys: list[str], budget: int) -> list[int]:
        """Indices of the faces that go through the models `keys` this frame: all of them in a
        photo or within the budget; else every face without their labels yet (a new face or one
        after a cut), then the least recently classified up to the budget. A held box (no face
        was found there this frame) keeps its labels: what it holds may be a hand or a wall, whose
        crop would pull the smoothed labels away. At least one labelled face gets its turn, so a
        stream of new (often false) detections cannot freeze the others' labels."""
        labelled = [all(k in t.probs for k in keys) for t in tracks]
        candidates = [i for i in range(len(tracks)) if not (held[i] and labelled[i])]
        if photo or budget == 0 or len(candidates) <= budget:
            return candidates
        new = [i for i in candidates if not labelled[i]]
        # a queue: the least recently read first, and those read on one frame in the order they
        # were taken then (returned in that order, which read_rank keeps); ties broken by list
        # position read the first faces on every frame and the others on every other
        waiting = sorted((i for i in candidates if labelled[i]), key=lambda i: (tracks[i].classified_at.get(keys[0], -1), tracks[i].read_rank.get(keys[0], 0)))
        return new + waiting[: max(1, budget - len(new))]


def run_pipeline(
    source: Source,
    detector,
    face_models: FaceModels,
    settings: PipelineSettings | None = None,
    max_frames: int | None = None,
) -> Iterator[FrameResult]:
    session = LiveSession(detector, face_models, settings)
    frames = iter(source)
    while max_frames is None or session.frames < max_frames:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            return
        yield session.process(frame, time.perf_counter() - t0)
