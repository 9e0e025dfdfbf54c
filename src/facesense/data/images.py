"""Reading image files (Pillow) and decoding whole sample sets into uint8 arrays once."""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError, over_limit, say_once
from ..preprocess import InputSpec, to_model_pixels
from .digests import pixel_digest
from .samples import Samples

# how each command is told to skip unreadable samples and list them instead of stopping
SKIP_BAD_HINT = "skip and list such samples (skip_bad=true in a training config, --skip-bad for evaluate, predict, data split and data inspect, skip_bad=True for facesense.evaluate)"


def listed_reason(exc: Exception) -> str:
    """An unreadable file's message as a skip listing shows it: without the advice to skip it,
    which the listing's user already took."""
    return str(exc).replace(f", or {SKIP_BAD_HINT}", "")


# a GIF: its first frame; .jfif and .jpe are JPEG (browsers on Windows save .jfif); AVIF with
# Pillow 11.3 or later
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".avif"}

# photos Pillow does not read without a plugin (an iPhone's HEIC, camera raw files): a photo
# folder names them rather than leaving them out without a word
UNREAD_PHOTO_SUFFIXES = {".heic", ".heif", ".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf"}

# videos given where photos belong (predict, analyse_image): pointed to the commands for videos
VIDEO_FILE_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts",
                       ".mjpeg", ".mjpg"}  # an IP camera's Motion-JPEG recording: JPEGs one after another, which Pillow reads as one photo


# formats Pillow identifies that are videos, not photos
MOVING_FORMATS = {"MPEG", "FLI"}

# MPEG transport-stream packet sizes in bytes (plain; Blu-ray's M2TS with a 4-byte timestamp);
# each packet holds the sync byte 0x47 at the same place
MPEG_TS_PACKETS = (188, 192)


def is_video_file(path: Path) -> bool:
    """Whether a file is a video by its suffix; a `.ts` file only where it reads as an MPEG
    transport stream (sync bytes three packets running, from any offset: a capture may start
    mid-packet), since TypeScript sources share the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_FILE_SUFFIXES or not path.is_file():
        return False
    if suffix != ".ts":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4 * max(MPEG_TS_PACKETS))
    except OSError:
        return False
    return any(all(start + k * size < len(head) and head[start + k * size] == 0x47 for k in range(3))
               for size in MPEG_TS_PACKETS for start in range(size))


# animations that OpenCV's FFmpeg plays frame by frame with their own delays: GIF always; an
# animated PNG or AVIF only some of the time (an APNG whose animation chunk comes after a few KB
# of metadata, such as a camera photo's colour profile, gives one frame: `plays_as_clip` tries); an
# animated WebP never. The others are read as photos, their first frame (said where it happens).
PLAYABLE_ANIMATIONS = ("GIF",)
SOMETIMES_PLAYABLE_ANIMATIONS = ("PNG", "AVIF")
STILL_ANIMATIONS = ("PNG", "WEBP", "AVIF")


def plays_as_clip(path: Path) -> bool:
    """Whether OpenCV reads more than one frame of an animated image file (two decodes), for a
    file OpenCV may be given: a name that is not UTF-8 crashes it (see stream/cv_paths.py), and
    frames over the pixel limit are not decoded to find out (a 600 KB APNG of 10000 x 10000
    took 1.2 GB): such a file is read as a photo, its first frame, with the warning."""
    name = str(path)
    try:
        name.encode("utf-8")
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_MEGAPIXELS * 1e6:
                return False
    except Exception:  # noqa: BLE001 (not UTF-8, or not an image Pillow reads: no clip)
        return False
    stat = os.stat(path)
    return _plays(name, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _plays(name: str, mtime_ns: int, size: int) -> bool:
    """plays_as_clip's decodes, once per file version (a photo folder's checks ask again)."""
    import cv2

    cap = cv2.VideoCapture(name)
    try:
        return bool(cap.isOpened() and cap.read()[0] and cap.read()[0])
    finally:
        cap.release()


def is_photo_file(path: Path) -> bool:
    """Whether a file given on its own is a photo: an image suffix, or no known video suffix and
    content Pillow recognises (a download saved as `photo` or `photo.jpg_large` is a photo, and
    read as a video it would lose its EXIF orientation); an animated GIF of more than one frame
    is a clip, and so is an animated PNG or AVIF that OpenCV plays. Reads the header only (and
    two frames of an animated PNG or AVIF)."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_FILE_SUFFIXES or not path.is_file():
        return path.suffix.lower() in IMAGE_SUFFIXES and not path.exists()  # a missing photo is still named as one
    try:
        with Image.open(path) as im:
            if getattr(im, "is_animated", False) and (im.format in PLAYABLE_ANIMATIONS or (im.format in SOMETIMES_PLAYABLE_ANIMATIONS and plays_as_clip(path))):
                return False  # (is_animated, not n_frames: that walks every frame of a GIF)
            return im.format not in MOVING_FORMATS
    except Exception:  # not an image Pillow knows, or not readable: by its suffix, else left to the video reader to say
        return path.suffix.lower() in IMAGE_SUFFIXES


