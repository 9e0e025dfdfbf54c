"""How steady the live labels are: on the real videos, per tracked face, how often the shown
expression and gender change per second and how much the age estimate moves, without smoothing
(each frame on its own) and with the default smoothing. A person keeps one gender and age through
a clip, so a gender change or age movement within a track is noise, unless the track itself
passed from one person to another (a cut in an edited clip); expression may really change, so
fewer changes is better only up to a point.

    python bench/label_stability.py [--videos ../shared/data/videos] [--smoothing 1,0.4] [--age-smoothing 0.4,0.15] [--gender gender_age] [--age auto] [--detector centerface]

The defaults are the models and detector `live` runs by default.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from facesense.runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER
from facesense.stream.detect import DEFAULT_DETECTOR, build_detector
from facesense.stream.frames import open_source
from facesense.stream.live import load_face_models
from facesense.stream.pipeline import PipelineSettings, run_pipeline

MIN_FRAMES = 10  # shorter tracks say little about stability


def track_series(video: Path, models, smoothing: float, detector: str, age_smoothing: float | None = None) -> tuple[dict[int, dict[str, list]], float]:
    """-> ({track id: {"t": times, "expression": labels, "gender": labels, "age": years}}, fps)."""
    source = open_source(str(video))
    series: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    try:
        # every face every frame: a raw label that repeats for want of a turn would hide flips
        for result in run_pipeline(source, build_detector(detector), models, PipelineSettings(smoothing=smoothing, age_smoothing=smoothing if age_smoothing is None else age_smoothing, classify_per_frame=0, gender_age_per_frame=0)):
            for face in result.faces:
                s = series[face.track_id]
                s["t"].append(result.frame.time_s)
                for key in ("expression", "gender"):
                    if getattr(face, key):
                        s[key].append(getattr(face, key).label)
                if face.age:
                    s["age"].append(face.age.years)
    finally:
        fps = source.fps or 30.0
        source.close()
    return {k: v for k, v in series.items() if len(v["t"]) >= MIN_FRAMES}, fps


def changes(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


def majority_share(labels: list[str]) -> float:
    return max(labels.count(x) for x in set(labels)) / len(labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"), help="folder of .mp4 clips (default: ../shared/data/videos beside the repo)")
    ap.add_argument("--smoothing", default="1,0.4", help="weights of the newest frame to compare (1 = off)")
    ap.add_argument("--age-smoothing", help="weights of the newest frame for the age alone, each with every --smoothing (default: the --smoothing weight itself; live's own are --smoothing 0.4 --age-smoothing 0.2)")
    ap.add_argument("--gender", default=DEFAULT_GENDER, help=f"gender model (default {DEFAULT_GENDER}, as live)")
    ap.add_argument("--age", default=DEFAULT_AGE, help=f"age backend (default {DEFAULT_AGE}, as live), or none")
    ap.add_argument("--detector", default=DEFAULT_DETECTOR, help=f"face detector (default {DEFAULT_DETECTOR}, as live)")
    args = ap.parse_args()
    models = load_face_models(DEFAULT_EXPRESSION, args.gender, None if args.age == "none" else args.age)
    videos = sorted(p for p in Path(args.videos).glob("*.mp4") if p.stem != "no_face")
    if not videos:  # an empty table looked like a result
        print(f"error: --videos {args.videos}: no .mp4 clip in it; give the folder of the clips", file=sys.stderr)
        raise SystemExit(2)
    print(f"machine: {platform.machine()} CPU; expression: {DEFAULT_EXPRESSION}, gender: {args.gender}, age: {args.age}; detector {args.detector}; every face every frame; tracks of >= {MIN_FRAMES} frames\n")
    print("| video | smoothing | age smoothing | tracks | track-seconds | expression changes/s | gender changes/s | gender frames = track majority | age: mean within-track sd | age: median frame-to-frame change | age: largest frame-to-frame change |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ages_weights = [float(x) for x in args.age_smoothing.split(",")] if args.age_smoothing else [None]
    for video in videos:
        for smoothing, age_smoothing in ((float(x), a) for x in args.smoothing.split(",") for a in ages_weights):
            tracks, fps = track_series(video, models, smoothing, args.detector, age_smoothing)
            seconds = sum(len(s["t"]) for s in tracks.values()) / fps
            expr = sum(changes(s["expression"]) for s in tracks.values()) / seconds if seconds else float("nan")
            gend = sum(changes(s["gender"]) for s in tracks.values()) / seconds if seconds else float("nan")
            frames = sum(len(s["gender"]) for s in tracks.values())
            agree = sum(majority_share(s["gender"]) * len(s["gender"]) for s in tracks.values()) / frames if frames else float("nan")
            ages = [np.asarray(s["age"]) for s in tracks.values() if s["age"]]
            sd = f"{np.mean([a.std() for a in ages]):.2f} y" if ages else "-"
            steps = np.concatenate([np.abs(np.diff(a)) for a in ages]) if ages else np.array([])
            step, jump = (f"{np.median(steps):.2f} y", f"{steps.max():.2f} y") if len(steps) else ("-", "-")
            shown = smoothing if age_smoothing is None else age_smoothing
            print(f"| {video.name} | {smoothing:g} | {shown:g} | {len(tracks)} | {seconds:.1f} | {expr:.2f} | {gend:.2f} | {agree:.3f} | {sd} | {step} | {jump} |")


if __name__ == "__main__":
    main()
