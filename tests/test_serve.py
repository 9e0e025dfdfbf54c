"""The web app as a real `facesense serve` process on loopback, with the shipped models: the JSON
API, the camera WebSocket (own tracks per connection, recording), video jobs, and the limits
(decompression bombs, oversized and malformed requests, a full server, the access token)."""

import asyncio
import base64
import contextlib
import csv
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from facesense.errors import FacesenseError
from facesense.serve.limits import AnalysisGate, Busy, ServeLimits
from facesense.stream.demo import demo_photo, make_demo_clip
from conftest import dds_with_unknown_pixel_format
from serving import ServerProcess, bomb_png


@pytest.fixture(scope="module")
def server():
    srv = ServerProcess("--max-upload-mb", "4", "--max-video-seconds", "20")
    yield srv
    srv.close()


def request(url, body: bytes | None = None, headers: dict | None = None, method: str | None = None, timeout: float = 60):
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body is not None else "GET"), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def post_json(url, body: bytes, **kw):
    status, data, headers = request(url, body, **kw)
    return status, json.loads(data)


def raw_answer(sock: socket.socket) -> bytes:
    """One HTTP answer read off a socket: the head and the body it announces."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), b"0"))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def jpeg(image) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_page_health_and_docs(server):
    status, page, _ = request(server.url + "/")
    assert status == 200 and b"/static/app.js" in page
    status, script, headers = request(server.url + "/static/app.js")
    assert status == 200 and b"/api/analyze" in script and headers["content-type"].startswith("text/javascript")
    status, body, _ = request(server.url + "/api/health")
    health = json.loads(body)
    assert {k: health[k] for k in ("status", "expression", "gender", "age", "sentiment", "token_required")} == {
        "status": "ok", "expression": True, "gender": True, "age": True, "sentiment": True, "token_required": False}
    assert health["classes"]["sentiment"] == ["negative", "positive"]  # the sentiment model's were left out (found by a bug hunt)
    # which models answer: a server of one's own model looked like the default's (found by a bug hunt)
    assert health["models"] == {"expression": "expression", "gender": "gender_age", "age": "gender_age", "sentiment": "sentiment"}
    status, docs, _ = request(server.url + "/docs")
    assert status == 200 and b"swagger-ui-bundle.js" in docs and b"cdn." not in docs  # served offline
    status, spec, _ = request(server.url + "/openapi.json")
    assert {"/api/analyze", "/api/health", "/api/videos"} <= set(json.loads(spec)["paths"])
    # the answers are documented: the photo result's fields, the errors really given and no 422
    # (FastAPI's, which these routes cannot give); no token, so no bearer scheme (found by a bug hunt)
    answers = json.loads(spec)["paths"]["/api/analyze"]["post"]["responses"]
    assert answers["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PhotoResult"}
    assert {"400", "413", "415", "503"} <= set(answers) and "401" not in answers
    assert "image/bmp" in json.loads(spec)["paths"]["/api/analyze"]["post"]["requestBody"]["content"]
    assert {"200", "206", "400", "404", "416"} == set(json.loads(spec)["paths"]["/api/files/{item}/{name}"]["get"]["responses"])  # Range answers too
    assert "422" not in spec.decode() and "HTTPValidationError" not in spec.decode() and "securitySchemes" not in spec.decode()
    ids = [op["operationId"] for path in json.loads(spec)["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids)) and not any(i.endswith("_head") for i in ids)  # HEAD twins repeated the GET ids


def test_analyze_a_photo(server):
    status, data = post_json(server.url + "/api/analyze", jpeg(demo_photo()))
    assert status == 200 and len(data["faces"]) == 1
    face = data["faces"][0]
    assert face["expression"]["label"] in face["expression"]["probs"]
    assert sum(face["gender"]["probs"].values()) == pytest.approx(1, abs=1e-3)
    mood = data["sentiment"]  # the whole photo's, from the shipped sentiment model
    assert set(mood["probs"]) == {"negative", "positive"} and mood["probs"][mood["label"]] == mood["p"] >= 0.5
    assert data["timings_ms"]["sentiment"] > 0  # its time was in no stage
    annotated = cv2.imdecode(np.frombuffer(base64.b64decode(data["annotated_jpeg_base64"]), np.uint8), 1)
    assert annotated.shape[:2] == (data["height"], data["width"])
    assert data["warning"] is None
    # a small photo's annotated copy is enlarged so that its labels can be read (they were cut to '#1 happ'; found by a bug hunt)
    small = cv2.resize(demo_photo(), (96, 112), interpolation=cv2.INTER_AREA)
    status, data = post_json(server.url + "/api/analyze", jpeg(small))
    annotated = cv2.imdecode(np.frombuffer(base64.b64decode(data["annotated_jpeg_base64"]), np.uint8), 1)
    assert status == 200 and (data["width"], data["height"]) == (96, 112) and annotated.shape[:2] == (420, 360)


def test_an_animated_photo_is_answered_for_its_first_frame_and_says_so(server):
    """An animated GIF sent as a photo was answered as if the figures covered the whole
    animation (found by a bug hunt); the answer now says only its first frame was read."""
    import io

    from PIL import Image

    first = Image.fromarray(cv2.cvtColor(demo_photo(), cv2.COLOR_BGR2RGB))
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=[first.rotate(90)], duration=100)
    status, data = post_json(server.url + "/api/analyze", buffer.getvalue())
    assert status == 200 and len(data["faces"]) == 1
    assert data["warning"].startswith("an animated image of 2 frames; only its first is read (the page's \"Video file\", POST /api/videos, reads every frame)")


def test_bad_requests_get_clear_4xx_answers(server):
    status, data = post_json(server.url + "/api/analyze", b"definitely not an image")
    assert status == 400 and "not a readable image" in data["error"]
    assert post_json(server.url + "/api/analyze", b"")[0] == 400
    status, data = post_json(server.url + "/api/analyze", dds_with_unknown_pixel_format())  # was a 500
    assert status == 400 and "not a readable image" in data["error"]
    status, body, _ = request(server.url + "/api/nothing", b"x")
    assert status == 404 and "/docs" in json.loads(body)["error"]  # the router's answers have the app's shape ({"detail"} before)
    status, body, _ = request(server.url + "/api/analyze", method="GET")
    assert status == 405 and "takes POST" in json.loads(body)["error"]  # it said only "Method Not Allowed"
    # a GET route's 405 named only its HEAD twin; /docs and /redoc refused HEAD (found by a second hunt)
    status, body, headers = request(server.url + "/api/videos/x", method="PUT")
    assert status == 405 and headers["allow"] == "DELETE, GET, HEAD" and "takes DELETE, GET, HEAD" in json.loads(body)["error"]
    assert request(server.url + "/docs", method="HEAD")[0] == 200 and request(server.url + "/redoc", method="HEAD")[0] == 200
    status, body, headers = request(server.url + "/ws/live")  # a plain GET of the camera's WebSocket was "no such URL"
    assert status == 426 and headers["upgrade"] == "websocket" and "is a WebSocket" in json.loads(body)["error"]
    # found by a bug hunt: a query parameter was ignored as if obeyed; base64 or JSON text, a
    # compressed body and a cut-short JPEG were "not a readable image" or got curl -d's advice
    photo = jpeg(demo_photo())
    status, data = post_json(server.url + "/api/analyze?detector=haar&expression=none", photo)
    assert status == 400 and "'detector'" in data["error"] and "facesense serve --help" in data["error"]
    status, data = post_json(server.url + "/api/analyze?token=abc", photo)
    assert status == 400 and "this server needs no token" in data["error"]
    assert request(server.url + "/api/health?x=1")[0] == 400
    status, data = post_json(server.url + "/api/analyze", base64.b64encode(photo), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "base64 text" in data["error"] and "curl -d" not in data["error"]
    status, data = post_json(server.url + "/api/analyze", b"hello this is not an image\n" * 10)  # words fit base64's alphabet too
    assert status == 400 and "not a readable image" in data["error"] and "base64" not in data["error"]
    status, data = post_json(server.url + "/api/analyze", json.dumps({"image": base64.b64encode(photo).decode()}).encode(), headers={"Content-Type": "application/json"})
    assert status == 400 and "the body is JSON" in data["error"]
    status, data = post_json(server.url + "/api/analyze", b"[build-system]\nrequires = []\n")  # a TOML file was called JSON (found by a newcomer's trial)
    assert status == 400 and "not a readable image" in data["error"] and "JSON" not in data["error"]
    status, data = post_json(server.url + "/api/analyze", b"data:image/jpeg;base64," + base64.b64encode(photo), headers={"Content-Type": "image/jpeg"})
    assert status == 400 and "the body is a data: URL" in data["error"]  # a canvas's toDataURL() got no hint
    status, data = post_json(server.url + "/api/analyze", __import__("gzip").compress(photo), headers={"Content-Encoding": "gzip"})
    assert status == 415 and "uncompressed" in data["error"]
    status, data = post_json(server.url + "/api/analyze", photo[: len(photo) // 2])
    assert status == 400 and "cut short" in data["error"]
    form = b"--b\r\nContent-Disposition: form-data; name=file; filename=f.jpg\r\n\r\n" + jpeg(demo_photo()) + b"\r\n--b--\r\n"
    status, data = post_json(server.url + "/api/analyze", form, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert status == 415 and "--data-binary" in data["error"]  # was "not a readable image"
    for path in ("/static/..%2Fapp.py", "/static/index.py", "/api/files/..%2F..%2Fetc/passwd", "/api/files/abc/frames.csv"):
        assert request(server.url + path)[0] == 404, path
    # a final slash was an empty 307, which curl without -L printed as nothing (found by a bug hunt)
    status, data = post_json(server.url + "/api/analyze/", photo)
    assert status == 404 and data["error"] == "no such URL: /api/analyze/; the URL is /api/analyze, without the final /", data
    host, port = server.url.split("//")[1].split(":")
    # a malformed header and an upload cut short: an answer (or a clean close), no traceback
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert raw_answer(s).startswith(b"HTTP/1.1 400")
    with socket.create_connection((host, int(port)), timeout=10) as s:  # over --max-upload-mb 4
        s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (5 * 2**20) + bytes(1000))
        answer = raw_answer(s)  # refused from the declared length, before the body arrives
        assert answer.startswith(b"HTTP/1.1 413") and b"4 MB (the server's --max-upload-mb)" in answer  # the operator's option (found by a bug hunt)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + bytes(1000))
    time.sleep(0.5)
    assert request(server.url + "/api/health")[0] == 200
    assert "Traceback" not in "".join(server.stderr)


def test_json_around_a_long_video_or_a_large_photo_is_told_from_its_start(server, monkeypatch):
    """A JSON-wrapped video over a megabyte lost its hint: only the upload's first megabyte is
    read for one, which never parsed as JSON whole; and a photo's 20 MB JSON body (pixels as
    lists) was parsed whole on the server's loop to decide a hint (found by a review)."""
    from facesense.serve import app as serve_app

    body = json.dumps({"video": base64.b64encode(bytes(range(256)) * 6000).decode()}).encode()  # 2 MB of JSON
    assert len(body) > 1 << 20
    status, data = post_json(server.url + "/api/videos", body, headers={"Content-Type": "application/json"})
    assert status == 400 and "the body is JSON" in data["error"], data
    # a head cut off inside JSON is JSON so far; TOML, INI and broken JSON are not, cut or whole
    head = body[: 1 << 20]
    assert "the body is JSON" in serve_app._text_hint(head, whole=False)
    assert "JSON" not in serve_app._text_hint(head[:5000])  # a whole body cut short is broken JSON
    for text in (b"[build-system]\nrequires = []\n" * 5000, b"[section]\nkey=1\n" * 9000, b'{"a": 1,, "b": 2}' + b" " * 100000):
        assert "JSON" not in serve_app._text_hint(text, whole=False) and "JSON" not in serve_app._text_hint(text), text[:20]
    parsed = []
    real = json.loads
    monkeypatch.setattr(serve_app.json, "loads", lambda text, *a, **k: parsed.append(len(text)) or real(text, *a, **k))
    pixels = json.dumps(np.zeros((300, 400, 3), np.uint8).tolist()).encode()  # 1.2 MB (the limit is 20)
    assert "the body is JSON" in serve_app._text_hint(pixels) and max(parsed) <= serve_app.JSON_HEAD


