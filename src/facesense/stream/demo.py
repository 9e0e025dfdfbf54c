"""`facesense demo`: the real-time pipeline on a built-in clip, offline, no camera, no data.

The clip is assembled at run time from a public-domain photograph that a dependency ships:
matplotlib's sample image of Rear Admiral Grace Hopper (U.S. Navy photo, public domain). Two
copies of the face move, zoom and one turns slightly, so detection, tracking and smoothing
all have work to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import FacesenseError
from ..runs import flush_to_disk, temp_beside
from .cv_paths import OpenCVName


def demo_photo() -> np.ndarray:
    """The public-domain portrait as a BGR uint8 array."""
    import cv2
    from matplotlib import cbook

    try:
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except (OSError, ValueError) as exc:
        raise FacesenseError(f"matplotlib's sample photo is missing ({exc}); reinstall matplotlib") from None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacesenseError(f"{path}: cannot read matplotlib's sample photo")
    return image


def make_demo_clip(path: str | Path, frames: int = 90, width: int = 640, height: int = 360, fps: float = 30.0) -> Path:
    import cv2

    photo = demo_photo()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written beside and renamed into place when whole: a kill mid-write keeps an earlier clip
    tmp = temp_beside(path, f"tmp{path.suffix}")
    cv_name = OpenCVName(tmp)
    writer = cv2.VideoWriter(cv_name.name, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        cv_name.close()
        tmp.unlink(missing_ok=True)
        why = "folder not writable" if not os.access(path.parent, os.W_OK) else "OpenCV cannot write a video there"
        raise FacesenseError(f"{path}: cannot write the demo clip here ({why}); choose another --out folder")
    ph, pw = photo.shape[:2]
    done = False
    try:
        for i in range(frames):
            t = i / max(1, frames - 1)
            canvas = np.full((height, width, 3), 40, np.uint8)
            # left: a slow pan and zoom-in; right: the mirrored photo drifting down, rotating a little
            for side, scale, dx, dy, angle, flip in (
                ("left", 0.52 + 0.12 * t, 20 + 40 * t, 10 - 20 * t, 0.0, False),
                ("right", 0.42, 360 - 30 * t, -20 + 30 * t, -6 + 12 * t, True),
            ):
                img = cv2.flip(photo, 1) if flip else photo
                m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
                m[:, 2] += (dx - pw / 2 + pw * scale / 2, dy - ph / 2 + ph * scale / 2)
                warped = cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
                mask = cv2.warpAffine(np.full((ph, pw), 255, np.uint8), m, (width, height)) > 0
                canvas[mask] = warped[mask]
            writer.write(canvas)
        done = True
    finally:
        writer.release()
        cv_name.close()
        if done:
            flush_to_disk(tmp)
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
    return path
