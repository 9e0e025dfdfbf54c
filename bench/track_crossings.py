"""Do two people who cross keep their own ids? Scripted clips: two real faces (UTKFace photos)
move across a still background, one passing in front of the other (crossing, overtaking, or
walking past one who stands), so that the one behind is hidden for a while. Each clip runs
through the live pipeline with its real detector, and every shown box is matched to the face it
lies on (its centre within a third of the face's size of the face's centre).

Per clip it counts id switches (MOT's IDSW: a face's matched id changes from one matched frame to
the next), and whether each face ends under the id it started with. A switch is a person whose
labels, smoothed history and counts pass to another id, or start again under a new one.

    python bench/track_crossings.py [--data ../shared/data/utkface] [--pairs 6] [--seed 0] [--detector centerface]
    python bench/track_crossings.py --looks   # how well looks tell people apart (the tracker's thresholds)

No classifier runs (ids come from the detector and the tracker only); live's default settings.
With --looks: on 300 UTKFace adults (seed 1), how often the same face, shifted, rescaled,
brightened or blurred, is further than the tracker's SAME_LOOK and OTHER_LOOK from itself, and
how often two different people are within SAME_LOOK; then the same for those faces made grey
(grey looks, at SAME_GREY_LOOK).
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesense.stream.detect import DEFAULT_DETECTOR, build_detector
from facesense.stream.frames import Frame, Source
from facesense.stream.pipeline import FaceModels, PipelineSettings, run_pipeline

W, H = 640, 360
# (name, start x of the front face, its speed, start x of the one behind, its speed), px per frame;
# x as a share of the free width
MOTIONS = [
    ("cross, walking", 0.0, 3.0, 1.0, -3.0),
    ("cross, fast", 0.0, 6.0, 1.0, -6.0),
    ("cross, uneven", 0.0, 5.0, 1.0, -2.0),
    ("overtake", 0.0, 5.0, 0.25, 2.0),
    ("walk past one standing", 0.0, 4.0, 0.5, 0.0),
]
OFFSETS = (0.0, 0.2)  # vertical offset of the two faces, as a share of the face size
SIZES = ((110, 110), (130, 100))  # (front, behind): the nearer face larger


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    centres: list[list[tuple[float, float] | None]]  # per frame: (front, behind) centre, None where mostly hidden
    sizes: tuple[int, int]


class Frames(Source):
    def __init__(self, images):
        self.images, self.fps = images, 30.0

    def __iter__(self):
        for i, image in enumerate(self.images):
            yield Frame(i, i / self.fps, image)


def scene(rng: np.random.Generator) -> np.ndarray:
    """A still background: a grey ramp with a little blurred noise."""
    import cv2

    gradient = np.linspace(70, 150, W, dtype=np.float32)[None, :, None]
    return cv2.GaussianBlur(np.clip(gradient + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8), (0, 0), 2)


def face_patch(path: Path, size: int) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path))
    h, w = image.shape[:2]
    return cv2.resize(image[h // 8: h - h // 16, w // 8: w - w // 8], (size, size), interpolation=cv2.INTER_AREA)


def make_clip(background: np.ndarray, front: np.ndarray, behind: np.ndarray, motion, offset: float) -> Clip:
    name, fx, fv, bx, bv = motion
    sf, sb = len(front), len(behind)
    x = [fx * (W - sf), bx * (W - sb)]
    base = (H - max(sf, sb)) / 2
    y = [base + (max(sf, sb) - sf) / 2, base + (max(sf, sb) - sb) / 2 + offset * sb]
    frames, centres = [], []
    while True:
        xi = [int(round(v)) for v in x]
        if not (0 <= xi[0] <= W - sf) or not (0 <= xi[1] <= W - sb):
            break
        frame = background.copy()
        yi = [int(round(v)) for v in y]
        frame[yi[1]:yi[1] + sb, xi[1]:xi[1] + sb] = behind
        frame[yi[0]:yi[0] + sf, xi[0]:xi[0] + sf] = front  # the nearer face last: it hides the other
        ox = max(0, min(xi[0] + sf, xi[1] + sb) - max(xi[0], xi[1]))
        oy = max(0, min(yi[0] + sf, yi[1] + sb) - max(yi[0], yi[1]))
        hidden = ox * oy / (sb * sb)
        centres.append([(xi[0] + sf / 2, yi[0] + sf / 2), (xi[1] + sb / 2, yi[1] + sb / 2) if hidden < 0.3 else None])
        frames.append(frame)
        x[0] += fv
        x[1] += bv
    return Clip(name, frames, centres, (sf, sb))


def id_series(clip: Clip, detector, settings: PipelineSettings) -> list[list[int]]:
    """Each face's matched track id, frame by frame (frames where it is hidden or not shown are skipped)."""
    series: list[list[int]] = [[], []]
    for result, centres in zip(run_pipeline(Frames(clip.frames), detector, FaceModels(), settings), clip.centres):
        for k, centre in enumerate(centres):
            if centre is None:
                continue
            near = [(np.hypot(f.box.x + f.box.w / 2 - centre[0], f.box.y + f.box.h / 2 - centre[1]), f.track_id) for f in result.faces]
            near = [n for n in near if n[0] < clip.sizes[k] / 3]
            if near:
                series[k].append(min(near)[1])
    return series


