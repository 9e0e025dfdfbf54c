"""Face detection behind one interface.

Backends:
* centerface (default): the CenterFace CNN (MIT; the ONNX file ships in the package, see
  assets/models/centerface.md), run on ONNX Runtime: boxes and five landmarks (eyes, nose,
  mouth corners) per face, so faces can be aligned; finds turned, small and partly hidden
  faces that the cascades miss (a face in every frame of short_hamilton_clip.mp4, all six of
  six_faces_grid.mp4 in every frame) and, at 320 px, ran faster end to end than haar_alt2 on
  every shared clip (bench/detectors.py).
* haar_alt2: OpenCV's frontal-face "alt2" Haar cascade, shipped inside
  opencv-python(-headless) 4.x (a declared dependency, pinned <5 because 5.x dropped it): 4 of 5
  faces in multi_face.jpg at 320 px (haar: 3). No landmarks.
* haar: the frontalface_default cascade from the same package (faster on frames without faces).
* haar_profile: haar_alt2 plus the package's profile-face cascade, run on the frame and on its
  mirror (it knows one side only), for faces turned away from the camera; slower.
* yunet: OpenCV's YuNet CNN from a model file the user supplies (face_detection_yunet_*.onnx),
  more accurate on turned and small faces; nothing is downloaded.
Detection runs on a downscaled copy of the frame (`detect_width`) and boxes are scaled back.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import FacesenseError
from ..runtime.faces import DEFAULT_DETECT_WIDTH, Box, CenterFaceDetector

DETECTORS = ("centerface", "haar", "haar_alt2", "haar_profile", "yunet")
DEFAULT_DETECTOR = "centerface"


def fixed_width(detect_width: int | None) -> int:
    """The width a frame is searched at by the detectors without centerface's HD rule
    (runtime.faces.search_width): as given, or DEFAULT_DETECT_WIDTH for None. (A cascade's cost
    grows with the pixels: at 448 px haar_alt2 ran six_faces_grid.mp4 at 15 FPS with 22 tracks
    for its 6 faces, against 25 and 14 at 320; YuNet's is not measured.)"""
    return DEFAULT_DETECT_WIDTH if detect_width is None else detect_width


def _downscale(frame: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = frame.shape[:2]
    if width <= 0 or w <= width:
        return frame, 1.0
    factor = width / w
    return cv2.resize(frame, (width, max(1, round(h * factor))), interpolation=cv2.INTER_AREA), factor


def _load_cascade(name: str):
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        raise FacesenseError("this OpenCV build has no CascadeClassifier (OpenCV 5 removed it): pip install 'opencv-python-headless<5'")
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FacesenseError(f"Haar cascade {path} missing from the OpenCV package; reinstall 'opencv-python-headless<5'")
    return cascade


def _overlaps(box: Box, others: list[Box], threshold: float = 0.5) -> bool:
    """Whether `box` covers the same face as one of `others`: their intersection is more than
    `threshold` of the smaller box (the profile cascade often marks half of a frontal face)."""
    for o in others:
        iw = min(box.x + box.w, o.x + o.w) - max(box.x, o.x)
        ih = min(box.y + box.h, o.y + o.h) - max(box.y, o.y)
        if iw > 0 and ih > 0 and iw * ih > threshold * min(box.w * box.h, o.w * o.h):
            return True
    return False


class HaarDetector:
    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", detect_width: int | None = None, min_size: int = 20, neighbors: int = 5, scale_factor: float = 1.1, profile: bool = False):
        self.cascade = _load_cascade(cascade)
        # turned faces: OpenCV's profile cascade (trained on one side; the mirror finds the other)
        self.profile = _load_cascade("haarcascade_profileface.xml") if profile else None
        self.detect_width, self.min_size, self.neighbors, self.scale_factor = detect_width, min_size, neighbors, scale_factor

    def detect(self, frame: np.ndarray, width: int | None = None) -> list[Box]:
        import cv2

        small, factor = _downscale(frame, fixed_width(self.detect_width) if width is None else width)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        faces = self._cascade(gray, factor, (self.min_size, self.min_size), (0, 0), 0, 0)
        if self.profile is not None:
            for box in sorted(self._profiles(gray, factor, (self.min_size, self.min_size), (0, 0), 0, 0, self.neighbors), key=lambda b: -b.score):
                if not _overlaps(box, faces):  # a face both cascades see is kept once, as frontal
                    faces.append(box)
        return faces

    def _profiles(self, gray: np.ndarray, factor: float, min_size, max_size, dx: int, dy: int, neighbors: int) -> list[Box]:
        """Profile-cascade faces turned either way: on the window as is and on its mirror."""
        import cv2

        found = self._cascade(gray, factor, min_size, max_size, dx, dy, neighbors, self.profile)
        width = gray.shape[1] / factor
        for b in self._cascade(cv2.flip(gray, 1), factor, min_size, max_size, 0, dy, neighbors, self.profile):
            found.append(Box(int(round(dx + width - b.x - b.w)), b.y, b.w, b.h, b.score))
        return found

    def detect_near(self, frame: np.ndarray, boxes: list[Box], expand: float = 0.5, face_px: int = 40) -> list[Box | None]:
        """Look again only around known faces: each window is scaled so the face is ~face_px wide
        and only nearby face sizes are searched, which costs a fraction of a full-frame pass."""
        import cv2

        h, w = frame.shape[:2]
        found: list[Box | None] = []
        for b in boxes:
            x0, y0 = max(0, int(b.x - expand * b.w)), max(0, int(b.y - expand * b.h))
            x1, y1 = min(w, int(b.x + (1 + expand) * b.w)), min(h, int(b.y + (1 + expand) * b.h))
            if x1 - x0 < 8 or y1 - y0 < 8:
                found.append(None)
                continue
            factor = min(1.0, face_px / max(1, b.w))
            window = cv2.resize(frame[y0:y1, x0:x1], None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor < 1 else frame[y0:y1, x0:x1]
            gray = cv2.equalizeHist(cv2.cvtColor(window, cv2.COLOR_BGR2GRAY))
            side = b.w * factor
            # a face is expected here, so fewer neighbouring hits are asked for than in a full pass
            sizes = (int(side * 0.6), int(side * 0.6)), (int(side * 1.6) + 1, int(side * 1.6) + 1)
            hits = self._cascade(gray, factor, *sizes, x0, y0, max(2, self.neighbors - 2))
            if not hits and self.profile is not None:  # the face may have turned
                hits = self._profiles(gray, factor, *sizes, x0, y0, max(2, self.neighbors - 2))
            # the best-scoring face in the window is this track's face (None: not found)
            found.append(max(hits, key=lambda h: h.score) if hits else None)
        return found

    def _cascade(self, gray: np.ndarray, factor: float, min_size, max_size, dx: int, dy: int, neighbors: int | None = None, cascade=None) -> list[Box]:
        found, _, weights = (cascade or self.cascade).detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=neighbors or self.neighbors, minSize=min_size, maxSize=max_size, outputRejectLevels=True
        )
        return [
            Box(int(round(b[0] / factor)) + dx, int(round(b[1] / factor)) + dy, int(round(b[2] / factor)), int(round(b[3] / factor)), float(s))
            for b, s in zip(found, np.ravel(weights))
        ]


def _opencv_reason(exc: Exception) -> str:
    """OpenCV's own words from a cv2.error, without its source path and function."""
    import re

    text = " ".join(str(exc).split())
    found = re.search(r"error: \(-?\d+:[^)]*\)\s*(.*?)(?: in function .*)?$", text)
    return (found.group(1) if found else text)[:160]


class YuNetDetector:
    def __init__(self, model_path: str | Path, detect_width: int | None = None, score_threshold: float = 0.7):
        import cv2

        path = Path(model_path) if model_path else None
        if path is None or not path.is_file():
            raise FacesenseError(
                "yunet needs its model file (--detector-model, detector_model=): PATH/face_detection_yunet_2023mar.onnx" + (f" ({model_path} is no file)" if model_path else "") + "; "
                "it is not downloaded at run time: get it from OpenCV Zoo (github.com/opencv/opencv_zoo, models/face_detection_yunet), or use the shipped centerface"
            )
        if not hasattr(cv2, "FaceDetectorYN"):
            raise FacesenseError("this OpenCV build has no FaceDetectorYN (needs OpenCV >= 4.5.4)")
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold)
            self.net.detect(np.zeros((320, 320, 3), np.uint8))  # another network's file fails here, not on the first frame
        except cv2.error as exc:
            raise FacesenseError(f"{path}: not a usable YuNet model ({_opencv_reason(exc)}); give face_detection_yunet_*.onnx") from None
        self.detect_width = detect_width
        self._size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray, width: int | None = None) -> list[Box]:
        small, factor = _downscale(frame, fixed_width(self.detect_width) if width is None else width)
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self.net.setInputSize(size)
            self._size = size
        _, faces = self.net.detect(small)
        if faces is None:
            return []
        return [Box(*(int(round(v / factor)) for v in f[:4]), float(f[-1])) for f in faces]


