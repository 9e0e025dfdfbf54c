"""Helpers for the web-app tests: `facesense serve` as a real process, and images made on the spot."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


class ServerProcess:
    """`python -m facesense serve --port 0 ARGS` with this checkout's code; its stderr is kept."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 120):
        environ = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facesense", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {''.join(self.stderr)}")
            found = re.search(r"(https?://\S+?:\d+)/", line)
            if found:
                self.url = found.group(1)
                self.ws_url = self.url.replace("http", "ws", 1)
                return
        self.close()
        raise RuntimeError(f"serve did not start in {timeout} s: {line!r} {''.join(self.stderr)}")

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # resets VmHWM (Linux)

    def peak_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def bomb_png(width: int, height: int, rows_per_block: int = 100) -> bytes:
    """A valid all-black RGB PNG that declares width x height pixels in about a megabyte: one
    block of rows deflated once and repeated (a full flush makes each copy independent)."""
    block = bytes(1 + 3 * width) * rows_per_block  # each row: filter byte + pixels
    blocks, rest = divmod(height, rows_per_block)
    assert rest == 0, "height must be a multiple of rows_per_block"
    c = zlib.compressobj(9)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block, adler)
    stream = first + again * (blocks - 1) + b"\x03\x00" + struct.pack(">I", adler)  # empty final block

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
