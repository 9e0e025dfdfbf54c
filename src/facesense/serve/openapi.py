"""What the web app's OpenAPI schema (/docs, /redoc, /openapi.json) says about its answers: the
JSON bodies it returns and the errors it really gives. Documentation only: the routes return
plain dicts, so nothing here filters or validates an answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="one line: what was wrong and how to fix it")


class Box(BaseModel):
    x: int
    y: int
    w: int
    h: int


class Label(BaseModel):
    label: str
    p: float = Field(description="the label's probability")
    probs: dict[str, float] = Field(description="every class's probability, in the model's class order")


class Age(BaseModel):
    years: float
    sd: float = Field(description="the estimate's standard deviation in years")
    low90: float | None = Field(None, description="the age distribution's central 90% interval, low end (years)")
    high90: float | None = Field(None, description="its high end (years)")


class Face(BaseModel):
    track_id: int
    box: Box = Field(description="in the photo's pixels (EXIF orientation applied)")
    held: bool | None = Field(None, description="only in camera and video results: true where no face was found this frame (the track's last box)")
    expression: Label | None = Field(None, description="absent when the server runs without an expression model")
    gender: Label | None = Field(None, description="absent when the server runs without a gender model")
    age: Age | None = Field(None, description="absent when the server runs without an age model")


class PhotoResult(BaseModel):
    width: int
    height: int
    faces: list[Face]
    sentiment: Label | None = Field(description="the whole photo's sentiment; null when the server runs without a sentiment model")
    timings_ms: dict[str, float] = Field(description="milliseconds per stage")
    annotated_jpeg_base64: str | None = Field(description="the photo with its faces drawn, as base64 JPEG; a photo with a short side under 360 px is drawn enlarged toward it (its labels readable), one over 65,500 px scaled down: draw `box` on the photo sent, not on this copy")
    warning: str | None = Field(description="what the figures do not cover (an animated image: its first frame only); null when nothing")


class Health(BaseModel):
    status: str = Field(description="ok")
    expression: bool
    gender: bool
    age: bool
    sentiment: bool
    token_required: bool
    classes: dict[str, list[str]] = Field(description="each loaded model's classes, in its order")
    models: dict[str, str | None] = Field(description="the model giving each answer (expression, gender, age, sentiment): a shipped name, or one's own model's file or run-folder name (no path; a run's best.pt as RUN/best.pt); null where off")
    limits: dict[str, float] = Field(description="max_megapixels, max_upload_mb, max_video_mb, max_video_seconds, request_timeout_s (--timeout: a photo's upload and analysis)")


class JobStarted(BaseModel):
    id: str
    status: str = Field(description="the URL to poll for the job's state")


class JobStatus(BaseModel):
    id: str
    state: str = Field(description="queued, running, done, failed or cancelled")
    frames_done: int
    frames_total: int
    frames_unreadable: int
    progress: float = Field(description="0 to 1")
    faces: int = Field(description="faces found so far, over all frames")
    warning: str | None
    error: str | None = Field(description="why the job failed")
    files: dict[str, str | None] = Field(description="when done, the URLs of its files: video (the annotated MP4), csv (one row per face per frame), "
                                         "timeline (PNG; null without an expression model or where no face was followed), summary (JSON); empty before")


class TokenAccepted(BaseModel):
    token: str = Field(description="accepted (or not needed: the server has no token)")


class JobDeleted(BaseModel):
    id: str
    state: str = Field(description="cancelled (it was queued or running) or deleted (its files are gone)")


def errors(*statuses: int) -> dict:
    """The `responses` entry of a route for the errors it gives, each with the {"error": ...} body."""
    said = {
        400: "the request or its file is not one the server takes (the message says why)",
        401: "the server was started with --token and the request lacks it (Authorization: Bearer TOKEN)",
        404: "no such job or file (finished ones are kept only for a while)",
        408: "the upload took too long",
        413: "the upload, the image's declared pixels or the video's length is over the server's limit",
        415: "a multipart form or a compressed body: send the file's bytes as the body",
        416: "the Range asks for bytes the file does not have (Content-Range says its size)",
        503: "the server is busy (Retry-After says when to try again) or the analysis took too long",
    }
    return {status: {"model": ErrorBody, "description": said[status]} for status in statuses}


def without_validation_errors(schema: dict) -> dict:
    """FastAPI lists a 422 for every route with a path parameter; these routes' parameters are
    plain strings, so it never happens: it is dropped, with its schemas."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema
