"""Predict classes for image files and folders with a saved model.

Face models (expression, gender, gender+age, the dlib backends) look for every face in each
photo, align it as the model expects and give one row per face with its box; `crops=True`
takes each image whole as one face crop instead (a dataset of crops). Other models (sentiment,
custom tasks) classify each image whole; `faces=True` searches photos for faces with a custom
model too (a face-attribute model of the user's own, as `live` runs it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .data.images import CLI_STREAM, IMAGE_SUFFIXES, each_file_once, images_under, is_video_file, listed_reason, photo_folder_leftovers, read_image, repeated_files
from .errors import DataError
from .preprocess import to_model_pixels
from .runtime import dlib_models
from .runtime.loading import is_age_name, load_age_model, load_classifier
from .runtime.gender_age import trained_without
from .runtime.results import AGE_COLUMNS, age_fields, whole_years

FACE_TASKS = ("expression", "gender", "gender_age")

log = logging.getLogger(__name__)


def expand_inputs(inputs: list[str | Path], stills_only: bool = False) -> list[Path]:
    """The photos named and those in the folders named. `stills_only`: the model scores still
    photos only (sentiment), so a video is not sent to `live`, which does not run it."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found, leftovers = images_under(item), photo_folder_leftovers(item)
            if not found:
                raise DataError(f"{item}: folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})" + (f"; it holds {leftovers}" if leftovers else ""))
            if leftovers:
                log.warning("%s: left out %s", item, leftovers)
            files += found
        elif is_video_file(item):
            if stills_only:  # live refuses a sentiment model: the hint sent the user to a command that cannot do it
                raise DataError(f"{item}: is a video; predict reads photos, and a sentiment model scores still photos only (live does not run it): save the frames to score as images and predict those")
            raise DataError(f"{item}: is a video; predict reads photos: run `{CLI_STREAM.format(item)}` for a video")
        elif item.is_file() and item.name.lower().endswith((".csv", ".csv.gz")):  # it was called an unreadable image
            raise DataError(f"{item}: a csv, not a photo; predict reads photos: to score a dataset (a labels.csv, a FER2013 csv) run `facesense evaluate MODEL --data {item}`")
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    once, repeats = each_file_once(files)
    if repeats:
        log.warning("%s: scored once each", repeated_files(repeats))
    return once


@dataclass
class Predictions:
    classes: list[str]  # empty for an age model
    rows: Iterable[dict]  # a list from predict_files; rows as each photo is done from predict_rows
    faces: bool  # photos were searched for faces: rows carry face, x, y, w, h
    ages: bool  # rows carry the age columns (AGE_COLUMNS)
    skip_bad: bool  # unreadable files are rows with an error

    def columns(self) -> list[str]:
        """The CSV header: set by the model and the options, never by what was found, so that
        the files of two runs (one of them without a face or an error) line up."""
        from . import schema

        faces = ["face", "x", "y", "w", "h"] if self.faces else []
        scores = [f"p_{c}" for c in self.classes] + (list(AGE_COLUMNS) if self.ages else [])
        return ["path", *faces, "pred", *scores] + (["error"] if self.skip_bad else []) + [schema.KEY]


def is_face_model(model: str | Path, config: dict) -> bool:
    """Whether a model classifies faces (so photos are searched for them) rather than whole images."""
    return str(model) in dlib_models.BACKENDS or config.get("task") in FACE_TASKS


def task_of(loaded) -> str | None:
    """A loaded model's task: its training config's, else the one its export names
    (facesense_task): an export made before exports carried their config has only that, and was
    read as a whole-image model (a group photo given one gender, no face searched for), where
    live reads it as the face model it is (found by a bug hunt)."""
    return getattr(loaded, "config", {}).get("task") or getattr(loaded, "task", None) or None


def predict_files(model: str | Path, inputs: list[str | Path], batch_size: int | None = None, skip_bad: bool = False, device: str = "auto", crops: bool = False, detector: str | None = None, detector_model: str | None = None, faces: bool = False) -> Predictions:
    """predict_rows with every row read: -> Predictions whose rows are a list."""
    found = predict_rows(model, inputs, batch_size, skip_bad, device, crops, detector, detector_model, faces)
    found.rows = list(found.rows)
    return found


