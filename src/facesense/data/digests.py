"""Short hashes of decoded images, by which a model's training images are known wherever they
are: a copy of the dataset in another folder, a subset listed by another manifest, the images
an exported model was trained on. A training run records one per sample in its
split_manifest.csv (`pixels_digest`); an export carries those of its training rows."""

from __future__ import annotations

import base64
import csv
import hashlib
from pathlib import Path

import numpy as np

DIGEST_BYTES = 8
METADATA_KEY = "facesense_train_digests"  # base64 of the training rows' digests, back to back
VALIDATION_METADATA_KEY = "facesense_val_digests"  # the same of the validation rows (which chose its best epoch)


def pixel_digest(pixels: np.ndarray) -> str:
    """The digest of one decoded image, as model-ready uint8 pixels (C x H x W)."""
    return hashlib.blake2b(np.ascontiguousarray(pixels).tobytes(), digest_size=DIGEST_BYTES).hexdigest()


def manifest_digests(manifest: Path, split: str = "train", columns: tuple[str, ...] = ("pixels_digest", "unaligned_digest")) -> set[str] | None:
    """The digests a run's split_manifest.csv records for one split's rows in `columns`: by
    default both, the model-ready pixels' and, for a run on aligned faces, the image's before
    alignment (None: a run from before manifests carried them, no such column, or no file)."""
    if not manifest.is_file():
        return None
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f)
        if "pixels_digest" not in (rows.fieldnames or []):
            return None
        present = [c for c in columns if c in rows.fieldnames]
        if not present:
            return None
        return {r[c] for r in rows if r["split"] == split for c in present if r[c]}


def packed(digests: set[str]) -> str:
    """Digests as one metadata string (8 bytes each, base64): 28,709 FER2013 rows are 306 kB."""
    return base64.b64encode(b"".join(bytes.fromhex(d) for d in sorted(digests))).decode("ascii")


def unpacked(text: str) -> set[str]:
    raw = base64.b64decode(text)
    return {raw[i : i + DIGEST_BYTES].hex() for i in range(0, len(raw), DIGEST_BYTES)}


def trained_digests(metadata: dict[str, str] | None, model_path: Path | None, split: str = "train") -> set[str] | None:
    """The training images' digests a model carries (`split` "val": its validation rows'): an
    export's (or a shipped model's) metadata, as its loaded session read it, else its run's
    split_manifest.csv beside a checkpoint or run folder. None: it carries none."""
    text = (metadata or {}).get(METADATA_KEY if split == "train" else VALIDATION_METADATA_KEY)
    if text:
        return unpacked(text)
    if model_path is None or Path(model_path).suffix.lower() == ".onnx" or not Path(model_path).exists():
        return None  # (a model named, not a file: not the working folder's split_manifest.csv)
    path = Path(model_path)
    return manifest_digests((path if path.is_dir() else path.parent) / "split_manifest.csv", split)