def test_decompression_bombs_are_refused_before_decoding(server):
    bomb = bomb_png(20000, 20000)  # about 1 MB that declares 400 megapixels (1.2 GB decoded)
    idle = server.rss_mb()
    server.reset_peak()

    def send(_):
        t0 = time.perf_counter()
        status, data = post_json(server.url + "/api/analyze", bomb)
        return status, data["error"], time.perf_counter() - t0

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    for status, error, seconds in answers:
        assert status == 413 and "400 megapixels" in error and "limit is 40 megapixels" in error and "(the server's --max-megapixels)" in error
        assert seconds < 1.0, answers
    assert server.peak_mb() - idle < 1024, (idle, server.peak_mb())


def test_a_full_server_answers_busy_with_retry_after():
    async def scenario():
        gate = AnalysisGate(workers=1, queue=1)
        release = threading.Event()
        first = asyncio.ensure_future(gate.run(release.wait, 10))
        second = asyncio.ensure_future(gate.run(release.wait, 10))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):  # one running, one waiting: the third is refused at once
            await gate.run(release.wait, 10)
        # whether a worker took it: a request that timed out waiting is "busy", not "too slow"
        waiting, taken = asyncio.Event(), asyncio.Event()
        release.set()
        assert await first and await second
        release.clear()
        running = asyncio.ensure_future(gate.run(release.wait, 10, started=taken))
        queued = asyncio.ensure_future(gate.run(release.wait, 10, started=waiting))
        await asyncio.sleep(0.05)
        assert taken.is_set() and not waiting.is_set() and taken.at <= time.monotonic()
        first, second = running, queued
        release.set()
        assert await first and await second and gate.pending == 0
        gate.close()

    asyncio.run(scenario())


def live_frames(n: int):
    cap = cv2.VideoCapture(str(make_demo_clip(live_frames.clip, frames=n)))
    frames = []
    while len(frames) < n and (ok_frame := cap.read())[0]:
        frames.append(jpeg(ok_frame[1]))
    cap.release()
    return frames


