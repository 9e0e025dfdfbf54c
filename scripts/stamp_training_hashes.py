"""Add the pixel hashes of a model's training and validation images (and its held-out rows' ids digests) to an exported ONNX file that lacks them.

`facesense export` of a run carries them (from the run's split_manifest.csv); the shipped
models were exported before runs recorded them. This recomputes the model's training rows from
the training config it carries (data, split settings, input spec) with the training code's own
data preparation, hashes each one's model-ready pixels as training does, and writes them into
the file's metadata. The graph is not touched (checked byte for byte). With them, `facesense
evaluate` says so when the images scored include the model's training images, in any folder or
under any name, and names held-out rows that duplicate one.

    python scripts/stamp_training_hashes.py src/facesense/assets/models/expression.int8.onnx [--data-dir ../shared/data]

A recorded data path that does not exist here is looked for under --data-dir (by the path as
recorded, then by its last part, in the folder or one below it: a shipped config records the
dataset's name).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _here(recorded: str, data_dir: Path) -> str:
    path = Path(recorded)
    # a shipped config names its data only (fer2013.csv.gz): also looked for one folder down
    for candidate in (path, data_dir / recorded, data_dir / path.parent.name / path.name, data_dir / path.name, *sorted(data_dir.glob(f"*/{path.name}"))):
        if candidate.exists():
            return str(candidate)
    sys.exit(f"{recorded}: the data this model trained on is not here; give the folder that holds it with --data-dir")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an exported .onnx file (replaced in place, atomically)")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"), help="where the training data is (default ../shared/data)")
    args = parser.parse_args()

    import onnx

    from facesense.config import config_from_dict
    from facesense.data.digests import METADATA_KEY, VALIDATION_METADATA_KEY, unpacked
    from facesense.data.prepare import pixel_digests, prepare_data, unaligned_digests
    from facesense.data.split import held_out_digests, recorded_held_out
    from facesense.export import with_held_out_rows, with_training_hashes
    from facesense.onnx_files import onnx_metadata, read_onnx
    from facesense.runs import write_bytes

    meta = onnx_metadata(args.model)
    if "facesense_config" not in meta:
        sys.exit(f"{args.model}: carries no training config (facesense_config), so its training rows cannot be recomputed")
    values = json.loads(meta["facesense_config"])
    values["data"] = _here(values["data"], args.data_dir)
    values["extra_data"] = [_here(d, args.data_dir) for d in values.get("extra_data") or []]
    cfg = config_from_dict(values)
    data = prepare_data(cfg)
    counts = {name: len(part) for name, part in data.splits.items()}
    digests, unaligned = pixel_digests(data), unaligned_digests(data) or []

    def hashes(part: str, of=digests) -> set[str]:
        return {d for (_, _, split), d in zip(data.manifest_rows, of) if split == part and d}

    distinct = len(hashes("train"))
    # a model of aligned faces: each image's digest before alignment too, the same on every CPU;
    # the validation rows' too, which chose its best epoch (a copy of them scored is said to be those)
    trained, validation = (hashes(part) | hashes(part, unaligned) for part in ("train", "val"))
    print(f"{args.model.name}: {cfg.data}{' + ' + ', '.join(cfg.extra_data) if cfg.extra_data else ''}; rows per split {counts}; "
          f"{distinct} distinct training images ({counts['train'] - distinct} repeat another's pixels); {len(trained)} hashes; {len(validation)} of validation rows")
    held_out = held_out_digests(data.manifest_rows, tuple(f"{Path(extra).name}:" for extra in cfg.extra_data))
    before, before_val = meta.get(METADATA_KEY), meta.get(VALIDATION_METADATA_KEY)
    if (before is not None and unpacked(before) == trained and recorded_held_out(meta) == (held_out or None)
            and (unpacked(before_val) if before_val else set()) == validation):
        print("already carries exactly these hashes; unchanged")
        return 0
    original = args.model.read_bytes()
    # the held-out rows' ids digests too: evaluate --split on other data than these rows is refused
    stamped = with_training_hashes(with_held_out_rows(original, data.manifest_rows, cfg.extra_data), trained, validation)
    if onnx.load_from_string(stamped).graph.SerializeToString() != read_onnx(args.model).graph.SerializeToString():
        sys.exit("the graph changed on rewriting; not written")
    write_bytes(args.model, stamped)
    print(f"wrote {args.model} ({len(original):,} -> {len(stamped):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
