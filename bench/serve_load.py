"""Load on the web app's camera WebSocket: `facesense serve` as its own process on 127.0.0.1,
N clients (1, 2, 4, 8) each sending 640x360 JPEG frames from ../shared/data/videos like the page
does (at most one frame in flight; the next is the newest frame of a clip playing at
--source-fps, 0 = as fast as answers come). Per N: FPS per client and in total, round-trip
latency median and p95, frames the clip moved past while a frame was in flight (dropped), and
the server's memory. Then a memory-growth run: --growth-clients clients for --growth-seconds
after a warm-up, server RSS at the start and the end.

    python bench/serve_load.py [--seconds 8] [--clients 1,2,4,8] [--source-fps 30] [--growth-seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "videos"


def clip_frames(limit: int) -> list[bytes]:
    """Up to `limit` frames, 640x360 JPEG (quality 75, as the page sends), from the real videos."""
    videos = sorted(p for p in DATA.glob("*.mp4") if p.name != "no_face.mp4")
    if not videos:
        sys.exit(f"no videos in {DATA}: this benchmark needs ../shared/data/videos")
    frames: list[bytes] = []
    per_video = max(1, limit // len(videos))
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        taken = 0
        while taken < per_video and (got := cap.read())[0]:
            frame = cv2.resize(got[1], (640, 360), interpolation=cv2.INTER_AREA)
            frames.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes())
            taken += 1
        cap.release()
    return frames


class Server:
    def __init__(self, args: list[str]):
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, "-m", "facesense", "serve", "--port", "0", *args], stdout=subprocess.PIPE, text=True, env=env)
        for line in self.proc.stdout:
            if found := re.search(r"http://(\S+?:\d+)/", line):
                self.ws = f"ws://{found.group(1)}/ws/live"
                return
        sys.exit("the server did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)


async def client(url: str, frames: list[bytes], seconds: float, source_fps: float, offset: int) -> dict:
    latencies, dropped, sent_index = [], 0, None
    async with connect(url, max_size=2**22) as ws:
        start = time.perf_counter()
        while (now := time.perf_counter()) - start < seconds:
            if source_fps > 0:
                index = int((now - start) * source_fps)  # the clip's newest frame
                if sent_index is not None and index == sent_index:
                    await asyncio.sleep((index + 1) / source_fps - (now - start))
                    continue
                if sent_index is not None:
                    dropped += index - sent_index - 1
            else:
                index = (sent_index + 1) if sent_index is not None else 0
            sent_index = index
            t0 = time.perf_counter()
            await ws.send(frames[(offset + index) % len(frames)])
            reply = json.loads(await ws.recv())
            if reply["type"] == "result":
                latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - start
    return {"frames": len(latencies), "fps": len(latencies) / elapsed, "latencies": latencies, "dropped": dropped}


async def round_(url: str, frames: list[bytes], n: int, seconds: float, source_fps: float) -> list[dict]:
    return await asyncio.gather(*(client(url, frames, seconds, source_fps, k * 97) for k in range(n)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,2,4,8")
    p.add_argument("--seconds", type=float, default=8.0, help="per N")
    p.add_argument("--source-fps", type=float, default=30.0, help="clip rate each client plays (0 = send as fast as answers come)")
    p.add_argument("--frames", type=int, default=600, help="frames taken from the videos")
    p.add_argument("--growth-seconds", type=float, default=120.0, help="memory-growth run (0 = skip)")
    p.add_argument("--growth-clients", type=int, default=2)
    p.add_argument("--serve-args", default="--sentiment none", help="extra `facesense serve` options")
    args = p.parse_args()

    frames = clip_frames(args.frames)
    server = Server(args.serve_args.split())
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}; load avg {os.getloadavg()[0]:.1f}")
    print(f"{len(frames)} frames 640x360 from {DATA}; source {args.source_fps:g} FPS per client; {args.seconds:g} s per N; server: {args.serve_args}")
    try:
        asyncio.run(round_(server.ws, frames, 1, 2.0, args.source_fps))  # warm-up
        idle = server.rss_mb()
        print(f"server RSS after warm-up: {idle:.0f} MB")
        print(f"{'N':>2} {'FPS/client':>10} {'FPS total':>9} {'lat med ms':>10} {'lat p95 ms':>10} {'dropped':>8} {'RSS MB':>7}")
        for n in [int(x) for x in args.clients.split(",")]:
            results = asyncio.run(round_(server.ws, frames, n, args.seconds, args.source_fps))
            lat = np.concatenate([r["latencies"] for r in results]) if any(r["latencies"] for r in results) else np.array([np.nan])
            total = sum(r["fps"] for r in results)
            print(f"{n:>2} {total / n:>10.1f} {total:>9.1f} {np.median(lat):>10.1f} {np.percentile(lat, 95):>10.1f} {sum(r['dropped'] for r in results):>8} {server.rss_mb():>7.0f}")
        if args.growth_seconds > 0:
            asyncio.run(round_(server.ws, frames, args.growth_clients, 10.0, args.source_fps))  # warm-up at this load
            before = server.rss_mb()
            samples = []

            async def sample():
                t_end = time.perf_counter() + args.growth_seconds
                while time.perf_counter() < t_end:
                    await asyncio.sleep(5)
                    samples.append(server.rss_mb())

            async def growth():
                return await asyncio.gather(round_(server.ws, frames, args.growth_clients, args.growth_seconds, args.source_fps), sample())

            results, _ = asyncio.run(growth())
            after = server.rss_mb()
            print(f"memory growth: {args.growth_clients} clients for {args.growth_seconds:g} s ({sum(r['frames'] for r in results)} frames): "
                  f"RSS {before:.0f} -> {after:.0f} MB ({after - before:+.1f} MB; max {max(samples, default=after):.0f} MB)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
