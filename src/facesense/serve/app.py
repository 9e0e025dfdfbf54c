"""`facesense serve`: the web app on FastAPI (served by uvicorn). A page with the live camera,
photos and video files; a JSON API for a photo (`POST /api/analyze`), a WebSocket for camera
frames, background jobs for videos, OpenAPI docs at /docs. Models are loaded once per process;
the limits in `ServeLimits` hold before any image is decoded."""

from __future__ import annotations

import asyncio
import base64
import glob
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPBearer
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from .. import __version__
from ..errors import DataError, FacesenseError, over_limit, plain_number
from ..runs import host_name, process_alive
from ..data.images import ImageTooLarge
from ..stream.frames import Frame
from ..stream.pipeline import face_record
from .analyzer import Analyzer, decode_image
from .jobs import FileStore, Recording, VideoJobs, probe_video
from .limits import AnalysisGate, Busy, ServeLimits
from .openapi import Health, JobDeleted, JobStarted, JobStatus, PhotoResult, TokenAccepted, errors, without_validation_errors

log = logging.getLogger(__name__)
PAGES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
RETRY_AFTER_S = 2
NO_SUCH_FILE = "no such file: downloads are kept only for a while, and not when the server is restarted"
UNKNOWN_WEBSOCKET = "unknown_websocket"  # the route that answers WebSocket addresses other than the camera's
IMAGE_BODY = {"requestBody": {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                           for t in ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "application/octet-stream")}}}
VIDEO_BODY = {"requestBody": {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ("video/mp4", "video/webm", "application/octet-stream")}}}


ROOT_PREFIX = "facesense-serve-"


def remove_abandoned_roots(folder: Path) -> None:
    """Remove the upload folders that servers of this host left when they were killed (their
    process is gone): `facesense-serve-HOST.PID-*`."""
    mine = f"{ROOT_PREFIX}{host_name()}."
    for root in folder.glob(f"{glob.escape(mine)}*-*"):
        pid = root.name[len(mine):].split("-", 1)[0]
        if pid.isdecimal() and root.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(root, ignore_errors=True)


class Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers



def _check_range(request: Request, file: FileResponse, size: int) -> None:
    """A Range the file cannot answer, refused in the API's own JSON (the file response would
    answer a bare text 400 or an empty 416); a good one, or one an If-Range no longer matching
    sets aside (the whole file is sent), is left to the file response."""
    import starlette.responses as responses

    asked = request.headers.get("range")
    parse = getattr(file, "_parse_range_header", None)  # starlette's own reading (private: skipped where it is not there)
    if asked is None or parse is None or request.method not in ("GET", "HEAD"):
        return
    if_range = request.headers.get("if-range")  # a resumed download's: the range holds only while the file is the same
    if if_range is not None and not getattr(file, "_should_use_range", lambda _: False)(if_range):
        return
    try:
        parse(asked, size)
    except responses.MalformedRangeHeader:
        raise Refused(400, f"Range {asked!r} is not one this server reads: ask for bytes=START-END (or bytes=START-), or leave Range out for the whole file") from None
    except responses.RangeNotSatisfiable:
        raise Refused(416, f"Range {asked!r} asks for bytes the file does not have (it has {size})", {"Content-Range": f"bytes */{size}"}) from None


def _busy() -> Refused:
    return Refused(503, f"the server is busy; try again in {RETRY_AFTER_S} s", {"Retry-After": str(RETRY_AFTER_S)})


def _refuse_multipart(request: Request) -> None:
    """A form upload (curl -F, an HTML form) wraps the file in multipart boundaries, which read
    as a broken image or video: say how to send it instead."""
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        raise Refused(415, "send the file's bytes as the request body (curl --data-binary @FILE), not as a multipart form")


def _head(path: Path, size: int = 1 << 20) -> bytes:
    """The first `size` bytes of an upload: enough to tell curl -d's damage (never the whole video)."""
    with open(path, "rb") as f:
        return f.read(size)


