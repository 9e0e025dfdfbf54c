"""Move FER2013 to a machine that has no copy of it, in fewer bytes than the csv.

The 84 MB fer2013.csv.gz is over a 64 MiB upload limit (e.g. to a remote GPU machine). `pack` stores the
pixels as the residuals of JPEG-LS's median edge predictor, compressed with xz: 46 MiB for the
Training + PublicTest rows (raw pixels with xz: 52 MiB). It writes that file, `unpack` turns
it back into a FER2013 csv (emotion,pixels,Usage) that `facesense train` reads like the
original; the rows, labels and pixels are identical (checked by `unpack` against the row count
and a checksum stored in the pack). Both write atomically: a killed run leaves no partial file.

    python scripts/fer_pack.py pack ../shared/data/fer2013/fer2013.csv.gz fer.xz --usage Training PublicTest
    python scripts/fer_pack.py unpack fer.xz fer2013.csv
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import lzma
from pathlib import Path

import numpy as np

from facesense.data.sources import open_text
from facesense.runs import atomic_path, write_text

SIDE = 48 * 48


def _median_prediction(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """JPEG-LS (LOCO-I) predictor of a pixel from its left (a), upper (b) and upper-left (c)."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))


def to_residuals(px: np.ndarray) -> np.ndarray:
    """N x 48 x 48 uint8 -> residuals mod 256 (first row: left difference, first column: up)."""
    p = px.astype(np.int16)
    r = p.copy()
    r[:, 0, 1:] = p[:, 0, 1:] - p[:, 0, :-1]
    r[:, 1:, 0] = p[:, 1:, 0] - p[:, :-1, 0]
    r[:, 1:, 1:] = p[:, 1:, 1:] - _median_prediction(p[:, 1:, :-1], p[:, :-1, 1:], p[:, :-1, :-1])
    return (r % 256).astype(np.uint8)


def from_residuals(r: np.ndarray) -> np.ndarray:
    """Inverse of to_residuals, pixel by pixel in scan order, vectorised over the images."""
    r = r.astype(np.int16)
    p = np.zeros_like(r)
    p[:, 0, 0] = r[:, 0, 0]
    p[:, 0, 1:] = np.cumsum(r[:, 0, :], axis=1)[:, 1:] % 256
    p[:, 1:, 0] = (r[:, 0, 0][:, None] + np.cumsum(r[:, 1:, 0], axis=1)) % 256
    for y in range(1, r.shape[1]):
        for x in range(1, r.shape[2]):
            p[:, y, x] = (r[:, y, x] + _median_prediction(p[:, y, x - 1], p[:, y - 1, x], p[:, y - 1, x - 1])) % 256
    return p.astype(np.uint8)


def pack(src: Path, dst: Path, usages: list[str]) -> None:
    labels, usage, pixels = [], [], []
    with open_text(src) as f:
        for row in csv.DictReader(f):
            if row["Usage"] in usages:
                labels.append(int(row["emotion"]))
                usage.append(row["Usage"])
                pixels.append(np.array(row["pixels"].split(), dtype=np.uint8))
    px = np.stack(pixels)
    if px.shape[1] != SIDE:
        raise SystemExit(f"{src}: rows have {px.shape[1]} pixels, expected {SIDE} (48x48)")
    header = {"n": len(labels), "labels": labels, "usage": usage, "sha256": hashlib.sha256(px.tobytes()).hexdigest()}
    head = json.dumps(header).encode()
    with atomic_path(dst) as tmp, lzma.open(tmp, "wb", preset=9) as out:
        out.write(len(head).to_bytes(8, "little") + head + to_residuals(px.reshape(-1, 48, 48)).tobytes())
    print(f"{dst}: {len(labels)} rows, {dst.stat().st_size / 2**20:.1f} MiB")


def unpack(src: Path, dst: Path) -> None:
    with lzma.open(src, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        res = np.frombuffer(f.read(), dtype=np.uint8)
    if res.size != header["n"] * SIDE:
        raise SystemExit(f"{src}: holds {res.size} pixel bytes, header says {header['n']} rows (truncated pack)")
    px = from_residuals(res.reshape(-1, 48, 48)).reshape(-1, SIDE)
    if hashlib.sha256(px.tobytes()).hexdigest() != header["sha256"]:
        raise SystemExit(f"{src}: pixel data does not match its header (truncated or corrupt pack)")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["emotion", "pixels", "Usage"])
    for label, use, row in zip(header["labels"], header["usage"], px):
        w.writerow([label, " ".join(map(str, row.tolist())), use])
    write_text(dst, buf.getvalue())
    print(f"{dst}: {header['n']} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--usage", nargs="+", default=["Training", "PublicTest"])
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("dst", type=Path)
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.src, args.dst, args.usage)
    else:
        unpack(args.src, args.dst)


if __name__ == "__main__":
    main()