def each_file_once(files: list[Path]) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """A photo list with each file once, where it was first named (a photo named twice, a folder
    and a file in it, a link to a photo or an album: its faces read twice were twice the people),
    under the photo's own name where a link to it came first, and the (repeat, kept) pairs left out."""
    seen: dict[str, int] = {}  # real path -> its place in `once`
    once, repeated = [], []
    for path in files:
        place = seen.setdefault(os.path.realpath(path), len(once))
        if place == len(once):
            once.append(path)
        elif Path(once[place]).is_symlink() and not Path(path).is_symlink():
            # a folder's link to one of its own photos sorted before the photo (`best.jpg ->
            # IMG_1.jpg`): the photo's rows went under the link's name and its own name had
            # none; it keeps the place, under its own name (found by a bug hunt)
            repeated.append((once[place], place))
            once[place] = path
        else:
            repeated.append((path, place))
    return once, [(path, once[place]) for path, place in repeated]


def repeated_files(repeats: list[tuple[Path, Path]]) -> str:
    """One line for the repeats each_file_once left out, the first few named."""
    named = ", ".join(f"{path} (as {first})" for path, first in repeats[:3])
    return f"{len(repeats)} photo(s) named again, the same file as one before (a link, a folder named twice): {named}{' ...' if len(repeats) > 3 else ''}"


def images_under(folder: Path) -> list[Path]:
    """Every image file in a folder and its subfolders, sorted by path (photo folders of
    `predict` and `live` alike): by an image suffix, or by the content Pillow recognises where
    the suffix is none it knows (`photo`, `photo.jpg_large`, a `.ppm`: read when given alone,
    they were left out of their folder without a word). Hidden files and folders are left out,
    as datasets leave them: macOS's `._photo.jpg` resource forks and `.thumbnails/` are not the
    user's photos."""
    folder = Path(folder)
    known = IMAGE_SUFFIXES | VIDEO_FILE_SUFFIXES | UNREAD_PHOTO_SUFFIXES
    return sorted(p for p in files_under(folder) if p.is_file() and not hidden(p, folder)
                  and (p.suffix.lower() in IMAGE_SUFFIXES or (p.suffix.lower() not in known and _still_image(p))))


# the formats a file without an image suffix is recognised as: photos Pillow decodes by itself
# (EPS needs Ghostscript and WMF a Windows loader: listed, they stopped predict; the IM format
# accepts any text and read a large notes file whole)
SNIFFED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "DIB", "PPM", "JPEG2000", "AVIF", "PCX", "TGA", "SGI", "PSD", "QOI")


def _still_image(path: Path) -> bool:
    """Whether Pillow recognises a file as a still photo of a format it decodes (its header only)."""
    Image.init()
    try:
        with Image.open(path, formats=[f for f in SNIFFED_FORMATS if f in Image.OPEN]) as im:  # (an older Pillow lacks some)
            return im.format not in MOVING_FORMATS
    except Exception:  # not an image Pillow knows, or not readable
        return False


CLI_STREAM = "facesense live --source {}"  # how a user reads a video, said of one met where photos were read ({}: its path)


