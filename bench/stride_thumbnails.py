"""What the scene-cut thumbnails of frames skipped by `--stride` cost: reading each shared video
at strides 1, 5 and 10 with and without them (`live --cut-threshold 0` turns them off), and
the cuts the detector finds each way (without them, a cut is told between processed frames
only, a stride apart).

For every (video, stride): milliseconds of reading per processed frame (the source's
iteration alone: decoding, and the 64x36 thumbnails of the frames in between; best of
--repeats), with thumbnails and without, their ratio, and the cuts found at the default
threshold.

    python bench/stride_thumbnails.py [--strides 1,5,10] [--repeats 3] [--videos a.mp4,b.mp4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from pathlib import Path

from benchkit import cpu_name, in_fresh_process, run
from facesense.errors import FacesenseError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_once(video: str, stride: int, thumbnails: bool) -> dict:
    """One pass over `video`: processed frames, seconds, and the cuts found."""
    from facesense.stream.frames import VideoFileSource
    from facesense.stream.pipeline import PipelineSettings
    from facesense.stream.track import CutDetector

    cuts, frames, found = CutDetector(PipelineSettings().cut_threshold), 0, 0
    source = VideoFileSource(video, stride, cut_thumbnails=thumbnails)
    start = time.perf_counter()
    try:
        for frame in source:
            frames += 1
            found += cuts.is_cut(frame.image, frame.between)
    finally:
        source.close()
    return {"frames": frames, "seconds": time.perf_counter() - start, "cuts": found}


def best_of(video: Path, stride: int, thumbnails: bool, repeats: int) -> dict:
    runs = [in_fresh_process(read_once, str(video), stride, thumbnails) for _ in range(repeats)]
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strides", default="1,5,10", help="comma-separated strides (default 1,5,10)")
    ap.add_argument("--repeats", type=int, default=3, help="passes per measurement; the fastest counts (default 3)")
    ap.add_argument("--videos", help="comma-separated video files (default: every .mp4 in ../shared/data/videos)")
    args = ap.parse_args()
    try:
        strides = [int(s) for s in args.strides.split(",")]
    except ValueError:
        raise FacesenseError(f"--strides {args.strides}: give whole numbers separated by commas, such as 1,5,10") from None
    if any(s < 1 for s in strides) or args.repeats < 1:
        raise FacesenseError(f"--strides {args.strides} --repeats {args.repeats}: each must be 1 or more")
    videos = [Path(v) for v in args.videos.split(",")] if args.videos else sorted((DATA / "videos").glob("*.mp4"))
    missing = [str(v) for v in videos if not v.is_file()]
    if missing or not videos:
        raise FacesenseError(f"{', '.join(missing) or DATA / 'videos'}: no such video; give --videos with files that exist")
    print(f"machine: {platform.machine()} ({cpu_name()}), {mp.cpu_count()} cores; best of {args.repeats} passes\n")
    print("| video | stride | processed frames | ms per frame, with thumbnails | without | ratio | cuts found, with | without |")
    print("|---|---|---|---|---|---|---|---|")
    for video in videos:
        for stride in strides:
            on, off = best_of(video, stride, True, args.repeats), best_of(video, stride, False, args.repeats)
            per = lambda r: 1000 * r["seconds"] / max(1, r["frames"])  # noqa: E731
            print(f"| {video.name} | {stride} | {on['frames']} | {per(on):.2f} | {per(off):.2f} | {per(on) / per(off):.2f}x | {on['cuts']} | {off['cuts']} |", flush=True)
    print("\nreading only (no detection, models or output); at stride 1 no frame is skipped, so both ways read the same")


if __name__ == "__main__":
    run(main)
