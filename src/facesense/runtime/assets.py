"""The pretrained models that ship inside the package (src/facesense/assets/models)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# What live, demo, serve and the Python API run by default. The shipped gender+age network is
# both the gender and the age model: one run per face gives both (1.1 ms per face at batch 1 on a
# 2-core x86-64 CPU), and its gender holds better on faces unlike gender_faces' web crops than the
# `gender` model's (the models' cards: UTKFace adults 0.960 vs 0.897).
DEFAULT_EXPRESSION = "expression"
DEFAULT_GENDER = "gender_age"
# age from the gender model itself when it is a gender+age network (the shipped one, or a user's
# own), else from the shipped gender+age network
DEFAULT_AGE = "auto"

# the file a shipped name runs, best first: the quantised runtime copy, a float ONNX copy, the checkpoint
RUNTIME_SUFFIXES = (".int8.onnx", ".onnx", ".pt")


# the words that switch a model off, on the command line and in the Python API alike
OFF_WORDS = ("none", "off", "")


def model_or_off(value: str | Path | None) -> str | Path | None:
    """None where `value` switches a model off (None, or 'none'/'off'/'' in any case), else `value`."""
    return None if value is None or str(value).strip().lower() in OFF_WORDS else value


def shipped_models_dir() -> Path:
    return Path(str(files("facesense") / "assets" / "models"))


def shipped_model_path(name: str, suffix: str = ".pt") -> Path | None:
    """Path of a pretrained model that ships inside the package (e.g. 'expression'), if any;
    suffix '.int8.onnx' gives its quantised runtime copy."""
    if not name or "/" in name or "\\" in name:
        return None
    candidate = shipped_models_dir() / f"{name}{suffix}"
    return candidate if candidate.is_file() else None


def names_a_local_model(model: str | Path, name: str | None = None) -> bool:
    """Whether `model` names a model on disk here rather than a shipped one: a file, or a folder
    holding a run's checkpoint. A folder that merely shares a shipped name (runs/gender_age/,
    the parent of gender_age runs, seen from runs/) does not hide the shipped model. `name`: the
    name as the user wrote it, where `model` is that name resolved against a folder."""
    path = Path(model)
    if path.is_file():
        return True
    if not path.is_dir():
        return False
    from ..runs import RunDir

    return shipped_runtime_path(name or str(model)) is None or RunDir(path).has_checkpoint()


def shipped_runtime_path(name: str) -> Path | None:
    """The file a shipped name runs on: its ONNX copy when there is one, else its checkpoint."""
    for suffix in RUNTIME_SUFFIXES:
        if (path := shipped_model_path(name, suffix)) is not None:
            return path
    return None


def carried_digests(metadata: dict[str, str] | None, path: str | Path | None, split: str = "train") -> set[str] | None:
    """The pixel digests of a model's training rows (`split` "val": its validation rows') wherever
    it carries them: an export's metadata, its run's split_manifest.csv, or for a shipped
    checkpoint its runtime copy's. None: it carries none."""
    from ..data.digests import trained_digests

    return trained_digests(metadata, path, split) or shipped_checkpoint_digests(path, split)


def shipped_checkpoint_digests(path: str | Path | None, split: str = "train") -> set[str] | None:
    """A shipped checkpoint's (assets/models/expression.pt) training images' digests (`split`
    "val": its validation rows'): those its runtime copy beside it carries (expression.int8.onnx,
    the same training), since the .pt has no run folder to read them from. None for any other file."""
    runtime = shipped_checkpoint_runtime(path)
    if runtime is None:
        return None
    from ..data.digests import trained_digests
    from ..onnx_files import onnx_metadata

    return trained_digests(onnx_metadata(runtime), runtime, split)


def shipped_checkpoint_runtime(path: str | Path | None) -> Path | None:
    """The runtime copy beside a shipped checkpoint (assets/models/sentiment.pt ->
    sentiment.onnx, expression.pt -> expression.int8.onnx); None for any other file."""
    if path is None or Path(path).suffix != ".pt" or Path(path).resolve().parent != shipped_models_dir().resolve():
        return None
    for suffix in (".int8.onnx", ".onnx"):
        runtime = shipped_model_path(Path(path).stem, suffix)
        if runtime is not None:
            return runtime
    return None


DETECTOR_FILES = {"centerface"}  # shipped beside the models but chosen with --detector, not as a classifier


def shipped_model_names() -> list[str]:
    """The classifiers a user can name (expression, gender, ...): the face detector is left out."""
    names = {p.name.split(".")[0] for p in shipped_models_dir().iterdir() if p.name.endswith(RUNTIME_SUFFIXES)}
    return sorted(names - DETECTOR_FILES)
