"""Reading ONNX files (graphs and metadata) with one clear error for a file that is not one:
protobuf itself says only "wire format was corrupt", in a traceback."""

from __future__ import annotations

from pathlib import Path

from .errors import FacesenseError


def read_onnx(path, weights: bool = False):
    """An ONNX file's graph (and its metadata); with `weights`, its external tensors too. A clear
    error for a file that is not one (protobuf says only "wire format was corrupt")."""
    import onnx

    if not Path(path).is_file():
        raise FacesenseError(f"{path}: {'a folder, not' if Path(path).is_dir() else 'not found; give'} an ONNX model file")
    try:
        return onnx.load(str(path), load_external_data=weights)
    except Exception as exc:  # protobuf and onnx raise their own types
        raise FacesenseError(f"{path}: not a loadable ONNX model ({(str(exc).splitlines() or [exc.__class__.__name__])[0][:200]})") from None


def onnx_metadata(path) -> dict[str, str]:
    """The key/value metadata an exported facesense model carries (classes, split, threshold)."""
    return {p.key: p.value for p in read_onnx(path).metadata_props}


# a two-class export's decision threshold, folded into its probabilities (facesense export --threshold)
DECISION_THRESHOLD_KEY = "facesense_decision_threshold"


def folded_threshold(metadata: dict[str, str] | None) -> tuple[str, float, str] | None:
    """(the class it decides, its threshold, how it was chosen) of a model whose metadata carry a
    folded decision threshold; None for one that decides at 0.5."""
    import json

    if not metadata or DECISION_THRESHOLD_KEY not in metadata:
        return None
    record = json.loads(metadata[DECISION_THRESHOLD_KEY])
    name, threshold = next((k, v) for k, v in record.items() if k != "chosen_by")
    return name, float(threshold), str(record.get("chosen_by", ""))
