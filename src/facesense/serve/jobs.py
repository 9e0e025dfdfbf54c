"""Files the web app hands out (a recording's CSV and timeline, a video job's outputs) and the
video jobs themselves. Everything lives in one temporary folder that is removed when the server
stops; each item sits under a random id, and only file names the server itself wrote are served,
so no path from a client reaches the file system."""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import FacesenseError, OutputError, over_limit
from ..stream.frames import Frame, only_a_cover_picture
from ..stream.pipeline import FrameResult
from .analyzer import audio_only
from .limits import MAX_VIDEO_FPS

log = logging.getLogger(__name__)
SERVED_NAME = re.compile(r"^[a-z_]+\.(csv|png|mp4|json)$")


class FileStore:
    """Folders of files under unguessable ids; beyond `keep` finished ones, the one finished
    longest ago is deleted. A folder still being written (a running or queued video job, a
    recording) is never evicted and does not count."""

    def __init__(self, root: Path, keep: int = 32):
        self.root, self.keep = Path(root), keep
        self._folders: OrderedDict[str, Path] = OrderedDict()
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def new_folder(self) -> tuple[str, Path]:
        """A new folder, busy until `finished(item)` (or `drop`)."""
        item = secrets.token_urlsafe(12)
        folder = self.root / item
        folder.mkdir(parents=True)
        with self._lock:
            self._folders[item] = folder
            self._busy.add(item)
        self._evict()
        return item, folder

    def finished(self, item: str) -> None:
        """Its files are complete: from now on it may be evicted, after those finished before it
        (a long video job finished now is the newest download, not the oldest)."""
        with self._lock:
            self._busy.discard(item)
            if item in self._folders:
                self._folders.move_to_end(item)
        self._evict()

    def _evict(self) -> None:
        with self._lock:
            done = [(item, self._folders[item]) for item in self._folders if item not in self._busy]  # oldest first
        # a failed video job's folder holds no file: such folders are kept (their jobs' status with
        # them) apart from the results, so that failed jobs never push anyone's results out
        empty = [item for item, folder in done if not _holds_files(folder)]
        full = [item for item, _ in done if item not in empty]
        with self._lock:
            old = [self._folders.pop(item) for group in (empty, full) for item in group[: max(0, len(group) - self.keep)]
                   if item in self._folders and item not in self._busy]
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)

    def drop(self, item: str) -> None:
        with self._lock:
            folder = self._folders.pop(item, None)
            self._busy.discard(item)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def has(self, item: str) -> bool:
        with self._lock:
            return item in self._folders

    def path(self, item: str, name: str) -> Path | None:
        """The file `name` of folder `item`, if the server wrote it (else None)."""
        with self._lock:
            folder = self._folders.get(item)
        if folder is None or not SERVED_NAME.match(name):
            return None
        path = folder / name
        return path if path.is_file() else None


