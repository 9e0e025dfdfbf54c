"""Frame sources: camera index, video file, stream URL and image folder, all yielding `Frame`s.

A live source (camera, URL) is read on a background thread that keeps only the newest frame,
so a slow model never builds a backlog; frames it overwrites are counted as dropped.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.images import CLI_STREAM, IMAGE_SUFFIXES, PLAYABLE_ANIMATIONS, SOMETIMES_PLAYABLE_ANIMATIONS, STILL_ANIMATIONS, each_file_once, images_under, is_photo_file, listed_reason, photo_folder_leftovers, plays_as_clip, read_image, repeated_files
from ..errors import DataError, FacesenseError, SourceFailed
from .cv_paths import OpenCVName

# A timestamp further than this ahead of the average rate's is believed only when the next agrees
MAX_TIMESTAMP_LEAP_S = 5.0
MAX_DECLARED_FPS = 240  # above it a header's rate is a time base, not frames (Matroska: 1000)

log = logging.getLogger(__name__)


class SourceError(FacesenseError):
    """A source that cannot be opened or read at all (exit 2: check the path, index or URL)."""


@dataclass
class Frame:
    index: int  # position in the source (counts skipped/dropped frames too)
    time_s: float  # media time for files, seconds since start for live sources
    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)
    photo: str | None = None  # the file a frame of an image folder came from
    # --stride: the frames skipped since the one before (track.SkippedFrames), so that a scene
    # cut is told from what moved over the stride (a face moving for 15 frames changed its frame
    # past the cut threshold: one face of a clip got five ids)
    between: object = ()


class Source:
    live = False
    photos = False  # frames come from image files (each Frame has its `photo`)
    dropped = 0
    fps: float | None = None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _why_not_a_video(path) -> str:
    """Why OpenCV could not open a file, where PyAV can tell: a recording of sound alone is a
    common mistake (a voice memo, an .m4a renamed .mp4)."""
    try:
        import av

        with av.open(str(path)) as container:
            if not container.streams.video and container.streams.audio:
                return "it has sound only, no video track"
    except Exception:  # noqa: BLE001 (PyAV missing, or it cannot read the file either)
        pass
    return "unsupported codec or not a video"


ATTACHED_PICTURE = 0x400  # FFmpeg's AV_DISPOSITION_ATTACHED_PIC: a cover picture, not a video track


def only_a_cover_picture(path) -> bool:
    """Whether a file's only "video" is a sound file's cover picture (an MP3's or M4A's album
    art): FFmpeg hands it over as a one-frame video, which read as a clip of one frame."""
    try:
        import av

        with av.open(str(path)) as container:
            pictures = container.streams.video
            return bool(pictures) and bool(container.streams.audio) and all(s.disposition & ATTACHED_PICTURE for s in pictures)
    except Exception:  # noqa: BLE001 (PyAV missing, or it cannot read the file: OpenCV's reading stands)
        return False


# text FFmpeg plays: a Y4M header (pixels follow), an HLS playlist, an ffconcat list, an SDP description
PLAYLIST_STARTS = (b"YUV4MPEG2", b"#EXTM3U", b"ffconcat", b"v=0")


def _is_text(path: Path) -> bool:
    """Whether a file is plain text: its first 4 kB have no NUL byte and read as UTF-8 (every
    video container has binary bytes there; a Y4M file's text header is followed by pixels)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"\0" in head or head.startswith(PLAYLIST_STARTS):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return len(head) == 4096 and exc.start >= len(head) - 3  # a character cut by the 4 kB boundary
    return True


class VideoFileSource(Source):
    def __init__(self, path: str | Path, stride: int = 1, cut_thumbnails: bool = True):
        import cv2

        # cut_thumbnails: each frame skipped by the stride is thumbnailed for the cut detector
        # (a frame retrieved and converted for each one skipped: not made where cuts are not looked for)
        self.path, self.stride, self.cut_thumbnails = Path(path), max(1, stride), cut_thumbnails
        if not self.path.exists():
            what = "folder" if str(path).endswith(("/", "\\")) else "video"  # `nosuch/` was meant as a photo folder
            raise SourceError(f"{what} {path} not found; give a camera index, a video file, a stream URL or an image folder")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: not a video file")
        if self.path.stat().st_size == 0:  # said here: FFmpeg would print its own complaint first
            raise SourceError(f"{self.path}: an empty file (0 bytes), not a video; check the download or copy")
        if _is_text(self.path):  # FFmpeg reads .txt, .nfo and .asc files as text-art video: 186 "frames" of a README
            raise SourceError(f"{self.path}: a text file, not a video; give a video file, a photo folder, a camera index or a stream URL")
        self._cv_name = OpenCVName(self.path)
        self.cap = cv2.VideoCapture(self._cv_name.name)
        if not self.cap.isOpened():
            self._cv_name.close()
            raise SourceError(f"{self.path}: cannot be opened as a video ({_why_not_a_video(self.path)})")
        if only_a_cover_picture(self.path):
            self.close()
            raise SourceError(f"{self.path}: a sound file with a cover picture, no video track; give a video (or the picture, as a photo)")
        self._read_header()

    @classmethod
    def at_url(cls, url: str, stride: int = 1, timeout: float = 5.0) -> "VideoFileSource | None":
        """A video file on a web server, read frame by frame as a local one is (every frame, its
        own timestamps). None when the server does not say how many frames it has: then it may
        be a live feed, and a file read would wait out a timeout at its end."""
        cap = default_capture(url, 2 * timeout, timeout)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{source_name(url)} cannot be opened as a video; check the address (and that the server answers)")
        source = cls.__new__(cls)
        source.path, source.stride, source.cap, source._cv_name, source.cut_thumbnails = url, max(1, stride), cap, None, True
        source._read_header()
        if not source.frame_count:
            cap.release()
            return None
        readable = cap.grab()  # a first frame, then the file again from its start
        cap.release()
        if not readable:
            raise SourceError(f"{source_name(url)}: the server sent none of its {source.frame_count} frames (an MP4 with its index at the end needs a server "
                              "that sends parts of a file, HTTP Range requests); download it and give the file")
        source.cap = default_capture(url, 2 * timeout, timeout)
        return source

    def _read_header(self) -> None:
        import cv2

        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 30.0
        declared = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        # 0: not known. A browser's WebM has no count (OpenCV reports a huge negative number), and
        # a Matroska file without a frame rate reports its 1 ms time base as 1000 fps, so that
        # its duration times that rate is no frame count
        self.frame_count = int(declared) if math.isfinite(declared) and declared > 0 and self.fps <= MAX_DECLARED_FPS else 0
        self.unreadable = 0  # frames inside the file that did not decode, skipped
        self.missing_at_end = 0  # declared frames after the last that decoded (a truncated file)
        self._last_time, self._last_index, self._last_raw = 0.0, 0, None
        self._reached_s = 0.0  # the time of the last frame grabbed but skipped (--stride)
        self._grabbed: tuple[int, float] | None = None  # (index, seconds) of the last frame grabbed, where it had a timestamp
        self._steady = False  # the last two frames in a row came at the average rate (a constant-rate file)
        self._exhausted = False  # read to its end

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        from .track import SkippedFrames, cut_thumbnail

        index = failing = 0  # failing: grabs that failed in a row
        between = SkippedFrames()  # the frames skipped by --stride since the last one yielded
        while True:
            ok = self.cap.grab()
            if not ok:
                # a corrupt frame inside a file reads as a failed grab: skip it, stop at the end (a
                # file of unknown length: after 30 failures in a row, which cost nothing at its end)
                if (not self.frame_count or index < self.frame_count - 1) and failing < 30:
                    failing += 1
                    index += 1
                    continue
                # the failures just before the end were the end itself, not frames skipped
                self.missing_at_end = max(0, self.frame_count - (index - failing))
                self._exhausted = True
                break
            ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
            if failing:  # the frames that failed may have been later frames' (a B-frame's packet): number this one by its timestamp
                last = index - failing - 1
                index = self._index_after_failures(last, index, ms)
                # frames lost: where frames come at the average rate, those the numbering shows
                # missing (a failed packet that was a later frame's lost none); else each failure
                self.unreadable += index - last - 1 if self._steady else failing
            failing = 0
            grabbed = (index, ms / 1000.0) if math.isfinite(ms) and (ms > 0 or index == 0) else None
            if grabbed and self._grabbed and grabbed[0] == self._grabbed[0] + 1:  # two frames in a row: their spacing against the average rate
                self._steady = abs((grabbed[1] - self._grabbed[1]) * self.fps - 1) < 0.25
            self._grabbed = grabbed
            if index % self.stride == 0:
                ok, image = self.cap.retrieve()
                if ok and image is not None:
                    yield Frame(index, self._time_of(index), image, between=between)
                    between = SkippedFrames()
                else:  # its skipped frames stay for the next one: from the frame before, a cut is still told between frames in a row
                    self.unreadable += 1
            else:
                if math.isfinite(ms):  # skipped by --stride: how far into the file it reached still counts (ended_early)
                    self._reached_s = max(self._reached_s, ms / 1000.0)
                if self.cut_thumbnails:  # (grabbing decoded it): its thumbnail, for the cut detector
                    ok, image = self.cap.retrieve()
                    if ok and image is not None:
                        between.add(cut_thumbnail(image))
            index += 1

    def _index_after_failures(self, last: int, counted: int, ms: float) -> int:
        """The index of the frame grabbed after failed grabs: from its timestamp and the last
        good frame's, at the average rate, where both have one (counting each failure as a
        frame numbered every later frame one ahead when the failed packet was a later frame's,
        which decoded after all); never past `counted`, the count (a wild timestamp, a pause in
        a variable-rate file, or a header's time base as its rate would leap ahead), nor before
        the frame after `last`. `ms`: its timestamp, as the capture gives it."""
        if self._grabbed is None or self._grabbed[0] != last or not math.isfinite(ms) or ms <= 0:
            return counted
        return min(counted, last + max(1, round((ms / 1000.0 - self._grabbed[1]) * self.fps)))

    def _time_of(self, index: int) -> float:
        """The grabbed frame's own timestamp: phones record variable frame rates, where the
        index over the average rate drifts by seconds. Where the container gives none, one that
        goes backwards, or one that leaps far ahead of its neighbours (a damaged stream), the
        last time plus the frames since at the average rate."""
        import cv2

        ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        raw = ms / 1000.0 if math.isfinite(ms) and (ms > 0 or index == 0) else None
        spacing = (index - self._last_index) / self.fps  # what the frames since take at the average rate (--stride 300: 10 s)
        expected = self._last_time + spacing
        # A leap is believed once the next frame's timestamp agrees with it (a real pause in the
        # recording); a lone wild one would otherwise pull every later frame's time with it.
        t = expected
        if raw is not None and raw >= self._last_time:
            leap = raw - expected > MAX_TIMESTAMP_LEAP_S
            confirmed = self._last_raw is not None and abs(raw - self._last_raw - spacing) <= MAX_TIMESTAMP_LEAP_S
            if not leap or confirmed:
                t = raw
        self._last_time, self._last_index, self._last_raw = t, index, raw
        return t

    @property
    def end_s(self) -> float | None:
        """Where the file's last frame ends, once it was read to its end (None before): a frame
        taken with --stride is shown until the next one taken, or until this."""
        return max(self._last_time, self._reached_s) + 1 / self.fps if self._exhausted else None

    def ended_early(self) -> str | None:
        """A sentence (without the file's path) when the file stopped well before the frames its header declares (a
        truncated download, a damaged file); None when it ended about where it said. Headers
        estimate the count from the duration, so a few frames short is normal; and a recording
        with a pause in it (a variable frame rate) has fewer frames than its duration times its
        average rate, so one whose last frame comes about where the header says it ends is whole."""
        if self.missing_at_end <= max(3, 0.05 * self.frame_count):
            return None
        declared_s = self.frame_count / self.fps
        if max(self._last_time, self._reached_s) + 1 / self.fps >= 0.95 * declared_s:
            return None
        read = self.frame_count - self.missing_at_end
        return (f"the video ends after frame {read} of the {self.frame_count} its header declares "
                f"({read / self.fps:.1f} of {self.frame_count / self.fps:.1f} s): truncated or damaged; the outputs cover what was read")

    def close(self) -> None:
        self.cap.release()
        if self._cv_name is not None:
            self._cv_name.close()


class ImageFolderSource(Source):
    """Every image of a folder and its subfolders (sorted by path, as `predict` reads a folder),
    or one image file, as frames 0, 1, 2..."""

    photos = True
    fps = 1.0  # a photo a second in the annotated video, as each photo's time_s in the logs counts

    def __init__(self, folder: str | Path, files: list[Path] | None = None, how_to_stream: str = CLI_STREAM):
        self.folder, self.how_to_stream = Path(folder), how_to_stream  # how_to_stream: the caller's way to read a video, {} its path
        self.files, repeats = each_file_once(files if files is not None else images_under(self.folder))
        if repeats:  # a link to a photo or an album beside it
            log.warning("%s: read once each", repeated_files(repeats))
        leftovers = photo_folder_leftovers(self.folder, how_to_stream) if files is None else None
        if not self.files:
            raise SourceError(f"{self.folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})" + (f"; it holds {leftovers}" if leftovers else ""))
        if leftovers:
            log.warning("%s: left out %s", self.folder, leftovers)
        self.skipped: list[tuple[str, str]] = []  # (photo, why): unreadable or over the pixel limit
        self.warn_animations = files is None  # a photo given alone is a clip if animated, or live says so

    @property
    def unreadable(self) -> int:
        return len(self.skipped)

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.files):
            try:
                image = read_bgr_image(path)
            except DataError as exc:  # skipped, as a frame that does not decode; named with why, so the user can fix it
                self.skipped.append((str(path), listed_reason(exc)))
                log.warning("%s; skipped", listed_reason(exc))
                continue
            note = first_frame_only(path, self.how_to_stream.format(path), path.name) if self.warn_animations else None  # as predict and serve say it
            if note:
                log.warning("%s: %s", path, note)
            yield Frame(i, float(i), image, str(path))


