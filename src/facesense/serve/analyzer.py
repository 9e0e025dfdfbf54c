"""The models behind the web app, loaded once per process: a photo's faces and sentiment, and a
`LiveSession` (tracker, cut detector, smoothing) per camera connection or video job."""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

import numpy as np

from ..data.images import MAX_MEGAPIXELS, DataError, ImageTooLarge, declared_size, unreadable_upload
from ..runtime.assets import DEFAULT_AGE, DEFAULT_EXPRESSION, DEFAULT_GENDER
from ..stream.detect import DEFAULT_DETECTOR, PerThreadDetector
from ..stream.frames import first_frame_only
from ..stream.pipeline import ATTRIBUTES, LiveSession, PipelineSettings, face_record


JPEG_MAX_SIDE = 65500  # the longest side a JPEG (OpenCV's encoder) takes


# ftyp brands of photos in the MP4 family's container (HEIC, AVIF): not videos
HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")
PHOTO_BRANDS = (b"avif", b"avis", *HEIC_BRANDS)


# an MP4/MOV track's handler type (the `hdlr` box: "hdlr", version+flags or QuickTime's
# component type, then the handler: vide, soun...)
TRACK_HANDLER = re.compile(rb"hdlr.{8}(vide|soun)", re.DOTALL)


def audio_only(data) -> bool:
    """Whether a file's bytes (or a mmap of them) are sound with no video: an MP4/MOV with sound
    tracks only (an M4A, or a video's sound kept alone), or a WAV, FLAC, Ogg Vorbis/Opus or MP3
    (an ID3 tag or an MPEG audio frame first) file."""
    head = bytes(data[:64])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE" or head[:4] == b"fLaC" or head[:3] == b"ID3":
        return True
    if head[:4] == b"OggS" and (b"OpusHead" in head or b"\x01vorbis" in head):
        return True
    if len(head) > 2 and head[0] == 0xFF:  # (JPEG's FF D8 and UTF-16's FF FE are neither)
        mp3 = head[1] & 0xE0 == 0xE0 and head[1] & 0x06 in (0x02, 0x04) and head[2] >> 4 not in (0, 15) and (head[2] >> 2) & 3 != 3  # MPEG layer III or II: its sync, a bitrate and a rate
        adts = head[1] & 0xF6 == 0xF0  # AAC in ADTS frames
        return mp3 or adts
    if head[4:8] != b"ftyp":
        return False
    return {m.group(1) for m in TRACK_HANDLER.finditer(data)} == {b"soun"}


def _looks_like_video(data: bytes) -> bool:
    """MP4/MOV (an ftyp box not of a photo brand), Matroska/WebM (EBML), AVI (RIFF....AVI): by
    their first bytes."""
    mp4 = data[4:8] == b"ftyp" and data[8:12] not in PHOTO_BRANDS
    return mp4 or data[:4] == b"\x1a\x45\xdf\xa3" or (data[:4] == b"RIFF" and data[8:11] == b"AVI")


def decode_image(data: bytes, max_megapixels: float = MAX_MEGAPIXELS) -> np.ndarray:
    """Encoded bytes -> BGR array; the declared size is checked before any pixel is decoded."""
    import io

    import cv2
    from PIL import Image

    from ..data.images import pil_pixels

    if audio_only(data):
        raise DataError("this is a sound file (no picture): send a photo's bytes")
    if _looks_like_video(data):
        raise DataError("this is a video, not a photo: send it to POST /api/videos (a background job), or open it under the page's \"Video file\"")
    try:
        declared_size(data, max_megapixels)
    except DataError as exc:
        if data[4:8] == b"ftyp" and data[8:12] in HEIC_BRANDS and not isinstance(exc, ImageTooLarge):  # an iPhone's photo: say what it is and the way out
            raise DataError("a HEIC photo (an iPhone's default format), which cannot be read here: send it as JPEG (export it as JPEG, or set the camera's "
                            "format to Most Compatible)") from None
        raise
    try:  # decoded as predict and live decode files (EXIF orientation, 16-bit and float TIFF, CMYK)
        with Image.open(io.BytesIO(data)) as im:
            image = pil_pixels(im)
    except Exception as exc:  # noqa: BLE001 (any decoder plugin's error)
        raise unreadable_upload(exc, len(data)) from None
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def public_model_name(name: str) -> str:
    """A model's name as any client of the server may read it: a shipped name as it is, one's own
    model by its file's or run folder's name, never the server's path. `.` or `..` is the folder
    it stands for (its name was ''), and a run's best.pt or last.pt keeps its run's name
    (RUN/best.pt: every run has a best.pt)."""
    path = Path(name)
    if not path.exists():  # a shipped name (or a dlib backend's)
        return path.name or name
    path = Path(os.path.abspath(path))  # `.` and `..` as the folders they are; a link keeps its own name
    if path.name in ("best.pt", "last.pt") and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or name


