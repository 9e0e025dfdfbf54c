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
