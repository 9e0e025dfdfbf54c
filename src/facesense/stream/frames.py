"""Frame sources: camera index, video file, stream URL and image folder, all yielding `Frame`s.

A live source (camera, URL) is read on a background thread that keeps only the newest frame,
so a slow model never builds a backlog; frames it overwrites are counted as dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.images import IMAGE_SUFFIXES
from ..errors import FacesenseError


class SourceError(FacesenseError):
    """A source that cannot be opened, disappeared or stalled."""


@dataclass
class Frame:
    index: int  # position in the source (counts skipped/dropped frames too)
    time_s: float  # media time for files, seconds since start for live sources
    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)


class Source:
    live = False
    dropped = 0
    fps: float | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoFileSource(Source):
    def __init__(self, path: str | Path, stride: int = 1):
        import cv2

        self.path, self.stride = Path(path), max(1, stride)
        if not self.path.is_file():
            raise SourceError(f"video {self.path} not found")
        self.cap = cv2.VideoCapture(str(self.path))
        if not self.cap.isOpened():
            raise SourceError(f"{self.path}: cannot be opened as a video (unsupported codec or not a video)")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.unreadable = 0

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok = self.cap.grab()
            if not ok:
                # a corrupt frame inside a file reads as a failed grab: skip it, stop at the end
                if self.frame_count and index < self.frame_count - 1 and self.unreadable < 30:
                    self.unreadable += 1
                    index += 1
                    continue
                break
            if index % self.stride == 0:
                ok, image = self.cap.retrieve()
                if ok and image is not None:
                    yield Frame(index, index / self.fps, image)
                else:
                    self.unreadable += 1
            index += 1

    def close(self) -> None:
        self.cap.release()


class ImageFolderSource(Source):
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.unreadable = 0

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        for i, path in enumerate(self.files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self.unreadable += 1
                continue
            yield Frame(i, float(i), image)


class LiveSource(Source):
    """Camera index or stream URL, read on a thread; the consumer always gets the newest frame."""

    live = True

    def __init__(self, target: int | str, stall_timeout: float = 5.0, open_timeout: float = 10.0, capture_factory=None):
        import cv2

        self.target, self.stall_timeout = target, stall_timeout
        self.cap = (capture_factory or cv2.VideoCapture)(target)
        if not self.cap.isOpened():
            kind = "camera" if isinstance(target, int) else "stream"
            raise SourceError(f"{kind} {target!r} cannot be opened; check the index/URL and that no other program holds it")
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or None
        self.is_camera = isinstance(target, int)
        self._lock = threading.Lock()
        self._frame: tuple[int, np.ndarray] | None = None
        self._read_count = 0
        self._stop = threading.Event()
        self._failed = False
        self._last_new = time.monotonic()
        self._thread = threading.Thread(target=self._reader, name="facesense-capture", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + open_timeout
        while self._frame is None and not self._failed and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._frame is None:
            self.close()
            raise SourceError(f"{target!r} opened but delivered no frame within {open_timeout:.0f} s")
        self._t0 = time.monotonic()

    def _reader(self) -> None:
        while not self._stop.is_set():
            ok, image = self.cap.read()
            if not ok or image is None:
                self._failed = True
                return
            with self._lock:
                self._read_count += 1
                self._frame = (self._read_count - 1, image)
                self._last_new = time.monotonic()

    def __iter__(self) -> Iterator[Frame]:
        last = -1
        while True:
            with self._lock:
                item, stamp = self._frame, self._last_new
            if item is not None and item[0] != last:
                self.dropped += item[0] - last - 1  # frames overwritten before we got to them
                last = item[0]
                yield Frame(item[0], time.monotonic() - self._t0, item[1])
                continue
            if self._failed:
                if self.is_camera:
                    raise SourceError(f"camera {self.target} stopped delivering frames (unplugged or taken by another program)")
                return  # the stream ended
            if time.monotonic() - stamp > self.stall_timeout:
                raise SourceError(f"{self.target!r} stalled: no new frame for {self.stall_timeout:.0f} s")
            time.sleep(0.002)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.cap.release()


def open_source(source: str | int, stride: int = 1, stall_timeout: float = 5.0) -> Source:
    """'0' -> camera 0; 'rtsp://...', 'http://...' -> stream; a folder -> images; else a video file."""
    text = str(source)
    if text.isdigit():
        return LiveSource(int(text), stall_timeout)
    if "://" in text:
        return LiveSource(text, stall_timeout)
    path = Path(text)
    if path.is_dir():
        return ImageFolderSource(path)
    return VideoFileSource(path, stride)
