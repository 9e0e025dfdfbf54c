"""facesense's Python API: the main jobs in a few stable calls.

    import facesense

    faces = facesense.analyse_image("group.jpg")           # every face: box, expression, gender, probabilities
    analyser = facesense.FaceAnalyser(age="dlib-age")        # load the models once, reuse them
    for result in analyser.stream("clip.mp4", max_frames=100):
        print(result.frame.index, [facesense.face_dict(f) for f in result.faces])
    metrics = facesense.evaluate("expression", "fer2013.csv.gz", "eval/expression", split="PublicTest")
    mood = facesense.image_sentiment("beach.jpg")           # the whole photo's mood: label, p, probs

Importing facesense loads nothing heavy and reads no argv, environment or working directory;
models load when a `FaceAnalyser` is made. Errors the caller can fix raise `FacesenseError`
(its message names the file or value and the fix).
"""

from __future__ import annotations

import logging
import math
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import EVAL_MODULES, FacesenseError
from .runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER, model_or_off
from .stream.detect import DEFAULT_DETECTOR

log = logging.getLogger(__name__)


def _shown(value) -> str:
    """A value as an error message quotes it: whole when short, else its type and size (a
    photo passed as a list printed five million characters)."""
    text = repr(value)
    if len(text) <= 80:
        return text
    size = f" of shape {value.shape}" if hasattr(value, "shape") else f" of length {len(value)}" if hasattr(value, "__len__") else ""
    return f"<{type(value).__name__}{size}>"


def face_dict(face) -> dict:
    """One face of a result as plain data (what `analyse_image` returns and `serve` answers):
    track_id, box {x, y, w, h}, and per enabled model its label, probability and all class
    probabilities (age: years, sd and the central 90% interval, low90 and high90). A face already in this form (from `.analyse`) is returned
    as it is."""
    if isinstance(face, dict) and {"track_id", "box"} <= set(face):
        return face
    if not all(hasattr(face, key) for key in ("track_id", "box", "expression", "gender", "age")):
        raise FacesenseError(f"face={_shown(face)}: give one face of a result (result.faces[i] from FaceAnalyser.stream, or a face .analyse returned)")
    from .stream.pipeline import face_record

    return face_record(face)


