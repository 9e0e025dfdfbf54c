"""Stream faults, end to end: a real `facesense live` process reads a tiny MJPEG server on
127.0.0.1 that stalls, closes mid-frame, sends a corrupt part, never answers, or comes back.
Each run ends with its documented exit code (docs/exit-codes.md), one error line, complete logs,
and no crash at exit; every run is bounded in time."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mjpeg_server import MjpegServer

SRC = Path(__file__).resolve().parents[1] / "src"


def run_live(url: str, out: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "facesense", "live", "--source", url, "--no-window", "--stall-timeout", "1",
           "--log", str(out / "frames.csv"), "--jsonl", str(out / "frames.jsonl"), "--summary", str(out / "summary.json"), *extra]
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def error_lines(proc) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [l for l in proc.stderr.splitlines() if l.startswith("error: ")]


def assert_complete_outputs(out: Path) -> dict:
    """The logs parse to their last line, agree with each other, and no temp file is left."""
    summary = json.loads((out / "summary.json").read_text())
    rows = list(csv.DictReader(open(out / "frames.csv")))
    lines = [json.loads(l) for l in (out / "frames.jsonl").read_text().splitlines()]
    assert len(rows) == len(lines) == summary["faces"] > 0
    assert len({r["frame"] for r in rows}) == summary["frames_with_faces"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    return summary


def test_a_stream_that_stalls_exits_3_with_complete_logs(tmp_path):
    with MjpegServer(frames=15, then="stall") as server:
        start = time.monotonic()
        proc = run_live(server.url, tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert time.monotonic() - start < 40
    [line] = error_lines(proc)
    assert "the source failed" in line and "stalled" in line and server.url in line
    summary = assert_complete_outputs(tmp_path)
    assert "stalled" in summary["error"] and summary["frames"] >= 1


def test_a_stream_that_closes_mid_frame_exits_3(tmp_path):
    with MjpegServer(frames=12, then="close") as server:
        proc = run_live(server.url, tmp_path)
    assert proc.returncode == 3, proc.stderr
    [line] = error_lines(proc)
    assert "connection closed" in line
    assert "closed" in assert_complete_outputs(tmp_path)["error"]


def test_a_corrupt_part_is_skipped_and_counted(tmp_path):
    with MjpegServer(frames=20, then="close", corrupt_at=5) as server:
        proc = run_live(server.url, tmp_path)
    assert proc.returncode == 3, proc.stderr
    summary = assert_complete_outputs(tmp_path)
    assert summary["unreadable_frames"] == 1
    assert summary["frames"] + summary["dropped_frames"] >= 15  # it read on past the bad part
    assert "1 frame(s) could not be decoded and were skipped" in proc.stderr  # said, not only counted


def test_a_stream_that_never_answers_is_refused_in_bounded_time(tmp_path):
    with MjpegServer(silent=True) as server:
        start = time.monotonic()
        proc = run_live(server.url, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - start < 30
    [line] = error_lines(proc)
    assert server.url in line and ("cannot be opened" in line or "no frame" in line)
    assert not list(tmp_path.iterdir())  # nothing was produced, so nothing is written


def test_reconnect_bridges_a_gap_and_logs_it(tmp_path):
    # two connections of 10 frames each; after the second the stream is gone for good
    with MjpegServer(frames=10, then="close", connections=2) as server:
        proc = run_live(server.url, tmp_path, "--reconnect", "2")
    assert proc.returncode == 3, proc.stderr
    assert "reconnecting" in proc.stderr and "back after" in proc.stderr
    [line] = error_lines(proc)
    assert "reconnecting" in line
    summary = assert_complete_outputs(tmp_path)
    [gap] = summary["gaps"]
    assert gap["end_s"] > gap["start_s"] and "closed" in gap["reason"]
    times = [float(r["time_s"]) for r in csv.DictReader(open(tmp_path / "frames.csv"))]
    assert min(times) < gap["start_s"] and max(times) > gap["end_s"]  # frames from both sides of the gap


def test_the_capture_thread_is_gone_when_the_source_closes():
    from facesense.errors import SourceFailed
    from facesense.stream.frames import open_source

    with MjpegServer(frames=8, then="stall") as server:
        source = open_source(server.url, stall_timeout=0.5)
        with pytest.raises(SourceFailed, match="stalled"):
            list(source)
        source.close()
    assert not [t for t in threading.enumerate() if t.name == "facesense-capture"]


def test_reconnect_is_only_for_urls(tmp_path, capsys):
    from facesense.cli import main

    (tmp_path / "clip.mp4").write_bytes(b"")
    assert main(["live", "--source", str(tmp_path / "clip.mp4"), "--no-window", "--reconnect", "5"]) == 2
    assert "--reconnect (reconnect=) is for stream URLs" in capsys.readouterr().err


def test_sigterm_finishes_the_outputs_as_ctrl_c_does(tmp_path):
    """`docker stop`, systemd and `timeout` send SIGTERM: it killed live with no summary and
    only hidden temp files; it now stops it as a Ctrl-C does, with exit 143."""
    import signal

    import cv2
    import numpy as np

    clip = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for i in range(3000):  # far more than the run gets through before the signal
        writer.write(np.full((240, 320, 3), i % 200, np.uint8))
    writer.release()
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "facesense", "live", "--source", str(clip), "--no-window", "--expression", "none", "--gender", "none", "--age", "none",
           "--out", str(out / "a.mp4"), "--log", str(out / "f.csv"), "--summary", str(out / "s.json")]
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".a.mp4") for p in out.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # until the video is being written
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and stderr.strip().splitlines()[-1].startswith("terminated; "), stderr
    summary = json.loads((out / "s.json").read_text())
    assert summary["error"] == "interrupted" and 0 < summary["frames"] < 3000
    assert (out / "a.mp4").stat().st_size > 0 and not [p.name for p in out.iterdir() if p.name.startswith(".")]