def test_each_camera_connection_has_its_own_tracks_and_recording(server, tmp_path):
    live_frames.clip = tmp_path / "clip.mp4"
    frames = live_frames(12)
    with connect(server.ws_url + "/ws/live") as a, connect(server.ws_url + "/ws/live") as b:
        a.send(json.dumps({"record": True}))
        assert json.loads(a.recv(10)) == {"type": "recording", "on": True}
        ids_a, ids_b = set(), set()
        a.send(b"not a frame")  # refused: the next frame is still the stream's first (found by a bug hunt)
        assert json.loads(a.recv(10))["type"] == "error"
        for i, frame in enumerate(frames):
            a.send(frame)
            reply = json.loads(a.recv(30))
            assert reply["type"] == "result" and reply["frame"] == i
            ids_a |= {f["track_id"] for f in reply["faces"]}
            if i == 9:  # b records from its 4th frame on
                b.send(json.dumps({"record": True}))
                assert json.loads(b.recv(10))["on"] is True
            if i >= 6:  # b joins later: its tracks still start from its own first id
                b.send(frame)
                ids_b |= {f["track_id"] for f in json.loads(b.recv(30))["faces"]}
        assert ids_a and ids_b and min(ids_b) == 1 == min(ids_a)
        # a recording's log and timeline count from its start, not the camera's (found by a newcomer trial)
        b.send(json.dumps({"record": False}))
        rows = list(csv.DictReader(io.StringIO(request(server.url + json.loads(b.recv(30))["csv"])[1].decode())))
        assert (rows[0]["frame"], float(rows[0]["time_s"])) == ("0", 0.0) and max(int(r["frame"]) for r in rows) == 2
        face = reply["faces"][0]
        assert face["expression"]["label"] and face["gender"]["label"] in ("man", "woman")
        a.send(json.dumps({"record": False}))
        done = json.loads(a.recv(30))
        assert done["type"] == "recording" and done["on"] is False and done["frames"] == 12
        status, csv_bytes, _ = request(server.url + done["csv"])
        lines = csv_bytes.decode().splitlines()
        assert status == 200 and lines[0].startswith("frame,time_s,source,track_id") and ",browser camera," in lines[1] and len(lines) > 12
        status, png, _ = request(server.url + done["timeline"])
        assert status == 200 and png.startswith(b"\x89PNG")
        a.send(json.dumps({"record": False}))  # already off: answered, not left unanswered
        assert json.loads(a.recv(10)) == {"type": "recording", "on": False, "unchanged": True}
        a.send(json.dumps({"record": "false"}))  # a string is no switch (bool("false") started a recording)
        assert json.loads(a.recv(10))["type"] == "error"
        a.send(b"not a jpeg")
        assert "not a readable image" in json.loads(a.recv(10))["error"]


def test_the_file_store_never_evicts_a_folder_still_being_written(tmp_path):
    from facesense.serve.jobs import FileStore

    store = FileStore(tmp_path, keep=2)
    running, folder = store.new_folder()  # a video job being annotated
    (folder / "frames.csv").write_text("frame\n")  # (folders with results: empty ones are counted apart)
    finished = []
    for _ in range(4):  # recordings that end at once
        item, folder = store.new_folder()
        (folder / "frames.csv").write_text("frame\n")
        store.finished(item)
        finished.append(item)
    assert store.has(running)  # used to be evicted after `keep` newer folders: the job failed at its end
    assert [store.has(i) for i in finished] == [False, False, True, True]  # the 2 newest finished ones
    store.finished(running)  # made first, finished last: its links were just handed out, so it stays
    assert store.has(running) and store.has(finished[-1]) and not store.has(finished[-2])


def test_failed_jobs_empty_folders_are_kept_apart_from_the_results(tmp_path):
    """A failed video job's folder (its files removed) counted among the kept downloads, so
    failed jobs pushed real results out (found by a bug hunt)."""
    from facesense.serve.jobs import FileStore

    store = FileStore(tmp_path, keep=2)
    results = []
    for _ in range(2):
        item, folder = store.new_folder()
        (folder / "frames.csv").write_text("frame\n")
        store.finished(item)
        results.append(item)
    failed = []
    for _ in range(3):  # the newest: by age alone, the oldest results would go
        item, _ = store.new_folder()
        store.finished(item)
        failed.append(item)
    # the failures are kept apart, so their status stays (the newest was evicted at once; found by review)
    assert [store.has(i) for i in failed] == [False, True, True] and all(store.has(i) for i in results)


def test_retry_after_for_a_video_just_started_follows_the_last_jobs_pace(tmp_path):
    """A 72-frame clip just taken up said 'try again in about 31 s' while clips took 1-2 s
    (found by a bug hunt)."""
    from facesense.serve.jobs import FileStore, VideoJob, VideoJobs

    videos = VideoJobs(analyzer=None, store=FileStore(tmp_path))
    try:
        job = VideoJob("a", tmp_path, tmp_path / "upload", frames_total=72, state="running", running_since=time.time())
        videos.jobs["a"] = job
        assert videos.remaining_s() == 30.0  # no pace known yet
        videos._last_rate = 48.0
        assert videos.remaining_s() == pytest.approx(1.5)
        # cancelled mid-video, it holds its place until its worker has stopped (found by review)
        videos.waiting = 0
        job.state = "cancelled"
        assert not videos.reserve() and videos.remaining_s() == 1.0
        job.ended = True
        assert videos.reserve()
    finally:
        videos.close()


def test_video_places_are_taken_before_the_upload_is_read(tmp_path):
    from facesense.serve.jobs import FileStore, VideoJobs

    videos = VideoJobs(analyzer=None, store=FileStore(tmp_path), waiting=1)
    try:
        # two uploads in flight fill a queue of 1 running + 1 waiting; a third is refused at once
        assert videos.reserve() and videos.reserve() and not videos.reserve()
        videos.unreserve()  # one upload refused (too long, not a video): its place is free again
        assert videos.reserve() and not videos.reserve()
    finally:
        videos.close()


def test_video_job_ends_with_a_playable_video_csv_and_timeline(server, tmp_path):
    clip = make_demo_clip(tmp_path / "clip.mp4", frames=24)
    status, job = post_json(server.url + "/api/videos", clip.read_bytes())
    assert status == 200
    deadline = time.monotonic() + 120
    while (state := json.loads(request(server.url + job["status"])[1]))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert state["state"] == "done" and state["progress"] == 1.0 and state["frames_done"] == 24 and state["frames_unreadable"] == 0, state
    status, video, headers = request(server.url + state["files"]["video"])
    assert status == 200 and headers["content-type"] == "video/mp4" and video[4:8] == b"ftyp"
    out = tmp_path / "annotated.mp4"
    out.write_bytes(video)
    cap = cv2.VideoCapture(str(out))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 24
    cap.release()
    # a Range the file cannot answer gets the API's JSON, as every other refusal (a bare text 400 and an empty 416; found by a bug hunt)
    status, body, _ = request(server.url + state["files"]["video"], headers={"Range": "bytes=abc"})
    assert status == 400 and "ask for bytes=START-END" in json.loads(body)["error"]
    status, body, headers = request(server.url + state["files"]["video"], headers={"Range": f"bytes={len(video) + 10}-"})
    assert status == 416 and "the file does not have" in json.loads(body)["error"] and headers["content-range"] == f"bytes */{len(video)}"
    status, part, _ = request(server.url + state["files"]["video"], headers={"Range": "bytes=0-9"})
    assert status == 206 and part == video[:10]
    # a resumed download sends If-Range: a matching one kept the bare text answers (found by a bug hunt)
    whole_headers = request(server.url + state["files"]["video"], method="HEAD")[2]
    for if_range in (whole_headers["etag"], whole_headers["last-modified"]):
        status, body, _ = request(server.url + state["files"]["video"], headers={"Range": "bytes=5-2", "If-Range": if_range})
        assert status == 400 and "ask for bytes=START-END" in json.loads(body)["error"]
        status, body, _ = request(server.url + state["files"]["video"], headers={"Range": f"bytes={len(video) + 10}-", "If-Range": if_range})
        assert status == 416 and "the file does not have" in json.loads(body)["error"]
        assert request(server.url + state["files"]["video"], headers={"Range": "bytes=0-9", "If-Range": if_range})[:2] == (206, video[:10])
    status, whole, _ = request(server.url + state["files"]["video"], headers={"Range": "bytes=abc", "If-Range": '"another-version"'})
    assert status == 200 and whole == video  # the file changed since: the whole of it, the range set aside
    assert request(server.url + state["files"]["csv"])[1].startswith(b"frame,time_s,source,track_id")
    summary = json.loads(request(server.url + state["files"]["summary"])[1])  # the summary live writes (it lacked the version and source fields)
    assert summary["latency"]["draw"]["median_ms"] > 0 and summary["schema_version"] >= 1 and summary["source"] == "upload" and summary["ended_early"] is None and summary["frames"] == 24 and state["warning"] is None and state["faces"] == summary["faces"] > 0
    # too long, and not a video at all
    long_clip = make_demo_clip(tmp_path / "long.mp4", frames=100, width=160, height=90, fps=4)  # 25 s
    status, data = post_json(server.url + "/api/videos", long_clip.read_bytes())
    assert status == 413 and "20 s (the server's --max-video-seconds)" in data["error"]
    status, data = post_json(server.url + "/api/videos", b"not a video" * 100)
    assert status == 400 and "not a readable video" in data["error"]
    _, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))  # was annotated as a one-frame video
    status, data = post_json(server.url + "/api/videos", jpeg.tobytes())
    assert status == 400 and "this is a photo, not a video: send it to /api/analyze" in data["error"]
    # zeros (a broken download) and a tar archive were read as "text art" videos, as the upload was saved as upload.bin
    for body in (bytes(25600), b"ustar".rjust(512, b"\0") * 40):
        status, data = post_json(server.url + "/api/videos", body)
        assert status == 400 and "not a readable video" in data["error"], data
    wide = tmp_path / "wide.avi"  # 3.4 megapixels, but wider than the H.264 encoder takes: it failed mid-job with a traceback
    writer = cv2.VideoWriter(str(wide), cv2.VideoWriter_fourcc(*"MJPG"), 10, (17000, 200))
    for _ in range(3):
        writer.write(np.full((200, 17000, 3), 100, np.uint8))
    writer.release()
    status, data = post_json(server.url + "/api/videos", wide.read_bytes())
    assert status == 413 and "17000 x 200; the limit is 8192 pixels a side" in data["error"]