def public_model_names(names: dict[str, str | None]) -> dict[str, str | None]:
    return {key: None if name is None else public_model_name(name) for key, name in names.items()}


class Analyzer:
    def __init__(
        self,
        expression: str | None = DEFAULT_EXPRESSION,
        gender: str | None = DEFAULT_GENDER,
        detector: str = DEFAULT_DETECTOR,
        detector_model: str | None = None,
        sentiment: str | None = "sentiment",
        age: str | None = DEFAULT_AGE,
        settings: PipelineSettings | None = None,
        device: str = "auto",
    ):
        from ..runtime.classifier import FaceClassifier
        from ..stream.detect import build_detector
        from ..stream.live import CLI_OPTION, _named, check_log_classes, check_task, load_face_models

        self.models = load_face_models(expression, gender, age, device)
        check_log_classes(self.models)  # every video job writes per-frame logs
        # scores the whole photo; a refusal names --sentiment ("error: age estimates ages" named no option)
        self.sentiment = _named("sentiment", sentiment, CLI_OPTION, lambda: FaceClassifier.load(sentiment, device=device)) if sentiment else None
        if self.sentiment is not None:  # a gender model here answered "sentiment: woman"
            check_task(self.sentiment, "sentiment", "sentiment", given=str(sentiment))
        # named once, as loaded: a run's best.pt moved later, or another working folder, named them otherwise
        self._public_names = public_model_names(self.models.names() | {"sentiment": None if self.sentiment is None else str(self.sentiment.name)})
        self.detector = PerThreadDetector(lambda: build_detector(detector, detector_model, device=device))
        self.detector_name = detector
        self.settings = settings or PipelineSettings()

    def health(self) -> dict:
        return {key: getattr(self.models, key) is not None for key in ATTRIBUTES} | {"sentiment": self.sentiment is not None}

    def model_names(self) -> dict[str, str | None]:
        """Which model gives each answer (None: off), as any client may read it: a shipped name as
        it is, one's own model by its file's or run folder's name (not the server's paths)."""
        return dict(self._public_names)

    def classes(self) -> dict:
        faces = {key: list(model.classes) for key, model in self.models.enabled() if hasattr(model, "classes") and key != "age"}
        return faces | ({"sentiment": list(self.sentiment.classes)} if self.sentiment is not None else {})

    def new_session(self) -> LiveSession:
        """A stream's own tracking and smoothing state over the shared models."""
        return LiveSession(self.detector, self.models, self.settings)

    def analyze(self, data: bytes, max_megapixels: float = MAX_MEGAPIXELS) -> dict:
        """A photo's bytes -> every face's labels, the photo's sentiment and the annotated image."""
        import cv2

        from ..stream.draw import annotate
        from ..stream.pipeline import analyze_image

        image = decode_image(data, max_megapixels)
        result = analyze_image(image, self.detector, self.models, self.settings.margin)
        t0 = time.perf_counter()
        mood = self.sentiment.result(self.sentiment.predict([image])[0]) if self.sentiment else None
        sentiment_s = time.perf_counter() - t0
        # rounded as each face's figures are
        sentiment = {"label": mood.label, "p": round(mood.p, 4), "probs": {c: round(v, 4) for c, v in mood.probs.items()}} if mood else None
        # a small photo enlarged toward a 360 px short side, as live's --photos-out draws it: at
        # 64 px its labels were cut to '#1 happ' (the boxes in the answer stay in its own pixels)
        annotated = annotate(result)
        if max(annotated.shape[:2]) > JPEG_MAX_SIDE:  # JPEG cannot hold it: a smaller copy (a 70,000 px banner gave none)
            factor = JPEG_MAX_SIDE / max(annotated.shape[:2])
            annotated = cv2.resize(annotated, (max(1, round(annotated.shape[1] * factor)), max(1, round(annotated.shape[0] * factor))), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", annotated, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return {
            "width": image.shape[1],
            "height": image.shape[0],
            "faces": [face_record(f) for f in result.faces],
            "sentiment": sentiment,
            "timings_ms": {k: round(v * 1000, 2) for k, v in (result.timings | ({"sentiment": sentiment_s} if mood else {})).items()},
            "annotated_jpeg_base64": base64.b64encode(jpeg.tobytes()).decode() if ok else None,
            "warning": first_frame_only(data, "the page's \"Video file\", POST /api/videos,", "it"),
        }
