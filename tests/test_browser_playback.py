"""The annotated video plays in a browser: Chromium (Debian's, driven by Playwright) loads and
plays facesense's H.264 MP4 and refuses the MPEG-4 Part 2 fallback, so the check can fail.
Skipped where Playwright or a Chromium is not installed."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright not installed: pip install -e \".[browser]\" and apt-get install -y chromium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt install chromium)")

PLAY = """async (src) => {
    const v = document.createElement('video'); v.muted = true; v.src = src; document.body.appendChild(v);
    const state = await new Promise(done => {
        v.onloadeddata = () => done('loaded'); v.onerror = () => done('error'); setTimeout(() => done('timeout'), 15000);
    });
    if (state !== 'loaded') return {state};
    await v.play();
    await new Promise(done => setTimeout(done, 400));
    return {state, width: v.videoWidth, height: v.videoHeight, time: v.currentTime};
}"""


def write_video(path, fallback: bool, monkeypatch) -> None:
    from facesense.stream import sinks

    if fallback:
        monkeypatch.setattr(sinks, "h264_available", lambda: False)
    sink = sinks.VideoSink(path, 25)
    rng = np.random.default_rng(0)
    for i in range(25):
        sink.write(None, (rng.random((120, 160, 3)) * 255).astype(np.uint8))
    sink.close()
    monkeypatch.undo()


def test_annotated_video_plays_in_chromium(tmp_path, monkeypatch):
    write_video(tmp_path / "h264.mp4", False, monkeypatch)
    write_video(tmp_path / "mpeg4.mp4", True, monkeypatch)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            h264 = page.evaluate(PLAY, "/h264.mp4")
            mpeg4 = page.evaluate(PLAY, "/mpeg4.mp4")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert h264["state"] == "loaded" and (h264["width"], h264["height"]) == (160, 120) and h264["time"] > 0, h264
    assert mpeg4["state"] != "loaded", "the control (MPEG-4 Part 2) should not play; the check would prove nothing"
