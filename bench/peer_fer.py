"""Runs INSIDE a side environment that has the peer package `fer` (tensorflow + its shipped
mini-Xception weights): every frame of a video through FER.detect_emotions (OpenCV Haar
detection + expression), no drawing or writing. Prints one JSON line. bench/stream_fps.py
calls it with --peer-fer PYTHON.

    /path/to/side-env/bin/python bench/peer_fer.py VIDEO
"""

import json
import sys
import time

import cv2
from fer import FER


def main() -> None:
    detector = FER(mtcnn=False)
    cap = cv2.VideoCapture(sys.argv[1])
    ok, frame = cap.read()
    detector.detect_emotions(frame)  # warm-up: model load and first graph run are not counted
    frames, faces, t0 = 0, 0, time.perf_counter()
    while ok:
        faces += len(detector.detect_emotions(frame))
        frames += 1
        ok, frame = cap.read()
    seconds = time.perf_counter() - t0
    print(json.dumps({"frames": frames, "seconds": seconds, "fps": frames / seconds, "faces_per_frame": faces / max(1, frames)}))


if __name__ == "__main__":
    main()