def photo_folder_leftovers(folder: Path, how_to_stream: str = CLI_STREAM) -> str | None:
    """What a photo folder holds that is not read as photos, for a sentence ("2 photo(s) in
    formats ..."): photos in formats Pillow does not read, videos, and links to photos or videos that are
    not there; None when there is none. `how_to_stream`: the caller's way to read a video, {} its path."""
    from collections import Counter

    folder = Path(folder)
    photos, videos, broken = Counter(), Counter(), []
    for p in files_under(folder):
        suffix = p.suffix.lower()
        if not hidden(p, folder):
            if p.is_symlink() and not p.exists():  # a link whose photo or video was moved or deleted
                if suffix in IMAGE_SUFFIXES | UNREAD_PHOTO_SUFFIXES | VIDEO_FILE_SUFFIXES:
                    broken.append(p)
            elif suffix in UNREAD_PHOTO_SUFFIXES:
                photos[suffix] += 1
            elif is_video_file(p):
                videos[suffix] += 1

    def listed(counts: Counter) -> str:
        return ", ".join(f"{n} {suffix}" for suffix, n in sorted(counts.items()))

    parts = []
    if photos:
        parts.append(f"{sum(photos.values())} photo(s) in formats facesense does not read ({listed(photos)}; convert them to JPEG or PNG)")
    if videos:
        parts.append(f"{sum(videos.values())} video(s) ({listed(videos)}; give each to `{how_to_stream.format('VIDEO')}`)")
    if broken:
        names = ", ".join(str(p.relative_to(folder)) for p in sorted(broken)[:3]) + (", ..." if len(broken) > 3 else "")
        parts.append(f"{len(broken)} link(s) to files that are not there ({names}; link them again or remove them)")
    return " and ".join(parts) if parts else None


def files_under(folder: Path) -> list[Path]:
    """Every file in a folder and its subfolders, following links to folders (an album linked
    into a photo folder is part of it; rglob does not follow them), each real folder once. A
    subfolder that cannot be listed is said (its images would go missing without a word)."""
    return [Path(root) / name for root, _, files in walk_once(folder, on_unreadable=_say_unreadable_folder) for name in files]


def _say_unreadable_folder(error: OSError) -> None:
    name = os.path.basename(str(error.filename))
    if name.startswith(".") or name == "lost+found":  # left out anyway (hidden), or a file system's own (at every ext4 mount point)
        return
    permission = isinstance(error, PermissionError)
    say_once(__name__, logging.WARNING, "%s: a folder that cannot be read (%s); the images in it are left out%s", str(error.filename),
             "permission denied" if permission else error.strerror or str(error), ": fix its permissions" if permission else "")


def real_folders_under(folder: Path) -> set[str]:
    """The real paths of the folders `files_under` reads, and of the folders that linked photos
    in them point into: where a folder's photos really are. Links that `images_under` does not
    read (a linked notes file, a broken link) point at no photo."""
    linked = {os.path.dirname(os.path.realpath(p)) for p in images_under(folder) if os.path.islink(p)}
    return {os.path.realpath(root) for root, _, _ in walk_once(folder)} | linked


def walk_once(folder: Path, on_unreadable=None):
    """os.walk following links to folders, each real folder once (a link back up the tree, or
    two links to one folder), and never a folder that holds `folder` (a link up to the dataset
    put every other class's images into one class); in name order, real folders before links
    beside them. `on_unreadable(OSError)`: for each folder that cannot be listed (skipped either way)."""
    seen = set()
    start = os.path.realpath(folder)
    for root, dirs, files in os.walk(folder, followlinks=True, onerror=on_unreadable):
        real = os.path.realpath(root)
        if real in seen or start.startswith(real.rstrip(os.sep) + os.sep):
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort(key=lambda name: (os.path.islink(os.path.join(root, name)), name))
        yield root, dirs, files


# files and folders the system makes beside photos: Windows' thumbnail caches and folder
# settings, macOS's folder icon and the resource forks an unzipped Mac archive holds
SYSTEM_FILES = {"thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini", "icon\r"}
SYSTEM_FOLDERS = {"__macosx"}


def hidden(path: Path, root: Path) -> bool:
    """Whether a file under `root` is hidden, or inside a hidden folder (`._photo.jpg`,
    `.thumbnails/`), or one the system made (`Thumbs.db`, `desktop.ini`, `__MACOSX/`): not one
    of the user's images (a Windows folder of photos refused as a dataset for its Thumbs.db)."""
    parts = path.relative_to(root).parts
    return (any(part.startswith(".") or part.lower() in SYSTEM_FOLDERS for part in parts)
            or (bool(parts) and parts[-1].lower() in SYSTEM_FILES))


MAX_MEGAPIXELS = 40.0  # default limit on the pixels an image may declare before it is decoded


class ImageTooLarge(DataError):
    """An image that declares more pixels than the limit (refused before decoding);
    `set_by_option`: the limit is the caller's (e.g. the server's --max-megapixels), not the
    image reader's own."""

    def __init__(self, message: str, set_by_option: bool = True):
        super().__init__(message)
        self.set_by_option = set_by_option