def _bytes_hint(message: str, request: Request, data: bytes | None, whole: bool = True) -> str:
    """Why bytes that could not be read as a file at all may not be the file's: base64 or JSON
    text instead of the bytes; or curl -d @FILE, which sends a file as a form field without its
    line breaks (a form's content type and not one line break in a file of some size; Python's
    urllib labels intact bytes as a form too). A file already named for what it is (a photo sent
    as a video, a sound file) needs none: curl --data-binary's were told to use curl --data-binary."""
    if not message.startswith("not a readable"):
        return ""
    text = _text_hint(data, whole)
    if text:
        return text
    form = request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")
    if form and (data is None or (len(data) > 512 and b"\n" not in data and b"\r" not in data)):
        return "; it came as form data without line breaks, as curl -d sends a file: send it with curl --data-binary @FILE"
    return ""


BASE64 = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")
# the first bytes of the files people send: JPEG, PNG, GIF, BMP, RIFF (WebP, AVI), TIFF both ways,
# Matroska/WebM, Ogg, FLV; an MP4/MOV has "ftyp" at byte 4 (an MPEG-TS starts with one common byte: not told)
FILE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*", b"\x1aE\xdf\xa3", b"OggS", b"FLV")


def _is_base64_of_a_file(text: bytes) -> bool:
    """Whether text is base64 whose bytes begin as an image or video does (plain words match
    base64's alphabet too: a text file is not called base64)."""
    if len(text) < 16 or not BASE64.fullmatch(text):
        return False
    try:
        head = base64.b64decode(text[:32].replace(b"-", b"+").replace(b"_", b"/"), validate=True)
    except ValueError:
        return False
    return head.startswith(FILE_SIGNATURES) or head[4:8] == b"ftyp"


def _text_hint(data: bytes | None, whole: bool = True) -> str:
    """A body that is text standing for the file (base64 of it, or JSON around it). `whole`:
    `data` is the whole body, not its first part (a video's: _head)."""
    if not data:
        return ""
    head = data[:64].lstrip()
    if head[:5].lower() == b"data:" and b";base64," in data[:200]:  # a canvas's toDataURL()
        return "; the body is a data: URL (base64 text): send the file's own bytes, or strip its 'data:...;base64,' prefix and decode the rest"
    if head[:1] in (b"{", b"[") and _parses_as_json(data, whole):  # (a TOML or INI file starts with [ too)
        return "; the body is JSON: send the file's own bytes as the body (curl --data-binary @FILE), not JSON around them"
    if _is_base64_of_a_file(re.sub(rb"\s+", b"", data)):
        return "; the body is base64 text: send the file's own bytes (curl --data-binary @FILE), or decode it first (base64 -d)"
    return ""


JSON_HEAD = 1 << 16  # what of a body is parsed to tell JSON: a 20 MB one parsed whole held the server's loop ~1 s and took ~170 MB


def _parses_as_json(data: bytes, whole: bool = True) -> bool:
    """Whether `data` is JSON; of a body longer than JSON_HEAD, or not `whole` (a video's first
    megabyte: a JSON-wrapped video got no hint), whether its first JSON_HEAD bytes are JSON
    so far: cut off inside it, not wrong before the cut."""
    head = data[:JSON_HEAD]
    cut = not whole or len(data) > len(head)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not cut or exc.start < len(head) - 3:  # not UTF-8 before a cut that split a character
            return False
        text = head[: exc.start].decode("utf-8")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        # cut off: a string not closed by the end, or the next token missing (or half there: `tru`, `1.`) at the end
        return cut and (exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()) - 5)
    except (ValueError, RecursionError):
        return False
    return True


