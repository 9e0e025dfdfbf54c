"""Tiny synthetic datasets, made fresh for each test session (no network, no ../shared needed)."""

from __future__ import annotations

import csv
import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# the real datasets: ../shared/data beside the repo, or wherever FACESENSE_SHARED_DATA says (a clone elsewhere)
SHARED_DATA = Path(os.path.expanduser(os.environ.get("FACESENSE_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")).resolve()


def face_like(label_index: int, rng: np.random.Generator, size: int = 48, colour: bool = False) -> np.ndarray:
    """A learnable pattern per class (a bright band at a class-dependent row) plus noise."""
    img = rng.normal(90, 25, (size, size)).clip(0, 255)
    row = (label_index * 7 + 5) % (size - 6)
    img[row : row + 6, :] = 230
    img = img.astype(np.uint8)
    if colour:
        img = np.stack([img, np.roll(img, 3, axis=1), 255 - img], axis=2)
    return img


def write_class_folders(root: Path, classes: list[str], per_class: int, seed: int = 0, size: int = 48, colour: bool = False, ext: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    for i, c in enumerate(classes):
        d = root / c
        d.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.fromarray(face_like(i, rng, size, colour)).save(d / f"{c}_{j}{ext}")
    return root


def write_fer_csv(path: Path, labels: list[int], usages: list[str] | None = None, seed: int = 0, side: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels"] + (["Usage"] if usages else []))
        for i, code in enumerate(labels):
            pixels = " ".join(map(str, face_like(code, rng, side).ravel()))
            w.writerow([code, pixels] + ([usages[i]] if usages else []))
    return path


@pytest.fixture
def folders3(tmp_path) -> Path:
    """3 expression classes in alphabetical folders, 16 gray 48x48 images each."""
    return write_class_folders(tmp_path / "folders3", ["angry", "happy", "sad"], 16)


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    """A FER2013-style csv with all 7 codes, Training and PublicTest rows."""
    labels = [i % 7 for i in range(70)]
    usages = ["Training"] * 56 + ["PublicTest"] * 14
    return write_fer_csv(tmp_path / "fer.csv", labels, usages)


def shared_data(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"{path} not present (real data lives in ../shared/data beside the repo, or set FACESENSE_SHARED_DATA)")
    return path


def dds_with_unknown_pixel_format() -> bytes:
    """A DDS header whose pixel-format flags Pillow does not know: its plugin raises
    NotImplementedError (not OSError) on it, as other plugins raise AttributeError and the like."""
    import struct

    header = struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + b"\0" * 44 + struct.pack("<8I", 32, 0x800, 0, 0, 0, 0, 0, 0) + b"\0" * 20
    return b"DDS " + header + b"\0" * 256