class FaceAnalyser:
    """Loads a detector and the face models once. `expression`/`gender`: a shipped name, a
    checkpoint, a run folder or an exported .onnx (None: off; default: the shipped gender+age
    network for gender); `age`: "auto" (default: the gender network's own age when it is a
    gender+age network, from the same run; else the shipped one's), "gender_age", "dlib-age" (an
    optional package), a gender+age file, or None; `detector`: centerface (default), haar_alt2, haar, haar_profile, or yunet with
    `detector_model`; `device`: where the ONNX models run (auto, cpu, cuda)."""

    def __init__(self, expression: str | None = DEFAULT_EXPRESSION, gender: str | None = DEFAULT_GENDER, age: str | None = DEFAULT_AGE, detector: str = DEFAULT_DETECTOR, detector_model: str | None = None, detect_width: int | None = None, device: str = "auto"):
        from .stream.detect import PerThreadDetector, build_detector
        from .stream.live import API_ARGUMENT, load_face_models

        for name, value in (("expression", expression), ("gender", gender), ("age", age), ("detector_model", detector_model)):
            if value is not None and not isinstance(value, (str, Path)):
                raise FacesenseError(f"{name}={_shown(value)}: give a model name or a file path (str or Path), or None to switch it off")
            if isinstance(value, str) and not value.strip():  # os.environ.get("MODEL", "") unset: not "off"
                raise FacesenseError(f"{name}='' is empty (an unset variable?); give a model name or a file path, or None to switch it off")
        # 'none' switches a model off, as on the command line (and as a wrong-task message suggests)
        expression, gender, age = (model_or_off(v) for v in (expression, gender, age))
        _check_device(device)  # (with every model off, nothing else would look at it)
        if detect_width is not None:  # None: 320 px, and for centerface a third of a video frame over 960 px (runtime.faces.search_width)
            _check_number("detect_width", detect_width, 0, integer=True)
        self.models = load_face_models(expression, gender, age, device, style=API_ARGUMENT)
        # one per calling thread: a Haar cascade shared by a thread pool raised OpenCV errors and gave wrong boxes
        # the detector is an ONNX model too: it runs where the classifiers run (device='cpu' left it on the GPU)
        self.detector = PerThreadDetector(lambda: build_detector(detector, detector_model, detect_width, device))
        self.detector_name, self.detector_model, self.detect_width = detector, detector_model, detect_width

    def analyse(self, image: str | Path | np.ndarray, margin: float = 0.0) -> list[dict]:
        """A photo (a path, or an H x W x 3 BGR uint8 array as OpenCV gives; grey and BGRA too) -> one dict per
        face (`face_dict`), numbered left to right (track_id 1, 2, ...) as predict and live number them."""
        from .stream.pipeline import analyze_image

        _check_number("margin", margin, 0, high=1)
        return [face_dict(f) for f in analyze_image(_as_bgr(image), self.detector, self.models, margin).faces]

    def classify(self, image: str | Path | np.ndarray) -> dict:
        """A face crop (a path or an array, as analyse takes them) classified whole, as
        `facesense predict --crops` reads one: no face search, so a tight crop (FER2013's 48 x 48
        faces) the detector would miss is still read. -> one dict as analyse gives per face,
        its box the whole image."""
        from .stream.pipeline import classify_crop

        return face_dict(classify_crop(_as_bgr(image), self.models).faces[0])

    def stream(self, source: str | int, max_frames: int | None = None, settings=None, stride: int = 1, stall_timeout: float = 5.0, reconnect: float = 0.0) -> Iterator:
        """Camera index, video file, stream URL or image folder -> one `FrameResult` per frame
        (frame, faces with track ids and smoothed predictions, per-stage timings). With more
        faces than `settings.classify_per_frame` (default 4; 0 = all) in a frame, a face waiting
        for its turn repeats its last smoothed expression (gender and age: more than
        `settings.gender_age_per_frame`, default 2). The source is
        closed when the loop ends or is left early. A camera or stream that fails mid-way
        raises `SourceFailed` after the frames before it were yielded. Its arguments are checked
        when it is called; the source is opened at the first frame asked for."""
        from .stream.frames import check_source
        from .stream.pipeline import PipelineSettings

        if isinstance(settings, dict):  # {"smoothing": 1} reads as PipelineSettings(smoothing=1)
            try:
                settings = PipelineSettings(**settings)
            except TypeError as exc:
                raise FacesenseError(f"settings: {exc}; the fields are those of facesense.stream.pipeline.PipelineSettings") from None
        elif settings is not None and not isinstance(settings, PipelineSettings):
            raise FacesenseError(f"settings={_shown(settings)}: give a PipelineSettings, a dict of its fields, or None")
        if max_frames is not None:
            _check_number("max_frames", max_frames, 1, integer=True)
        _check_number("stride", stride, 1, integer=True)
        _check_number("stall_timeout", stall_timeout, 0, strict=True)
        _check_number("reconnect", reconnect, 0)
        if isinstance(source, bool) or not isinstance(source, (int, np.integer, str, os.PathLike)):  # True read as camera "True"; an array as a file name
            raise FacesenseError(f"source={_shown(source)}: give a camera index (int), a video or photo folder path, or a stream URL; for an image array use analyse()")
        if isinstance(source, (int, np.integer)):
            _check_number("source", int(source), 0, integer=True, high=2**31 - 1)  # OpenCV crashes the interpreter on -1 and -2, and takes a C int
            source = int(source)
        elif isinstance(source, os.PathLike):  # as analyse() takes one
            source = Path(os.fsdecode(source))
        check_source(source, stride, reconnect)  # an empty source, a stride or reconnect it cannot use
        # a generator of its own: a mistake above is raised by this call, not by the first next()
        return self._frames(source, max_frames, settings or PipelineSettings(), stride, stall_timeout, reconnect)

    def _frames(self, source, max_frames, settings, stride, stall_timeout, reconnect) -> Iterator:
        from .stream.frames import open_source
        from .stream.pipeline import run_pipeline

        src = open_source(source, stride=stride, stall_timeout=stall_timeout, reconnect=reconnect, how_to_stream="FaceAnalyser().stream('{}')",
                          cut_thumbnails=settings.cut_threshold > 0)
        frames = 0
        try:
            for result in run_pipeline(src, self.detector, self.models, settings, max_frames):
                frames += 1
                yield result
        finally:
            src.close()
        if frames == 0:  # as `live` says it: an empty result is not a success
            raise FacesenseError(f"{source}: " + ("no photo could be read (each was skipped with a warning naming why)" if src.photos else "no frame could be read (empty, truncated, or not a video)"))
        ended_early = src.ended_early() if hasattr(src, "ended_early") else None
        if ended_early:  # as `live` warns of it (the frames yielded stop there)
            log.warning("%s: %s", source, ended_early)


