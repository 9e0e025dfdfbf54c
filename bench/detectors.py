"""Which face detector should be the default: per detector, on every clip in
../shared/data/videos and the photos in ../shared/data/images, the share of frames with a face,
faces per frame, track ids, frames with all six / at least five faces on six_faces_grid.mp4,
false frames on no_face.mp4, faces found on each photo, and end-to-end FPS with the shipped
expression and gender models on (`--age` off unless given; no video written: the live path as a window would run).

    python bench/detectors.py [--detectors centerface,haar_alt2,haar_profile] [--detect-every 5] [--classify-per-frame 4] [--gender-age-per-frame 2]

Each (detector, clip) runs in a fresh process, one after another.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
from pathlib import Path

from benchkit import in_fresh_process, run
from facesense.runtime.assets import DEFAULT_EXPRESSION, DEFAULT_GENDER

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_one(detector: str, video: str, detect_every: int, budgets: tuple[int, int], age: str | None) -> dict:
    from facesense.stream.live import LiveOptions, run_live
    from facesense.stream.pipeline import PipelineSettings

    counts, ids, cuts = [], set(), 0

    def on_frame(result) -> None:
        counts.append(len(result.faces))
        ids.update(f.track_id for f in result.faces)

    summary = run_live(LiveOptions(source=video, detector=detector, detect_width=320, age=age, settings=PipelineSettings(detect_every=detect_every, classify_per_frame=budgets[0], gender_age_per_frame=budgets[1])), on_frame=on_frame)
    return {"fps": summary["fps_wall"], "counts": counts, "ids": len(ids), "cuts": summary.get("scene_cuts", cuts)}


def measure(detector: str, video: Path, detect_every: int, budgets: tuple[int, int], age: str | None) -> dict:
    return in_fresh_process(run_one, detector, str(video), detect_every, budgets, age)


def photos(detector: str) -> str:
    import cv2

    from facesense.stream.detect import build_detector

    det = build_detector(detector, detect_width=320)
    found = []
    for path in sorted((DATA / "images").glob("*.jpg")):
        found.append(f"{path.name} {len(det.detect(cv2.imread(str(path))))}")
    return ", ".join(found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detectors", default="centerface,haar_alt2,haar_profile")
    ap.add_argument("--detect-every", type=int, default=5)
    ap.add_argument("--classify-per-frame", type=int, default=4, help="faces given a fresh expression per frame, as in live (0 = every face)")
    ap.add_argument("--gender-age-per-frame", type=int, default=2, help="faces given a fresh gender and age per frame, as in live (0 = every face)")
    ap.add_argument("--age", default="none", help="age model as in live (default none; the default gender model gives age from the same run)")
    args = ap.parse_args()
    age = None if args.age == "none" else args.age
    videos = sorted((DATA / "videos").glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no videos in {DATA / 'videos'}")
    print(f"machine: {platform.machine()}, {mp.cpu_count()} cores; live's default expression and gender models ({DEFAULT_EXPRESSION}, {DEFAULT_GENDER}), age {args.age}, no video written; detect every {args.detect_every}; faces classified per frame: expression {args.classify_per_frame or 'all'}, gender and age {args.gender_age_per_frame or 'all'}\n")
    print("| detector | clip | frames | FPS | frames with a face | faces/frame | track ids | all 6 faces | >= 5 faces |")
    print("|---|---|---|---|---|---|---|---|---|")
    for detector in args.detectors.split(","):
        for video in videos:
            r = measure(detector, video, args.detect_every, (args.classify_per_frame, args.gender_age_per_frame), age)
            n = max(1, len(r["counts"]))
            with_face = sum(c > 0 for c in r["counts"]) / n
            grid = video.name.startswith("six_faces")
            six = f"{sum(c >= 6 for c in r['counts']) / n:.1%}" if grid else "-"
            five = f"{sum(c >= 5 for c in r['counts']) / n:.1%}" if grid else "-"
            print(f"| {detector} | {video.name} | {len(r['counts'])} | {r['fps']:.1f} | {with_face:.1%} | {sum(r['counts']) / n:.2f} | {r['ids']} | {six} | {five} |", flush=True)
        print(f"| {detector} | photos (faces found) | {photos(detector)} | | | | | | |", flush=True)
    print("\nno_face.mp4: 'frames with a face' are false detections. FPS = frames / wall time of the whole loop.")


if __name__ == "__main__":
    run(main)