def test_a_token_guards_the_api_and_the_camera_and_slow_clients_are_cut_off():
    srv = ServerProcess("--token", "s3cret", "--sentiment", "none", "--gender", "none", "--timeout", "2")
    try:
        host, port = srv.url.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:  # a head that never ends
            t0, closed = time.monotonic(), False
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            while not closed and time.monotonic() - t0 < 8:
                time.sleep(0.25)
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                    closed = s.recv(1, socket.MSG_DONTWAIT) == b""
                except BlockingIOError:
                    pass  # still open, nothing to read
                except ConnectionError:
                    closed = True
            assert closed and time.monotonic() - t0 < 4, "the server kept a trickling connection open"
        with socket.create_connection((host, int(port)), timeout=10) as s:  # a body that never ends
            s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Length: 1000\r\n\r\n")
            assert raw_answer(s).startswith(b"HTTP/1.1 408")
        photo = jpeg(demo_photo())
        status, data = post_json(srv.url + "/api/analyze", photo)
        assert status == 401 and data["error"].startswith("this server needs its access token")
        # a wrong token was told it was missing (found by a newcomer's trial)
        status, data = post_json(srv.url + "/api/analyze", photo, headers={"Authorization": "Bearer wrong"})
        assert status == 401 and data["error"].startswith("the access token sent is not this server's")
        status, data = post_json(srv.url + "/api/analyze", photo, headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and data["sentiment"] is None and "gender" not in data["faces"][0]
        assert json.loads(request(srv.url + "/api/health")[1])["token_required"] is True
        # the page checks a typed token before keeping it (a wrong one was kept silently; found by a bug hunt)
        assert request(srv.url + "/api/token", headers={"Authorization": "Bearer wrong"})[0] == 401
        status, body, _ = request(srv.url + "/api/token", headers={"Authorization": "Bearer s3cret"})
        assert status == 200 and json.loads(body) == {"token": "accepted"}
        status, data = post_json(srv.url + "/api/analyze?token=s3cret", photo)  # a 401 that never said why (found by review)
        assert status == 400 and "send the token as a header: Authorization: Bearer TOKEN" in data["error"]
        spec = json.loads(request(srv.url + "/openapi.json")[1])  # /docs has an Authorize button that sends the token
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert {"HTTPBearer": []} in spec["paths"]["/api/analyze"]["post"]["security"] and "401" in spec["paths"]["/api/analyze"]["post"]["responses"]
        with pytest.raises(ConnectionClosed) as closed:
            with connect(srv.ws_url + "/ws/live") as ws:
                ws.recv(10)
        assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == "this server needs its access token"
        with pytest.raises(ConnectionClosed) as closed:  # a wrong one is said to be wrong, as over HTTP (found by a bug hunt)
            with connect(srv.ws_url + "/ws/live?token=wrong") as ws:
                ws.recv(10)
        assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == "the access token sent is not this server's"
        for path, said in (("/ws/live/", "no WebSocket at /ws/live/; the camera's is /ws/live, without the final /"), ("/ws/camera", "no WebSocket at /ws/camera; the camera's is /ws/live")):
            with pytest.raises(ConnectionClosed) as closed:  # a bare 403 that clients show as "handshake failed" (found by a bug hunt)
                with connect(srv.ws_url + path) as ws:
                    ws.recv(10)
            assert closed.value.rcvd.code == 1008 and closed.value.rcvd.reason == said
        assert request(srv.url + "/ws/camera")[0] == 404  # over HTTP: no such URL, not "is a WebSocket"
        with connect(srv.ws_url + "/ws/live?token=s3cret") as ws:
            ws.send(photo)
            assert json.loads(ws.recv(30))["type"] == "result"
        with connect(srv.ws_url + "/ws/live", additional_headers={"Authorization": "Bearer s3cret"}) as ws:  # the README's header, for clients that can send one
            ws.send(photo)
            assert json.loads(ws.recv(30))["type"] == "result"
    finally:
        srv.close()


def test_every_inference_command_takes_a_device():
    from facesense.cli import build_parser

    parser = build_parser()
    for argv in (["serve"], ["live"], ["demo"], ["predict", "gender", "x.jpg"], ["evaluate", "gender", "--data", "d"]):
        assert parser.parse_args([*argv, "--device", "cpu"]).device == "cpu"
    from facesense.serve.analyzer import Analyzer

    analyzer = Analyzer(sentiment=None, device="cpu")
    assert analyzer.models.expression.session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_limits_refuse_sizes_that_are_not_positive_and_finite(value):
    # an API user's inf upload limit used to pass and then overflow the byte count on every upload
    with pytest.raises(FacesenseError, match="max-upload-mb=.*must be > 0 and finite"):
        ServeLimits(max_upload_mb=value)
    assert ServeLimits(max_upload_mb=5.0).max_upload_bytes == 5 * 2**20


def test_a_video_without_a_frame_count_is_counted_not_refused(tmp_path):
    # a browser's MediaRecorder (or any live muxer) writes WebM with no duration: OpenCV then
    # reports a negative frame count, and the upload was refused as "no frames"
    av = pytest.importorskip("av")
    from facesense.serve.jobs import probe_video

    path = tmp_path / "live.webm"
    with av.open(str(path), "w", format="webm", options={"live": "1"}) as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(12):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 20, np.uint8), format="rgb24")))
        out.mux(stream.encode())
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) <= 0
    assert probe_video(path, max_seconds=60, max_megapixels=1) == (12, 10.0)
    with pytest.raises(FacesenseError, match="the limit is 1 s"):  # the count still enforces the length limit
        probe_video(path, max_seconds=1, max_megapixels=1)


