"""Predict classes for image files and folders with a saved model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.images import IMAGE_SUFFIXES, read_image
from .errors import DataError
from .preprocess import to_model_pixels
from .runtime import dlib_models
from .runtime.loading import load_age_model


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise DataError(f"{item}: folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return files


def predict_files(model: str | Path, inputs: list[str | Path], batch_size: int | None = None, skip_bad: bool = False, device: str = "auto") -> tuple[list[str], list[dict]]:
    """-> (classes, rows of {path, pred, p_<class>...}); unreadable files error or are reported as
    rows with an error. `model` is anything `evaluate` takes: a checkpoint, run dir or shipped
    name, an exported .onnx, or a third-party backend (dlib-gender: give face crops)."""
    from .eval.evaluate import load_for_evaluation

    if str(model) in dlib_models.AGE_BACKENDS:
        return [], predict_ages(str(model), inputs, skip_bad, device)

    loaded = load_for_evaluation(model, device)
    batch_size = batch_size or 64
    files = expand_inputs(inputs)
    rows: list[dict] = []
    for start in range(0, len(files), batch_size):
        chunk, pixels = [], []
        for path in files[start : start + batch_size]:
            try:
                image = read_image(path)
                pixels.append(to_model_pixels(loaded.prepare(image) if loaded.prepare else image, loaded.spec))
                chunk.append(path)
            except DataError as exc:
                if not skip_bad:
                    raise
                rows.append({"path": str(path), "pred": "", "error": str(exc)})
        if not chunk:
            continue
        probs = loaded.score(np.stack(pixels))
        for path, p in zip(chunk, probs):
            row = {"path": str(path), "pred": loaded.classes[int(p.argmax())]}
            row.update({f"p_{c}": round(float(v), 6) for c, v in zip(loaded.classes, p)})
            rows.append(row)
    return loaded.classes, rows


def predict_ages(backend: str, inputs: list[str | Path], skip_bad: bool = False, device: str = "auto") -> list[dict]:
    """Face crops -> rows of {path, pred (whole years), age_years, age_sd} from an age backend;
    each crop is taken whole as the face box, as a detector's box would be."""
    model = load_age_model(backend, device=device)
    rows: list[dict] = []
    for path in expand_inputs(inputs):
        try:
            image = read_image(path)
        except DataError as exc:
            if not skip_bad:
                raise
            rows.append({"path": str(path), "pred": "", "error": str(exc)})
            continue
        estimate = model.result(model.predict([image], color_order="RGB")[0])
        rows.append({"path": str(path), "pred": f"{estimate.years:.0f}", "age_years": round(estimate.years, 2), "age_sd": round(estimate.sd, 2)})
    return rows