class PerThreadDetector:
    """One detector per thread: OpenCV's cascade keeps the image it searches inside the object,
    so two threads must not share one (the web app's workers, the Python API called from a
    thread pool). Built on first use in each thread; the first is built at once, so a bad
    detector or model file is said where it is made."""

    def __init__(self, build):
        self._build, self._local = build, threading.local()
        if hasattr(self.current(), "detect_near"):  # the pipeline asks for it only where it exists
            self.detect_near = lambda image, boxes: self.current().detect_near(image, boxes)

    def current(self):
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = self._local.detector = self._build()
        return detector

    def detect(self, image: np.ndarray, width: int | None = None):
        return self.current().detect(image, width)

    @property
    def detect_width(self) -> int | None:
        return self.current().detect_width


# a photo is searched again at this many times the detector's width (up to its own width)
PHOTO_FINE_FACTOR = 4
PART_OF_FACE_AREA = 0.25  # a fine box this much smaller than a face it lies in is part of it


# a panorama's second search gives its short side as many pixels as a 4:3 photo's gets (3/4 of
# the 4x width): searched 1280 px wide, a 12000x700 panorama had its 100 px faces at 10 px. It
# is searched in overlapping tiles of a normal second search's size (memory stays that of one;
# searched whole it took gigabytes), within a budget of scaled pixels (time)
PHOTO_FINE_SHORT_SIDE = 0.75 * PHOTO_FINE_FACTOR
PHOTO_FINE_MAX_PIXELS = 10_000_000
MIN_FACE_SIDE = 20  # px: a photo thinner than this holds no face to find
# a photo wider than a 12 MP phone photo's 4000 px keeps that photo's scale, so that faces of the
# same size in pixels stay found: at 4x the first search's width, a 48 MP photo (8000 px) had its
# 110 px faces at 18 px and lost 6 of 10 of them (a 4000 px photo loses none)
PHOTO_FINE_REFERENCE_WIDTH = 4000