def read_bgr_image(path: Path) -> np.ndarray:
    """Pillow decodes (it checks the pixel limit from the header first, and reports a truncated
    file instead of printing decoder warnings) -> H x W x 3 BGR."""
    import cv2

    image = read_image(path)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def single_image_source(path: Path) -> ImageFolderSource:
    """One photo as a one-frame source; refused at once if it is not a readable image."""
    if not path.is_file():
        raise SourceError(f"{path}: not found")
    try:
        read_bgr_image(path)
    except DataError as exc:
        # the dataset advice (skip_bad...) does not fit one photo: what does
        raise SourceError(str(exc).split("; remove or replace")[0] + "; give a photo that opens in an image viewer (a download cut short, or another kind of file, reads so)") from None
    frames, kind = _animation(path)  # (an animated GIF given alone is read as a clip)
    if (kind in STILL_ANIMATIONS and frames > 1) or (kind == "TIFF" and _tiff_pages(path) > 1):  # read as one photo, which it is not quite
        log.warning("%s: %s", path, first_frame_only(path, "", path.name))
    return ImageFolderSource(path.parent, [path])


def _animation(image: Path | bytes) -> tuple[int, str]:
    """(frames, format) of an image: 1 frame for a still one (or one that cannot be opened)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as opened:
            # animation only: a phone's JPEG (MPO, with a depth map or gain map) or a TIFF's pages
            # are not frames of a clip
            animated = getattr(opened, "is_animated", False) and opened.format in (*PLAYABLE_ANIMATIONS, *STILL_ANIMATIONS)
            return (int(opened.n_frames) if animated else 1), str(opened.format)
    except Exception:  # noqa: BLE001 - read above already; a count is only for a warning
        return 1, ""


def _tiff_pages(image: Path | bytes) -> int:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as opened:
            if opened.format != "TIFF":
                return 1
            pages = 0
            for i in range(int(getattr(opened, "n_frames", 1))):
                opened.seek(i)
                pages += not int(opened.tag_v2.get(254, 0)) & 1  # (NewSubfileType bit 0: a reduced-resolution copy of a page, no page)
            return pages
    except Exception:  # noqa: BLE001 - as _animation
        return 1


def first_frame_only(image: Path | bytes, every_frame: str | None, name: str = "clip.gif") -> str | None:
    """What to say of an animated GIF, PNG, WebP or AVIF read as a photo (None for a still one):
    its frames, that only the first is read, and what reads them all: `every_frame` for one that
    OpenCV plays; the others are converted to a video or a GIF first. `every_frame` None: nothing
    reads a clip's frames with this model (sentiment scores still photos): they are to be saved
    as images of their own."""
    frames, kind = _animation(image)
    if frames < 2:
        pages = _tiff_pages(image) if kind == "TIFF" else 1  # a scan's or a microscope's pages: no clip, but unread all the same
        return f"a TIFF of {pages} pages; only its first is read (save each page as an image of its own to read them all)" if pages > 1 else None
    if every_frame is None:  # live and video jobs do not run a sentiment model: pointing there (or to a conversion for them) misled
        return f"an animated image of {frames} frames; only its first is read (save the frames to score as images of their own to read them all)"
    # (an upload's bytes are not tried here: the video endpoint says whether it plays)
    maybe = kind in SOMETIMES_PLAYABLE_ANIMATIONS and isinstance(image, bytes)
    plays = kind in PLAYABLE_ANIMATIONS or maybe or (kind in SOMETIMES_PLAYABLE_ANIMATIONS and plays_as_clip(image))
    how = (f"{every_frame} may read every frame, or else convert {name} to an MP4 or a GIF" if maybe else f"{every_frame} reads every frame" if plays
           else f"convert {name} to an MP4 or a GIF to read every frame")
    return f"an animated image of {frames} frames; only its first is read ({how})"


def default_capture(target: int | str, open_timeout: float, read_timeout: float):
    """OpenCV capture; a URL gets FFmpeg's open and read timeouts, so a read on a stalled
    stream returns (failed) instead of blocking forever."""
    import cv2

    if isinstance(target, int):
        # a missing camera makes each of OpenCV's backends print a WARN line before facesense says
        # it in one; quiet them for the open only (the CLI quiets them for the whole run)
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
        try:
            return cv2.VideoCapture(target)
        finally:
            cv2.utils.logging.setLogLevel(level)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout * 1000), cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout * 1000)]
    return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)


class LiveSource(Source):
    """Camera index or stream URL, read on a thread; the consumer always gets the newest frame.

    The reader thread owns the capture: it opens it again on `reconnect` and releases it
    itself, so no capture is ever released while a read is inside it (that race crashed the
    interpreter at exit). `close()` joins the thread; a URL's reads are bounded by FFmpeg's
    read timeout, so the join is bounded too.
    """

    live = True

    def __init__(self, target: int | str, stall_timeout: float = 5.0, open_timeout: float = 10.0, capture_factory=None, reconnect: float = 0.0):
        import cv2

        self.target, self.stall_timeout, self.reconnect = target, stall_timeout, reconnect
        self.shown = target if isinstance(target, int) else source_name(target)  # messages never show a URL's password or token
        self.is_camera = isinstance(target, int)
        self._factory = capture_factory or (lambda t: default_capture(t, open_timeout, stall_timeout))
        self.gaps: list[dict] = []  # each outage bridged by --reconnect: start and end (s)
        cap = self._factory(target)
        if not cap.isOpened():
            cap.release()
            kind = "camera" if self.is_camera else "stream"
            hint = "; without a camera, give a video or photo folder (--source clip.mp4; source='clip.mp4' in Python) or run `facesense demo`" if self.is_camera else ""
            raise SourceError(f"{kind} {self.shown!r} cannot be opened; check the index/URL and that no other program holds it{hint}")
        self.fps = cap.get(cv2.CAP_PROP_FPS) or None
        length = cap.get(cv2.CAP_PROP_FRAME_COUNT) if not self.is_camera else 0
        # > 0: a file served over the network, read live all the same (live streams report garbage)
        self.declared_frames = int(length) if length and 0 < length < 1e12 else 0
        self._lock = threading.Lock()
        self._frame: tuple[int, np.ndarray] | None = None
        self._read_count = 0
        self._stop = threading.Event()
        self._failed = False
        self._failure: str | None = None  # why the reader stopped, when it is a fault
        self._reconnecting = False
        self.unreadable = 0  # parts that did not decode (the stream went on after them)
        self._t0 = self._last_new = time.monotonic()
        self._thread = threading.Thread(target=self._reader, args=(cap,), name="facesense-capture", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + open_timeout
        while self._frame is None and not self._failed and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._frame is None:
            self.close()
            raise SourceError(f"{self.shown!r} opened but delivered no frame within {open_timeout:g} s; check the URL or camera")
        self._t0 = time.monotonic()

    def _reader(self, cap) -> None:
        failed_reads = 0  # consecutive; a corrupt part fails one read and the next succeeds
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                ok, image = cap.read()
                if ok and image is not None:
                    with self._lock:
                        self._read_count += 1
                        self._frame = (self._read_count - 1, image)
                        self._last_new = time.monotonic()
                    self.unreadable += failed_reads
                    failed_reads = 0
                    continue
                if self._stop.is_set():
                    return
                stalled = time.monotonic() - started >= 0.8 * self.stall_timeout
                failed_reads += 1
                if not stalled and failed_reads < 5 and not self.is_camera:
                    continue
                if self.declared_frames > 0 and self._read_count >= self.declared_frames - 1:
                    self._failed = True  # a stream of known length that reached its end
                    return
                why = f"no new frame for {self.stall_timeout:g} s (stalled)" if stalled else "the connection closed"
                if self.is_camera:
                    why = "stopped delivering frames (unplugged or taken by another program)"
                if not self.reconnect or self.is_camera:
                    self._failure, self._failed = why, True
                    return
                cap.release()
                cap = self._reopen(why)
                failed_reads = 0
                if cap is None:
                    self._failure = f"{why}; no answer for {self.reconnect:g} s of reconnecting"
                    self._failed = True
                    return
        finally:
            if cap is not None:
                cap.release()

    def _reopen(self, why: str):
        """Open the stream again with back-off (0.5 s doubling to 8 s) until `reconnect` s have
        passed; log the gap. -> the new capture, or None."""
        self._reconnecting = True
        lost = time.monotonic()
        log.warning("%s: %s; reconnecting (up to %.0f s)", self.shown, why, self.reconnect)
        delay = 0.5
        try:
            while not self._stop.is_set() and time.monotonic() - lost < self.reconnect:
                self._stop.wait(min(delay, max(0.0, self.reconnect - (time.monotonic() - lost))))
                delay = min(delay * 2, 8.0)
                if self._stop.is_set():
                    return None
                cap = self._factory(self.target)
                if cap.isOpened():
                    back = time.monotonic()
                    gap = {"start_s": round(lost - self._t0, 3), "end_s": round(back - self._t0, 3), "reason": why}
                    self.gaps.append(gap)
                    log.warning("%s: back after a %.1f s gap (%.1f-%.1f s)", self.shown, back - lost, gap["start_s"], gap["end_s"])
                    with self._lock:
                        self._last_new = back
                    return cap
                cap.release()
            return None
        finally:
            self._reconnecting = False

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
                if self._failure:
                    kind = "camera" if self.is_camera else "stream"
                    raise SourceFailed(f"{kind} {self.shown}: {self._failure}")
                return  # a stream of known length ended
            if not self._reconnecting and time.monotonic() - stamp > self.stall_timeout + 1.0:
                # the reader's own read timeout normally reports this first; a capture without
                # one (a camera) is caught here
                if not self.reconnect or self.is_camera:
                    raise SourceFailed(f"{self.shown!r} stalled: no new frame for {self.stall_timeout:g} s")
            time.sleep(0.002)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.stall_timeout + 5.0)
        if self._thread.is_alive():
            log.warning("%s: the capture thread is still inside a read; it releases the capture when the read returns", self.shown)


def is_camera(source: str | int) -> bool:
    """A camera index: an int, or digits that name no file or folder (a photo folder called
    2024 is a folder)."""
    # (a negative index is one too, refused as such when opened)
    return isinstance(source, int) or (str(source).removeprefix("-").isdecimal() and not Path(str(source)).exists())


# an http(s) address whose path ends so names a video file, read frame by frame as a file is
VIDEO_URL_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")


def is_video_url(source: str | int) -> bool:
    """An http(s) address of a video file, by its path's suffix (not a feed such as /video.mjpg
    or an HLS playlist)."""
    text = str(source)
    if not text.lower().startswith(("http://", "https://")):
        return False
    from urllib.parse import urlsplit

    return urlsplit(text).path.lower().endswith(VIDEO_URL_SUFFIXES)


def is_live(source: str | int) -> bool:
    """A camera or a stream URL: read as it comes, not a file read frame by frame (a video
    file's web address is read as the file, where the server says how long it is)."""
    return is_camera(source) or ("://" in str(source) and not is_video_url(source))


def source_name(source: str | int) -> str:
    """What a log row calls its source: 'camera 0', a stream URL without its user, password and
    query, or the file's path as given."""
    text = str(source)
    if is_camera(source):
        return f"camera {text}"
    if "://" in text:
        from urllib.parse import urlsplit

        parts = urlsplit(text)
        # no user, password or query (it often carries a token) in a log file
        return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()
    return text


def local_source(source: str | int) -> str | int:
    """A source as the checks and the readers take it: a file:// address as its local path (so a
    file:// video is read frame by frame, and no output may replace it); an empty one refused
    (`--source "$VIDEO"` with the variable unset would read every photo under the working folder)."""
    text = str(source)
    if not text.strip():
        raise SourceError("the source (--source, source=) is empty (an unset variable?); give a camera index, a video file, a stream URL or a photo folder")
    if text.lower().startswith("file://"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):  # file://host/x.mp4 read this machine's /x.mp4
            raise SourceError(f"{text}: a file on {parts.netloc}, not this machine; copy it here, or give a local path")
        return unquote(parts.path)
    return source


def check_source(source: str | int, stride: int = 1, reconnect: float = 0.0) -> str | int:
    """The source as local_source gives it, with the refusals that need nothing opened: a
    stride where there are no frames to skip, reconnect for what is not a stream URL, a camera
    index OpenCV cannot take. Made before models load (live) or when stream() is called (API)."""
    source = local_source(source)
    text = str(source)
    path = Path(text)
    live = is_live(source) or (bool(reconnect) and "://" in text)  # --reconnect reads even a video file's address live
    if stride > 1 and (live or path.is_dir() or is_photo_file(path)):  # it would be ignored without a word
        what = "a camera or stream has no file to skip frames of (--detect-every N searches every Nth frame)" if live else "photos are each read once"
        raise SourceError(f"stride {stride} (--stride, stride=) is for video files: {what}")
    if reconnect and "://" not in text:  # a camera's or a file's would be ignored without a word
        raise SourceError(f"--reconnect (reconnect=) is for stream URLs (rtsp://, http://...), not {'camera ' + text if is_camera(source) else repr(text)}")
    if is_camera(source) and int(text) < 0:  # OpenCV crashes the interpreter on -1 and -2
        raise SourceError(f"camera {text}: a camera index is 0 or more (0 is the first camera)")
    if is_camera(source) and int(text) >= 2**31:  # past OpenCV's int: its own error, a traceback
        raise SourceError(f"camera {text}: no camera has such an index (0 is the first camera)")
    return source


def open_source(source: str | int, stride: int = 1, stall_timeout: float = 5.0, reconnect: float = 0.0, how_to_stream: str = CLI_STREAM, cut_thumbnails: bool = True) -> Source:
    """'0' -> camera 0; 'rtsp://...', 'http://...' -> stream; a folder -> images; an image file
    -> one frame; else a video file. `reconnect` (URLs only): seconds to keep trying to reopen a
    stream that stalled or closed, with back-off. `how_to_stream`: how the caller reads a video,
    for a photo folder's messages of the videos in it. `cut_thumbnails`: a video file's frames
    skipped by the stride are thumbnailed for the cut detector (off where cuts are not looked for)."""
    source = check_source(source, stride, reconnect)
    text = str(source)
    path = Path(text)
    if is_camera(source):
        return LiveSource(int(text), stall_timeout, open_timeout=2 * stall_timeout)
    if is_video_url(text) and not reconnect:
        remote = VideoFileSource.at_url(text, stride, stall_timeout)
        if remote is not None:
            return remote
        if stride > 1:
            raise SourceError(f"stride {stride} (--stride, stride=): {source_name(text)} does not say how many frames it has, so it is read as a live stream, which has no frames to skip; download it and give the file")
    if "://" in text:
        return LiveSource(text, stall_timeout, open_timeout=2 * stall_timeout, reconnect=reconnect)
    if path.is_dir():
        return ImageFolderSource(path, how_to_stream=how_to_stream)
    if is_photo_file(path):
        return single_image_source(path)
    return VideoFileSource(text, stride, cut_thumbnails)  # as typed: a trailing / says a folder was meant
