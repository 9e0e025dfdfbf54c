"""Where results go: annotated video, per-frame CSV/JSONL log, a window, and the run summary.

File sinks write to a temporary file and rename it into place when closed, so an interrupted
run leaves complete files (or none), never half-written ones.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import FacesenseError, OutputError
from ..runs import flush_to_disk, missing_folders, remove_empty, temp_beside, write_bytes, write_failure, write_json
from ..runtime.results import AGE_COLUMNS, age_fields, whole_years
from .cv_paths import OpenCVName
from .pipeline import STAGES, FrameResult
from .track import KEEP_MISSED, REMEMBER
from .tallies import Median, Percentiles, Series

log = logging.getLogger(__name__)


# What --out can write: H.264 in these containers through PyAV (its wheels ship FFmpeg with
# libx264), plays in browsers and chat apps; .avi is MPEG-4 Part 2 through OpenCV.
H264_SUFFIXES = (".mp4", ".mov", ".mkv")
VIDEO_SUFFIXES = (*H264_SUFFIXES, ".avi")


# each live output by its own extension, so that swapping --log and --summary cannot go unnoticed
LOG_SUFFIXES = {"--log": (".csv",), "--jsonl": (".jsonl", ".ndjson"), "--summary": (".json",)}


# the longest file name (bytes) that Linux, macOS and Windows file systems take
NAME_MAX = 255


# the file name an error suggests inside a folder given where a file belongs, by extension
EXAMPLE_NAMES = {".mp4": "annotated.mp4", ".onnx": "model.onnx", ".csv": "frames.csv", ".jsonl": "frames.jsonl", ".json": "summary.json"}


def timeline_path(summary: Path) -> Path:
    """The timeline figure beside a summary, named after it (two summaries in one folder must
    not share, and overwrite, one figure)."""
    return summary.with_name(f"{summary.stem}_timeline.png")


def check_output_path(value: str | Path, option: str, suffixes: tuple[str, ...] | None = None, example: str | None = None) -> Path:
    """Refuse, before anything runs, an output path that cannot become a file: a folder (or a
    name ending in '/'), an unsupported extension, a parent that is a file, an unwritable folder.
    `example`: the file name a folder given is told to add (default: live's name for the suffix)."""
    text = str(value)
    path = Path(text)
    if _names_a_folder(path, option, text):
        example = example or EXAMPLE_NAMES.get((suffixes or (".csv",))[0], f"output{(suffixes or ('',))[0]}")
        raise FacesenseError(f"{option} {text}: is a folder; give a file name inside it, e.g. {path / example}")
    if suffixes and path.name.lower() in suffixes:  # `--out .mp4`: Python reads a lone extension as a name without one
        raise FacesenseError(f"{option} {text}: has an extension but no name; give one, e.g. {path.with_name(EXAMPLE_NAMES.get(path.name.lower(), 'output' + path.name.lower()))}")
    if suffixes and path.suffix.lower() not in suffixes:
        wanted = f"a {suffixes[0]} name" if len(suffixes) == 1 else f"one of {', '.join(suffixes)}"
        raise FacesenseError(f"{option} {text}: unsupported extension {path.suffix or '(none)'}; use {wanted}")
    _check_writable_place(path.parent, option, text)
    return path


def check_log_path(value: str | Path, option: str) -> Path:
    """check_output_path for --log, --jsonl and --summary; a name with another one's extension
    (`--log run.jsonl`) names the option that writes it."""
    text, path = str(value), Path(str(value))
    if not _names_a_folder(path, option, text):  # a folder: check_output_path says so
        suffix = path.suffix.lower()
        if suffix == ".json" and option != "--summary":  # per-frame records want JSON lines, not the summary
            raise FacesenseError(f"{option} {value}: {option} writes {LOG_SUFFIXES[option][0]} files; for per-frame JSON lines use --jsonl {path.with_suffix('.jsonl')}, "
                                 f"for the run's summary --summary {value}")
        owner = next((other for other, suffixes in LOG_SUFFIXES.items() if suffix in suffixes), option)
        if owner != option:
            raise FacesenseError(f"{option} {value}: {option} writes {LOG_SUFFIXES[option][0]} files; for {suffix} use {owner} {value}")
    return check_output_path(value, option, LOG_SUFFIXES[option])


def check_output_folder(value: str | Path, option: str) -> Path:
    """Refuse, before anything runs, a path that cannot become a folder of outputs (made if
    missing): a file, a name too long, a parent that is a file, an unwritable place."""
    text = str(value)
    path = Path(text)
    _check_name_length(path, option, text, "folder")
    if path.exists() and not path.is_dir():
        raise FacesenseError(f"{option} {text}: is a file; give a folder")
    _check_writable_place(path, option, text)
    return path


def _names_a_folder(path: Path, option: str, text: str) -> bool:
    """Whether an output file's path names a folder (ends in '/', or is one); its name's length is
    checked first, since is_dir() raises on a name too long for the file system."""
    _check_name_length(path, option, text, "file")
    return text.endswith(("/", os.sep)) or path.is_dir()


def _check_name_length(path: Path, option: str, text: str, noun: str) -> None:
    if len(path.name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise FacesenseError(f"{option} {text}: the {noun} name is longer than the {NAME_MAX} bytes a file system allows; choose a shorter one")


def _check_writable_place(path: Path, option: str, text: str) -> None:
    """`path`, or its nearest existing folder above it, must be a writable folder."""
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise FacesenseError(f"{option} {text}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise FacesenseError(f"{option} {text}: folder {parent} is not writable; choose another place")


def _tmp_for(path: Path) -> tuple[Path, list[Path]]:
    """A temp file name beside `path`, and the folders made for it (removed again if the output
    is discarded: a run that wrote nothing leaves no empty folders)."""
    made = missing_folders(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    return temp_beside(path, f"tmp{path.suffix}"), made


def _commit(tmp: Path, path: Path) -> None:
    """Rename the finished temp file into place; on failure remove it and say why."""
    try:
        flush_to_disk(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a folder made read-only mid-run refuses this too: the error to give is the rename's, naming the output
            tmp.unlink(missing_ok=True)
        raise write_failure(path, exc) from None


def h264_available() -> bool:
    """PyAV is installed and its FFmpeg has the libx264 encoder."""
    try:
        import av

        av.Codec("libx264", "w")
        return True
    except Exception:  # ImportError, or an FFmpeg build without the encoder
        return False


# a photo folder's video: its frame size from the first photo, its long side kept within these
# pixels (a thumbnail first must not make a 10-pixel video, a 48 MP photo a 8000-pixel one)
PHOTO_VIDEO_SIDE = (640, 1920)

# PyAV timestamps of the annotated video: milliseconds
TIME_BASE = Fraction(1, 1000)


MAX_REPEAT_S = 10.0  # the OpenCV fallback shows one frame at most this long (VideoSink._repeat_pending)


class VideoSink:
    """Annotated frames -> a video file: H.264 (avc1, yuv420p, faststart) through PyAV for
    .mp4/.mov/.mkv, falling back, with a warning, to OpenCV's MPEG-4 Part 2 when PyAV or its
    libx264 is missing. Each frame is shown at its frame's time (a phone's variable frame rate
    plays at its own pace): H.264 sets each frame's time; OpenCV's fallback, which writes one
    rate throughout, writes at `fps` times `stride` (the source's rate, where `fps` is that of
    every stride-th frame) and repeats each frame until the next one's time. The frame size is
    the first frame's (`side_range`: its long side scaled into these bounds); a frame of
    another shape is fitted into it with black borders, not stretched."""

    def __init__(self, path: str | Path, fps: float, side_range: tuple[int, int] | None = None, stride: int = 1):
        self.path, self.fps, self.side_range = Path(path), fps or 30.0, side_range
        self.tmp, self._made = _tmp_for(self.path)
        self.size: tuple[int, int] | None = None
        self.container = self.stream = self.writer = None
        self._last_pts, self._written = -1, 0
        # the fallback's rate, its frames written, the first frame's time, and the frame waiting
        # for the next one's time to know how often to repeat it
        self._cv_rate, self._cv_frames, self._cv_t0, self._pending = self.fps * max(1, stride), 0, None, None
        self.end_s: float | None = None  # where the source ends, once known: the last frame is not shown past it
        self.codec = "h264" if self.path.suffix.lower() in H264_SUFFIXES and h264_available() else "mp4v"
        if self.codec == "mp4v" and self.path.suffix.lower() in H264_SUFFIXES:
            log.warning("PyAV with libx264 is not installed (pip install av): %s is written as MPEG-4 Part 2, which browsers do not play", self.path.name)

    def _open(self, w: int, h: int) -> None:
        if self.side_range:
            low, high = self.side_range
            scale = min(max(1.0, low / max(w, h)), high / max(w, h))
            w, h = max(2, round(w * scale)), max(2, round(h * scale))
        if self.codec == "h264":
            import av

            w, h = w + w % 2, h + h % 2  # yuv420p needs even sides
            self.container = av.open(str(self.tmp), mode="w", options={"movflags": "+faststart"} if self.path.suffix.lower() in (".mp4", ".mov") else {})
            self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
            self.stream.codec_context.time_base = self.stream.time_base = TIME_BASE
            self.stream.options = {"crf": "23", "preset": "veryfast"}
        else:
            import cv2

            self._cv_name = OpenCVName(self.tmp)
            self.writer = cv2.VideoWriter(self._cv_name.name, cv2.VideoWriter_fourcc(*"mp4v"), self._cv_rate, (w, h))
            if not self.writer.isOpened():
                self._cv_name.close()
                raise OutputError(f"{self.path}: cannot write video here (use a .mp4 or .avi name in a writable folder)")
        self.size = (w, h)

    def write(self, result: FrameResult, annotated: np.ndarray) -> None:
        try:
            if self.size is None:
                self._open(annotated.shape[1], annotated.shape[0])
            annotated = fit_into(annotated, self.size)
            # the frame's own time (without a result: the next at `fps`)
            time_s = result.frame.time_s if result is not None else self._written / self.fps
            if self.stream is not None:
                import av

                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(annotated), format="bgr24")
                # in milliseconds, always after the one before
                self._last_pts = frame.pts = max(round(time_s / TIME_BASE), self._last_pts + 1)
                frame.time_base = TIME_BASE
                for packet in self.stream.encode(frame):
                    self.container.mux(packet)
            else:
                if self._pending is not None:
                    self._repeat_pending(until_s=time_s)
                else:
                    self._cv_t0 = time_s
                self._pending = (annotated, time_s)
            self._written += 1
        except OSError as exc:  # a full disk, a name too long (PyAV's errors are OSErrors too)
            raise write_failure(self.path, exc) from None

    def _repeat_pending(self, until_s: float) -> None:
        """The fallback's waiting frame, written until `until_s` (at least once; at most
        MAX_REPEAT_S: a stream back after an hour's gap would be written as an hour of copies)."""
        image, since_s = self._pending
        if until_s - since_s > MAX_REPEAT_S:
            self._cv_t0 += until_s - since_s - MAX_REPEAT_S  # the rest of the gap is left out
        for _ in range(max(1, round((until_s - self._cv_t0) * self._cv_rate) - self._cv_frames)):
            self.writer.write(image)
            self._cv_frames += 1

    def close(self) -> None:
        try:
            if self.stream is not None:
                for packet in self.stream.encode():  # flush the encoder's delayed frames
                    if packet.pts == self._last_pts and self.end_s is not None:
                        # the last frame lasts a frame at the output's rate: with --stride 1000, 40 s
                        # past the source's end. Shown until the source ends, at most that.
                        frame_ts = round(1 / (self.fps * TIME_BASE))
                        packet.duration = max(1, min(frame_ts, round(self.end_s / TIME_BASE) - packet.pts))
                    self.container.mux(packet)
                self.container.close()
            elif self.writer is not None:
                if self._pending is not None:  # the last frame: a stride long, but not past the source's end
                    last_s = self._pending[1] + 1 / self.fps
                    self._repeat_pending(until_s=last_s if self.end_s is None else min(last_s, self.end_s))
                self.writer.release()
                self._cv_name.close()
        except OSError as exc:
            self.tmp.unlink(missing_ok=True)
            remove_empty(self._made)
            raise write_failure(self.path, exc) from None
        if self.size is not None:
            _commit(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
            remove_empty(self._made)

    def discard(self) -> None:
        self.size = None
        try:
            if self.container is not None:
                self.container.close()
            elif self.writer is not None:
                self.writer.release()
                self._cv_name.close()
        except OSError:
            pass  # the file goes anyway
        finally:
            self.tmp.unlink(missing_ok=True)
            remove_empty(self._made)


def fit_into(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit `size` (w, h) with its shape kept, centred on black."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    scale = min(size[0] / w, size[1] / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    x, y = (size[0] - new_w) // 2, (size[1] - new_h) // 2
    canvas[y : y + new_h, x : x + new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return canvas


# the photo formats an annotated copy keeps (OpenCV encodes them)
WRITABLE_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


MAX_SIDE = {".webp": 16383, ".jpg": 65535, ".jpeg": 65535}  # pixels a side each format can hold


def _encoded(image: np.ndarray, suffix: str) -> bytes | None:
    """The image in the format of `suffix`, None where the encoder refuses it. Lossy formats at
    quality 92 (OpenCV's WebP default is lossless: 9x the size); only the format's own parameter,
    as OpenCV warns about the others."""
    import cv2

    if max(image.shape[:2]) > MAX_SIDE.get(suffix, 1 << 30):  # refused, with an OpenCV error line on stderr
        return None
    quality = {".jpg": cv2.IMWRITE_JPEG_QUALITY, ".jpeg": cv2.IMWRITE_JPEG_QUALITY, ".webp": cv2.IMWRITE_WEBP_QUALITY}.get(suffix)
    try:
        ok, data = cv2.imencode(suffix, image, [quality, 92] if quality is not None else [])
    except cv2.error:
        return None
    return data.tobytes() if ok else None


def _free_name(out: Path, taken: set[Path]) -> Path:
    """`out`, or `name (2).jpg`, `(3)`... when another copy of this run has that name (b.gif's
    copy beside a photo named b.gif.jpg)."""
    n, free = 2, out
    while free in taken:
        free, n = out.with_name(f"{out.stem} ({n}){out.suffix}"), n + 1
    return free


def photo_copy_path(photo, root: Path) -> Path:
    """Where a photo's annotated copy goes in --photos-out: its path as its folder `root` lists it
    (a linked album keeps its place, as in the log), else its name."""
    try:
        return Path(photo).relative_to(root)
    except ValueError:
        return Path(Path(photo).name)


class AnnotatedPhotosSink:
    """Each photo of a photo folder (or one photo) annotated, into `folder` under the path it has
    in the source folder, in its own format where OpenCV writes it; else as a JPEG named after the
    whole file name (b.gif -> b.gif.jpg), or 'b.gif (2).jpg' where a photo of the folder is
    itself named b.gif.jpg (a photo keeps its own name). Each file is written whole (temp name,
    then renamed): a run stopped midway leaves the photos done so far."""

    def __init__(self, folder: str | Path, source_root: Path, photos: list[Path]):
        self.path = self.folder = Path(folder)
        self.root = Path(source_root)
        # the photos' real paths: a copy must never land on one (a link left in FOLDER could lead there)
        self._photos = {os.path.realpath(p) for p in photos}
        self._made = missing_folders(self.folder)
        self.written = 0
        # every copy's name, decided before any is written: the photos that keep theirs first
        rels = {str(p): photo_copy_path(p, self.root) for p in photos}
        self._names = {photo: rel for photo, rel in rels.items() if rel.suffix.lower() in WRITABLE_PHOTO_SUFFIXES}
        self._taken = set(self._names.values())
        # nor may a copy take the name of a folder the copies go in (a source folder named
        # x.gif.jpg holds photos: x.gif's copy is 'x.gif (2).jpg')
        self._folders = {folder for rel in rels.values() for folder in rel.parents if folder != Path(".")}
        for photo, rel in rels.items():
            if photo not in self._names:
                self._names[photo] = _free_name(rel.with_name(rel.name + ".jpg"), self._taken | self._folders)
                self._taken.add(self._names[photo])
        # a folder where a copy goes (left there, or an earlier run's photo folder of that name) was
        # found only at its photo, after every photo before it: said before any is read
        for photo, rel in self._names.items():
            if (self.folder / rel).is_dir():
                raise OutputError(f"{self.folder / rel}: is a folder, where the annotated copy of {photo} goes; move it away or choose another --photos-out")

    def holds(self, path: Path) -> bool:
        """Whether `path` is the name of one of this run's annotated copies."""
        return os.path.realpath(path) in {os.path.realpath(self.folder / rel) for rel in self._taken}

    def write(self, result: FrameResult, annotated: np.ndarray) -> None:
        photo = result.frame.photo or f"frame_{result.frame.index:06d}.jpg"
        rel = self._names.get(photo) or photo_copy_path(photo, self.root)
        out = self.folder / rel
        if os.path.realpath(out) in self._photos:  # checked up front too
            raise OutputError(f"{out}: is one of the photos; give --photos-out a folder apart from the photos")
        data = _encoded(annotated, out.suffix.lower())
        if data is None and out.suffix.lower() not in (".jpg", ".jpeg"):  # over the format's own size limit (WebP: 16,383 px a side): a JPEG instead
            out = self.folder / _free_name(rel.with_name(rel.name + ".jpg"), self._taken | self._folders)
            self._taken.add(out.relative_to(self.folder))
            data = _encoded(annotated, ".jpg")
        if data is None:
            raise OutputError(f"{out}: the annotated photo could not be encoded ({annotated.shape[1]} x {annotated.shape[0]} pixels: JPEG holds at most 65,535 a side)")
        blocking = next((p for p in reversed(out.parents) if p.is_file()), None)
        if blocking is not None:  # mkdir would say only "File exists"
            raise OutputError(f"{out}: cannot be written: {blocking} is a file where a folder of --photos-out goes; move it away or choose another --photos-out")
        try:
            # innermost first, as remove_empty takes them: a new folder lies inside those made before it
            self._made = [p for p in missing_folders(out.parent) if p not in self._made] + self._made
            out.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(out, data)
        except OSError as exc:
            raise write_failure(out, exc) from None
        self.written += 1

    def close(self) -> None:
        if not self.written:
            remove_empty(self._made)

    discard = close


def log_columns(expression_classes: list[str], gender_classes: list[str], age: bool = False) -> list[str]:
    """The per-face log's columns (docs/outputs.md): age columns when an age model runs."""
    return (
        ["frame", "time_s", "source", "track_id", "x", "y", "w", "h", "held", "read", "expression", "expression_p", "gender", "gender_p"]
        + (list(AGE_COLUMNS) if age else [])
        + [f"p_{c}" for c in expression_classes]
        + [f"p_{c}" for c in gender_classes]
        + [schema.KEY]
    )


def log_rows(result: FrameResult, source: str = "") -> list[dict]:
    """One row per face; `source` names the video, stream or camera (a photo names itself). A
    photo without a face gets one row with its frame, time and source only, as predict gives it
    a row with face 0, so that a photo folder's log lists every photo read."""
    origin = result.frame.photo or source
    if result.frame.photo is not None and not result.faces:
        return [{schema.KEY: schema.VERSIONS["frames"], "frame": result.frame.index, "time_s": round(result.frame.time_s, 4), "source": origin}]
    rows = []
    for face in result.faces:
        row = {schema.KEY: schema.VERSIONS["frames"], "frame": result.frame.index, "time_s": round(result.frame.time_s, 4), "source": origin, "track_id": face.track_id, "x": face.box.x, "y": face.box.y, "w": face.box.w, "h": face.box.h, "held": int(face.held), "read": " ".join(face.read)}
        for key in ("expression", "gender"):
            pred = getattr(face, key)
            if pred:  # a model that is off leaves its keys out (CSV: empty cells)
                row[key], row[f"{key}_p"] = pred.label, round(pred.p, 4)
                row.update({f"p_{c}": round(v, 4) for c, v in pred.probs.items()})
        if face.age:
            row.update(age_fields(face.age))
        rows.append(row)
    return rows


class FrameLogSink:
    """One row per face per frame (columns in `log_columns`), as CSV or JSON lines. `source`
    fills the source column of frames that are not photos (a photo's row names its file)."""

    def __init__(self, path: str | Path, columns: list[str], fmt: str = "csv", source: str = ""):
        self.path, self.fmt, self.columns, self.source = Path(path), fmt, columns, source
        self.tmp, self._made = _tmp_for(self.path)
        try:
            # UTF-8 whatever the locale; a file name that is not valid UTF-8 (a photo's, in the
            # source column) is written back as the bytes it had on disk instead of stopping the run
            self.file = open(self.tmp, "w", newline="", encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            remove_empty(self._made)
            raise write_failure(self.path, exc) from None
        self.csv = csv.DictWriter(self.file, fieldnames=columns, extrasaction="ignore") if fmt == "csv" else None
        if self.csv:
            self._writing(self.csv.writeheader)

    def _writing(self, step, *args) -> None:
        try:
            step(*args)
        except OSError as exc:  # a full disk
            raise write_failure(self.path, exc) from None

    def write(self, result: FrameResult, annotated=None) -> None:
        for row in log_rows(result, self.source):
            if self.csv:
                self._writing(self.csv.writerow, row)
            else:
                self._writing(self.file.write, json.dumps(row) + "\n")

    def close(self) -> None:
        try:
            self._writing(self.file.close)
        except FacesenseError:
            self.tmp.unlink(missing_ok=True)
            raise
        _commit(self.tmp, self.path)

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the file goes anyway
        self.tmp.unlink(missing_ok=True)
        remove_empty(self._made)


def finish_sinks(sinks: list, keep: bool, broken=None, lost: list | None = None, then: tuple = ()) -> BaseException | None:
    """Close every sink (`keep`: put its file in place) or discard it; `broken`, a sink whose
    write failed, is discarded. A sink that cannot be finished (a full disk, a window that will
    not close) is discarded and the others are still finished, so no temp file is left behind.
    -> the first failure, for the caller to raise unless another error is already on its way; a
    Ctrl-C while finishing becomes an interruption that names what was not kept. The sinks that
    could not be finished are added to `lost`; `then` names the outputs written after these (a
    summary), which an interruption here leaves unwritten too."""
    failure, lost = None, ([] if lost is None else lost)
    # the broken one first: its temp file may hold the space of the full disk the others need
    # to be put in place (a half video took it, and the jsonl log was lost with it)
    # (only where the others are kept: with every sink discarded, the first made must go last, as
    # it made the folders the others' temp files are in)
    for sink in sorted(reversed(sinks), key=lambda sink: not keep or sink is not broken):  # then last made first: the first one's new folders are then empty
        try:
            if keep and sink is not broken:
                sink.close()
            else:
                sink.discard()
        except BaseException as exc:  # noqa: BLE001 (a full disk, a second Ctrl-C: the others are still finished)
            lost.append(sink)
            failure = failure or exc
            try:
                sink.discard()
            except BaseException:  # noqa: BLE001 (its temp file is gone or cannot go: nothing more to do)
                pass
    if isinstance(failure, KeyboardInterrupt):
        names = ", ".join([str(getattr(sink, "path", "the window")) for sink in lost] + [str(name) for name in then])
        return KeyboardInterrupt(f"interrupted while the outputs were being finished: {names} not kept; the others hold every frame before the interruption")
    return failure


def window_support() -> bool:
    """Whether this OpenCV build can open a window: the default install's headless build cannot
    (its build information says GUI: NONE)."""
    import re

    import cv2

    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    return gui is None or gui.group(1).upper() != "NONE"


class WindowSink:
    """A desktop window (needs a display and a GUI build of OpenCV); 'q' or Esc stops."""

    def __init__(self, title: str = "facesense"):
        import cv2

        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise FacesenseError("no window support in this OpenCV build (headless): use --no-window, or pip install opencv-python") from None
        self.quit = False

    def write(self, result: FrameResult, annotated: np.ndarray) -> None:
        import cv2

        cv2.imshow(self.title, annotated)
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.quit = True

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
        except cv2.error:  # closed by the user already, or the display went away: nothing to keep
            pass

    discard = close


PLOTTED_TRACKS = 6  # the timeline plot's panels: the tracks with the most frames


class TrackRecord:
    """What one tracked face showed over its life: label counts and age estimates per frame."""

    def __init__(self, time_s: float, photo: str | None = None):
        self.first_s = self.last_s = time_s
        self.photo = photo  # a photo folder's face: the photo it is in (a track never spans two)
        self.frames = 0
        self.labels: dict[str, Counter] = {"expression": Counter(), "gender": Counter()}
        self.prob_sums: dict[str, Counter] = {"expression": Counter(), "gender": Counter()}  # breaks a tie of label counts
        self.ages = Median()
        self.became: int | None = None  # the id its face went on under (FrameResult.renamed)

    def add(self, face, time_s: float) -> None:
        if face.held:  # its labels are the last ones again, not a new reading of the face (nor a sighting: last_s stays)
            return
        self.last_s = time_s
        self.frames += 1
        for key, counts in self.labels.items():
            if getattr(face, key):
                counts[getattr(face, key).label] += 1
                self.prob_sums[key].update(getattr(face, key).probs)
        if face.age:
            self.ages.add(face.age.years)

    def label(self, key: str) -> str:
        """The `key` ("gender") label of most frames; between two of as many frames (a face read
        man in half of them, woman in the other half), the one it was the surer of, not
        whichever came first."""
        counts = self.labels[key]
        return max(counts, key=lambda c: (counts[c], self.prob_sums[key][c]))

    def summary(self, track_id: int) -> dict:
        out = {"track_id": track_id, "first_s": round(self.first_s, 3), "last_s": round(self.last_s, 3), "frames": self.frames}
        if self.photo is not None:
            out["photo"] = self.photo
        for key, counts in self.labels.items():
            if counts:
                out[key] = self.label(key)
                out[f"{key}_shares"] = {c: round(k / self.frames, 3) for c, k in counts.most_common()}
                # how sure the model was of it, on average over the track's frames: "sad in 100%
                # of frames" read as a sure reading where each frame's probability was 0.35
                out[f"{key}_mean_p"] = round(self.prob_sums[key][out[key]] / sum(counts.values()), 3)
        if self.ages:
            out["age_median"] = round(self.ages.value(), 2)  # as the logs round age_years: rounded once more to 1 decimal, 31.47 was printed as 32 beside a "~31y" label
        if self.became is not None:  # one face under two ids: say which, or it read as two people
            out["became"] = self.became
        return out


class SummaryCollector:
    """Frames, faces, drops, FPS, per-stage latency percentiles, each track's expression timeline
    and what each track showed most (expression and gender shares, median age)."""

    def __init__(self):
        self.stage_ms = {s: Percentiles() for s in (*STAGES, "draw", "total")}
        self.frames = 0
        self.faces = 0  # found by the detector; a held box (no face found there) is counted apart
        self.held_boxes = 0
        self.frames_with_faces = 0
        # per track: (time, expression probabilities in timeline_classes order), for the plot's
        # busiest tracks only: a camera left on sees ever more tracks, and the plot shows six
        self.timeline: dict[int, Series] = {}
        self.timeline_classes: list[str] = []
        self.last_seen: dict[int, int] = {}  # frame count when each timeline's track was last in a frame
        self.tracks: dict[int, TrackRecord] = {}
        self.t_start = time.perf_counter()

    def add(self, result: FrameResult, draw_s: float) -> None:
        self.frames += 1
        found = sum(not face.held for face in result.faces)
        self.faces += found
        self.held_boxes += len(result.faces) - found
        self.frames_with_faces += bool(found)
        for stage, seconds in result.timings.items():
            self.stage_ms[stage].add(seconds * 1000)
        self.stage_ms["draw"].add(draw_s * 1000)
        self.stage_ms["total"].add((sum(result.timings.values()) + draw_s) * 1000)
        for shown, taken in result.renamed.items():
            if shown in self.tracks:
                self.tracks[shown].became = taken
        for face in result.faces:
            self.tracks.setdefault(face.track_id, TrackRecord(result.frame.time_s, result.frame.photo)).add(face, result.frame.time_s)
            if face.expression:
                self.timeline_classes = self.timeline_classes or list(face.expression.probs)
                self.timeline.setdefault(face.track_id, Series()).add(result.frame.time_s, [face.expression.probs.get(c, 0.0) for c in self.timeline_classes])
                self.last_seen[face.track_id] = self.frames
        if len(self.timeline) > 2 * PLOTTED_TRACKS + len(result.faces):
            self._keep_busiest_series()

    def _keep_busiest_series(self, gone_after: int = KEEP_MISSED + REMEMBER) -> None:
        """Drop the timelines of tracks that can no longer be among the plot's busiest: unseen for
        longer than `gone_after` frames (the tracker keeps a missed face for 10 frames, and knows
        it again by its look, under its id, for 90 more: a timeline dropped after 30 came back
        with only the frames after its return, under a title giving the track's whole span), and
        with fewer frames than the PLOTTED_TRACKS busiest."""
        busiest = set(sorted(self.timeline, key=lambda tid: -self.tracks[tid].frames)[:PLOTTED_TRACKS])
        for tid in [t for t in self.timeline if t not in busiest and self.frames - self.last_seen[t] > gone_after]:
            del self.timeline[tid]
            del self.last_seen[tid]

    def summary(self, dropped: int = 0, error: str | None = None) -> dict:
        wall = time.perf_counter() - self.t_start
        latency = {
            stage: {"median_ms": round(v.percentile(50), 3), "p95_ms": round(v.percentile(95), 3)}
            for stage, v in self.stage_ms.items() if v
        }
        processing = self.stage_ms["total"].total / 1000
        return {
            "frames": self.frames,
            "faces": self.faces,
            "faces_per_frame": round(self.faces / self.frames, 3) if self.frames else 0.0,
            "frames_with_faces": self.frames_with_faces,
            "held_boxes": self.held_boxes,
            "tracks": len(self.tracks),
            "dropped_frames": dropped,
            "fps_wall": round(self.frames / wall, 2) if wall > 0 else 0.0,
            "fps_pipeline": round(self.frames / processing, 2) if processing > 0 else 0.0,
            "latency": latency,
            "error": error,
            "per_track": [record.summary(tid) for tid, record in sorted(self.tracks.items())],
        }

    def plot_timeline(self, path: Path, classes: list[str], max_tracks: int = PLOTTED_TRACKS) -> Path | None:
        """One panel per track (the `max_tracks` with the most frames), each class's smoothed
        probability over time as stacked areas in a fixed colour per class; the panel title
        gives the track's span, its gender share and median age."""
        if not self.timeline:
            return None
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        from ..figures import save_png

        busiest = sorted(self.timeline, key=lambda tid: -self.tracks[tid].frames)[:max_tracks]
        colours = class_colours(classes)
        series = {tid: s.all_points() for tid, s in self.timeline.items()}
        t_end = max(max(record.last_s for record in self.tracks.values()), *(points[-1][0] for points in series.values() if points))  # held boxes' points too
        column = {c: i for i, c in enumerate(self.timeline_classes)}
        # a face seen on one frame only (a one-frame clip, --max-frames 1, a lone sighting between
        # gaps) is drawn as wide as a frame: an area through one point is none, and its panel was empty
        step = _frame_step([np.array([t for t, _ in points]) for points in series.values()])
        t_end += step
        fig = Figure(figsize=(9, 1.0 + 1.45 * len(busiest)), dpi=100, layout="constrained")
        axes = fig.subplots(len(busiest), 1, sharex=True, squeeze=False)[:, 0]
        for ax, tid in zip(axes, sorted(busiest)):
            points = series[tid]
            times = np.array([t for t, _ in points])
            probs = np.array([[p[column[c]] if c in column else 0.0 for c in classes] for _, p in points])
            for segment in _segments(times):  # a track the detector lost for a while: no area across the gap
                t, p = times[segment], probs[segment]
                if len(t) == 1:
                    t, p = np.array([t[0], t[0] + step]), np.repeat(p, 2, axis=0)
                ax.stackplot(t, p.T, colors=[colours[c] for c in classes], linewidth=0)
            ax.set_ylim(0, 1)
            ax.set_xlim(0, t_end)
            ax.set_yticks([0, 0.5, 1])
            ax.set_ylabel("p", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_title(self._track_title(tid), fontsize=9, loc="left")
        axes[-1].set_xlabel("time (s)")
        handles = [Patch(color=colours[c], label=c) for c in classes]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(classes), fontsize=8, frameon=False)
        with_expression = sum(1 for record in self.tracks.values() if record.labels["expression"])  # the plot's "6 of N"
        shown = f"the {len(busiest)} longest of {with_expression} tracks" if with_expression > len(busiest) else f"{len(busiest)} track{'s' * (len(busiest) > 1)}"
        fig.suptitle(f"expression probabilities per track ({shown})", fontsize=10)
        return save_png(fig, path)

    def _track_title(self, tid: int) -> str:
        record = self.tracks[tid]
        parts = [f"track {tid}", f"{record.first_s:.1f}-{record.last_s:.1f} s", f"{record.frames} frame{'s' if record.frames != 1 else ''}"]
        genders = record.labels["gender"]
        if genders:  # the words of the printed per-track line: the label the track's frames gave most
            label = record.label("gender")
            parts.append(f"{label} in {genders[label] / sum(genders.values()):.0%} of frames")
        if record.ages:
            parts.append(f"median age {whole_years(record.ages.value())}")  # as summary.json's age_median
        return "  ·  ".join(parts)


# Fixed colours, so a class looks the same in every figure; other classes take tab10 in order.
CLASS_COLOURS = {
    "angry": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "happy": "#f2c12e",
    "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#b0b0b0",
}


def class_colours(classes: list[str]) -> dict[str, str]:
    from matplotlib import colormaps

    spare = iter(colormaps["tab10"].colors)
    return {c: CLASS_COLOURS.get(c) or "#%02x%02x%02x" % tuple(int(255 * v) for v in next(spare)) for c in classes}


def _frame_step(times: list[np.ndarray]) -> float:
    """The usual time between a track's points (their median step over every track), or a frame
    at 30 fps where no track has two points."""
    steps = np.concatenate([np.diff(t) for t in times if len(t) > 1] or [np.array([])])
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 1 / 30


def _segments(times: np.ndarray) -> list[slice]:
    """Runs of frames without a gap longer than 3x the usual step between a track's frames."""
    if len(times) < 2:
        return [slice(0, len(times))]
    steps = np.diff(times)
    breaks = np.flatnonzero(steps > 3 * max(float(np.median(steps)), 1e-6)) + 1
    edges = [0, *breaks.tolist(), len(times)]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


def source_fields(source, name: str, detector: str, models: dict[str, str | None] | None = None) -> dict:
    """What a summary says of where its frames came from: the source's name, the detector, the
    models (FaceModels.names), the frames that did not decode, where a truncated file ended, and
    a stream's gaps (live and the web app's video jobs write the same summary)."""
    return {
        "source": name,
        **({"models": models} if models is not None else {}),
        # what the frames are: photos (fps and latency per photo), a video file, or live frames
        "source_kind": "photos" if getattr(source, "photos", False) else "live" if getattr(source, "live", False) else "video",
        "detector": detector,
        "unreadable_frames": getattr(source, "unreadable", 0),
        # a photo folder's skipped photos, each with why (unreadable, over the pixel limit)
        **({"skipped_photos": [{"photo": photo, "reason": why} for photo, why in source.skipped]} if getattr(source, "photos", False) else {}),
        "ended_early": source.ended_early() if hasattr(source, "ended_early") else None,
        "gaps": getattr(source, "gaps", []),
    }


def write_summary(path: Path, summary: dict) -> None:
    write_json(path, schema.stamped("live_summary", summary))