def _holds_files(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError:  # gone already
        return False


def url(item: str, name: str) -> str:
    return f"/api/files/{item}/{name}"


class Recording:
    """A camera connection's per-frame log while "record" is on -> frames.csv and timeline.png."""

    def __init__(self, store: FileStore, models):
        from ..stream.sinks import FrameLogSink, SummaryCollector, log_columns

        self.store = store
        self.item, self.folder = store.new_folder()
        expression, gender = models.expression, models.gender
        self.expression_classes = list(expression.classes) if expression else []
        columns = log_columns(self.expression_classes, list(gender.classes) if gender else [], age=models.age is not None)
        try:
            self.log = FrameLogSink(self.folder / "frames.csv", columns, "csv", "browser camera")
        except BaseException:  # no recording: its folder must not stay busy for good
            store.drop(self.item)
            raise
        self.collector = SummaryCollector()
        self.frames = 0
        self.origin: Frame | None = None  # the first frame recorded: times and frame numbers count from it

    def add(self, result: FrameResult) -> None:
        # the connection's clock started with the camera: a recording begun 9 s later had a
        # timeline two thirds empty, and its log started at 9.2 s
        if self.origin is None:
            self.origin = result.frame
        frame = replace(result.frame, index=result.frame.index - self.origin.index, time_s=result.frame.time_s - self.origin.time_s)
        result = replace(result, frame=frame)
        self.log.write(result)
        self.collector.add(result, 0.0)
        self.frames += 1

    def finish(self) -> dict:
        """Close the log, draw the timeline -> {"csv": url, "timeline": url or None, ...}. A
        recording without a frame keeps no folder (empty ones pushed everyone's downloads out)."""
        if not self.frames:
            self.discard()
            return {"frames": 0, "csv": None, "timeline": None}
        try:
            self.log.close()
            timeline = self.collector.plot_timeline(self.folder / "timeline.png", self.expression_classes) if self.expression_classes else None
        finally:  # whatever broke, the folder may now be evicted like any finished one
            self.store.finished(self.item)
        return {
            "frames": self.frames,
            "csv": url(self.item, "frames.csv"),
            "timeline": url(self.item, "timeline.png") if timeline else None,
        }

    def discard(self) -> None:
        self.log.close()
        self.store.drop(self.item)


@dataclass
class VideoJob:
    id: str
    folder: Path
    upload: Path
    frames_total: int  # as the header declares: progress only
    max_seconds: float = float("inf")  # the length limit, checked again on the frames themselves
    state: str = "queued"  # queued, running, done, failed, cancelled
    frames_done: int = 0
    frames_unreadable: int = 0  # frames of a damaged file that did not decode
    warning: str | None = None  # done, but on part of the video: it ended before its declared length
    faces: int = 0  # faces found over all frames so far (0 when done: the page says no face was found)
    error: str | None = None
    files: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)  # DELETE: stop at the next frame
    running_since: float | None = None  # when the worker took it up (the queue's wait is not its processing)
    ended: bool = False  # its worker is done with it

    @property
    def holds_place(self) -> bool:
        """Queued, or taken up and not ended yet: a job cancelled mid-video holds its place until
        its worker has stopped (its status says cancelled at once)."""
        return not self.ended and (self.state == "queued" or self.running_since is not None)

    def status(self) -> dict:
        progress = self.frames_done / self.frames_total if self.frames_total else 0.0
        return {
            "id": self.id,
            "state": self.state,
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "frames_unreadable": self.frames_unreadable,
            "progress": 1.0 if self.state == "done" else round(min(progress, 0.99), 3),
            "faces": self.faces,
            "warning": self.warning,
            "error": self.error,
            "files": self.files,
        }


def count_frames(cap, limit: int) -> int:
    """Frames left in an opened capture, counted by demuxing (no decoding), stopping past `limit`."""
    frames = 0
    while frames <= limit and cap.grab():
        frames += 1
    return frames


MAX_VIDEO_SIDE = 8192  # DCI 8K; H.264 encoders refuse frames much wider (17,000 x 200 failed)


# Pillow's formats that may hold more than one frame: a video job takes them when they do
ANIMATIONS = ("GIF", "PNG", "WEBP", "AVIF", "FLI")


def _audio_only_file(path: Path) -> bool:
    import mmap

    if path.stat().st_size < 12:
        return False
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # the moov box may come last
        return audio_only(data)