class SentimentAnalyser:
    """Loads an image-sentiment model once: the shipped "sentiment" (default), a checkpoint, a
    run folder or an exported .onnx; `device` as FaceAnalyser's. `score(photo)` reads the whole
    photo's mood, as `facesense predict sentiment` and the web page's "photo's mood" do."""

    def __init__(self, model: str | Path = "sentiment", device: str = "auto"):
        from .labels import TASK_CLASSES, normalise
        from .runtime.classifier import FaceClassifier
        from .runtime.loading import names_an_age_model
        from .stream.live import API_ARGUMENT, _named

        if not isinstance(model, (str, Path)) or not str(model).strip():
            raise FacesenseError(f"model={_shown(model)}: give a sentiment model's name (sentiment) or a file path (str or Path)")
        _check_device(device)
        if names_an_age_model(model):
            raise FacesenseError(f"model={model}: estimates a face's age, not a photo's mood; use it as FaceAnalyser(age={str(model)!r})")
        self.model = _named("model", model, API_ARGUMENT, lambda: FaceClassifier.load(str(model), device=device))
        # a face model would read a face's expression or gender off the whole photo, as its mood
        classes = {normalise(c) for c in self.model.classes}
        for task in ("expression", "gender"):
            if classes == set(TASK_CLASSES[task]):
                raise FacesenseError(f"model={model}: is {'an' if task == 'expression' else 'a'} {task} model (classes {', '.join(self.model.classes)}), which reads a face, "
                                     f"not a photo's mood; give a sentiment model (the shipped 'sentiment'), or use this one as FaceAnalyser({task}={str(model)!r})")

    def score(self, image: str | Path | np.ndarray) -> dict:
        """A photo (a path or an array, as FaceAnalyser.analyse takes them) -> {label, p, probs},
        rounded as the web app's answer rounds them."""
        mood = self.model.result(self.model.predict([_as_bgr(image)])[0])
        return {"label": mood.label, "p": round(mood.p, 4), "probs": {c: round(float(v), 4) for c, v in mood.probs.items()}}


def image_sentiment(image: str | Path | np.ndarray, model: str | Path = "sentiment", device: str = "auto") -> dict:
    """One photo's mood in one call (loads the model each time: for many photos make a
    `SentimentAnalyser` once and call its `score`)."""
    return SentimentAnalyser(model, device).score(image)


def _check_device(device) -> None:
    """A caller's device, refused with the choices."""
    from .runtime.session import DEVICES

    if not isinstance(device, str) or device not in DEVICES:
        raise FacesenseError(f"device={_shown(device)}: choose one of {', '.join(DEVICES)}")