# Why the readers below catch every Exception: Pillow tries each of its format plugins on a file,
# and on a malformed one a plugin may raise anything, not only OSError or ValueError (a DDS file
# with unknown pixel flags raises NotImplementedError, a damaged SPIDER file AttributeError). To
# the user each is the same mistake: a file that is not a readable image.


def unreadable_upload(exc: Exception, size: int) -> DataError:
    """Pillow's error for an image's bytes, as the sender can act on it: a file cut short (in its
    pixels, or in a camera photo's metadata before them) or not an image at all."""
    if "truncated" in str(exc).lower():  # "image file is truncated", "Truncated File Read"
        return DataError(f"the image is cut short ({size:,} bytes arrived): send the whole file")
    return DataError("not a readable image (send JPEG, PNG, BMP, TIFF, WebP, GIF or AVIF bytes)")


def declared_size(data: bytes, max_megapixels: float = MAX_MEGAPIXELS) -> tuple[int, int]:
    """(width, height) from an encoded image's header, without decoding its pixels: a 400 KB PNG
    can declare 20,000 x 20,000 pixels and take gigabytes to decode. DataError if the bytes are
    not an image; ImageTooLarge if it declares more than `max_megapixels`."""
    try:
        with Image.open(io.BytesIO(data)) as im:  # Pillow reads only the header here
            width, height = im.size
    except Image.DecompressionBombError as exc:  # Pillow's own limit, which may be below a limit set higher
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(pixels.group(1)) / 1e6:.0f} megapixels" if pixels else "more pixels than Pillow allows"
        pillows = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        if max_megapixels <= pillows:
            raise ImageTooLarge(f"the image declares {declared}; the limit is {max_megapixels:g} megapixels: send a smaller image") from None
        raise ImageTooLarge(f"the image declares {declared}; the image reader (Pillow) decodes at most {pillows:.0f} megapixels: send a smaller image",
                            set_by_option=False) from None
    except Exception as exc:  # noqa: BLE001 (any plugin error: see above declared_size)
        raise unreadable_upload(exc, len(data)) from None
    if width * height > max_megapixels * 1e6:
        declared, most = over_limit(width * height / 1e6, max_megapixels)
        raise ImageTooLarge(f"the image declares {width} x {height} = {declared} megapixels; the limit is {most} megapixels: send a smaller image")
    return width, height


# Image files larger than this are refused from their header, before any pixel is decoded (a
# tiny file can claim 20,000 x 20,000 pixels). Higher than the web app's limit for uploads from
# strangers: a user's own phone photos reach 48-108 megapixels (450 MB decoded at 150), and
# Pillow itself refuses from 179 megapixels.
MAX_IMAGE_PIXELS = 150_000_000


