"""Run `facesense live` over each stream fault N times with a busy process beside it and count
exit codes: the exit-time crash this guards against (a capture released while its reader thread
was inside OpenCV's read, exit 139) was a race that load brought out.

    python bench/stream_faults.py --runs 10

Prints one line per fault: the exit codes seen (with counts), crashes, hangs and the slowest run.
The MJPEG server is the test suite's (tests/mjpeg_server.py), on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mjpeg_server import MjpegServer  # noqa: E402

FAULTS = {
    "stall": (dict(frames=15, then="stall"), []),
    "close mid-frame": (dict(frames=12, then="close"), []),
    "corrupt part": (dict(frames=20, then="close", corrupt_at=5), []),
    "never answers": (dict(silent=True), []),
    "reconnect": (dict(frames=10, then="close", connections=2), ["--reconnect", "2"]),
}


def one_run(server_kwargs: dict, extra: list[str], timeout: float) -> tuple[str, float]:
    with MjpegServer(**server_kwargs) as server, tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "facesense", "live", "--source", server.url, "--no-window", "--stall-timeout", "1",
               "--log", f"{out}/f.csv", "--jsonl", f"{out}/f.jsonl", "--summary", f"{out}/s.json", *extra]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        start = time.monotonic()
        try:
            rc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env).returncode
        except subprocess.TimeoutExpired:
            return "hang", time.monotonic() - start
        return str(rc), time.monotonic() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--no-busy", action="store_true", help="without the busy process")
    args = p.parse_args()
    busy = None if args.no_busy else subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        print(f"{args.runs} runs per fault, {'no busy process' if busy is None else 'one busy process beside them'}, {os.cpu_count()} CPUs")
        for name, (server_kwargs, extra) in FAULTS.items():
            codes: collections.Counter = collections.Counter()
            slowest = 0.0
            for _ in range(args.runs):
                code, seconds = one_run(server_kwargs, extra, args.timeout)
                codes[code] += 1
                slowest = max(slowest, seconds)
            crashes = sum(n for c, n in codes.items() if c != "hang" and (int(c) < 0 or int(c) in (134, 139)))  # a signal
            print(f"{name:<16} exit codes {dict(codes)}  crashes {crashes}  hangs {codes['hang']}  slowest {slowest:.1f} s")
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


if __name__ == "__main__":
    main()
