"""One aligner for every model: a frame, a face box and its five landmarks -> the crop a model
expects. A model trained on aligned faces names its reference points in its input spec
(`align`: five (x, y) as fractions of the crop side) and gets a similarity transform of the
landmarks onto them; a model trained on plain crops gets the box, widened by a margin."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .faces import Box, CenterFaceDetector

# Where CenterFace's five landmarks sit inside its own box (fractions of the box width and
# height; mean over 1,997 gender_faces photos, made left-right symmetric: python
# bench/alignment_check.py --derive 2000). A detector without landmarks (the Haar cascades) gets
# these, placed in its box.
BOX_LANDMARKS = np.array([[0.275, 0.391], [0.725, 0.391], [0.5, 0.596], [0.312, 0.746], [0.688, 0.746]], np.float32)


def landmarks_of(box: Box) -> np.ndarray:
    """The box's landmarks, or the fallback estimate from the box alone."""
    if box.landmarks is not None:
        return np.asarray(box.landmarks, np.float32)
    return (BOX_LANDMARKS * np.array([box.w, box.h], np.float32) + np.array([box.x, box.y], np.float32)).astype(np.float32)


def similarity_to(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """2 x 3 least-squares similarity (rotation, uniform scale, shift) taking landmarks onto
    reference (Umeyama's closed form: exact, no outlier rejection needed for five points)."""
    src, dst = np.asarray(landmarks, np.float64), np.asarray(reference, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    with np.errstate(invalid="ignore", divide="ignore"):  # five landmarks on one point: nan, handled where it is used
        scale = (sig * sign).sum() / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(image: np.ndarray, landmarks: np.ndarray, reference, size: int) -> np.ndarray:
    """The size x size crop in which the landmarks land on `reference` (fractions of the side)."""
    import cv2

    m = similarity_to(landmarks, np.asarray(reference, np.float64) * size)
    if max(image.shape[:2]) >= WARP_SIDE_LIMIT:
        image, m = _around_chip(image, m, size)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


WARP_SIDE_LIMIT = 32767  # OpenCV's warpAffine takes images under SHRT_MAX pixels a side


def _around_chip(image: np.ndarray, m: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of a long image (a 33,000 px panorama) that the chip `m` samples, and `m` for
    it: the same chip, from an image warpAffine takes."""
    import cv2

    if not np.isfinite(m).all():  # five landmarks on one point (a degenerate detection): no region to take
        return image[:1, :1], m
    inverse = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    h, w = image.shape[:2]
    # two pixels more each way for the bilinear neighbours; the edge pixels still replicate where the chip leaves the image
    x0, y0 = (np.clip(np.floor(corners.min(0)) - 2, 0, [w - 1, h - 1])).astype(int)
    x1, y1 = (np.clip(np.ceil(corners.max(0)) + 3, [x0 + 1, y0 + 1], [w, h])).astype(int)
    shifted = m.copy()
    shifted[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return image[y0:y1, x0:x1], shifted


def crop_faces(frame: np.ndarray, boxes, margin: float = 0.0) -> list[np.ndarray]:
    """Crops of each box (clipped to the frame), optionally widened by `margin` of the box size,
    each turned by its box's `turn` (a face on its side comes out upright)."""
    h, w = frame.shape[:2]
    crops = []
    for b in boxes:
        dx, dy = int(b.w * margin), int(b.h * margin)
        x0, y0 = max(0, b.x - dx), max(0, b.y - dy)
        x1, y1 = min(w, b.x + b.w + dx), min(h, b.y + b.h + dy)
        crop = frame[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        turn = getattr(b, "turn", 0) % 4
        crops.append(np.ascontiguousarray(np.rot90(crop, turn)) if turn else crop)
    return crops


def face_crops(frame: np.ndarray, boxes: list[Box], spec, margin: float = 0.0) -> list[np.ndarray]:
    """The crops a model with input spec `spec` expects: aligned when the spec names reference
    points, else plain crops widened by `margin`."""
    reference = getattr(spec, "align", None)
    if reference is None:
        return crop_faces(frame, boxes, margin)
    return [align_face(frame, landmarks_of(b), reference, spec.size) for b in boxes]


_DETECTOR_LOCK = threading.Lock()  # decode aligns on several threads: build the session once


@lru_cache(maxsize=1)
def _build_crop_landmark_detector() -> CenterFaceDetector:
    return CenterFaceDetector(detect_width=0, threads=1)


def _crop_landmark_detector() -> CenterFaceDetector:
    with _DETECTOR_LOCK:
        return _build_crop_landmark_detector()


LANDMARK_SEARCH_WIDTH = 640  # px: a crop is searched for its face's landmarks at most this wide


def crop_landmarks(face: np.ndarray, pad: float = 0.25, color_order: str = "RGB") -> np.ndarray:
    """Five landmarks of the face that fills a crop: CenterFace on the crop with a border (a
    detector needs some context around a face); the box fallback when it finds none."""
    import cv2

    h, w = face.shape[:2]
    py, px = int(h * pad), int(w * pad)
    bgr = face if face.ndim == 3 else np.repeat(face[:, :, None], 3, axis=2)
    if face.ndim == 3 and color_order.upper() == "RGB":
        bgr = bgr[:, :, 2::-1]
    padded = cv2.copyMakeBorder(np.ascontiguousarray(bgr[:, :, :3]), py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    # a face that fills the crop needs no more pixels than this: a 4000x3000 crop searched whole
    # took 14 s and 5 GB, and its landmarks moved with the resolution (CenterFace's scales)
    found = _crop_landmark_detector().detect(padded, width=min(padded.shape[1], LANDMARK_SEARCH_WIDTH))
    if found:
        best = max(found, key=lambda b: b.w * b.h)
        return landmarks_of(best) - np.array([px, py], np.float32)
    return landmarks_of(Box(0, 0, w, h))


def crop_preparer(spec):
    """What a face crop file goes through first for a model of this spec: alignment, for a model
    trained on aligned faces (its spec names reference points); None for one trained on plain
    crops."""
    if getattr(spec, "align", None) is None:
        return None
    return lambda face: align_crop(face, spec)


def align_crop(face: np.ndarray, spec) -> np.ndarray:
    """A face crop (a file that evaluate or predict reads) -> the crop the model expects."""
    if getattr(spec, "align", None) is None:
        return face
    return align_face(face, crop_landmarks(face), spec.align, spec.size)
