"""Faces in an image: the Box every detector returns, and the CenterFace detector, which the
runtime needs itself to find the landmarks of a face crop for alignment.

CenterFace (MIT; the ONNX file ships in the package, see assets/models/centerface.md) gives a
box and five landmarks (eyes, nose, mouth corners) per face."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacesenseError
from .assets import shipped_model_path
from .session import make_session


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float = 1.0
    # five (x, y) points in frame pixels: eye, eye, nose, mouth corner, mouth corner, in image
    # order left to right (None: the detector gives none)
    landmarks: np.ndarray | None = None
    # quarter turns (counter-clockwise, as numpy's rot90) of its crop that stand the face upright:
    # a face on its side in a photo turned without an EXIF orientation is read from its crop
    # turned back (0: as it stands in the image)
    turn: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h

    def within(self, width: int, height: int) -> "Box":
        """The part of the box inside a width x height image, as results report it (a face cut by
        the frame's edge gets a box that overhangs it: the crop fills what the frame never held,
        but a box a user slices the image with must not start at -5)."""
        x0, y0 = min(max(self.x, 0), width), min(max(self.y, 0), height)
        x1, y1 = max(min(self.x + self.w, width), x0), max(min(self.y + self.h, height), y0)
        return Box(x0, y0, x1 - x0, y1 - y0, self.score, self.landmarks, self.turn)


def left_to_right(boxes: list[Box]) -> list[Box]:
    """A photo's faces in the order every command numbers them (face 1 the leftmost)."""
    return sorted(boxes, key=lambda b: (b.x, b.y))


# the width a video frame is searched at unless told (detect_width None): 320 px, the real-time
# budget of a camera's 640-px frames, or a third of a wider frame's width, so that a face keeps
# its share of the search in HD video (searched at 320 px, a 1920-px video lost every face under
# about 100 px; a third finds faces of 66 px and costs only the full passes between tracked ones)
DEFAULT_DETECT_WIDTH = 320


