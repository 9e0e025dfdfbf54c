"""Annotating a frame: box, track id, expression and gender with probabilities, age, FPS."""

from __future__ import annotations

import numpy as np

from .pipeline import FrameResult

_COLOURS = [(66, 135, 245), (66, 245, 135), (245, 66, 135), (245, 197, 66), (135, 66, 245), (66, 245, 245)]


def annotate(result: FrameResult, fps: float | None = None) -> np.ndarray:
    import cv2

    image = result.frame.image.copy()
    # text and lines grow with the image: a label sized for 640x360 is a speck on a 12 MP photo
    s = max(1.0, min(image.shape[:2]) / 480)
    font, thick = 0.5 * s, max(1, round(s))
    for face in result.faces:
        colour = _COLOURS[face.track_id % len(_COLOURS)]
        b = face.box
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, max(2, round(2 * s)))
        lines = [f"#{face.track_id}"]
        if face.expression:
            lines.append(f"{face.expression.label} {face.expression.p:.0%}")
        if face.gender:
            lines.append(f"{face.gender.label} {face.gender.p:.0%}")
        if face.age:
            lines.append(f"~{face.age.years:.0f}y")
        text = " ".join(lines)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        pad = round(3 * s)
        y = b.y - 2 * pad if b.y > th + 4 * pad else b.y + b.h + th + 2 * pad
        x = max(0, min(b.x, image.shape[1] - tw - 2 * pad))  # a face near the right edge keeps its whole label in view
        cv2.rectangle(image, (x, y - th - pad), (x + tw + 2 * pad, y + pad), colour, -1)
        cv2.putText(image, text, (x + pad, y), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thick, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(image, f"{fps:.0f} FPS", (round(8 * s), round(22 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * s, (255, 255, 255), 2 * thick, cv2.LINE_AA)
    return image
