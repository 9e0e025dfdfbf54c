"""What one `facesense serve` process accepts, and the gate that bounds how much runs at once."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..data.images import MAX_MEGAPIXELS
from ..errors import FacesenseError


@dataclass
class ServeLimits:
    max_megapixels: float = MAX_MEGAPIXELS  # pixels a photo or frame may declare (checked before decoding)
    max_upload_mb: float = 20.0  # a photo's bytes
    max_frame_mb: float = 2.0  # one camera frame over the WebSocket
    max_video_mb: float = 200.0
    max_video_seconds: float = 600.0
    # analyses running at once: the models use both cores of a small machine already; more
    # only adds memory
    workers: int = 2
    queue: int = 8  # analyses waiting for a worker; beyond it: 503 with Retry-After
    request_timeout_s: float = 30.0  # reading a request's body plus its analysis
    max_connections: int = 100  # open HTTP + WebSocket connections (uvicorn answers 503 beyond)
    max_live: int = 16  # camera connections at once
    live_idle_s: float = 30.0  # a camera connection that sends nothing for this long is closed
    keep_alive_s: float = 5.0  # idle HTTP keep-alive connections are closed after this
    video_jobs_waiting: int = 2  # video jobs queued behind the one that runs
    keep_downloads: int = 32  # finished recordings / video jobs kept for download (oldest go first)
    max_record_frames: int = 18000  # a recording stops by itself after this many frames (10 min at 30 FPS)

    def __post_init__(self) -> None:
        for name in ("max_megapixels", "max_upload_mb", "max_frame_mb", "max_video_mb", "max_video_seconds", "request_timeout_s", "live_idle_s", "keep_alive_s"):
            if not 0 < getattr(self, name) < math.inf:  # nan fails too; inf overflowed byte counts per request
                raise FacesenseError(f"{name.replace('_', '-')}={getattr(self, name)}: must be > 0 and finite")
        for name in ("workers", "max_connections", "max_live", "keep_downloads", "max_record_frames"):
            if getattr(self, name) < 1:
                raise FacesenseError(f"{name.replace('_', '-')}={getattr(self, name)}: must be >= 1")
        if self.queue < 0 or self.video_jobs_waiting < 0:
            raise FacesenseError("queue and video_jobs_waiting (--queue, --video-queue) must be >= 0")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)


# a video job stops after max_seconds of frames at this rate, whatever its header says its rate
# is (a file without timestamps and a made-up rate would otherwise pass as short)
MAX_VIDEO_FPS = 240


class Busy(Exception):
    """Every worker is busy and the queue is full: try again shortly."""


class AnalysisGate:
    """At most `workers` analyses run at once on their own threads; at most `queue` more wait.
    A caller that gives up (time limit) does not free its worker until the analysis has really
    ended, so timed-out work can never pile up beyond the bound."""

    def __init__(self, workers: int, queue: int):
        self.workers, self.queue = workers, queue
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="facesense-analysis")
        self.pending = 0  # running + waiting
        self._slots: asyncio.Semaphore | None = None

    async def run(self, func, *args, started: asyncio.Event | None = None):
        """func(*args) on a worker thread; `started` is set once a worker has taken it, its
        `at` the monotonic time it was."""
        if self.pending >= self.workers + self.queue:
            raise Busy()
        if self._slots is None:  # made in the server's event loop
            self._slots = asyncio.Semaphore(self.workers)
        self.pending += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self.pending -= 1
            raise
        if started is not None:
            started.at = time.monotonic()  # when a worker took it: the rest of its time is its own
            started.set()
        future = asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

        def finished(_):
            self._slots.release()
            self.pending -= 1

        future.add_done_callback(finished)
        return await asyncio.shield(future)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