def photo_fine_scale(width: int, height: int, base: int) -> float:
    """The scale of a photo's second search: 4x the first search's width over the photo's (over
    4000 px for a wider photo, see PHOTO_FINE_REFERENCE_WIDTH), or more for a panorama (see
    PHOTO_FINE_SHORT_SIDE); never above 1 (the photo's own pixels), within a pixel budget."""
    scale = min(1.0, PHOTO_FINE_FACTOR * base / max(1, width))
    short = min(width, height)
    if short >= MIN_FACE_SIDE:
        scale = max(scale, min(1.0, PHOTO_FINE_FACTOR * base / min(width, PHOTO_FINE_REFERENCE_WIDTH)), min(1.0, PHOTO_FINE_SHORT_SIDE * base / short))
    return min(scale, (PHOTO_FINE_MAX_PIXELS / max(1, width * height)) ** 0.5)  # a tall strip too


def _search(detector, image: np.ndarray, scale: float, base: int) -> list[Box]:
    """A search of a photo at `scale`: whole where that is at most twice a normal second search's
    width, else in tiles along the long side, each a normal one's width once scaled, overlapping
    by the short side (a face is never taller than the photo) or half a tile, whichever is less.
    Memory stays that of one search at most twice a normal one's width whatever the photo's
    shape (a 1 x 100000 strip searched whole took 700 MB at the first search's scale)."""
    from dataclasses import replace

    height, width = image.shape[:2]
    if _in_one_search(image, scale, base):
        return detector.detect(image, width=max(1, round(width * scale)))
    tile = PHOTO_FINE_FACTOR * base  # scaled pixels along the long side
    long_side, short_side = max(width, height), min(width, height)
    span = int(tile / scale)  # a tile's length in the photo's pixels
    step = max(1, span - int(min(short_side, span / 2)))
    starts = list(range(0, max(1, long_side - span), step)) + [max(0, long_side - span)]
    found: list[tuple[bool, Box]] = []
    for start in dict.fromkeys(starts):
        part = image[:, start:start + span] if width >= height else image[start:start + span]
        dx, dy = (start, 0) if width >= height else (0, start)
        end = start + (part.shape[1] if width >= height else part.shape[0])
        for box in detector.detect(part, width=max(1, round(part.shape[1] * scale))):
            landmarks = box.landmarks + np.array([dx, dy], np.float32) if box.landmarks is not None else None
            moved = replace(box, x=box.x + dx, y=box.y + dy, landmarks=landmarks)
            low, high = (moved.x, moved.x + moved.w) if width >= height else (moved.y, moved.y + moved.h)
            # a face across a tile's inner edge is cut there; the overlapping tile holds it whole
            margin = TILE_EDGE / scale  # (in the photo's pixels: the tile was searched scaled)
            cut = (start > 0 and low <= start + margin) or (end < long_side and high >= end - margin)
            found.append((cut, moved))
    whole = _once([box for cut, box in found if not cut])
    return whole + [box for box in _once([box for cut, box in found if cut]) if not _overlaps(box, whole)]  # cut in every tile that holds it: kept