def probe_video(path: Path, max_seconds: float, max_megapixels: float) -> tuple[int, float]:
    """-> (frame count, fps) of an uploaded video; FacesenseError if it is not one we take."""
    import cv2
    from PIL import Image

    animation = None  # an animated image's format (GIF, WEBP...)
    try:
        with Image.open(path) as im:  # reads the header only
            # any still format Pillow knows (PPM, JPEG 2000, ICO...), and an animation of one
            # frame: OpenCV opened them as one-frame "videos"; MPEG is a video Pillow only names
            photo = im.format != "MPEG" and (im.format not in ANIMATIONS or getattr(im, "n_frames", 1) == 1)
            animation = im.format if im.format in ANIMATIONS and not photo else None
    except Exception:  # noqa: BLE001 (not an image Pillow knows: a video, or nothing readable)
        photo = False
    if photo:
        raise FacesenseError("this is a photo, not a video: send it to /api/analyze (the page's photo upload)")
    # FFmpeg plays an animated GIF, some animated PNGs and AVIFs (of others it reads one frame)
    # and no animated WebP: say so, not "not a readable video" or a job of one frame
    unplayable = FacesenseError(f"an animated {animation} whose frames cannot be read as a video here: convert it to MP4 or GIF, "
                                "or send it to /api/analyze (its first frame)") if animation else None
    if only_a_cover_picture(path):
        raise FacesenseError("the file is sound with a cover picture (no video track): send a video")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            if _audio_only_file(path):
                raise FacesenseError("the file has no video track (only sound): send a video")
            raise unplayable or FacesenseError("not a readable video (send an MP4, WebM, AVI or MOV file)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width, height = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if frames <= 0:  # no count in the header (a browser's MediaRecorder WebM, a live muxer): count them
            frames = count_frames(cap, limit=int(max_seconds * fps) + 1)
    finally:
        cap.release()
    if frames <= 0 or width <= 0 or (animation and frames < 2):
        raise unplayable or FacesenseError("the video has no frames that can be read")
    if frames / fps > max_seconds:
        length, most = over_limit(frames / fps, max_seconds)
        raise FacesenseError(f"the video lasts {length} s; the limit is {most} s (the server's --max-video-seconds): send a shorter clip")
    if width * height > max_megapixels * 1e6:
        raise FacesenseError(f"the video's frames are {width:.0f} x {height:.0f}; the limit is {max_megapixels:g} megapixels (the server's --max-megapixels)")
    if max(width, height) > MAX_VIDEO_SIDE:  # the annotated video's encoder would refuse them mid-job
        raise FacesenseError(f"the video's frames are {width:.0f} x {height:.0f}; the limit is {MAX_VIDEO_SIDE} pixels a side")
    return frames, fps


class VideoJobs:
    """Uploaded videos annotated one at a time on a background thread: a browser-playable
    annotated video (H.264 MP4 where the writer has it), frames.csv, timeline.png, summary.json."""

    def __init__(self, analyzer, store: FileStore, waiting: int = 2):
        self.analyzer, self.store, self.waiting = analyzer, store, waiting
        self.jobs: dict[str, VideoJob] = {}
        self._uploading = 0  # places taken by uploads not yet submitted
        self._closing = threading.Event()  # the server is stopping: a running job ends quietly
        self._last_rate: float | None = None  # frames a second of the last job done
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="facesense-video")
        self._lock = threading.Lock()

    def reserve(self) -> bool:
        """Take a place in the queue for an upload about to be read (False: the queue is full).
        Taken before the upload, so parallel uploads cannot all pass a check made before any
        of them became a job; give it back with `unreserve` if the upload is refused."""
        with self._lock:
            active = sum(j.holds_place for j in self.jobs.values())
            if active + self._uploading > self.waiting:
                return False
            self._uploading += 1
            return True

    def unreserve(self) -> None:
        with self._lock:
            self._uploading -= 1

    def submit(self, item: str, folder: Path, upload: Path, frames_total: int, max_seconds: float = float("inf")) -> VideoJob:
        """Queue a reserved upload."""
        job = VideoJob(item, folder, upload, frames_total, max_seconds)
        with self._lock:
            self._uploading -= 1
            self.jobs = {k: j for k, j in self.jobs.items() if self.store.has(k)}  # forget jobs whose files went
            self.jobs[item] = job
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> VideoJob | None:
        """A job, unless it is none or a finished one whose files made room for newer ones (it
        said "done" with links that answered 404). A cancelled or failed job has no files."""
        with self._lock:
            job = self.jobs.get(job_id)
        return None if job is None or (job.state == "done" and not self.store.has(job_id)) else job

    def remaining_s(self) -> float:
        """Roughly how long until a place in the queue frees: the running job's frames left at
        the rate it has run so far (30 s when that is not known yet)."""
        with self._lock:
            running = [j for j in self.jobs.values() if j.running_since is not None and not j.ended]
        if not running:
            return 30.0
        job = running[0]
        if job.state == "cancelled":  # it stops at its next frame
            return 1.0
        if job.frames_done:
            rate = job.frames_done / max(time.time() - (job.running_since or job.started), 1e-3)
        elif self._last_rate:  # just started: at the pace of the last job done (a 72-frame clip said 30 s)
            rate = self._last_rate
        else:
            return 30.0
        return max(1.0, (job.frames_total - job.frames_done) / rate)

    def cancel(self, job_id: str) -> str | None:
        """Stop a queued or running job and delete its files ('cancelled'), or delete a finished
        job's files ('deleted'); None: no such job."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or (job.state == "done" and not self.store.has(job_id)):  # its files made room already: as get() says
                return None
            job.cancel.set()
            if job.state in ("queued", "running"):  # a queued one's worker skips it, a running one stops at its next frame; its status says so at once
                job.state = "cancelled"
            if job.state == "cancelled":
                return "cancelled"
            del self.jobs[job_id]
        self.store.drop(job_id)
        return "deleted"

    def _run(self, job: VideoJob) -> None:
        from ..stream.draw import annotate
        from ..stream.frames import VideoFileSource
        from ..stream.pipeline import run_pipeline
        from ..stream.sinks import FrameLogSink, SummaryCollector, VideoSink, finish_sinks, log_columns, source_fields, write_summary

        with self._lock:
            if job.cancel.is_set():  # cancelled while it waited
                job.upload.unlink(missing_ok=True)
                self.store.finished(job.id)
                self.store.drop(job.id)
                job.ended = True
                return
            job.state, job.running_since = "running", time.time()
        models = self.analyzer.models
        sinks = []
        try:
            source = VideoFileSource(str(job.upload))  # a video, as probe_video took it: an animated GIF too
            collector = SummaryCollector()
            try:
                sinks.append(VideoSink(job.folder / "annotated.mp4", source.fps or 30.0))
                expression_classes = list(models.expression.classes) if models.expression else []
                columns = log_columns(expression_classes, list(models.gender.classes) if models.gender else [], age=models.age is not None)
                sinks.append(FrameLogSink(job.folder / "frames.csv", columns, "csv", "upload"))
                track_colours: dict[int, int] = {}  # each track keeps its colour through the video
                for result in run_pipeline(source, self.analyzer.detector, models, self.analyzer.settings):
                    if self._closing.is_set():  # its folder is about to go: stop before it does
                        raise FacesenseError("the server stopped before the video was done")
                    if job.cancel.is_set():
                        raise FacesenseError("cancelled")
                    # a header can understate the length, or state a rate the frames do not have
                    if result.frame.time_s > job.max_seconds or job.frames_done >= job.max_seconds * MAX_VIDEO_FPS:
                        raise FacesenseError(f"the video lasts more than the limit of {job.max_seconds:g} s (its header said less): send a shorter clip")
                    t0 = time.perf_counter()
                    annotated = annotate(result, colours=track_colours)
                    for sink in sinks:
                        sink.write(result, annotated)
                    collector.add(result, time.perf_counter() - t0)
                    job.frames_done, job.faces = job.frames_done + 1, collector.faces  # so far: a running job said 0
            except BaseException:
                source.close()
                finish_sinks(sinks, keep=False)  # the error on its way is the one to report
                raise
            job.frames_unreadable = getattr(source, "unreadable", 0)
            source.close()
            failure = finish_sinks(sinks, keep=True)
            if failure is not None:
                raise failure
            if collector.frames == 0:
                raise FacesenseError("no frame of the video could be read")
            # the summary live writes: the upload's own name stays off it, as in the frame log, and
            # so do the server's paths of its models (any client downloads it): named as /api/health names them
            summary = collector.summary(dropped=0) | source_fields(source, "upload", self.analyzer.detector_name, {key: name for key, name in self.analyzer.model_names().items() if key != "sentiment"})
            job.faces, job.warning = summary["faces"], summary["ended_early"]
            timeline = collector.plot_timeline(job.folder / "timeline.png", expression_classes) if expression_classes else None
            summary["timeline_plot"] = "timeline.png" if timeline else None
            write_summary(job.folder / "summary.json", summary)
            job.files = {
                "video": url(job.id, "annotated.mp4"),
                "csv": url(job.id, "frames.csv"),
                "timeline": url(job.id, "timeline.png") if timeline else None,
                "summary": url(job.id, "summary.json"),
            }
            with self._lock:  # a DELETE answered "cancelled" while the outputs were being finished wins
                job.state = "cancelled" if job.cancel.is_set() else "done"
                self._last_rate = job.frames_done / max(time.time() - job.running_since, 1e-3)
                if job.state == "cancelled":
                    job.files = {}
        except OutputError as exc:  # the server's own disk: the operator's business, and its paths stay off the page
            if not self._closing.is_set():  # while stopping, its folder is removed under it: no disk problem to report
                log.error("video job %s: %s", job.id, exc)
            job.state, job.error = "failed", "the server could not write the results; try again later"
        except FacesenseError as exc:
            job.state, job.error = ("cancelled", None) if job.cancel.is_set() else ("failed", str(exc))
        except Exception as exc:  # a job must end in a state the page can show, whatever broke
            if not self._closing.is_set():  # while stopping, its files vanish under it: no traceback for that
                log.exception("video job %s failed", job.id)
            job.state, job.error = "failed", f"the video could not be processed ({exc.__class__.__name__})"
        finally:
            with self._lock:  # a DELETE answered "cancelled": so it ends, whatever else went wrong meanwhile
                if job.cancel.is_set() and job.state != "done":
                    job.state, job.error = "cancelled", None
            if job.state in ("failed", "cancelled"):  # no half-made file stays downloadable (a header-only frames.csv)
                for made in job.folder.glob("*"):
                    if made != job.upload and made.is_file():
                        made.unlink(missing_ok=True)
            job.upload.unlink(missing_ok=True)
            self.store.finished(job.id)
            if job.state == "cancelled":  # nothing of it is kept
                self.store.drop(job.id)
            job.ended = True

    def close(self) -> None:
        self._closing.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