def predict_rows(model: str | Path, inputs: list[str | Path], batch_size: int | None = None, skip_bad: bool = False, device: str = "auto", crops: bool = False, detector: str | None = None, detector_model: str | None = None, faces: bool = False) -> Predictions:
    """-> Predictions: classes, rows of {path, pred, p_<class>...} (with a face model on photos,
    one row per face with {face, x, y, w, h} too); unreadable files error or are reported as
    rows with an error. `model` is anything `evaluate` takes: a checkpoint, run dir or shipped name, an
    exported .onnx, or a third-party backend. `crops`: the images are face crops, each
    classified whole. `detector`: the face detector for photos (default: the live path's), and
    `detector_model` its model file where it needs one (yunet). `faces`: search photos for faces
    with a model of another task too (a custom face-attribute model, as `live` runs it). The
    model is loaded and the inputs listed (and refused) here, in that order; the rows come as
    each photo (or batch of crops) is done, so a caller can write them as they come."""
    def no_face_search(why: str) -> None:
        """A detector given where no photo is searched for faces would look obeyed."""
        given = [f"{name} {value}" for name, value in (("--detector", detector), ("--detector-model", detector_model)) if value]
        if given:
            raise DataError(f"{' and '.join(given)}: {why}, so no face is searched for; leave {'them' if len(given) > 1 else 'it'} out")

    from .runs import unfinished_run

    unfinished = unfinished_run(model)
    if unfinished:  # as evaluate and export say it: the answers are an early model's
        given = Path(model)
        which = f"its {given.name}" if given.suffix == ".pt" else "its best epoch"
        log.warning("%s %s: these are the predictions of %s so far", *unfinished, which)
    if is_age_name(model):
        if crops:
            no_face_search("--crops classifies each image whole")
            return Predictions([], predict_ages(str(model), inputs, skip_bad, device), False, True, skip_bad)
        return Predictions([], predict_faces(load_age_model(str(model), device=device), inputs, detector, skip_bad, device, detector_model), True, True, skip_bad)

    loaded = load_classifier(model, device=device)
    network = None
    task = task_of(loaded)
    if task == "gender_age" and trained_without(loaded, "age"):  # its ages would be those of random weights
        log.warning("%s was trained without ages (age_weight 0): its rows give gender only", model)
        task = "gender"
    elif task == "gender_age" and trained_without(loaded, "gender"):  # its genders would be: rows of its ages, as an age model gives them
        from .runtime.gender_age import AgeHead, GenderAgeModel

        log.warning("%s was trained for ages only (gender_weight 0): its rows give ages only", model)
        ages = AgeHead(GenderAgeModel.of(loaded))
        if crops:
            no_face_search("--crops classifies each image whole")
            return Predictions([], _age_crop_rows(ages, inputs, skip_bad), False, True, skip_bad)
        return Predictions([], predict_faces(ages, inputs, detector, skip_bad, device, detector_model), True, True, skip_bad)
    elif task == "gender_age":  # gender and age, from one run of the network per face
        from .runtime.gender_age import AgeHead, GenderAgeModel

        network = GenderAgeModel.of(loaded)
        if not crops:
            return Predictions(network.classes, predict_faces(network, inputs, detector, skip_bad, device, detector_model, AgeHead(network)), True, True, skip_bad)
    if faces and task == "sentiment":  # live refuses it as a face model too
        raise DataError(f"--faces: {model} is a sentiment model, which reads the mood of a whole photo, not of a face; leave out --faces")
    if not crops and (faces or is_face_model(model, {"task": task})):
        return Predictions(loaded.classes, predict_faces(loaded, inputs, detector, skip_bad, device, detector_model), True, False, skip_bad)
    if crops:
        no_face_search("--crops classifies each image whole")
    elif task == "custom":
        no_face_search(f"{model} is a custom model, which classifies each image whole unless --faces is given")
    else:
        no_face_search(f"{model} is a{'n' if str(task)[:1] in 'aeiou' else ''} {task} model, which reads whole images")
    if not crops and task == "custom":  # live runs it on faces; said, so that the two can be matched
        log.warning("%s is a custom model: each image is classified whole (--faces searches each photo for faces, as live does)", model)
    stills = task == "sentiment"  # live and the video jobs do not run it
    return Predictions(loaded.classes, _whole_image_rows(loaded, network, expand_inputs(inputs, stills), batch_size or 64, skip_bad, stills), False, network is not None, skip_bad)


def warn_if_animated(path: Path, stills_only: bool = False) -> None:
    """Rows for an animated image's first frame would read as the whole clip's: said.
    `stills_only`: the model scores still photos only (sentiment), so live is not offered."""
    from .stream.frames import first_frame_only

    note = first_frame_only(path, None if stills_only else CLI_STREAM.format(path), Path(path).name)
    if note:
        log.warning("%s: %s", path, note)


def _whole_image_rows(loaded, network, files: list[Path], batch_size: int, skip_bad: bool, stills_only: bool = False) -> Iterator[dict]:
    """Each image classified whole (crops, or a whole-photo model), a batch at a time; an
    unreadable file (without `skip_bad`) is raised after the rows of the files before it."""
    for start in range(0, len(files), batch_size):
        batch, pixels, failed = [], [], None  # each file's row in input order; readable ones filled after the batch runs
        for path in files[start : start + batch_size]:
            try:
                image = read_image(path)
                warn_if_animated(path, stills_only)
                pixels.append(to_model_pixels(loaded.prepare(image) if loaded.prepare else image, loaded.spec))
                batch.append({"path": str(path)})
            except DataError as exc:
                if not skip_bad:
                    failed = exc
                    break
                batch.append({"path": str(path), "pred": None, "error": listed_reason(exc)})
        if pixels:
            readable = [row for row in batch if "error" not in row]
            if network is not None:  # each crop's age too, as for faces found in photos
                probs, age_probs = network.run_pixels(np.stack(pixels))
                for row, p, age in zip(readable, probs, network.age_estimates(age_probs)):
                    row.update(class_fields(loaded.classes, p), **age_fields(age))
            else:
                for row, p in zip(readable, loaded.predict_pixels(np.stack(pixels))):
                    row.update(class_fields(loaded.classes, p))
        yield from batch
        if failed is not None:
            raise failed