def search_width(detect_width: int | None, frame_width: int) -> int:
    """The width a frame `frame_width` px wide is searched at: `detect_width` as given (0: the
    whole frame), or for None the default: a third of the frame, rounded up to the network's
    multiple of 32 (no padding), and at least DEFAULT_DETECT_WIDTH."""
    if detect_width is not None:
        return detect_width
    return max(DEFAULT_DETECT_WIDTH, -(-(frame_width // 3) // 32) * 32)


class CenterFaceDetector:
    """CenterFace on ONNX Runtime: a heatmap of face centres with box sizes and landmarks at a
    quarter of the input resolution. Input: RGB 0-255, sides multiples of 32."""

    def __init__(self, model_path: str | Path | None = None, detect_width: int | None = None, threshold: float = 0.5, nms_iou: float = 0.3, threads: int = 0, device: str = "auto"):
        path = Path(model_path) if model_path else shipped_model_path("centerface", ".onnx")
        if model_path and not path.is_file():
            raise FacesenseError(f"detector model {model_path} (--detector-model, detector_model=): {'a folder' if path.is_dir() else 'not found'}; give a CenterFace ONNX file (a YuNet file goes with the yunet detector: --detector yunet, detector='yunet'), or leave it out for the shipped one")
        if path is None or not path.is_file():
            raise FacesenseError("the shipped CenterFace model file (assets/models/centerface.onnx) is missing; reinstall facesense")
        self.session = make_session(str(path), str(path), threads, device, sizes_vary=True)
        self.input_name = self.session.get_inputs()[0].name
        self.detect_width, self.threshold, self.nms_iou = detect_width, threshold, nms_iou
        try:  # another network's file fails here, in one line, not on the first frame in a traceback
            outputs = self._run(np.zeros((1, 32, 32, 3), np.uint8))
            if len(outputs) != 4 or [o.shape[1] for o in outputs] != [1, 2, 2, 10]:
                raise ValueError(f"outputs {[o.shape for o in outputs]}")
        except Exception as exc:  # onnxruntime raises its own types
            raise FacesenseError(f"{path}: not a CenterFace model ({str(exc).splitlines()[0][:160]}); give CenterFace's ONNX file, or the yunet detector (--detector yunet, detector='yunet') for a YuNet file") from None

    def _run(self, rgb_batch: np.ndarray) -> list[np.ndarray]:
        blob = np.ascontiguousarray(rgb_batch.transpose(0, 3, 1, 2), dtype=np.float32)
        return self.session.run(None, {self.input_name: blob})

    def _decode(self, outputs, i: int, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0, threshold: float | None = None) -> list[Box]:
        """Image i of a batch -> boxes in frame pixels (input pixels / (sx, sy) + (dx, dy))."""
        import cv2

        heat, scale, offset, marks = (o[i] for o in outputs)
        ys, xs = np.nonzero(heat[0] > (threshold or self.threshold))
        if len(ys) == 0:
            return []
        h, w = np.exp(scale[0, ys, xs]) * 4, np.exp(scale[1, ys, xs]) * 4
        cx, cy = (xs + offset[1, ys, xs] + 0.5) * 4, (ys + offset[0, ys, xs] + 0.5) * 4
        x0, y0 = cx - w / 2, cy - h / 2
        scores = heat[0, ys, xs]
        # landmark k: (x, y) = box corner + (channel 2k+1, channel 2k) * box size
        lx = x0[:, None] + marks[1::2, ys, xs].T * w[:, None]
        ly = y0[:, None] + marks[0::2, ys, xs].T * h[:, None]
        keep = cv2.dnn.NMSBoxes(np.stack([x0, y0, w, h], 1).tolist(), scores.tolist(), 0.0, self.nms_iou)
        boxes = []
        for k in np.ravel(keep):
            points = np.stack([lx[k] / sx + dx, ly[k] / sy + dy], 1).astype(np.float32)
            boxes.append(Box(int(round(x0[k] / sx + dx)), int(round(y0[k] / sy + dy)), int(round(w[k] / sx)), int(round(h[k] / sy)), float(scores[k]), points))
        return boxes

    def detect(self, frame: np.ndarray, width: int | None = None) -> list[Box]:
        """The frame's faces, searched at `width` pixels wide (default: detect_width's, see
        search_width; 0: as is)."""
        import cv2

        fh, fw = frame.shape[:2]
        width = search_width(self.detect_width, fw) if width is None else width
        width = min(fw, width) if width > 0 else fw
        factor = width / fw
        cw, ch = max(1, round(fw * factor)), max(1, round(fh * factor))
        # the frame keeps its aspect and is padded to the network's multiple of 32 (not
        # stretched); a whole-number shrink (1280x720 -> 320x180) takes OpenCV's fast path
        small = cv2.resize(frame, (cw, ch), interpolation=cv2.INTER_AREA) if (cw, ch) != (fw, fh) else frame
        tw, th = max(32, -(-cw // 32) * 32), max(32, -(-ch // 32) * 32)
        rgb = cv2.copyMakeBorder(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), 0, th - ch, 0, tw - cw, cv2.BORDER_CONSTANT)
        return self._decode(self._run(rgb[None]), 0, cw / fw, ch / fh)

    def detect_near(self, frame: np.ndarray, boxes: list[Box], expand: float = 0.5, side: int = 96) -> list[Box | None]:
        """Look again only around known faces: each window (a square about the box widened by
        `expand` on every side) is brought to side x side and all windows go through the network
        in one batch. A window at least `side` wide is rounded up to a whole multiple of `side` and
        moved inside the frame, so the shrink is a whole-number one (OpenCV's fast path, and no
        stretch)."""
        import cv2

        if not boxes:
            return []
        fh, fw = frame.shape[:2]
        windows, frames = [], []
        for b in boxes:
            cx, cy = b.x + b.w / 2, b.y + b.h / 2
            want = (1 + 2 * expand) * max(b.w, b.h)
            # never narrower than asked, unless the frame itself is
            size = min(-(-int(want) // side), min(fw, fh) // side) * side
            if want >= side and size >= side:
                x0, y0 = int(np.clip(round(cx - size / 2), 0, fw - size)), int(np.clip(round(cy - size / 2), 0, fh - size))
                x1, y1 = x0 + size, y0 + size
            else:  # a small face (enlarged to side) or a frame smaller than side: clipped, resized
                x0, y0 = max(0, int(cx - want / 2)), max(0, int(cy - want / 2))
                x1, y1 = min(fw, int(cx + want / 2)), min(fh, int(cy + want / 2))
                if x1 - x0 < 8 or y1 - y0 < 8:
                    x0, y0, x1, y1 = 0, 0, min(fw, 8), min(fh, 8)
            window = frame[y0:y1, x0:x1]
            if window.shape[:2] != (side, side):
                window = cv2.resize(window, (side, side), interpolation=cv2.INTER_AREA)
            windows.append(cv2.cvtColor(window, cv2.COLOR_BGR2RGB))
            frames.append((x0, y0, x1, y1))
        outputs = self._run(np.stack(windows))
        found: list[Box | None] = []
        for i, (b, (x0, y0, x1, y1)) in enumerate(zip(boxes, frames)):
            # a face is expected here: a lower score is enough
            hits = self._decode(outputs, i, side / (x1 - x0), side / (y1 - y0), x0, y0, threshold=self.threshold * 0.6)
            cx, cy = b.x + b.w / 2, b.y + b.h / 2

            def distance(h: Box) -> float:
                return float(np.hypot(h.x + h.w / 2 - cx, h.y + h.h / 2 - cy))

            # this track's face: the hit nearest the old centre, if it is about the same size and
            # no further than a face away (a window moved inside the frame reaches past the box)
            hits = [h for h in hits if 0.5 < h.w / max(1, b.w) < 2.0 and distance(h) <= max(b.w, b.h)]
            found.append(min(hits, key=distance) if hits else None)
        return found