def test_a_new_server_removes_the_upload_folders_of_killed_ones(tmp_path):
    import os

    from facesense.runs import host_name
    from facesense.serve.app import remove_abandoned_roots

    killed = tmp_path / f"facesense-serve-{host_name()}.{2**22 + 1}-abc"  # no process has that pid
    (killed / "item").mkdir(parents=True)
    (killed / "item" / "upload.bin").write_bytes(b"x" * 100)
    running = tmp_path / f"facesense-serve-{host_name()}.{os.getpid()}-def"
    elsewhere = tmp_path / f"facesense-serve-otherhost.{2**22 + 1}-ghi"  # another machine's /tmp share
    unrelated = tmp_path / "facesense-serve-notes"
    for folder in (running, elsewhere, unrelated):
        folder.mkdir()
    remove_abandoned_roots(tmp_path)
    assert not killed.exists() and running.exists() and elsewhere.exists() and unrelated.exists()


def test_a_failed_video_job_leaves_no_half_made_file_to_download(tmp_path):
    from types import SimpleNamespace

    from facesense.serve.jobs import FileStore, VideoJobs
    from facesense.stream.pipeline import FaceModels, PipelineSettings

    class BrokenDetector:
        def detect(self, image):
            raise RuntimeError("detector broke mid-video")

    store = FileStore(tmp_path / "store")
    analyzer = SimpleNamespace(models=FaceModels(None, None, None), detector=BrokenDetector(), settings=PipelineSettings())
    videos = VideoJobs(analyzer, store)
    item, folder = store.new_folder()
    upload = make_demo_clip(folder / "upload.mp4", frames=10)
    assert videos.reserve()
    job = videos.submit(item, folder, upload, 10)
    for _ in range(200):
        if job.state in ("done", "failed"):
            break
        time.sleep(0.05)
    videos.close()
    assert job.state == "failed" and job.files == {}
    assert not any(folder.iterdir())  # frames.csv (header only) was served before
    assert store.path(item, "frames.csv") is None


def test_a_video_job_running_when_the_server_stops_ends_quietly(tmp_path, caplog):
    from types import SimpleNamespace

    from facesense.serve.jobs import FileStore, VideoJobs
    from facesense.stream.pipeline import FaceModels, PipelineSettings

    class SlowDetector:
        def detect(self, image):
            time.sleep(0.05)
            return []

    store = FileStore(tmp_path / "store")
    videos = VideoJobs(SimpleNamespace(models=FaceModels(None, None, None), detector=SlowDetector(), settings=PipelineSettings()), store)
    item, folder = store.new_folder()
    assert videos.reserve()
    job = videos.submit(item, folder, make_demo_clip(folder / "upload.mp4", frames=60), 60)
    deadline = time.monotonic() + 60
    while job.frames_done < 2 and job.state != "failed" and time.monotonic() < deadline:
        time.sleep(0.02)
    videos.close()  # Ctrl-C on serve: its folders are removed next
    for _ in range(200):
        if job.state == "failed":
            break
        time.sleep(0.05)
    assert job.state == "failed" and "server stopped" in job.error and job.frames_done < 60
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # a traceback was logged


def test_a_video_longer_than_its_header_says_is_stopped_at_the_limit(tmp_path):
    """The length limit trusted the header's frame count: a 24 s video whose header declared 2
    frames went through whole ("frame 400 of 2")."""
    from facesense.serve.analyzer import Analyzer
    from facesense.serve.jobs import FileStore, VideoJobs

    videos = VideoJobs(Analyzer(None, None, sentiment=None, age=None), FileStore(tmp_path / "store"))
    try:
        item, folder = videos.store.new_folder()
        assert videos.reserve()
        upload = make_demo_clip(folder / "upload.bin.mp4", frames=40, width=160, height=90, fps=10)  # 4 s
        job = videos.submit(item, folder, upload, frames_total=2, max_seconds=1.5)
        deadline = time.monotonic() + 60
        while job.state in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job.state == "failed" and "lasts more than the limit of 1.5 s" in job.error
        assert job.frames_done <= 16
    finally:
        videos.close()


def test_limit_messages_tell_the_value_from_the_limit(monkeypatch, capsys):
    from facesense.cli import main
    from facesense.errors import over_limit

    assert over_limit(30.04, 30) == ("30.04", "30")
    assert over_limit(52429 / 2**20, 52428 / 2**20) == ("0.05", "0.049999")
    assert over_limit(2.4, 2) == ("2.4", "2")
    # "the upload is 2.5e+02 MB; the limit is 2e+02 MB" (found by a bug hunt)
    assert over_limit(250, 200) == ("250", "200") and over_limit(700, 600) == ("700", "600") and over_limit(254.3, 200) == ("254", "200")
    from facesense.data.images import ImageTooLarge, declared_size

    with pytest.raises(ImageTooLarge, match="= 40.01 megapixels; the limit is 40 megapixels"):  # "40.0 ... limit is 40" (found by a bug hunt)
        declared_size(bomb_png(6330, 6320, rows_per_block=10), 40)
    # past Pillow's own limit (about 179 MP), a higher --max-megapixels is not the limit that stops it (found by a review)
    with pytest.raises(ImageTooLarge, match=r"declares 225 megapixels; the image reader \(Pillow\) decodes at most 179 megapixels") as err:
        declared_size(bomb_png(15000, 15000), 500)
    assert not err.value.set_by_option
    monkeypatch.setenv("FACESENSE_TOKEN", "")  # `-e FACESENSE_TOKEN=$TOKEN` with TOKEN unset
    assert main(["serve"]) == 2
    assert "FACESENSE_TOKEN is set but empty" in capsys.readouterr().err


def test_the_address_printed_for_every_interface_is_one_a_browser_can_open():
    """`--host 0.0.0.0` printed http://0.0.0.0:8000/, which no browser can open: this machine's
    own address is printed, and where the machine has a route, the one other devices may use."""
    from facesense.serve.server import _other_devices_address

    for every in ("0.0.0.0", "::"):
        assert _other_devices_address(every) not in ("0.0.0.0", "::", "")
    assert _other_devices_address("127.0.0.1") is None and _other_devices_address("192.168.1.5") is None


