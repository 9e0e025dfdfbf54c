"""The web page and JSON API, on loopback, with the shipped models and a real photo."""

import json
import threading
import urllib.error
import urllib.request

import cv2
import pytest

from facesense.serve.app import Analyzer, make_server
from facesense.stream.demo import demo_photo


@pytest.fixture(scope="module")
def server():
    srv = make_server(Analyzer(), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def post(url, body: bytes):
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_page_and_health(server):
    with urllib.request.urlopen(server + "/", timeout=10) as r:
        assert r.status == 200 and b"/api/analyze" in r.read()
    with urllib.request.urlopen(server + "/api/health", timeout=10) as r:
        assert json.loads(r.read()) == {"status": "ok", "expression": True, "gender": True, "age": False, "sentiment": True}


def test_analyze_a_photo(server):
    ok, jpeg = cv2.imencode(".jpg", demo_photo())
    status, data = post(server + "/api/analyze", jpeg.tobytes())
    assert status == 200 and len(data["faces"]) == 1
    face = data["faces"][0]
    assert face["expression"]["label"] in face["expression"]["probs"]
    assert sum(face["gender"]["probs"].values()) == pytest.approx(1, abs=1e-3)
    mood = data["sentiment"]  # the whole photo's, from the shipped sentiment model
    assert set(mood["probs"]) == {"negative", "positive"} and mood["probs"][mood["label"]] == mood["p"] >= 0.5
    assert cv2.imdecode(__import__("numpy").frombuffer(__import__("base64").b64decode(data["annotated_jpeg_base64"]), "uint8"), 1) is not None


def test_bad_uploads_get_clear_errors(server):
    status, data = post(server + "/api/analyze", b"definitely not an image")
    assert status == 400 and "not a readable image" in data["error"]
    status, data = post(server + "/api/nothing", b"x")
    assert status == 404
