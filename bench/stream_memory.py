"""Memory of a long `live` run: does the process grow with the length of the stream?

A clip of ../shared/data/videos is written back to back into one long video (default 18,000
frames, ten minutes at 30 FPS), then `live` runs over it as a user would (annotated video, frame
log and summary written, both default models on), and the resident memory of the process is
printed every `--every` frames. Growth per 1,000 frames after the first `--every` frames (the
warm-up: model sessions, buffers) is the figure that matters: it is what an hour-long film or a
camera left on all day adds.

    python bench/stream_memory.py [--frames 18000] [--every 2000] [--video WolfgangLanger_Pexels.mp4]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def long_video(clip: Path, frames: int, out: Path) -> Path:
    """`clip` repeated until `frames` frames, at the clip's size and rate."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    images = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    cap.release()
    if not images:
        raise SystemExit(f"{clip}: no frame could be read")
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        writer.write(images[i % len(images)])
    writer.release()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=18000)
    parser.add_argument("--every", type=int, default=2000)
    parser.add_argument("--video", default="WolfgangLanger_Pexels.mp4", help="a clip in ../shared/data/videos, or a path")
    args = parser.parse_args()
    clip = Path(args.video) if Path(args.video).is_file() else DATA / "videos" / args.video
    if not clip.is_file():
        raise SystemExit(f"{clip}: not found (the bench reads ../shared/data/videos)")

    from facesense.stream.live import LiveOptions, run_live

    with tempfile.TemporaryDirectory() as tmp:
        video = long_video(clip, args.frames, Path(tmp) / "long.mp4")
        readings: list[tuple[int, float]] = []
        count = 0

        def on_frame(result) -> None:
            nonlocal count
            count += 1
            if count % args.every == 0:
                readings.append((count, rss_mb()))
                print(f"frame {count:>6}: RSS {readings[-1][1]:.1f} MB", flush=True)

        opts = LiveOptions(source=str(video), video_out=Path(tmp) / "annotated.mp4", log_csv=Path(tmp) / "frames.csv", summary_json=Path(tmp) / "summary.json")
        summary = run_live(opts, on_frame=on_frame)
    print(f"\n{clip.name} x {args.frames} frames ({args.frames / 30 / 60:.1f} min at 30 FPS): {summary['frames']} frames, {summary['faces']} faces, {summary['fps_wall']} FPS")
    if len(readings) >= 2:
        (n0, m0), (n1, m1) = readings[0], readings[-1]
        print(f"RSS after {n0} frames {m0:.1f} MB, after {n1} frames {m1:.1f} MB: {1000 * (m1 - m0) / (n1 - n0):+.2f} MB per 1,000 frames "
              f"({(m1 - m0) / (n1 - n0) * 30 * 3600:+.0f} MB per hour at 30 FPS)")


if __name__ == "__main__":
    main()