def test_a_video_job_can_be_cancelled_and_every_page_answers_head(server, tmp_path):
    """DELETE /api/videos/ID was 405, so a job the page had replaced ran on and held one of the
    few places; HEAD was 405 on every route, so uptime monitors saw the server as down (found by
    a bug hunt)."""
    clip = make_demo_clip(tmp_path / "clip.mp4", frames=200)
    status, job = post_json(server.url + "/api/videos", clip.read_bytes())
    assert status == 200
    status, body, _ = request(server.url + job["status"], method="DELETE")
    assert status == 200 and json.loads(body) == {"id": job["id"], "state": "cancelled"}
    state = json.loads(request(server.url + job["status"])[1])  # at once: it said "running" for another second (found by a bug hunt)
    assert state["state"] == "cancelled" and state["frames_done"] < 200 and state["files"] == {}, state
    assert request(server.url + "/api/videos/nosuchjob", method="DELETE")[0] == 404
    # a restarted server has no job nor file of the one before: said so (it blamed newer downloads; found by a third bug hunt)
    for path in ("/api/videos/nosuchjob", "/api/files/nosuchitem/frames.csv"):
        status, body, _ = request(server.url + path)
        assert status == 404 and "restarted" in json.loads(body)["error"], (path, body)
    # curl -d @photo.jpg: the bytes arrive without their line breaks, as form data
    status, data = post_json(server.url + "/api/analyze", jpeg(np.full((64, 64, 3), 90, np.uint8)).replace(b"\n", b""), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and "send it with curl --data-binary @FILE" in data["error"], data
    # an animated GIF sent as a video is a video: read as a photo, it came out as one frame (found by review)
    from PIL import Image

    frames = [Image.fromarray(np.full((48, 64, 3), 20 * i, np.uint8)) for i in range(12)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    status, job = post_json(server.url + "/api/videos", (tmp_path / "anim.gif").read_bytes())
    assert status == 200, job
    deadline = time.monotonic() + 60
    while (state := json.loads(request(server.url + job["status"])[1]))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["state"] == "done" and state["frames_done"] == 12, state
    for path in ("/", "/api/health", "/static/app.js"):
        status, body, headers = request(server.url + path, method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0, path


def test_the_server_writes_its_address_for_a_health_check_and_removes_it_when_it_stops(tmp_path):
    """The container's HEALTHCHECK asked port 8000 over http, so `serve --port 9000` or a TLS
    server read as unhealthy: the server now says where it is, in $FACESENSE_URL_FILE."""
    url_file = tmp_path / "serve.url"
    srv = ServerProcess("--sentiment", "none", "--token", "café", env={"FACESENSE_URL_FILE": str(url_file)})
    try:
        written = url_file.read_text().strip()
        assert written == srv.url + "/"
        assert request(written + "api/health")[0] == 200
        # a token beyond ASCII, as browsers and Python send it (Latin-1: one byte) and as curl does (UTF-8)
        for sent in ("café", "café".encode().decode("latin-1")):
            assert request(srv.url + "/api/analyze", b"", headers={"Authorization": f"Bearer {sent}"})[0] == 400, sent  # past the token: an empty body
        assert request(srv.url + "/api/analyze", b"", headers={"Authorization": "Bearer cafe"})[0] == 401
    finally:
        srv.close()
    assert not url_file.exists()


def test_two_servers_in_one_container_each_keep_their_address_for_the_health_check(tmp_path):
    """A second `serve` in one container took over $FACESENSE_URL_FILE and removed it on exit,
    so the health check failed while the first still ran (and the other way round: found by
    review). Each server keeps its own line; a killed server's line (nobody answers) is dropped."""
    import socket

    from facesense.serve.server import claim_url_file, release_url_file

    url_file = tmp_path / "serve.url"
    with socket.socket() as first_socket, socket.socket() as second_socket:
        for sock in (first_socket, second_socket):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        first, second = (f"http://127.0.0.1:{sock.getsockname()[1]}/" for sock in (first_socket, second_socket))
        claim_url_file(url_file, first)
        claim_url_file(url_file, second)
        assert url_file.read_text().split() == [first, second]
        release_url_file(url_file, first)  # the first stops: the second is still found
        assert url_file.read_text().split() == [second]
        claim_url_file(url_file, first)
    claim_url_file(url_file, "http://127.0.0.1:9/")  # both were killed: their lines go
    assert url_file.read_text().split() == ["http://127.0.0.1:9/"]
    release_url_file(url_file, "http://127.0.0.1:9/")
    assert not url_file.exists()


def test_max_connections_holds_that_many_and_a_token_must_fit_a_header(capsys):
    """--max-connections 1 refused every request (uvicorn counts the asking connection), and a
    token with a character outside Latin-1 was taken, though no browser can send it in a header:
    the page's uploads failed as "could not reach the server" (found by a bug hunt)."""
    from facesense.cli import main

    for token in ("k\u20acy", "line\nbreak"):
        assert main(["serve", "--token", token]) == 2 and "a character an HTTP header cannot carry" in capsys.readouterr().err
    assert main(["serve", "--token", "s3cret "]) == 2 and "a browser leaves out of the header" in capsys.readouterr().err
    srv = ServerProcess("--max-connections", "1", "--expression", "none", "--gender", "none", "--age", "none", "--sentiment", "none")
    try:
        assert request(srv.url + "/api/health")[0] == 200
        host, port = srv.url.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10):  # the one connection it holds
            time.sleep(0.3)
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                request(srv.url + "/api/health")
        time.sleep(0.3)
        assert request(srv.url + "/api/health")[0] == 200
    finally:
        srv.close()


def test_an_empty_recording_keeps_no_folder_and_an_evicted_job_says_so(tmp_path):
    """33 empty recordings pushed every finished video job's files out, and the job still said
    "done" with links that answered 404 (found by a bug hunt)."""
    from types import SimpleNamespace

    from facesense.serve.jobs import FileStore, Recording

    store = FileStore(tmp_path, keep=2)
    models = SimpleNamespace(expression=None, gender=None, age=None)
    kept, kept_folder = store.new_folder()
    store.finished(kept)
    for _ in range(5):
        assert Recording(store, models).finish() == {"frames": 0, "csv": None, "timeline": None}
    assert store.has(kept) and kept_folder.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == [kept]
    from facesense.serve.jobs import VideoJob, VideoJobs

    jobs = VideoJobs(None, store)
    jobs.jobs[kept] = VideoJob(kept, kept_folder, kept_folder / "upload", 1, state="done")
    assert jobs.get(kept) is not None
    store.drop(kept)  # made room for newer downloads
    assert jobs.get(kept) is None
    assert jobs.cancel(kept) is None  # DELETE answered "deleted" where GET answers 404 (found by a bug hunt)


def test_a_still_gif_is_a_photo_and_a_moving_one_a_video(tmp_path):
    """A still GIF sent to /api/videos became a one-frame video job (found by a bug hunt)."""
    from PIL import Image

    from facesense.errors import FacesenseError
    from facesense.serve.jobs import probe_video

    still, moving = tmp_path / "still.gif", tmp_path / "moving.gif"
    Image.new("RGB", (64, 48), (90, 90, 90)).save(still)
    frames = [Image.new("RGB", (64, 48), (10 * i, 90, 90)) for i in range(6)]
    frames[0].save(moving, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(FacesenseError, match="this is a photo, not a video"):
        probe_video(still, 20, 4)
    assert probe_video(moving, 20, 4)[0] == 6
    webp = tmp_path / "moving.webp"  # FFmpeg cannot decode animated WebP: it was "the video has no frames that can be read"
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(FacesenseError, match="an animated WEBP whose frames cannot be read as a video here: convert it to MP4 or GIF, or send it to /api/analyze"):
        probe_video(webp, 20, 4)
    apng = tmp_path / "upload"  # an animated PNG FFmpeg plays is a video of its frames
    frames[0].save(apng, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    assert probe_video(apng, 20, 4)[0] == 6
    from test_live_outputs import camera_profile  # one with a colour profile it plays as one frame: a "done" job of 1 frame of 6 (found by a bug hunt)

    frames[0].save(apng, format="PNG", save_all=True, append_images=frames[1:], duration=100, icc_profile=camera_profile())
    with pytest.raises(FacesenseError, match="an animated PNG whose frames cannot be read as a video here: convert it to MP4 or GIF"):
        probe_video(apng, 20, 4)
    for fmt in ("PPM", "ICO", "TIFF"):  # any still format: these became one-frame video jobs (found by a bug hunt)
        upload = tmp_path / f"upload_{fmt}"
        Image.new("RGB", (64, 48), (90, 90, 90)).save(upload, format=fmt)
        with pytest.raises(FacesenseError, match="this is a photo, not a video"):
            probe_video(upload, 20, 4)


def silence(path, codec: str, rate: int, samples: int, frames: int):
    """A sound file of `frames` mono frames of silence, `samples` each: no video track."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        for i in range(frames):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i * samples
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_a_sound_file_is_neither_a_photo_nor_a_video(tmp_path, server):
    """An audio-only MP4 was sent from /api/analyze ("this is a video") to /api/videos ("not a
    readable video") and back (found by a bug hunt)."""
    from facesense.serve.analyzer import audio_only, decode_image
    from facesense.serve.jobs import probe_video

    sound = silence(tmp_path / "sound.mp4", "aac", 16000, 1024, 5)
    with pytest.raises(FacesenseError, match="no video track"):
        probe_video(sound, 20, 4)
    with pytest.raises(FacesenseError, match="this is a sound file"):
        decode_image(sound.read_bytes())
    for path, said in (("/api/analyze", "this is a sound file"), ("/api/videos", "no video track")):  # sent as urllib sends bytes: a form's type
        status, data = post_json(server.url + path, sound.read_bytes())
        assert status == 400 and said in data["error"] and "curl -d" not in data["error"], data
    # a file named for what it is gets no hint about its bytes: a sound file without a line break,
    # sent with curl --data-binary (a form's type), was told to use curl --data-binary (found by a second hunt)
    from types import SimpleNamespace

    from facesense.serve.app import _bytes_hint

    form = SimpleNamespace(headers={"content-type": "application/x-www-form-urlencoded"})
    assert _bytes_hint("the file has no video track (only sound): send a video", form, bytes(600)) == ""
    assert "curl -d" in _bytes_hint("not a readable image (send JPEG ...)", form, bytes(600))
    video = make_demo_clip(tmp_path / "clip.mp4", frames=3)  # a video with its picture is no sound file
    with pytest.raises(FacesenseError, match="this is a video, not a photo"):
        decode_image(video.read_bytes())
    # sound of other kinds was "not a readable image" or "not a readable video" (found by a bug hunt)
    for codec, name, rate, samples in (("pcm_s16le", "sound.wav", 16000, 1024), ("mp3", "sound.mp3", 44100, 1152), ("flac", "sound.flac", 16000, 1024)):
        sound = silence(tmp_path / name, codec, rate, samples, 5)
        with pytest.raises(FacesenseError, match="this is a sound file"):
            decode_image(sound.read_bytes())
        with pytest.raises(FacesenseError, match="no video track"):
            probe_video(sound, 20, 4)
    assert audio_only(b"\xff\xf1\x50\x80" + bytes(60))  # AAC in ADTS frames
    with pytest.raises(FacesenseError, match="not a readable image"):  # UTF-16 text's FF FE is no MPEG frame (found by a review)
        decode_image(b"\xff\xfe" + "hello, world".encode("utf-16-le"))
    # an iPhone's HEIC photo, which Pillow cannot read without a plugin, is named with the way out
    heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200)
    with pytest.raises(FacesenseError, match=r"a HEIC photo \(an iPhone's default format\), which cannot be read here: send it as JPEG"):
        decode_image(heic)


def song_with_cover(path, picture: bytes):
    """An MP3 of silence whose ID3 tag holds a cover picture (APIC), as most music files do."""
    song = silence(path.with_suffix(".bare.mp3"), "mp3", 44100, 1152, 20)
    body = b"\0image/jpeg\0\x03\0" + picture  # Latin-1 text, MIME type, "front cover", no description
    frame = b"APIC" + len(body).to_bytes(4, "big") + b"\0\0" + body
    size = bytes((len(frame) >> shift) & 0x7F for shift in (21, 14, 7, 0))  # ID3's 7-bit bytes
    path.write_bytes(b"ID3\x03\0\0" + size + frame + song.read_bytes())
    return path


def test_a_song_with_a_cover_picture_is_not_a_one_frame_video(tmp_path, server):
    """An MP3 with album art was annotated as a video of one frame (frames_total 230400), and
    `live --source song.mp3` labelled the cover's face (found by a bug hunt)."""
    from facesense.serve.jobs import probe_video
    from facesense.stream.frames import SourceError, VideoFileSource

    song = song_with_cover(tmp_path / "song.mp3", jpeg(demo_photo()))
    with pytest.raises(FacesenseError, match="sound with a cover picture"):
        probe_video(song, 20, 4)
    status, data = post_json(server.url + "/api/videos", song.read_bytes())
    assert status == 400 and "sound with a cover picture (no video track): send a video" in data["error"], data
    with pytest.raises(SourceError, match="song.mp3: a sound file with a cover picture, no video track; give a video"):
        VideoFileSource(song)
    clip = make_demo_clip(tmp_path / "clip.mp4", frames=3)  # a video stays a video
    VideoFileSource(clip).close()


def test_a_huge_photo_still_gets_its_annotated_copy(server):
    """A 70,000 x 5 px photo: annotated_jpeg_base64 was null (JPEG holds 65,500 px at most) and
    the page showed a broken image (found by a bug hunt)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (70000, 5), (90, 90, 90)).save(buf, format="PNG")
    status, data = post_json(server.url + "/api/analyze", buf.getvalue())
    assert status == 200 and data["width"] == 70000 and data["annotated_jpeg_base64"]


def test_a_video_sent_as_a_photo_is_pointed_to_the_video_api(tmp_path):
    """POST /api/analyze with a video said only "not a readable image" (found by a bug hunt)."""
    from facesense.errors import FacesenseError
    from facesense.serve.analyzer import decode_image

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=3)
    with pytest.raises(FacesenseError, match="this is a video, not a photo: send it to POST /api/videos"):
        decode_image(clip.read_bytes())
    from PIL import Image, features

    if features.check("avif"):  # an AVIF photo shares MP4's container: it is still a photo (found by review)
        import io

        buf = io.BytesIO()
        Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(buf, format="AVIF")
        assert decode_image(buf.getvalue()).shape == (48, 64, 3)


def test_a_server_told_to_stop_answers_an_upload_still_arriving_and_the_video_queue_is_an_option(tmp_path):
    """Stopped while an upload was arriving, the server cut it off after its grace period with
    a bare 500 and printed a traceback; the video queue's length was fixed and undocumented
    (found by a bug hunt)."""
    import signal

    srv = ServerProcess("--video-queue", "0")
    try:
        clip = make_demo_clip(tmp_path / "clip.mp4", frames=300)
        status, job = post_json(srv.url + "/api/videos", clip.read_bytes())
        assert status == 200, job
        small = make_demo_clip(tmp_path / "small.mp4", frames=3)  # (refused before it is read: a large body would meet a closed connection)
        status, busy = post_json(srv.url + "/api/videos", small.read_bytes())
        assert status == 503 and "busy with other videos" in busy["error"], busy
        host, port = srv.url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.5)
            srv.proc.send_signal(signal.SIGTERM)
            answer = raw_answer(sock)
        assert answer.startswith(b"HTTP/1.1 503") and b"the server is stopping" in answer, answer[:300]
        srv.proc.wait(30)
        assert "Traceback" not in "".join(srv.stderr) and "ERROR" not in "".join(srv.stderr), "".join(srv.stderr)[-2000:]
    finally:
        srv.close()


class SlowAnalyzer:
    """Stands in for the models: each photo takes `seconds` to analyse."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def analyze(self, data, max_megapixels):
        time.sleep(self.seconds)
        return {"faces": []}


@contextlib.contextmanager
def in_process_server(analyzer, limits: ServeLimits):
    """The app on a loopback port of this process, for analyzers that stand in for the models."""
    from facesense.serve.app import create_app

    with in_process_app(create_app(analyzer, limits), limits) as address:
        yield address


@contextlib.contextmanager
def in_process_app(app, limits: ServeLimits):
    """`app` served on a loopback port of this process -> its address."""
    import uvicorn

    from facesense.serve.server import uvicorn_config

    server = uvicorn.Server(uvicorn_config(app, limits))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_photo_being_analysed_when_the_server_begins_to_stop_is_answered_not_cut_off():
    """Ctrl-C with photos in flight: uvicorn's grace period ended them with a bare 500 "Internal
    Server Error" and a traceback each (found by a bug hunt); uploads still arriving were
    already answered 503."""
    from facesense.serve.app import create_app

    limits = ServeLimits()
    app = create_app(SlowAnalyzer(3), limits)
    with in_process_app(app, limits) as address, socket.create_connection(address, timeout=10) as s:
        s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + b"x" * 10)
        time.sleep(0.5)  # being analysed
        t0 = time.monotonic()
        app.state.begin_stopping()
        answer, took = raw_answer(s), time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 503") and b"the server is stopping; send the photo again once it is back" in answer, answer
    assert took < 1.5, took


def test_timeout_bounds_the_whole_request_upload_included():
    """A photo trickled in over most of --timeout was then given a whole --timeout more to be
    analysed: with --timeout 2, an answer after 3-5 s (found by a bug hunt)."""
    with in_process_server(SlowAnalyzer(1.5), ServeLimits(request_timeout_s=2.0)) as address:
        with socket.create_connection(address, timeout=10) as s:
            body = b"x" * 1000
            t0 = time.monotonic()
            s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), 100):  # the upload takes 0.8 s of the 2
                s.sendall(body[i:i + 100])
                time.sleep(0.08)
            answer, took = raw_answer(s), time.monotonic() - t0
        assert answer.startswith(b"HTTP/1.1 503") and b"the upload and analysis of this image took longer than 2 s (--timeout)" in answer, answer
        assert took < 2.6, took


def test_a_photo_whose_upload_took_most_of_the_timeout_is_told_so_not_busy():
    """With the upload using most of --timeout, a short wait for a worker was answered "the
    server is busy; try again": the retry would be as slow (found by a review)."""
    release = threading.Event()

    class Blocking(SlowAnalyzer):
        def analyze(self, data, max_megapixels):
            release.wait(10)
            return {"faces": []}

    with in_process_server(Blocking(0), ServeLimits(request_timeout_s=2.0, workers=1, queue=1)) as address:
        blocker = threading.Thread(target=lambda: request(f"http://{address[0]}:{address[1]}/api/analyze", b"x" * 10, timeout=15))
        blocker.start()  # the one worker busy
        time.sleep(0.2)
        with socket.create_connection(address, timeout=10) as s:
            body = b"x" * 1000
            s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), 100):  # 1.5 s of the 2
                s.sendall(body[i:i + 100])
                time.sleep(0.15)
            answer = raw_answer(s)
        release.set()
        blocker.join(15)
    assert answer.startswith(b"HTTP/1.1 503") and b"of the 2 s a request may take (--timeout), leaving too little for the analysis" in answer, answer
    assert b"Retry-After" not in answer


