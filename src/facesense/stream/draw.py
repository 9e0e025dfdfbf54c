"""Annotating a frame: box, track id, expression and gender with probabilities, age, FPS."""

from __future__ import annotations

import numpy as np

from .pipeline import FrameResult

_COLOURS = [(66, 135, 245), (66, 245, 135), (245, 66, 135), (245, 197, 66), (135, 66, 245), (66, 245, 245)]


def annotate(result: FrameResult, fps: float | None = None) -> np.ndarray:
    import cv2

    image = result.frame.image.copy()
    for face in result.faces:
        colour = _COLOURS[face.track_id % len(_COLOURS)]
        b = face.box
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, 2)
        lines = [f"#{face.track_id}"]
        if face.expression:
            lines.append(f"{face.expression.label} {face.expression.p:.0%}")
        if face.gender:
            lines.append(f"{face.gender.label} {face.gender.p:.0%}")
        if face.age:
            lines.append(f"~{face.age.years:.0f}y")
        y = b.y - 6 if b.y > 40 else b.y + b.h + 16
        text = " ".join(lines)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        x = max(0, min(b.x, image.shape[1] - tw - 4))  # a face near the right edge keeps its whole label in view
        cv2.rectangle(image, (x, y - th - 4), (x + tw + 4, y + 3), colour, -1)
        cv2.putText(image, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if fps is not None:
        cv2.putText(image, f"{fps:.0f} FPS", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return image