def _age_pred(estimate) -> int | None:
    """An age model's `pred`: the age in whole years, a number in JSON (null for a model's
    non-finite answer, as for a photo without a face)."""
    years = whole_years(estimate.years)
    return years if isinstance(years, int) else None


def class_fields(classes: list[str], probs: np.ndarray) -> dict:
    """One prediction's row fields: the top class and every class's probability."""
    return {"pred": classes[int(probs.argmax())], **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, probs)}}


def predict_ages(backend: str, inputs: list[str | Path], skip_bad: bool = False, device: str = "auto") -> Iterator[dict]:
    """Face crops -> rows of {path, pred (whole years), age_years, age_sd, age_low90, age_high90} from an age model;
    each crop is taken whole as the face box, as a detector's box would be, and aligned first
    where the model was trained on aligned faces, as `gender_age --crops` and evaluate align it."""
    return _age_crop_rows(load_age_model(backend, device=device), inputs, skip_bad)


def _age_crop_rows(model, inputs: list[str | Path], skip_bad: bool) -> Iterator[dict]:
    """An age model's rows for face crops, each aligned first where the model was trained on aligned faces."""
    from .runtime.align import crop_preparer

    return _age_rows(model, crop_preparer(model.spec), expand_inputs(inputs), skip_bad)


def _age_rows(model, prepare, files: list[Path], skip_bad: bool) -> Iterator[dict]:
    for path in files:
        try:
            image = read_image(path)
        except DataError as exc:
            if not skip_bad:
                raise
            yield {"path": str(path), "pred": None, "error": listed_reason(exc)}
            continue
        warn_if_animated(path)
        estimate = model.result(model.predict([prepare(image) if prepare else image], color_order="RGB")[0])
        yield {"path": str(path), "pred": _age_pred(estimate), **age_fields(estimate)}


def predict_faces(model, inputs: list[str | Path], detector: str | None = None, skip_bad: bool = False, device: str = "auto", detector_model: str | None = None, ages=None) -> Iterator[dict]:
    """Photos -> one row per face found: {path, face (1, 2, ... left to right), x, y, w, h,
    pred, p_<class>... or the age columns}; a photo without a face gets one row with
    face 0 and no prediction, so every photo is accounted for. `ages`: the age head of the same
    network (`model` a GenderAgeModel), whose age columns join each face's class fields;
    it reads the same crops, so the network runs once per photo for both."""
    from .stream.detect import DEFAULT_DETECTOR, build_detector

    found = build_detector(detector or DEFAULT_DETECTOR, detector_model, device=device)  # refused here, before any row
    return _face_rows(model, found, expand_inputs(inputs), skip_bad, ages)


def _face_rows(model, found, files: list[Path], skip_bad: bool, ages) -> Iterator[dict]:
    """A photo's rows, one per face, as each photo is done."""
    from .runtime.align import face_crops
    from .runtime.faces import left_to_right
    from .stream.detect import detect_photo
    from .stream.frames import read_bgr_image

    for path in files:
        try:
            image = read_bgr_image(path)  # as frames come
        except DataError as exc:
            if not skip_bad:
                raise
            yield {"path": str(path), "face": None, "pred": None, "error": listed_reason(exc)}  # JSON null, a blank CSV cell
            continue
        warn_if_animated(path)
        boxes = left_to_right(detect_photo(found, image))
        if not boxes:
            yield {"path": str(path), "face": 0, "pred": None}  # JSON null, a blank CSV cell
            continue
        rows = []
        crops = face_crops(image, boxes, model.spec, model.margin or 0.0)
        probs = model.predict(crops)
        for i, (box, p) in enumerate(zip(boxes, probs), start=1):
            shown = box.within(image.shape[1], image.shape[0])  # the crop used the whole box
            row = {"path": str(path), "face": i, "x": shown.x, "y": shown.y, "w": shown.w, "h": shown.h}
            estimate = model.result(p)
            if hasattr(estimate, "years"):  # an age model
                row.update(pred=_age_pred(estimate), **age_fields(estimate))
            else:
                row.update(class_fields(model.classes, p))
            rows.append(row)
        if ages is not None:
            for row, p in zip(rows, ages.predict(crops)):  # the network's outputs for these crops, kept from its run
                estimate = ages.result(p)
                row.update(age_fields(estimate))
        yield from rows
