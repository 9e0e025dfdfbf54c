"""Face detection behind one interface.

Backends:
* haar: OpenCV's frontal-face Haar cascade, shipped inside opencv-python(-headless) 4.x (a
  declared dependency, pinned <5 because 5.x dropped it): works offline out of the box.
* haar_alt2: the alt2 cascade from the same package (fewer false positives, a little slower).
* yunet: OpenCV's YuNet CNN from a model file the user supplies (face_detection_yunet_*.onnx),
  more accurate on turned and small faces; nothing is downloaded.
Detection runs on a downscaled copy of the frame (`detect_width`) and boxes are scaled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacesenseError

DETECTORS = ("haar", "haar_alt2", "yunet")


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def _downscale(frame: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    import cv2

    h, w = frame.shape[:2]
    if width <= 0 or w <= width:
        return frame, 1.0
    factor = width / w
    return cv2.resize(frame, (width, max(1, round(h * factor))), interpolation=cv2.INTER_AREA), factor


class HaarDetector:
    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", detect_width: int = 320, min_size: int = 20, neighbors: int = 5, scale_factor: float = 1.1):
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise FacesenseError("this OpenCV build has no CascadeClassifier (OpenCV 5 removed it): pip install 'opencv-python-headless<5'")
        path = Path(cv2.data.haarcascades) / cascade
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise FacesenseError(f"Haar cascade {path} missing from the OpenCV package; reinstall 'opencv-python-headless<5'")
        self.detect_width, self.min_size, self.neighbors, self.scale_factor = detect_width, min_size, neighbors, scale_factor

    def detect(self, frame: np.ndarray) -> list[Box]:
        import cv2

        small, factor = _downscale(frame, self.detect_width)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        found, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.neighbors, minSize=(self.min_size, self.min_size), outputRejectLevels=True
        )
        return [Box(*(int(round(v / factor)) for v in b), float(s)) for b, s in zip(found, np.ravel(weights))]


class YuNetDetector:
    def __init__(self, model_path: str | Path, detect_width: int = 320, score_threshold: float = 0.7):
        import cv2

        path = Path(model_path) if model_path else None
        if path is None or not path.is_file():
            raise FacesenseError(
                f"yunet needs its model file: --detector-model PATH/face_detection_yunet_2023mar.onnx (got {model_path}); "
                "it is not downloaded at run time"
            )
        if not hasattr(cv2, "FaceDetectorYN"):
            raise FacesenseError("this OpenCV build has no FaceDetectorYN (needs OpenCV >= 4.5.4)")
        try:
            self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold)
        except cv2.error as exc:
            raise FacesenseError(f"{path}: not a usable YuNet model ({exc})") from None
        self.detect_width = detect_width
        self._size: tuple[int, int] | None = None

    def detect(self, frame: np.ndarray) -> list[Box]:
        small, factor = _downscale(frame, self.detect_width)
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self.net.setInputSize(size)
            self._size = size
        _, faces = self.net.detect(small)
        if faces is None:
            return []
        return [Box(*(int(round(v / factor)) for v in f[:4]), float(f[-1])) for f in faces]


def build_detector(name: str = "haar", model_path: str | Path | None = None, detect_width: int = 320):
    if name == "haar":
        return HaarDetector(detect_width=detect_width)
    if name == "haar_alt2":
        return HaarDetector("haarcascade_frontalface_alt2.xml", detect_width=detect_width, neighbors=3)
    if name == "yunet":
        return YuNetDetector(model_path, detect_width=detect_width)
    raise FacesenseError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
