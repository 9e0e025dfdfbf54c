"""Model names -> runtime models. Shipped names run their ONNX copy; a training checkpoint is
exported to ONNX on the fly, which is the one thing here that needs PyTorch."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

from ..errors import FacesenseError, say_once
from . import dlib_models
from .assets import DETECTOR_FILES, names_a_local_model, shipped_model_names, shipped_runtime_path
from .classifier import FaceClassifier

log = logging.getLogger(__name__)

TRAIN_EXTRA = "pip install 'facesense[train]'"


def checkpoint_as_onnx(model: str | Path) -> bytes:
    """A training checkpoint (file, run folder) as ONNX bytes: needs the training extra."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise FacesenseError(f"{model}: a training checkpoint needs PyTorch ({TRAIN_EXTRA}); or run its ONNX export (`facesense export` on a machine with the extra)") from None
    from ..checkpoint import load_model
    from ..export import decision_threshold, onnx_bytes, with_decision_threshold
    from .assets import shipped_checkpoint_runtime

    loaded = load_model(model)
    data = onnx_bytes(loaded)
    runtime = shipped_checkpoint_runtime(model)
    threshold = decision_threshold(runtime) if runtime is not None else None
    if threshold is not None:  # the shipped sentiment.pt by its path decided at 0.5, where `sentiment` decides at 0.779 (found by a bug hunt)
        say_once(__name__, logging.INFO, "note: %s decides as the shipped %s does, at its threshold %.3g", str(model), runtime.name, threshold)
        data = with_decision_threshold(data, loaded.classes, threshold, f"as the shipped {runtime.name}")
    return data


def resolve(model: str | Path) -> Path | str:
    """A path that exists, a shipped name's runtime file, or the name itself (a backend)."""
    path = Path(model)
    if _is_image_file(path):  # `predict photo.jpg expression`, `--expression photo.jpg`: unpickling said "invalid load key"
        raise FacesenseError(f"{model}: is an image, not a model; give a model name, an .onnx file, a checkpoint or a run folder (predict takes the model first, then the photos)")
    if names_a_local_model(path):
        return path
    if str(model) in dlib_models.BACKENDS or str(model) in dlib_models.AGE_BACKENDS:
        return str(model)
    if str(model) in DETECTOR_FILES:
        raise FacesenseError(f"{model} is the face detector, not a classifier (choose it with --detector {model}, detector='{model}' in Python); shipped classifiers: {', '.join(shipped_model_names())}")
    shipped = shipped_runtime_path(str(model))
    if shipped is not None:
        if path.is_dir():  # said (once), so that a run folder still without a checkpoint is not taken for the shipped model silently
            say_once(__name__, logging.INFO, "%s: the folder of that name here holds no run (no best.pt or last.pt); the shipped %s model is used (give ./%s/RUN for a run in it)",
                     str(model), str(model), str(model))
        return shipped
    names = shipped_model_names()
    close = difflib.get_close_matches(str(model), [*names, AGE_ALIAS, *dlib_models.BACKENDS, *dlib_models.AGE_BACKENDS], n=1)
    hint = f"did you mean {close[0]}? Otherwise " if close else ""
    raise FacesenseError(f"model {model} not found; {hint}give an .onnx file, a run folder, a checkpoint file or a shipped model name ({', '.join(names)}; {AGE_ALIAS}: gender_age's age)")


# the first bytes of the image files a model argument is mistaken for: JPEG, PNG, GIF, BMP, WebP (RIFF)
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"RIFF")


def _is_image_file(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4).startswith(IMAGE_SIGNATURES)
    except OSError:
        return False


def names_an_age_model(model: str | Path) -> bool:
    """`model` is the name of an age estimator (age, dlib-age), which gives no classes."""
    return str(model) in dlib_models.AGE_BACKENDS or (str(model) == AGE_ALIAS and not Path(model).exists())


def load_classifier(model: str | Path, threads: int = 0, device: str = "auto"):
    """A classifier (FaceClassifier or an aligned third-party network) for `model`."""
    if names_an_age_model(model):
        raise FacesenseError(f"{model} estimates ages, not classes; use it as an age model (--age {model})")
    if str(model) in dlib_models.BACKENDS:
        return dlib_models.BACKENDS[str(model)](threads, device)
    path = resolve(model)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise FacesenseError(f"model {path}: not a file; give an .onnx file")
        return FaceClassifier(str(path), name=str(model), threads=threads, device=device)
    return FaceClassifier(checkpoint_as_onnx(path), name=str(model), threads=threads, device=device)


# `predict age FOLDER`: "age" names the shipped gender+age model's age head
AGE_ALIAS = "age"


def without_age_alias(model: str | Path) -> str | Path:
    """`age` (not a file here) as the shipped gender+age model's name; anything else as given."""
    if str(model) == AGE_ALIAS and not Path(model).exists():
        from .gender_age import SHIPPED_NAME

        return SHIPPED_NAME
    return model


def is_age_name(name: str | Path) -> bool:
    """Whether `name` names an age model by name alone (not a file)."""
    return str(name) == AGE_ALIAS or str(name) in dlib_models.AGE_BACKENDS


def load_age_model(name: str | None, threads: int = 0, device: str = "auto"):
    """An age model by name or path (None/'' -> None)."""
    if not name:
        return None
    name = str(name)  # a Path from the Python API
    if name in dlib_models.AGE_BACKENDS:
        return dlib_models.AGE_BACKENDS[name](threads, device)
    from .gender_age import SHIPPED_NAME, AgeHead, GenderAgeModel, trained_without, untrained_age

    if name == AGE_ALIAS:
        name = SHIPPED_NAME
    if name == SHIPPED_NAME or name.lower().endswith(".onnx") or Path(name).exists():
        network = GenderAgeModel.load(name, threads, device)
        if trained_without(network, "age"):  # its ages were those of random weights, given without a word
            raise untrained_age(name)
        return AgeHead(network)
    # begun with the name, so that the caller's option is put before it (`--age gender: ...`)
    raise FacesenseError(f"{name}: unknown age model; choose from {', '.join(sorted([AGE_ALIAS, SHIPPED_NAME, *dlib_models.AGE_BACKENDS]))}, "
                         "a gender+age network's run folder, checkpoint or .onnx file, 'none', or (live, demo, serve, the Python API) 'auto'")


def same_model(a: str | Path, b: str | Path) -> bool:
    """Whether two model names or paths name the same model file (`age` names the shipped
    gender+age model): the pipeline then runs it once per frame for both answers."""

    def key(name):
        from .gender_age import SHIPPED_NAME

        name = SHIPPED_NAME if str(name) == AGE_ALIAS else name
        try:
            found = resolve(name)
        except FacesenseError:
            return None
        return found.resolve() if isinstance(found, Path) else found

    first = key(a)
    return first is not None and first == key(b)