TILE_EDGE = 3  # searched px: a box this close to a tile's inner edge is cut by it (seen 1-2 px short of it)


def _in_one_search(image: np.ndarray, scale: float, base: int) -> bool:
    """Whether a photo at `scale` is searched whole: its long side at most twice a normal second search's width."""
    return max(image.shape[:2]) * scale <= 2 * PHOTO_FINE_FACTOR * base


def _once(boxes: list[Box]) -> list[Box]:
    """Each face once: the highest-scoring of boxes that cover it."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if not _overlaps(box, kept):
            kept.append(box)
    return kept


def detect_photo(detector, image: np.ndarray) -> list[Box]:
    """A photo's faces, small ones too (see _photo_faces), each with the turn that stands it
    upright where it lies on its side or upside down (see upright_faces)."""
    return upright_faces(detector, image, _photo_faces(detector, image))


def _photo_faces(detector, image: np.ndarray) -> list[Box]:
    """A photo's faces, small ones too. A video frame is searched at the detector's detect_width
    (320 px by default: the real-time budget), where a face under about 10 px is lost: in a phone
    photo 4000 px wide, faces 90 px wide were all missed. A photo has time for a second search at
    4x that width (up to its own): a face both searches find is kept once, at the higher score."""
    own = getattr(detector, "detect_width", 0)
    base = fixed_width(own)  # (not centerface's HD rule for a video's frames: a photo has its fine search instead)
    if base <= 0:  # it searches every frame whole: a photo within the pixel budget of a search
        # (a 48 MP photo searched whole took 9.2 GB and 44 s; scaled to 10 MP, its faces of 20 px
        # and more are still found)
        height, width = image.shape[:2]
        scale = min(1.0, (PHOTO_FINE_MAX_PIXELS / max(1, width * height)) ** 0.5)
        return detector.detect(image) if scale == 1.0 else detector.detect(image, width=max(1, round(width * scale)))
    height, width = image.shape[:2]
    if min(height, width) < MIN_FACE_SIDE:  # no face fits: a 1 x 40,000,000 strip would be 31,000 searches for nothing
        return []
    coarse = min(1.0, base / width)
    # at the detector's own width, as a video frame is searched, unless that is a strip too long for one search
    boxes = (detector.detect(image, None if own else base) if _in_one_search(image, coarse, base) else _search(detector, image, coarse, base))
    scale = photo_fine_scale(width, height, base)
    if width * scale < 1.5 * base:  # searched whole already, or barely larger than searched
        return boxes
    # a fine box mostly inside a face the first search found, at under a quarter of its area, is
    # a part of that face (an eye, a mouth): it would push the face out. Unless the face is a
    # false one over a group: the fine search does not find it whole, and two or more small boxes
    # in it outscore it; there the higher scores win.
    found = _search(detector, image, scale, base)

    def inside(box: Box, face: Box) -> bool:
        return _overlaps(box, [face]) and box.w * box.h < PART_OF_FACE_AREA * face.w * face.h

    def false_face(face: Box) -> bool:
        stronger = [box for box in found if inside(box, face) and box.score > face.score]
        return len(stronger) >= 2 and not any(_same_size(face, other) for other in found)

    faces = [face for face in boxes if not false_face(face)]
    finer = [box for box in found if not any(inside(box, face) for face in faces)]
    return _once(boxes + finer)



# A photo turned on its side without an EXIF orientation (one a phone saved sideways, a scan) has
# its faces on their sides: CenterFace still finds them (5 of 5 in multi_face.jpg turned either
# way, or upside down), but the expression model read all five smiling faces as "sad" from their
# sideways crops. The eyes' line tells: upright faces in the shared photos lie within 13 degrees
# of level, turned ones 31-166 degrees off, and the same faces found in the photo turned back lie
# within 13 again.
TURNED_ROLL = 45.0  # degrees off level: a face this tilted may lie on its side
TURN_GAIN = 20.0  # degrees: a turned reading replaces a face's own only when this much nearer level


def roll_of(box: Box) -> float | None:
    """The angle of the line from the first eye landmark to the second, in degrees from level
    (clockwise in image coordinates); None without landmarks."""
    if box.landmarks is None:
        return None
    (x0, y0), (x1, y1) = np.asarray(box.landmarks, np.float64)[:2]
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def from_turned(points: np.ndarray, turn: int, width: int, height: int) -> np.ndarray:
    """Points (N x 2) in the pixels of np.rot90(image, turn) -> the same points in the image's
    (width x height) own pixels."""
    x, y = points[:, 0], points[:, 1]
    turn %= 4
    if turn == 1:
        return np.stack([width - y, x], 1)
    if turn == 2:
        return np.stack([width - x, height - y], 1)
    if turn == 3:
        return np.stack([y, height - x], 1)
    return np.stack([x, y], 1)


def box_from_turned(box: Box, turn: int, width: int, height: int) -> Box:
    """A face found in np.rot90(image, turn), as a box of the image's own (width x height) with
    that turn, so that its crop turned back is the face as it was found (upright)."""
    corners = from_turned(np.array([[box.x, box.y], [box.x + box.w, box.y + box.h]], np.float64), turn, width, height)
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    # landmarks are points at pixel centres (OpenCV's convention, which alignment warps by): the
    # last pixel's centre is width - 1 from the first's, where the box's far edge is width
    landmarks = None if box.landmarks is None else from_turned(np.asarray(box.landmarks, np.float64), turn, width - 1, height - 1).astype(np.float32)
    return Box(int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)), box.score, landmarks, turn % 4)


# in a photo that lies turned, a box found only as it stands, by no search of it turned, is kept
# only at this score or above (a face that stands upright in a turned photo); an upside-down
# multi_face.jpg saved as JPEG at quality 75 had a false face at 0.51 between two real ones,
# whose own boxes as it stood scored 0.63-0.92 and were all found turned too
LONE_UNTURNED_SCORE = 0.8


def upright_faces(detector, image: np.ndarray, boxes: list[Box]) -> list[Box]:
    """A photo's faces, each read as it stands upright. Where a face's eyes lie more than
    TURNED_ROLL off level, the photo is searched again turned by a quarter, a half and three
    quarters, and each face takes the box of whichever turn has it nearest level (by at least
    TURN_GAIN degrees; else its own). Where most faces take one turn, the photo lies turned so:
    there any face nearer level takes it, and faces found only in that turn's search join. A
    photo without a tilted face costs nothing more."""
    if not any(abs(roll) > TURNED_ROLL for roll in map(roll_of, boxes) if roll is not None):
        return boxes
    height, width = image.shape[:2]
    turned = [
        (abs(roll_of(found)), box_from_turned(found, turn, width, height))
        for turn in (1, 2, 3)
        for found in _photo_faces(detector, np.ascontiguousarray(np.rot90(image, turn)))
        if found.landmarks is not None
    ]

    def level(box: Box) -> float:
        roll = roll_of(box)
        return abs(roll) if roll is not None else 0.0

    def nearer(box: Box, gain: float) -> list[tuple[float, Box]]:
        return [(off, other) for off, other in turned if _same_size(box, other) and off + gain < level(box)]

    # the turn most faces take is the photo's own: there a face takes the turned box nearer level
    # at all (one turned face lay at 31 degrees, the same face turned back at 6)
    taken = [min(found, key=lambda pair: pair[0])[1].turn for found in (nearer(box, TURN_GAIN) for box in boxes) if found]
    photo_turn = max(set(taken), key=taken.count) if 2 * len(taken) > len(boxes) else None
    faces = []
    for box in boxes:
        found = [(off, other) for off, other in nearer(box, 0.0) if other.turn == photo_turn] or nearer(box, TURN_GAIN)
        if not found and photo_turn is not None and box.score < LONE_UNTURNED_SCORE and not any(_same_size(box, other) for _, other in turned):
            continue  # in a turned photo, a weak box no turned search finds is no face (upside down, one lay between two faces)
        faces.append(min(found, key=lambda pair: pair[0])[1] if found else box)
    # a photo turned as a whole is searched best as it stands upright: the faces found only
    # there join (upside down, multi_face.jpg had 4 of its 5 faces found, turned back 5)
    return faces + _once([other for _, other in turned if other.turn == photo_turn and not _overlaps(other, faces)])


def _same_size(a: Box, b: Box) -> bool:
    """Whether two boxes cover much the same region: they overlap, and neither is under half the other's area."""
    return _overlaps(a, [b]) and 0.5 <= (a.w * a.h) / max(b.w * b.h, 1e-9) <= 2.0


