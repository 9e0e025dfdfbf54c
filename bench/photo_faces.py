"""Small faces in large photos: faces found and seconds per photo, searching a photo as a video
frame is searched (the detector's 320 px) and as photos are searched (that, then again at 4x:
`facesense.stream.detect.detect_photo`).

The photos are 4000 x 3000 canvases, as a phone takes them, holding a group of five faces at
several sizes: matplotlib's public-domain portrait (Grace Hopper) five times, and, where
../shared/data is at hand, its multi_face.jpg (five people) scaled onto the canvas; the portrait
five times on an 8000 x 6000 canvas (a 48 MP phone photo); and a 12000 x 700 panorama with the
portrait eight times, faces about 100 px wide.

    python bench/photo_faces.py [--detectors centerface,haar_alt2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CANVAS = (3000, 4000)  # rows, columns


def portrait(face_width: int) -> np.ndarray:
    """The portrait scaled so that her face is about `face_width` px wide (it fills about 45% of
    the portrait's width)."""
    from facesense.stream.demo import demo_photo

    face = demo_photo()
    width = round(face_width / 0.45)
    return cv2.resize(face, (width, face.shape[0] * width // face.shape[1]), interpolation=cv2.INTER_AREA)


def hopper_group(face_width: int, size: tuple[int, int] = CANVAS) -> np.ndarray:
    """Five copies of the portrait side by side, her face about `face_width` px wide, on a canvas
    of `size` (rows, columns)."""
    small = portrait(face_width)
    width = small.shape[1]
    canvas = np.full((*size, 3), 70, np.uint8)
    x0, y0 = (size[1] - 5 * width) // 2, (size[0] - small.shape[0]) // 2
    for k in range(5):
        canvas[y0 : y0 + small.shape[0], x0 + k * width : x0 + (k + 1) * width] = small
    return canvas


def hopper_panorama(face_width: int = 100, copies: int = 8, size: tuple[int, int] = (700, 12000)) -> np.ndarray:
    """A panorama (rows, columns) with the portrait `copies` times, spread along it."""
    small = portrait(face_width)
    width = small.shape[1]
    canvas = np.full((*size, 3), 70, np.uint8)
    y0, step = (size[0] - small.shape[0]) // 2, size[1] // copies
    for k in range(copies):
        x0 = k * step + (step - width) // 2
        canvas[y0 : y0 + small.shape[0], x0 : x0 + width] = small
    return canvas


def group_photo(scale: float) -> np.ndarray | None:
    """multi_face.jpg (five people) scaled by `scale`, centred on the canvas."""
    photo = cv2.imread(str(DATA / "images" / "multi_face.jpg"))
    if photo is None:
        return None
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((*CANVAS, 3), 70, np.uint8)
    h, w = min(photo.shape[0], CANVAS[0]), min(photo.shape[1], CANVAS[1])
    y0, x0 = (CANVAS[0] - h) // 2, (CANVAS[1] - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = photo[:h, :w]
    return canvas


def main() -> None:
    from facesense.stream.detect import build_detector, detect_photo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="centerface,haar_alt2")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per photo (the median is printed)")
    args = parser.parse_args()

    photos = [(f"portrait x5, faces ~{w} px", hopper_group(w)) for w in (60, 90, 140)]
    photos += [(f"multi_face.jpg x{s:g}", group_photo(s)) for s in (1.0, 1.5, 2.0)]
    photos += [(f"8000 x 6000 (48 MP), portrait x5, faces ~{w} px", hopper_group(w, (6000, 8000))) for w in (60, 90)]
    photos += [("panorama 12000 x 700, portrait x8, faces ~100 px", hopper_panorama())]
    photos = [(name, image) for name, image in photos if image is not None]
    print(f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores; photos {CANVAS[1]} x {CANVAS[0]} with 5 faces, but where named")
    print("| detector | photo | faces (320 px) | faces (photo search) | s per photo (320 px) | s per photo (photo search) |")
    print("|---|---|---|---|---|---|")
    for name in args.detectors.split(","):
        detector = build_detector(name, detect_width=320)  # the "320 px" column: a camera frame's search, as documented
        for label, image in photos:
            runs = {}
            for mode, search in (("frame", detector.detect), ("photo", lambda im: detect_photo(detector, im))):
                seconds, found = [], []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    found = search(image)
                    seconds.append(time.perf_counter() - t0)
                runs[mode] = (len(found), float(np.median(seconds)))
            print(f"| {name} | {label} | {runs['frame'][0]} | {runs['photo'][0]} | {runs['frame'][1]:.3f} | {runs['photo'][1]:.3f} |")


if __name__ == "__main__":
    from benchkit import run

    run(main)