def _refuse_compressed(request: Request) -> None:
    """A body sent with Content-Encoding (gzip...) would be read as the file's bytes."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused(415, f"Content-Encoding {encoding} is not taken: send the file's bytes uncompressed")


async def unless_stopping(request: Request, work, message: str):
    """`work`'s result, or a 503 with `message` as soon as the server begins to stop: answered
    then, not cut off with a bare 500 and a traceback when the server's grace period ends."""
    task = asyncio.ensure_future(work)
    stopping = getattr(request.app.state, "stopping", None)  # set as the server begins to stop
    stop = asyncio.ensure_future(stopping.wait()) if stopping is not None else None
    try:
        await asyncio.wait([task, *([stop] if stop else [])], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            raise Refused(503, message)
        return task.result()
    finally:
        for each in (task, stop):
            if each is not None and not each.done():
                each.cancel()


async def read_body(request: Request, limit: int, timeout: float, sink=None, option: str = "--max-upload-mb") -> bytes:
    """The request body, refused (413) as soon as it is, or says it will be, over `limit`
    bytes (set by the server's `option`); a body that takes longer than `timeout` (--timeout)
    is refused (408). With `sink` (a binary file) the chunks go there instead of into memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        size, most = over_limit(int(declared) / 2**20, limit / 2**20)
        raise Refused(413, f"the upload is {size} MB; the limit is {most} MB (the server's {option})")
    chunks, size = [], 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"the upload is over the limit of {plain_number(round(limit / 2**20, 4))} MB (the server's {option})")  # (0.05, not the 0.0499992 whole bytes make it)
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)

    try:  # (asyncio.timeout() would need Python 3.11)
        await unless_stopping(request, asyncio.wait_for(read(), timeout), "the server is stopping; send the file again once it is back")
    except asyncio.TimeoutError:  # the builtin TimeoutError from 3.11, a class of its own before
        raise Refused(408, f"the upload took longer than {timeout:g} s (the server's --timeout{' x 4 for a video' if sink is not None else ''})") from None
    except ClientDisconnect:
        raise Refused(400, "the upload was cut short") from None
    if size == 0:
        raise Refused(400, "send the file's bytes as the request body")
    return b"".join(chunks)


def create_app(analyzer: Analyzer, limits: ServeLimits | None = None, token: str | None = None) -> FastAPIOffline:
    limits = limits or ServeLimits()
    gate = AnalysisGate(limits.workers, limits.queue)
    state: dict = {"live": 0}

    @asynccontextmanager
    async def lifespan(app):
        # every upload and download lives under this folder, removed when the server stops
        # (and by the next server, should this one be killed before it can)
        remove_abandoned_roots(Path(tempfile.gettempdir()))
        root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{host_name()}.{os.getpid()}-"))
        state["root"] = root
        # uploads still arriving when the server is told to stop are answered at once (serve.server sets it)
        app.state.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        app.state.begin_stopping = lambda: loop.call_soon_threadsafe(app.state.stopping.set)
        state["store"] = FileStore(root, limits.keep_downloads)
        state["videos"] = VideoJobs(analyzer, state["store"], limits.video_jobs_waiting)
        try:
            yield
        finally:
            state["videos"].close()
            gate.close()
            shutil.rmtree(root, ignore_errors=True)

    app = FastAPIOffline(
        title="facesense",
        version=__version__,
        description="Expression, gender (and age) of every face in a photo, a camera stream or a video; the photo's sentiment.",
        lifespan=lifespan,
        # /api/analyze/ was answered by an empty 307 to /api/analyze, which curl without -L
        # printed as nothing at all: a 404 that names the URL meant (below)
        redirect_slashes=False,
    )

    @app.exception_handler(Refused)
    async def refused(request, exc: Refused):
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)  # the router's own 404 and 405 as well as ours
    async def http_error(request, exc: StarletteHTTPException):
        message = str(exc.detail)
        if exc.status_code == 404 and any(isinstance(route, WebSocketRoute) and route.name != UNKNOWN_WEBSOCKET and route.path_regex.match(request.url.path) for route in app.routes):
            message = f"{request.url.path} is a WebSocket: open it with a WebSocket client (ws://, or wss:// behind TLS), as the page at / does"
            return JSONResponse({"error": message}, 426, headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        if exc.status_code == 404:
            path = request.url.path
            meant = path.rstrip("/")
            if meant != path and meant and any(getattr(route, "path_regex", None) and route.path_regex.match(meant) for route in app.routes):
                message = f"no such URL: {path}; the URL is {meant}, without the final /"
            else:
                message = f"no such URL: {path} (the API's URLs are listed at /docs)"
        elif exc.status_code == 405:  # every route of the path (the router named only the first's: HEAD)
            allowed = sorted({m for route in app.routes if getattr(route, "methods", None) and route.path_regex.match(request.url.path) for m in route.methods})
            headers = {**(getattr(exc, "headers", None) or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not taken here; {request.url.path} takes {', '.join(allowed) or 'other methods'} (see /docs)"
            return JSONResponse({"error": message}, 405, headers=headers)
        return JSONResponse({"error": message}, exc.status_code, headers=getattr(exc, "headers", None))

    def authorised(*presented: str | None) -> bool:
        """Whether any of the readings of what a client presented is the token (None: nothing)."""
        return token is None or any(p is not None and hmac.compare_digest(p.encode(), token.encode()) for p in presented)

    def bearer(headers) -> tuple[str, ...]:
        """The token of an `Authorization: Bearer TOKEN` header, in both readings: headers arrive
        decoded as Latin-1, so a browser or Python client's 'é' (one byte) is the text as it came,
        and curl's (two UTF-8 bytes) is those bytes decoded as UTF-8."""
        header = headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return ()
        sent = header[7:]
        try:
            return sent, sent.encode("latin-1").decode("utf-8")
        except UnicodeError:  # not UTF-8 bytes: the Latin-1 reading is the only one
            return (sent,)

    async def require_token(request: Request) -> None:
        sent = bearer(request.headers)
        if not authorised(*sent):  # a wrong token was told it was missing
            why = "the access token sent is not this server's" if sent else "this server needs its access token"
            raise Refused(401, f"{why} (Authorization: Bearer TOKEN)", {"WWW-Authenticate": "Bearer"})

    async def no_query(request: Request) -> None:
        """These routes take no query parameters: one ignored (?detector=haar) would look obeyed."""
        for name in request.query_params:
            if name.lower() == "token" and not token:
                fix = "this server needs no token"
            elif name.lower() == "token" and request.url.path == "/api/health":
                fix = f"{request.url.path} needs no token"
            elif name.lower() == "token":
                fix = "send the token as a header: Authorization: Bearer TOKEN"
            else:
                fix = "the models, the detector and the limits are chosen when the server starts (facesense serve --help)"
            raise Refused(400, f"unknown query parameter {name!r}: {request.url.path} takes none; {fix}")

    # the token check, declared as a bearer scheme where there is a token: /docs then has an
    # Authorize button, and its "Try it out" sends the token
    guarded = [Depends(no_query), Depends(require_token)] + ([Depends(HTTPBearer(auto_error=False, description="the token given to facesense serve --token"))] if token else [])
    auth_errors = (401,) if token else ()

    def read(path: str, **options):
        """A GET route that answers HEAD too (uptime monitors and link checkers ask with it); the
        HEAD twin stays out of the API schema, where it would repeat the GET's operation id."""
        def register(endpoint):
            app.head(path, include_in_schema=False, dependencies=options.get("dependencies"))(endpoint)
            return app.get(path, **options)(endpoint)
        return register

    for route in list(app.routes):  # the docs pages answer HEAD as the app's own pages do (a link checker called /docs broken)
        if route.path in ("/docs", "/redoc") and "HEAD" not in route.methods:
            app.head(route.path, include_in_schema=False)(route.endpoint)

    page_files = files("facesense.serve") / "static"

    @read("/", include_in_schema=False)
    async def index():
        return HTMLResponse((page_files / "index.html").read_bytes())

    @read("/static/{name}", include_in_schema=False)
    async def static(name: str):
        if name not in PAGES:  # a fixed set of names: nothing from the client reaches the file system
            raise Refused(404, f"no file {name}")
        return Response((page_files / name).read_bytes(), media_type=PAGES[name], headers={"Cache-Control": "no-cache"})

    @read("/api/health", summary="Which models are loaded; whether a token is needed", dependencies=[Depends(no_query)], responses={200: {"model": Health}, **errors(400)})
    async def health():
        return {"status": "ok", **analyzer.health(), "token_required": token is not None, "classes": analyzer.classes(), "models": analyzer.model_names(), "limits": {
            "max_megapixels": limits.max_megapixels, "max_upload_mb": limits.max_upload_mb, "max_video_mb": limits.max_video_mb, "max_video_seconds": limits.max_video_seconds,
            "request_timeout_s": limits.request_timeout_s}}

    @read("/api/token", summary="Check an access token: 200 when the request carries this server's token, 401 when not",
          dependencies=guarded, responses={200: {"model": TokenAccepted}, **errors(400, *auth_errors)})
    async def check_token():
        """The web page checks a typed token here before keeping it (a wrong one was taken
        silently, and refused only at the next photo)."""
        return {"token": "accepted" if token else "not needed"}

    @app.post("/api/analyze", summary="Every face of a photo, the photo's sentiment and the annotated image", openapi_extra=IMAGE_BODY, dependencies=guarded,
              responses={200: {"model": PhotoResult}, **errors(400, *auth_errors, 408, 413, 415, 503)})
    async def analyze(request: Request):
        """Send the image's bytes (JPEG, PNG, BMP, TIFF, WebP) as the body. The declared size is
        checked before decoding (413 over the limit); 503 + Retry-After when the server is busy."""
        if gate.pending >= gate.workers + gate.queue:
            raise _busy()  # before reading the body: a full server spends nothing on it
        _refuse_multipart(request)
        _refuse_compressed(request)
        begun = time.monotonic()
        data = await read_body(request, limits.max_upload_bytes, limits.request_timeout_s)
        started = asyncio.Event()  # a worker took it (until then it waited behind others)
        arrived = time.monotonic()
        left = max(limits.request_timeout_s - (arrived - begun), 0.001)  # --timeout is the whole request's, upload included
        try:
            return await unless_stopping(request, asyncio.wait_for(gate.run(analyzer.analyze, data, limits.max_megapixels, started=started), left),
                                         "the server is stopping; send the photo again once it is back")
        except ImageTooLarge as exc:
            raise Refused(413, str(exc) + (" (the server's --max-megapixels)" if exc.set_by_option else "")) from None
        except DataError as exc:
            raise Refused(400, str(exc) + _bytes_hint(str(exc), request, data)) from None
        except Busy:
            raise _busy() from None
        except asyncio.TimeoutError:
            uploading, waiting = arrived - begun, (started.at if started.is_set() else time.monotonic()) - arrived
            if uploading > limits.request_timeout_s / 2 and uploading > waiting:  # the slow upload used the time more than the queue did
                raise Refused(503, f"the upload took {uploading:.2f} of the {limits.request_timeout_s:g} s a request may take (--timeout), leaving too little "
                              "for the analysis: send a smaller image, over a faster connection, or start the server with a longer --timeout") from None
            # mostly spent waiting behind others (or never started): a retry may pass
            if not started.is_set() or started.at - arrived > left / 2:
                raise _busy() from None
            raise Refused(503, f"the upload and analysis of this image took longer than {limits.request_timeout_s:g} s (--timeout): send a smaller image "
                          "(fewer megapixels), or start the server with a longer --timeout") from None

    @app.post("/api/videos", summary="Start a background job that annotates a video", openapi_extra=VIDEO_BODY, dependencies=guarded,
              responses={200: {"model": JobStarted}, **errors(400, *auth_errors, 408, 413, 415, 503)})
    async def submit_video(request: Request):
        """Send the video's bytes as the body -> {"id", "status"}; poll the status URL."""
        videos: VideoJobs = state["videos"]
        _refuse_multipart(request)
        _refuse_compressed(request)
        if not videos.reserve():  # a place frees when a video is done: minutes, not the 2 s of a photo
            wait = int(videos.remaining_s()) + 1
            raise Refused(503, f"the server is busy with other videos; try again in about {wait} s", {"Retry-After": str(wait)})
        store: FileStore = state["store"]
        item = upload = None
        try:
            item, folder = store.new_folder()  # inside: a full disk must not keep the place taken
            upload = folder / "upload"  # no suffix: FFmpeg tells the container from the bytes (".bin" made it read any bytes as text art)
            with open(upload, "wb") as sink:
                await read_body(request, int(limits.max_video_mb * 2**20), limits.request_timeout_s * 4, sink, option="--max-video-mb")
            frames, _ = await asyncio.to_thread(probe_video, upload, limits.max_video_seconds, limits.max_megapixels)
            if await request.is_disconnected():  # the page chose another video meanwhile: nobody would follow this job
                raise Refused(400, "the client went away before the job started")
        except BaseException as exc:  # refused, or the client went away: free its place and folder
            over = "limit" in str(exc)
            hint = ""
            if not over and isinstance(exc, FacesenseError) and upload is not None and upload.is_file():
                head = _head(upload)  # (a video's first megabyte: JSON around a longer one is told by its start)
                hint = _bytes_hint(str(exc), request, head, whole=upload.stat().st_size <= len(head))
            videos.unreserve()
            if item is not None:
                store.drop(item)
            if isinstance(exc, FacesenseError):
                raise Refused(413 if over else 400, str(exc) + hint) from None
            raise
        job = videos.submit(item, folder, upload, frames, limits.max_video_seconds)
        return {"id": job.id, "status": f"/api/videos/{job.id}"}

    # a restarted server has none of the jobs and files of the one before it: a page that followed
    # a job across a restart was told its files had made room for newer ones
    no_such_job = (f"no such video job: the files of the latest {limits.keep_downloads} finished jobs and recordings are kept (older ones make room for them), "
                   "and a server that was restarted has none of those of the one before it; send the video again")

    @read("/api/videos/{job_id}", summary="A video job's state, progress and, when done, its files", dependencies=guarded,
          responses={200: {"model": JobStatus}, **errors(400, *auth_errors, 404)})
    async def video_status(job_id: str):
        job = state["videos"].get(job_id)
        if job is None:
            raise Refused(404, no_such_job)
        return job.status()

    @app.delete("/api/videos/{job_id}", summary="Cancel a video job, or delete a finished one's files", dependencies=guarded,
                responses={200: {"model": JobDeleted}, **errors(400, *auth_errors, 404)})
    async def cancel_video(job_id: str):
        outcome = state["videos"].cancel(job_id)
        if outcome is None:
            raise Refused(404, no_such_job)
        return {"id": job_id, "state": outcome}

    @read("/api/files/{item}/{name}", summary="A finished recording's or video job's file", response_class=FileResponse,
          responses={200: {"description": "the file", "content": {t: {} for t in ("video/mp4", "text/csv", "image/png", "application/json")}},
                     206: {"description": "the part of the file a Range header asked for (bytes=START-END)"}, **errors(400, 404, 416)})
    async def download(item: str, name: str, request: Request):
        # the item id is random and long: knowing it is the permission (a <video> cannot send a token)
        path = state["store"].path(item, name)
        if path is None:
            raise Refused(404, NO_SUCH_FILE)
        try:
            stat = path.stat()
        except OSError:  # evicted just now
            raise Refused(404, NO_SUCH_FILE) from None
        file = FileResponse(path, content_disposition_type="inline", filename=name, stat_result=stat)
        _check_range(request, file, stat.st_size)
        return file

    @app.websocket("/ws/live")
    async def live(ws: WebSocket):
        """Camera frames in (binary JPEG, one at a time), faces out (JSON). Text messages
        {"record": true|false} start and stop the connection's per-frame log."""
        await ws.accept()  # then refuse with a close code the page can show (a refused handshake has none)
        # a browser cannot give a WebSocket a header: the page sends ?token=; other clients may send the header
        query = ws.query_params.get("token")
        sent = (*bearer(ws.headers), *([query] if query is not None else []))
        if not authorised(*sent):  # as the HTTP routes say it: a wrong token was told it was missing
            await ws.close(code=1008, reason="the access token sent is not this server's" if sent else "this server needs its access token")
            return
        if state["live"] >= limits.max_live:
            await ws.close(code=1013, reason="too many camera connections; try again later")
            return
        state["live"] += 1
        session = analyzer.new_session()  # this connection's own tracks and smoothing
        recording: Recording | None = None
        started, index = time.monotonic(), 0

        def process(data: bytes, index: int, time_s: float, recording: Recording | None) -> dict:
            image = decode_image(data, limits.max_megapixels)
            t0 = time.perf_counter()
            result = session.process(Frame(index, time_s, image))
            if recording is not None:
                recording.add(result)
            return {"type": "result", "frame": index, "width": image.shape[1], "height": image.shape[0],
                    "faces": [face_record(f) for f in result.faces], "server_ms": round((time.perf_counter() - t0) * 1000, 2)}

        try:
            while True:
                try:
                    message = await asyncio.wait_for(ws.receive(), limits.live_idle_s)
                except asyncio.TimeoutError:
                    await ws.close(code=1001, reason=f"idle for {limits.live_idle_s:g} s")
                    break
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    data = message["bytes"]
                    if len(data) > limits.max_frame_mb * 2**20:
                        await ws.send_json({"type": "error", "error": f"a frame may be at most {limits.max_frame_mb:g} MB"})
                        continue
                    try:
                        reply = await gate.run(process, data, index, time.monotonic() - started, recording)
                    except Busy:
                        reply = {"type": "busy", "retry_ms": 200}
                    except DataError as exc:
                        reply = {"type": "error", "error": str(exc)}
                    if reply.get("type") == "result":  # a refused frame is no frame of the stream (the count ran on past it)
                        index += 1
                    if recording is not None and recording.frames >= limits.max_record_frames:
                        reply["recording"] = await asyncio.to_thread(recording.finish)
                        recording = None
                    await ws.send_json(reply)
                elif message.get("text") is not None:
                    try:
                        record = json.loads(message["text"])["record"]
                        if not isinstance(record, bool):  # bool("false") is True
                            raise TypeError
                    except (ValueError, KeyError, TypeError):
                        await ws.send_json({"type": "error", "error": 'send {"record": true} or {"record": false} as text'})
                        continue
                    if record and recording is None:
                        recording = Recording(state["store"], analyzer.models)
                        await ws.send_json({"type": "recording", "on": True})
                    elif not record and recording is not None:
                        done, recording = recording, None
                        await ws.send_json({"type": "recording", "on": False, **await asyncio.to_thread(done.finish)})
                    else:  # already in the state asked for: say so, so the page never waits for nothing
                        await ws.send_json({"type": "recording", "on": record, "unchanged": True})
        except (WebSocketDisconnect, ConnectionError, RuntimeError):
            pass  # the client went away mid-message: nothing to answer
        finally:
            state["live"] -= 1
            if recording is not None:
                recording.discard()

    @app.websocket("/{path:path}", name=UNKNOWN_WEBSOCKET)
    async def unknown_websocket(ws: WebSocket, path: str):
        """Any other WebSocket address: the router refused it with a bare 403, which clients show
        as "handshake failed"; closed instead with a reason that names the camera's address."""
        await ws.accept()
        meant = "/ws/live" + (", without the final /" if path.rstrip("/") == "ws/live" else "")
        await ws.close(code=1008, reason=f"no WebSocket at /{path}; the camera's is {meant}")

    generate = app.openapi

    def schema() -> dict:  # generated once, as FastAPI's own is, less the 422 it cannot give
        if app.openapi_schema is None:
            app.openapi_schema = without_validation_errors(generate())
        return app.openapi_schema

    app.openapi = schema
    return app
