"""Take the trainer's local paths out of a shipped model's training config.

A shipped model's config names its data by the dataset's name (fer2013.csv.gz, utkface) and its
runs by a relative path: an absolute path of the machine that trained it means nothing on a
user's machine, and evaluate would read the data as "the very data it trained on" only where
that path happens to exist (the trainer's own), answering differently there than anywhere else.
`scripts/ship_model.py` does this for the slim checkpoint; this does it for an exported ONNX
file's config metadata (graph and other metadata untouched, checked byte for byte).

    python scripts/ship_paths.py src/facesense/assets/models/expression.int8.onnx [...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _dataset_name(path) -> str:
    """A dataset's name: its file's or folder's (a labels.csv stands for its folder)."""
    path = Path(str(path))
    return path.parent.name if path.name.lower() in ("labels.csv", "labels.csv.gz") else path.name


def without_local_paths(config: dict) -> dict:
    """The config with its data named by the datasets' names and its runs relative."""
    out = {**config, "data": _dataset_name(config["data"]), "runs_dir": "runs"}
    if out.get("extra_data"):
        out["extra_data"] = [_dataset_name(d) for d in out["extra_data"]]
    if out.get("init_from") and not str(out["init_from"]).startswith("package:"):
        out["init_from"] = str(Path("runs", *Path(str(out["init_from"])).parts[-3:]))
    if out.get("teacher"):
        out["teacher"] = [str(Path("runs", *Path(str(t)).parts[-3:])) for t in out["teacher"]]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help="exported .onnx files (each replaced in place, atomically)")
    args = parser.parse_args()

    import onnx

    from facesense.export import with_metadata
    from facesense.onnx_files import read_onnx
    from facesense.runs import write_bytes

    for path in args.models:
        proto = read_onnx(path, weights=True)
        meta = {p.key: p.value for p in proto.metadata_props}
        if "facesense_config" not in meta:
            print(f"{path}: carries no training config; unchanged")
            continue
        config = json.loads(meta["facesense_config"])
        shipped = without_local_paths(config)
        if shipped == config:
            print(f"{path}: names no local paths; unchanged")
            continue
        graph = proto.graph.SerializeToString()
        rewritten = with_metadata(proto, meta | {"facesense_config": json.dumps(shipped)})
        if onnx.load_from_string(rewritten).graph.SerializeToString() != graph:
            sys.exit(f"{path}: the graph changed on rewriting; not written")
        write_bytes(path, rewritten)
        print(f"{path}: " + ", ".join(f"{k} {config.get(k)!r} -> {shipped[k]!r}" for k in shipped if shipped[k] != config.get(k)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