# below this a frame is too small to find a face in (--detect-width 10 found none, and said nothing)
MIN_DETECT_WIDTH = 64


def build_detector(name: str = DEFAULT_DETECTOR, model_path: str | Path | None = None, detect_width: int | None = None, device: str = "auto"):
    """`detect_width`: the width a video frame is searched at (None: 320 px, and for centerface
    runtime.faces.search_width's third of a frame over 960 px; 0: the whole frame)."""
    if detect_width is not None and 0 < detect_width < MIN_DETECT_WIDTH:
        raise FacesenseError(f"detect width {detect_width} (--detect-width, detect_width=): too small to find faces in; give 0 (the whole frame) or at least {MIN_DETECT_WIDTH} px "
                             f"(default: {DEFAULT_DETECT_WIDTH}, or for centerface a third of a frame over {3 * DEFAULT_DETECT_WIDTH} px wide)")
    if model_path and name.startswith("haar"):  # it would be ignored without a word
        raise FacesenseError(f"detector model {model_path} (--detector-model, detector_model=): is for the centerface or yunet detector; {name} uses OpenCV's own cascade files")
    if name == "centerface":
        return CenterFaceDetector(model_path, detect_width=detect_width, device=device)
    if name == "haar":
        return HaarDetector(detect_width=detect_width)
    if name == "haar_alt2":
        return HaarDetector("haarcascade_frontalface_alt2.xml", detect_width=detect_width, neighbors=3)
    if name == "haar_profile":
        return HaarDetector("haarcascade_frontalface_alt2.xml", detect_width=detect_width, neighbors=3, profile=True)
    if name == "yunet":
        return YuNetDetector(model_path, detect_width=detect_width)
    raise FacesenseError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