def look_separation(paths: list[Path], n: int = 300, seed: int = 1) -> None:
    import cv2

    from facesense.stream.track import OTHER_LOOK, SAME_GREY_LOOK, SAME_LOOK

    rng = np.random.default_rng(seed)
    chosen = [cv2.imread(str(paths[i])) for i in rng.choice(len(paths), n, replace=False)]
    separation(chosen, "colour", SAME_LOOK, OTHER_LOOK)
    # the same faces made grey (a black-and-white or infrared video): grey looks, compared at SAME_GREY_LOOK
    grey = [cv2.cvtColor(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR) for im in chosen]
    separation(grey, "grey", SAME_GREY_LOOK, None)


def separation(images: list[np.ndarray], kind: str, same_at: float, other_at: float | None) -> None:
    import cv2

    from facesense.stream.track import is_grey, look, look_distance

    n = len(images)

    def box(image, dx=0.0, dy=0.0, scale=1.0):  # the face of an aligned 200 px UTKFace photo
        side = image.shape[1]
        half = 0.35 * side * scale
        return (side / 2 + dx * side - half, side / 2 + dy * side - half, 2 * half, 2 * half)

    base = [look(im, box(im)) for im in images]
    same, bright = [], []
    for im, b in zip(images, base):
        if b is None or is_grey(b) != (kind == "grey"):
            continue
        views = [(im, box(im, 0.07)), (im, box(im, 0, 0.05, 0.9)), (im, box(im, 0, 0, 1.15)), (im, box(im, -0.05, 0.03, 1.05)),
                 (np.clip(im * 1.15, 0, 255).astype(np.uint8), box(im)), (cv2.GaussianBlur(im, (0, 0), 2), box(im))]
        distances = [look_distance(b, v) if v is not None else np.nan for v in (look(*view) for view in views)]
        same += [d for d in distances if np.isfinite(d)]
        bright += [distances[4]] if np.isfinite(distances[4]) else []
    known = [b for b in base if b is not None and is_grey(b) == (kind == "grey")]
    same_a = np.array(same)
    other = np.array([look_distance(known[i], known[j]) for i in range(len(known)) for j in range(i + 1, len(known))])
    print(f"{kind} looks of {len(known)} of {n} faces (the others {'in colour' if kind == 'grey' else 'without colour'}); {len(same_a)} altered views, {len(other)} pairs of people")
    print(f"  same face further than {same_at}: {np.mean(same_a > same_at):.3f}" + (f"; further than OTHER_LOOK {other_at}: {np.mean(same_a > other_at):.4f}" if other_at else "")
          + f"; brightened views further than {same_at}: {np.mean(np.array(bright) > same_at):.3f}")
    print(f"  two people within {same_at}: {np.mean(other <= same_at):.4f}; median distance of two people {np.median(other):.2f}")


def main() -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/utkface", help="a folder with labels.csv and images/ (UTKFace)")
    ap.add_argument("--pairs", type=int, default=6, help="pairs of people per motion, offset and size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--detector", default=DEFAULT_DETECTOR)
    ap.add_argument("--rows", help="write one csv row per clip here")
    ap.add_argument("--looks", action="store_true", help="measure how well looks tell people apart instead")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "labels.csv").is_file():
        sys.exit(f"{data}: no labels.csv; give --data the UTKFace folder (../shared/data/utkface)")
    with open(data / "labels.csv", newline="") as f:
        paths = [data / r["path"] for r in csv.DictReader(f) if 20 <= float(r.get("age") or 0) <= 60]
    if args.looks:
        look_separation(paths)
        return 0
    rng = np.random.default_rng(args.seed)
    background = scene(rng)
    detector, settings = build_detector(args.detector), PipelineSettings()

    print(f"track_crossings: {args.detector}, live's default settings; {platform.processor() or platform.machine()}, "
          f"{args.pairs} pairs per motion x {len(OFFSETS)} offsets x {len(SIZES)} sizes")
    print("| motion | clips | frames | id switches | clips with a switch | both end under their first id |")
    print("|---|---|---|---|---|---|")
    rows, totals, t0 = [], np.zeros(5, dtype=int), time.perf_counter()
    for motion in MOTIONS:
        counts = np.zeros(5, dtype=int)
        for offset in OFFSETS:
            for sizes in SIZES:
                for _ in range(args.pairs):
                    a, b = rng.choice(len(paths), 2, replace=False)
                    clip = make_clip(background, face_patch(paths[a], sizes[0]), face_patch(paths[b], sizes[1]), motion, offset)
                    series = id_series(clip, detector, settings)
                    switches = sum(sum(p != q for p, q in zip(s, s[1:])) for s in series)
                    kept = all(s and s[0] == s[-1] for s in series)
                    counts += (1, len(clip.frames), switches, switches > 0, kept)
                    rows.append({"motion": motion[0], "offset": offset, "sizes": sizes, "front": paths[a].name, "behind": paths[b].name,
                                 "frames": len(clip.frames), "id_switches": switches, "kept": int(kept)})
        print(f"| {motion[0]} | {counts[0]} | {counts[1]} | {counts[2]} | {counts[3]} | {counts[4]} |")
        totals += counts
    print(f"| all | {totals[0]} | {totals[1]} | {totals[2]} | {totals[3]} | {totals[4]} |")
    print(f"{time.perf_counter() - t0:.0f} s")
    if args.rows:
        with open(args.rows, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
