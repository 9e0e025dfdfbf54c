"""A tiny MJPEG-over-HTTP server on 127.0.0.1 for stream-fault tests (no network beyond loopback).

Each connection gets `frames` JPEG parts at `fps`, then does what `then` says:
  "stall"    keeps the connection open and sends nothing more
  "close"    sends half of a part and closes the connection (mid-frame)
  "end"      closes cleanly after the last part
`corrupt_at`: that part carries bytes that are not a JPEG. `silent`: accepts the connection
and never answers. `connections`: how many connections are served before the server answers
404 (a stream that is gone); None = every one.
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import cv2
import numpy as np


def face_frames(n: int, size: tuple[int, int] = (256, 300)) -> list[bytes]:
    """n JPEG frames of a real face photo (matplotlib's Grace Hopper sample), shifted a little each frame."""
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photo = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    photo = cv2.resize(photo, size)
    return [cv2.imencode(".jpg", np.roll(photo, i % 8, axis=1))[1].tobytes() for i in range(n)]


class MjpegServer:
    def __init__(self, frames: int = 20, fps: float = 20.0, then: str = "stall", corrupt_at: int | None = None, silent: bool = False, connections: int | None = None):
        self.frames, self.fps, self.then, self.corrupt_at, self.silent, self.connections = frames, fps, then, corrupt_at, silent, connections
        self.jpegs = face_frames(frames)
        self.served = 0
        self.done = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner._serve(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"

    def _serve(self, h) -> None:
        if self.silent:
            self.done.wait(60)
            return
        self.served += 1
        if self.connections is not None and self.served > self.connections:
            h.send_error(404, "stream gone")
            return
        h.send_response(200)
        h.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        h.end_headers()
        try:
            for i, jpeg in enumerate(self.jpegs):
                if self.done.is_set():
                    return
                body = b"\xff\xd8 this is not a jpeg " * 40 if i == self.corrupt_at else jpeg
                h.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"\r\n")
                h.wfile.flush()
                time.sleep(1 / self.fps)
            if self.then == "stall":
                self.done.wait(60)
            elif self.then == "close":
                part = self.jpegs[0]
                h.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(part) + part[: len(part) // 2])
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away

    def __enter__(self) -> "MjpegServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.httpd.shutdown()
        self.httpd.server_close()