def check_image_size(path, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """DataError if the image's header (a path or a binary file object) claims more than
    `max_pixels` pixels; nothing is decoded."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError:  # Pillow's own, higher limit: too big for ours as well
        raise DataError(f"{path}: over the limit of {max_pixels:,} pixels; resize it (a tiny file claiming a huge size is a decompression bomb)") from None
    except Exception:  # noqa: BLE001 (any plugin error: see above declared_size)
        return  # not Pillow-readable: the decoder that follows reports it
    if w * h > max_pixels:
        raise _too_big(path, w, h, max_pixels)


def _too_big(path, w: int, h: int, max_pixels: int) -> DataError:
    return DataError(f"{path}: {w} x {h} pixels is over the limit of {max_pixels:,}; resize it (a tiny file claiming a huge size is a decompression bomb)")


def _grey16_to_8(pixels: np.ndarray, known_16_bit: bool) -> np.ndarray:
    values = pixels.astype(np.float64)
    if known_16_bit or values.max(initial=0) > 255:  # a 32-bit "I" image of 8-bit values stays as it is
        values = values / 257.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def pil_pixels(im: Image.Image) -> np.ndarray:
    """An opened Pillow image -> uint8 RGB (or gray) array, upright, whatever its mode: the one
    decoding of photos for files and for the web app's uploads alike."""
    im.load()
    # a phone photo stores its pixels as the sensor saw them and says how to turn them
    # upright in its EXIF orientation tag; viewers obey it (in place: a copy of a 35 MP photo
    # that needs no turning is 100 MB more)
    ImageOps.exif_transpose(im, in_place=True)
    if im.mode.startswith("I"):  # 16-bit grey: scaled to 8 bits (Pillow's convert clips it to near-white)
        values = np.asarray(im)
        grey = _grey16_to_8(values, known_16_bit=im.mode.startswith("I;16"))
        key = im.info.get("transparency")
        if isinstance(key, int):  # a PNG's transparent grey level: white, as over a viewer's page
            grey[values == key] = 255
        return grey
    if im.mode == "F":  # 32-bit float grey (scientific TIFF): 0-1 or 0-255 values; convert() would clip 0-1 to black
        values = np.nan_to_num(np.asarray(im, dtype=np.float64))
        return np.clip(np.rint(values * (255 if values.max(initial=0) <= 1 else 1)), 0, 255).astype(np.uint8)
    grey = im.mode in ("L", "1", "LA", "La")
    if im.mode == "La":  # grey with premultiplied alpha (a TIFF's associated alpha): Pillow converts it only to LA
        im = im.convert("LA")
    if im.mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in im.info:
        # shown as a viewer shows it, over white: convert() dropped the alpha, so a transparent
        # area showed whatever colours it stored (a fully transparent PNG had "a face")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA"))
    mode = "L" if grey else "RGB"
    return np.asarray(im if im.mode == mode else im.convert(mode))  # (convert() copies even to the same mode)


def read_image(path: str | Path) -> np.ndarray:
    """File -> uint8 RGB (or gray) array; a clear DataError if it is missing or not an image."""
    path = Path(path)
    try:
        check_image_size(path)
        with Image.open(path) as im:
            return pil_pixels(im)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except PermissionError:
        raise DataError(f"{path}: not readable (permission denied); fix its permissions") from None
    except DataError:  # over the pixel limit: already said, in its own words
        raise
    except Exception as exc:  # noqa: BLE001 (any plugin error: see above declared_size)
        why = "an empty file (0 bytes)" if _empty(path) else f"{exc.__class__.__name__}: {exc}"  # (PIL says only 'cannot identify')
        raise DataError(f"{path}: not a readable image ({why}); remove or replace it, or {SKIP_BAD_HINT}") from None


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def decode(
    samples: Samples,
    spec: InputSpec,
    skip_bad: bool = False,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    workers: int | None = None,
    unaligned_digests: list[str] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """All samples -> (N x C x H x W uint8 array, indices kept). Done once per run; epochs reuse it.
    `prepare` (RGB or gray image -> image) runs on each image first, e.g. a face aligner.
    `unaligned_digests` (with `prepare`) gets each kept image's digest as it is before `prepare`
    (resized as the model's input): an aligned chip depends on landmarks that differ in their
    last digits from one CPU to another, and so its digest; the image's own pixels do not.
    Files are read and prepared on `workers` threads (default: one per CPU core this process may
    use, at most 8; Pillow's decoder, OpenCV and ONNX Runtime release the GIL), in sample order."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    n = len(samples)
    if prepare is None and samples.pixels is not None and samples.pixels.shape[1:] == (spec.size, spec.size) and spec.channels == 1:
        return np.ascontiguousarray(samples.pixels[:, None]), list(range(n))  # already model pixels
    out = np.empty((n, spec.channels, spec.size, spec.size), dtype=np.uint8)
    kept: list[int] = []

    def load(i: int) -> np.ndarray | DataError:
        try:
            image = samples.pixels[i] if samples.pixels is not None else read_image(samples.paths[i])
        except DataError as exc:
            return exc
        if unaligned_digests is not None and prepare is not None:
            unaligned[i] = pixel_digest(to_model_pixels(image, spec))
        return to_model_pixels(prepare(image) if prepare else image, spec)

    unaligned: dict[int, str] = {}

    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = min(cores, 8)
    with ThreadPoolExecutor(workers) as pool:
        for i, pixels in enumerate(pool.map(load, range(n))):
            if isinstance(pixels, DataError):
                if not skip_bad:
                    pool.shutdown(wait=False, cancel_futures=True)  # stop reading the rest
                    raise pixels
                samples.skipped.append((samples.ids[i], listed_reason(pixels)))
                continue
            out[len(kept)] = pixels
            kept.append(i)
            if i in unaligned:
                unaligned_digests.append(unaligned[i])
            if progress is not None:
                progress(1)
    return out[: len(kept)], kept