@pytest.mark.parametrize("limit", ["0.05", "1.2345"])
def test_an_upload_over_a_fractional_limit_names_the_limit_as_given(limit):
    """A chunked upload over --max-upload-mb 0.05 was told the limit was 0.0499992 MB (and
    one over 1.2345 would have read 1.234; found by a review)."""
    with in_process_server(SlowAnalyzer(0), ServeLimits(max_upload_mb=float(limit))) as address:
        with socket.create_connection(address, timeout=30) as s:
            chunk = b"x" * int(float(limit) * 2**20 + 4096)
            s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
            answer = raw_answer(s)
    assert answer.startswith(b"HTTP/1.1 413") and f"over the limit of {limit} MB".encode() in answer, answer


def test_a_photo_cut_short_after_its_header_is_said_to_be_cut_short():
    """Pillow's "Truncated File Read" (a capital T: a cut inside a camera photo's metadata) was
    answered "not a readable image"."""
    from PIL import Image

    from facesense.serve.analyzer import decode_image

    saved = io.BytesIO()
    Image.fromarray(demo_photo()[:, :, ::-1]).save(saved, "JPEG", icc_profile=bytes(20000))  # a colour profile, as cameras write
    photo = saved.getvalue()
    for n in (1000, 3000, 5000, len(photo) // 2):
        with pytest.raises(FacesenseError, match=f"the image is cut short \\({n:,} bytes arrived\\): send the whole file"):
            decode_image(photo[:n])


def test_a_port_in_use_is_said_before_the_models_load(monkeypatch, capsys):
    """`serve --port <in use>` loaded every model (seconds) before saying so (found by a bug hunt)."""
    import facesense.serve.analyzer as analyzer_module
    from facesense.cli import main

    def no_models(*args, **kwargs):
        raise AssertionError("the models were loaded")

    monkeypatch.setattr(analyzer_module, "Analyzer", no_models)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use); choose another --port or --host" in capsys.readouterr().err