def _check_number(name: str, value, low: float, strict: bool = False, high: float | None = None, integer: bool = False) -> None:
    """A caller's number, refused with its name and range (nan passes every comparison, so it is
    refused first; a bool is not a number here)."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    try:
        finite = math.isfinite(value)  # (numpy's isfinite refuses an int past 64 bits with a TypeError)
    except (TypeError, OverflowError):
        finite = False
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and not finite:  # an int past float's range
        raise FacesenseError(f"{name}={_shown(value)}: " + ("too large" if value > 0 else f"must be >= {low:g}"))
    if isinstance(value, bool) or not isinstance(value, kinds) or not finite:
        raise FacesenseError(f"{name}={_shown(value)}: must be a{'n integer' if integer else ' finite number'}")
    if value < low or (strict and value == low) or (high is not None and value > high):
        bounds = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:,}" if isinstance(high, int) else f" and <= {high:g}" if high is not None else "")
        raise FacesenseError(f"{name}={_shown(value)}: must be {bounds}")


def _as_bgr(image: str | Path | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        # grey (H x W or H x W x 1) and BGRA arrays as OpenCV reads such files, taken as a file of them is
        channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
        if channels not in (1, 3, 4) or image.dtype != np.uint8:
            raise FacesenseError(f"image array of shape {image.shape} and dtype {image.dtype}: expected H x W x 3 uint8 (BGR), or H x W grey or H x W x 4 BGRA uint8")
        if min(image.shape[:2]) < 1:
            raise FacesenseError(f"image array of shape {image.shape}: has no pixels")
        if channels != 3:
            import cv2

            if channels == 4:  # over white, as a file with transparency is read (a viewer shows it so): dropping the alpha showed what a transparent area stored
                from PIL import Image

                from .data.images import pil_pixels

                rgba = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGRA2RGBA)
                return cv2.cvtColor(pil_pixels(Image.fromarray(rgba, "RGBA")), cv2.COLOR_RGB2BGR)
            return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2BGR)
        return image
    if not isinstance(image, (str, os.PathLike)) or os.fspath(image) in ("", b""):
        raise FacesenseError(f"image={_shown(image)}: give a photo's file path (str or Path) or an H x W x 3 uint8 BGR array")
    from .data.images import is_video_file, listed_reason
    from .stream.frames import first_frame_only, local_source, read_bgr_image

    text = os.fsdecode(image)
    if not text.strip():
        raise FacesenseError(f"image={_shown(image)}: is blank; give a photo's file path (str or Path) or an H x W x 3 uint8 BGR array")
    if text.lower().startswith("file://"):  # as stream() takes it (another machine's is refused there)
        text = str(local_source(text))
    # (two letters or more: C://photos/a.jpg is a Windows path) Path() would fold https:// into "https:/" and call it not found
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", text):
        raise FacesenseError(f"{text}: analyse() reads a file or an array, not an address; download the photo first (a video stream's address goes to FaceAnalyser().stream())")
    path = Path(text)
    if is_video_file(path):  # a video has its own method
        raise FacesenseError(f"{path}: a video, not a photo; use FaceAnalyser().stream({str(path)!r}) for its frames")
    if path.is_dir():  # a photo folder too
        raise FacesenseError(f"{path}: a folder, not a photo; use FaceAnalyser().stream({str(path)!r}) for each of its photos")
    try:
        image = read_bgr_image(path)
    except FacesenseError as exc:  # without the command line's advice to skip it (--skip-bad, a training config's skip_bad)
        raise type(exc)(listed_reason(exc)) from None
    note = first_frame_only(path, f"FaceAnalyser().stream({str(path)!r})", path.name)
    if note:  # an answer for one frame would read as the whole clip's
        log.warning("%s: %s", path, note)
    return image


def analyse_image(image: str | Path | np.ndarray, expression: str | None = DEFAULT_EXPRESSION, gender: str | None = DEFAULT_GENDER, age: str | None = DEFAULT_AGE, detector: str = DEFAULT_DETECTOR,
                  detector_model: str | None = None, margin: float = 0.0, device: str = "auto") -> list[dict]:
    """Every face of one photo with its box, expression, gender (and age) and their
    probabilities, as `FaceAnalyser(...).analyse(image, margin)` gives them. Loads the models on
    each call: for many images make one `FaceAnalyser`."""
    return FaceAnalyser(expression, gender, age, detector, detector_model=detector_model, device=device).analyse(image, margin)


def evaluate(model: str | Path, data: str | Path, out_dir: str | Path, split: str | None = None, skip_bad: bool = False, label_map: dict | None = None, group_by: str | None = None,
             split_from: str | Path | None = None) -> dict:
    """Full evaluation of `model` (shipped name, checkpoint, run folder, .onnx) on a dataset, as
    `facesense evaluate` does: a classifier writes metrics.json, predictions.csv, plots and
    report.md into `out_dir` and returns the metrics (accuracy, macro_f1, per_class, confusion,
    roc_auc, baseline...); an age model (`age`/`gender_age`, `dlib-age`, a gender+age file)
    writes age_metrics.json and age_predictions.csv and returns the age metrics (mae, by decade).
    `group_by` names a manifest column (e.g. race) to report each group and the gap between them.
    `split_from` (with `split`): score the rows another facesense model held out of this data
    (e.g. split_from="gender_age", split="test" on UTKFace), as `--split-from` does. Messages
    name the command line's option beside the argument (`--skip-bad (skip_bad=True)`)."""
    with _eval_extra():
        from .eval.age import age_target, evaluate_age
        from .eval.evaluate import evaluate_model
    from .data.sources import outside_data
    from .runs import outside_runs

    for name, value in (("model", model), ("data", data), ("out_dir", out_dir)):
        if not isinstance(value, (str, Path)):
            raise FacesenseError(f"{name}={_shown(value)}: give a name or a path (str or Path)")
        if not str(value).strip():  # Path("") is the working folder: its files were scored, or the report written there
            raise FacesenseError(f"{name}={_shown(value)}: is empty; give a name or a path")
    for name, value in (("split", split), ("group_by", group_by)):
        if value is not None and not isinstance(value, str):
            raise FacesenseError(f"{name}={_shown(value)}: give a name (str) or None")
    if split_from is not None:
        if not isinstance(split_from, (str, Path)) or not str(split_from).strip():
            raise FacesenseError(f"split_from={_shown(split_from)}: give a model's name or path (str or Path), or None")
        if split is None:  # as the command line refuses --split-from without --split
            raise FacesenseError(f"split_from={_shown(split_from)}: borrows that model's split of the data; give split= too (e.g. split='test')")
        from .runtime.loading import resolve

        try:  # named as the argument it came from
            resolve(split_from)
        except FacesenseError as exc:
            raise FacesenseError(f"split_from={_shown(split_from)}: {exc}") from None
    if not isinstance(skip_bad, bool):
        raise FacesenseError(f"skip_bad={_shown(skip_bad)}: give True or False")
    if label_map is not None and not isinstance(label_map, dict):
        raise FacesenseError(f"label_map={_shown(label_map)}: give a dict {{old_label: new_label}} (None drops a label)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FacesenseError(f"out_dir={out}: is a file; give a folder for the report")
    outside_runs(outside_data(out, data, "out_dir"), "out_dir")
    with _eval_extra():
        model, ages = age_target(model, data)
        if ages:  # the map renames the labels a gender+age model's gender is scored against, as --label-map does
            return evaluate_age(model, data, out, split=split, split_from=split_from, group_by=group_by, skip_bad=skip_bad, label_map=label_map)
        return evaluate_model(model, data, out, split=split, skip_bad=skip_bad, label_map=label_map, group_by=group_by, split_from=split_from)


@contextmanager
def _eval_extra() -> Iterator[None]:
    """A runtime-only install (`pip install facesense`, the serving image) has no scikit-learn
    or SciPy: said as `facesense evaluate` says it, with the extra to install, not as a bare
    ModuleNotFoundError."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EVAL_MODULES:
            raise
        raise FacesenseError(f"facesense.evaluate needs scikit-learn and scipy ({exc.name} is missing), which the runtime install leaves out: pip install 'facesense[eval]'") from None
