"""Real-time pipeline speed and detection hit rate on ../shared/data/videos, per detector backend.

For every (backend, video): end-to-end FPS (frames / wall time of the whole loop, including
decode and drawing the annotated frame), per-stage latency median/p95, faces per frame, share
of frames with a face, frames dropped, and the peak memory of the child process that ran it.
The models are `facesense live`'s defaults (expression, gender_age with its age) unless --gender
or --age name others (e.g. `--gender gender --age none`).

    python bench/stream_fps.py [--backends haar,haar_alt2] [--detect-every 1] [--gender NAME] [--age NAME|none] [--yunet-model PATH] [--peer-fer PYTHON]

--peer-fer names the interpreter of a side environment with the peer package `fer` installed
(it needs tensorflow); it is then run on the same videos (bench/peer_fer.py) and the ratio of
our default pipeline's FPS to fer's is printed. Such an environment, from the package registry:

    python3 -m venv /tmp/fervenv
    /tmp/fervenv/bin/pip install tensorflow-cpu "moviepy<2" pandas requests tqdm pillow "opencv-python-headless<5"
    /tmp/fervenv/bin/pip install --no-deps fer==22.5.1   # its facenet-pytorch pin is only for MTCNN, not used
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import json
import resource
import subprocess
from pathlib import Path

from benchkit import in_fresh_process, run
from facesense.runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_one(backend: str, video: str, detect_every: int, yunet_model: str | None, models: dict) -> dict:
    from facesense.stream.live import LiveOptions, run_live
    from facesense.stream.pipeline import PipelineSettings

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # the annotated video is written, as a user would
        opts = LiveOptions(source=video, detector=backend, detector_model=yunet_model, detect_width=320, settings=PipelineSettings(detect_every=detect_every), video_out=Path(tmp) / "annotated.mp4", **models)
        summary = run_live(opts)
    summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return summary


def measure(backend: str, video: Path, detect_every: int, yunet_model: str | None, models: dict) -> dict:
    return in_fresh_process(run_one, backend, str(video), detect_every, yunet_model, models)


def still_image_hits(backend: str, yunet_model: str | None) -> str:
    import cv2

    from facesense.stream.detect import build_detector

    out = []
    for name in ("multi_face.jpg", "single_face.jpg"):
        img = cv2.imread(str(DATA / "images" / name))
        out.append(f"{name}: {len(build_detector(backend, yunet_model, 320).detect(img))} faces")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", default="haar,haar_alt2")
    ap.add_argument("--detect-every", default="5,1", help="comma-separated: full-frame detection every N frames (5 is the default of facesense live)")
    ap.add_argument("--gender", default=DEFAULT_GENDER, help=f"gender model (default {DEFAULT_GENDER}, live's)")
    ap.add_argument("--age", default=DEFAULT_AGE, help=f"age model or none (default {DEFAULT_AGE}: the gender network's own age, as live)")
    ap.add_argument("--yunet-model", help="face_detection_yunet_*.onnx, to include the yunet backend")
    ap.add_argument("--peer-fer", metavar="PYTHON", help="python of a side environment with the `fer` package, to measure it on the same videos")
    args = ap.parse_args()
    videos = sorted((DATA / "videos").glob("*.mp4"))
    if not videos:
        raise SystemExit(f"no videos in {DATA / 'videos'}")
    backends = args.backends.split(",") + (["yunet"] if args.yunet_model and "yunet" not in args.backends else [])
    models = {"gender": args.gender, "age": None if args.age == "none" else args.age}
    print(f"machine: {platform.machine()}, {mp.cpu_count()} cores; models: expression {DEFAULT_EXPRESSION}, gender {models['gender']}, age {models['age']}; annotated video written\n")
    ours: dict[str, float] = {}
    print("| backend | detect every | video | frames | FPS | decode | detect | classify | track | draw+write | total | faces/frame | frames with face | dropped | unreadable | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, every, video in ((b, int(e), v) for b in backends for e in args.detect_every.split(",") for v in videos):
        s = measure(backend, video, every, args.yunet_model, models)
        lat = s["latency"]
        if backend == "haar_alt2" and every == 5:
            ours[video.name] = s["fps_wall"]
        cell = lambda k: f"{lat[k]['median_ms']:.1f} / {lat[k]['p95_ms']:.1f}" if k in lat else "-"  # noqa: E731
        print(
            f"| {backend} | {every} | {video.name} | {s['frames']} | {s['fps_wall']:.1f} | {cell('decode')} | {cell('detect')} | {cell('classify')} | {cell('track')} | {cell('draw')} | {cell('total')} "
            f"| {s['faces_per_frame']:.2f} | {s['frames_with_faces'] / max(1, s['frames']):.1%} | {s['dropped_frames']} | {s['unreadable_frames']} | {s['peak_rss_mb']:.0f} |",
            flush=True,
        )
    print()
    for backend in backends:
        print(f"{backend} on still images (full-frame pass): {still_image_hits(backend, args.yunet_model)}")
    print("\nlatency cells: median / p95 in ms per frame; FPS = frames / wall time of the whole loop")
    if args.peer_fer:
        peer_table(args.peer_fer, videos, ours)


def peer_table(python: str, videos: list[Path], ours: dict[str, float]) -> None:
    script = Path(__file__).with_name("peer_fer.py")
    print("\n| peer | video | frames | FPS | faces/frame | facesense FPS (haar_alt2, every 5) | facesense / peer |")
    print("|---|---|---|---|---|---|---|")
    for video in videos:
        done = subprocess.run([python, str(script), str(video)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| fer | {video.name} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode} | | | | |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        mine = ours.get(video.name)
        ratio = f"{mine / r['fps']:.1f}x" if mine else "-"
        print(f"| fer (mini-Xception, Haar) | {video.name} | {r['frames']} | {r['fps']:.1f} | {r['faces_per_frame']:.2f} | {mine:.1f} | {ratio} |" if mine else f"| fer | {video.name} | {r['frames']} | {r['fps']:.1f} | {r['faces_per_frame']:.2f} | - | - |", flush=True)


if __name__ == "__main__":
    run(main)