def test_a_video_jobs_summary_names_its_models_without_the_servers_paths(tmp_path):
    """/api/health names one's own models by their file's or run folder's name (any client reads
    it), but a video job's summary.json, which any client downloads, gave the server's full paths
    (found by a bug hunt of serve with one's own models)."""
    from types import SimpleNamespace

    from facesense.serve.jobs import FileStore, VideoJobs
    from facesense.stream.pipeline import FaceModels, PipelineSettings

    class NoFaces:
        def detect(self, image):
            return []

    own = SimpleNamespace(name=str(tmp_path / "private" / "models" / "mine.onnx"), classes=["cat", "dog"], predict_boxes=lambda image, boxes: np.zeros((len(boxes), 2)))
    from facesense.serve.analyzer import public_model_names

    models = FaceModels(own, None, None)
    analyzer = SimpleNamespace(models=models, detector=NoFaces(), detector_name="centerface", settings=PipelineSettings(),
                               model_names=lambda: public_model_names(models.names() | {"sentiment": None}))
    store = FileStore(tmp_path / "store")
    videos = VideoJobs(analyzer, store)
    item, folder = store.new_folder()
    assert videos.reserve()
    job = videos.submit(item, folder, make_demo_clip(folder / "upload.mp4", frames=4, width=160, height=90), 4)
    deadline = time.monotonic() + 60
    while job.state in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    videos.close()
    assert job.state == "done", job.error
    summary = json.loads(store.path(item, "summary.json").read_text())
    assert summary["models"] == {"expression": "mine.onnx", "gender": None, "age": None}
    assert str(tmp_path) not in json.dumps(summary)


def test_the_models_are_named_by_their_own_names_however_they_were_given(tmp_path, monkeypatch):
    """`serve --expression .` inside a run folder was named '' in /api/health, and every run's
    checkpoint 'best.pt'."""
    from facesense.serve.analyzer import public_model_name

    run = tmp_path / "runs" / "expression" / "mine-3"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"x")
    (tmp_path / "own.onnx").write_bytes(b"x")
    monkeypatch.chdir(run)
    assert public_model_name(".") == "mine-3"
    assert public_model_name("best.pt") == public_model_name(str(run / "best.pt")) == "mine-3/best.pt"
    assert public_model_name("..") == "expression"
    assert public_model_name(str(tmp_path / "own.onnx")) == "own.onnx"
    assert public_model_name(str(run) + "/") == "mine-3"
    assert public_model_name("gender_age") == "gender_age" and public_model_name("dlib-gender") == "dlib-gender"


def test_a_model_refused_as_the_sentiment_model_is_named_by_its_option():
    """`serve --sentiment age` said "error: age estimates ages, not classes" without naming
    --sentiment, as --expression and --gender are named."""
    from facesense.serve.analyzer import Analyzer

    for given, said in (("age", "estimates ages"), ("centerface", "is the face detector"), ("no-such-model.onnx", "not found")):
        with pytest.raises(FacesenseError, match=f"^--sentiment {given}: {said}"):
            Analyzer(None, None, sentiment=given, age=None)
