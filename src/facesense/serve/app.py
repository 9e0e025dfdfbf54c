"""`facesense serve`: upload a photo in the browser (or POST it to /api/analyze) and get every
face's expression and gender (and age, optionally), the whole photo's sentiment, and the annotated image. Standard
library HTTP server: one process, loopback by default, models loaded once."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import asdict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from threading import Lock

import numpy as np

from ..stream.pipeline import ATTRIBUTES

log = logging.getLogger(__name__)
MAX_UPLOAD = 20 * 1024 * 1024


class Analyzer:
    def __init__(self, expression: str | None = "expression", gender: str | None = "gender", detector: str = "haar_alt2", detector_model: str | None = None, sentiment: str | None = "sentiment", age: str | None = None):
        from ..runtime.classifier import FaceClassifier
        from ..stream.detect import build_detector
        from ..stream.live import load_face_models

        self.models = load_face_models(expression, gender, age)
        self.sentiment = FaceClassifier.load(sentiment) if sentiment else None  # scores the whole photo
        self.detector = build_detector(detector, detector_model)
        self.lock = Lock()  # one analysis at a time: the models use every core already

    def analyze(self, data: bytes) -> dict:
        import cv2

        from ..stream.draw import annotate
        from ..stream.pipeline import analyze_image

        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("not a readable image (send JPEG, PNG, BMP, TIFF or WebP bytes)")
        with self.lock:
            result = analyze_image(image, self.detector, self.models)
            sentiment = asdict(self.sentiment.result(self.sentiment.predict([image])[0])) if self.sentiment else None
        ok, jpeg = cv2.imencode(".jpg", annotate(result), [cv2.IMWRITE_JPEG_QUALITY, 85])
        faces = [
            {
                "id": f.track_id,
                "box": {"x": f.box.x, "y": f.box.y, "w": f.box.w, "h": f.box.h},
                **{key: asdict(value) if (value := getattr(f, key)) else None for key in ATTRIBUTES},
            }
            for f in result.faces
        ]
        return {
            "faces": faces,
            "sentiment": sentiment,
            "timings_ms": {k: round(v * 1000, 2) for k, v in result.timings.items()},
            "annotated_jpeg_base64": base64.b64encode(jpeg.tobytes()).decode() if ok else None,
        }


def make_handler(analyzer: Analyzer):
    page = (files("facesense.serve") / "index.html").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # route the server's access log through logging
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: HTTPStatus, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def do_GET(self):
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
            elif self.path == "/api/health":
                self._json(HTTPStatus.OK, {"status": "ok", **{key: getattr(analyzer.models, key) is not None for key in ATTRIBUTES}, "sentiment": bool(analyzer.sentiment)})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}; try / or POST /api/analyze"})

        def do_POST(self):
            if self.path != "/api/analyze":
                self._json(HTTPStatus.NOT_FOUND, {"error": "POST image bytes to /api/analyze"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_UPLOAD:
                self._json(HTTPStatus.BAD_REQUEST, {"error": f"send an image of 1 byte to {MAX_UPLOAD // 2**20} MB as the request body"})
                return
            try:
                self._json(HTTPStatus.OK, analyzer.analyze(self.rfile.read(length)))
            except ValueError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    return Handler


def make_server(analyzer: Analyzer, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(analyzer))
