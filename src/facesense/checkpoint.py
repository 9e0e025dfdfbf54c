"""Checkpoints: model state + resolved config + class names + input spec, written atomically.

Evaluate and predict need nothing but this file; a run directory resolves to its best.pt.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .age import GENDER_AGE_TASK, output_width
from .errors import FacesenseError, say_once
from .models import build_model, with_test_time_views
from .preprocess import InputSpec
from .runs import RunDir, atomic_path
from .runtime.assets import names_a_local_model, shipped_model_names, shipped_model_path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class LoadedModel:
    model: nn.Module
    classes: list[str]
    spec: InputSpec
    config: dict[str, Any]
    path: Path
    binary_logit: bool  # one sigmoid output for a 2-class task
    # what a face image goes through before the input spec (an aligner for the dlib backends)
    prepare: Callable[[np.ndarray], np.ndarray] | None = None
    # task=gender_age: the age head's softmax temperature fitted on the validation split
    age_temperature: float = 1.0

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits_to_probs(logits, self.binary_logit)


def logits_to_probs(logits: torch.Tensor, binary_logit: bool) -> torch.Tensor:
    """N x K probabilities whatever the head: softmax, or [1 - p, p] for one sigmoid output."""
    logits = logits.float()
    if binary_logit:
        p = torch.sigmoid(logits.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def save_checkpoint(path: str | Path, model: nn.Module, config: dict, classes: list[str], spec: InputSpec, **extra: Any) -> None:
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    payload = {
        "format": "facesense-checkpoint",
        "version": FORMAT_VERSION,
        "model_state": state,
        "config": config,
        "classes": list(classes),
        "input_spec": spec.to_dict(),
        **extra,
    }
    save_payload(payload, path)


def save_payload(payload: Any, path: str | Path) -> None:
    """torch.save into `path` through a temp file. The bytes are made in memory first: torch's
    own file writer reports a full disk as a RuntimeError (a traceback), a plain write as an
    OSError, which names the file and the fix."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def resolve_model_path(path: str | Path) -> Path:
    if not names_a_local_model(path) and shipped_model_path(str(path)) is not None:
        return shipped_model_path(str(path))
    path = Path(path)
    if path.is_dir():
        if (path / "best.pt").is_file():
            return path / "best.pt"
        if (path / "last.pt").is_file():  # stopped before its first epoch ended, or best.pt removed
            say_once(__name__, logging.WARNING, "%s: no best.pt in this run; its last.pt is used (the latest epoch, not the best)", str(path))
            return path / "last.pt"
        raise FacesenseError(f"{path}: no best.pt or last.pt in this folder; give a run directory or a .pt or .onnx file{_models_inside(path)}")
    if not path.is_file():
        raise FacesenseError(f"model {path} not found; give a run directory, a checkpoint file or a shipped model name ({', '.join(shipped_model_names())})")
    return path


def _models_inside(folder: Path, shown: int = 3) -> str:
    """The runs (folders with best.pt or last.pt) and .onnx files a folder holds, named for the
    user who gave the folder above them (runs/gender for runs/gender/x-1)."""
    try:
        found = sorted(str(p) for p in folder.iterdir() if (p.is_dir() and RunDir(p).has_checkpoint()) or p.suffix.lower() == ".onnx")
    except OSError:
        return ""
    if not found:
        return ""
    return f" (it holds {', '.join(found[:shown])}{f' and {len(found) - shown} more' if len(found) > shown else ''}: give one of them)"


def read_checkpoint(path: str | Path, suggest_other: bool = True) -> dict:
    """A facesense checkpoint; a damaged one is a one-line error that, with `suggest_other`,
    names the run's other checkpoint to give instead (a resume has its own way out)."""
    path = resolve_model_path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        reason = str(exc).split(". ")[0]  # torch's first sentence; the rest is advice on saving
        other = next((path.parent / n for n in ("best.pt", "last.pt") if (path.parent / n).is_file() and path.name != n), None)
        if other is None or not suggest_other:
            hint = ""
        elif path.name in ("best.pt", "last.pt"):  # the run's own checkpoint is damaged: the folder would give it again
            hint = f"; the run's {other.name} may be whole: give {other}"
        else:
            hint = f"; give the run folder {path.parent} (or its {other.name})"
        raise FacesenseError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {reason}){hint}") from None
    if not isinstance(payload, dict) or payload.get("format") != "facesense-checkpoint":
        raise FacesenseError(f"{path}: not a facesense checkpoint (train one with `facesense train`)")
    payload["_path"] = path
    return payload


def blend_checkpoints(paths: list[str | Path], weights: list[float], out: str | Path) -> Path:
    """One checkpoint whose weights are the weighted mean of the given checkpoints' (a "model
    soup", or WiSE-FT's interpolation between a model and its fine-tune). Only meaningful for
    runs that share an ancestry (one fine-tuned from the other, or both from one start); the
    config, classes and input spec are the first checkpoint's. Integer buffers (BatchNorm's batch
    counter) are the first checkpoint's too."""
    if len(paths) != len(weights) or not paths:
        raise FacesenseError(f"blend: {len(paths)} checkpoints but {len(weights)} weights; give one weight per checkpoint")
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise FacesenseError(f"blend: weights {weights} must be finite, >= 0 and not all 0")
    payloads = [read_checkpoint(p) for p in paths]
    first = payloads[0]
    for p in payloads[1:]:
        same = p["config"].get("model") == first["config"].get("model") and p["config"].get("model_args") == first["config"].get("model_args")
        same = same and InputSpec.from_dict(p["input_spec"]) == InputSpec.from_dict(first["input_spec"]) and p["classes"] == first["classes"]
        if not same or p["model_state"].keys() != first["model_state"].keys():
            raise FacesenseError(f"blend: {p['_path']} is not the architecture, input and classes of {first['_path']}; only checkpoints of one model can be blended")
    share = [w / sum(weights) for w in weights]
    state = {}
    for key, value in first["model_state"].items():
        if value.is_floating_point():
            mean = sum(s * p["model_state"][key].double() for s, p in zip(share, payloads))
            state[key] = mean.to(value.dtype)
        else:
            state[key] = value
    payload = {k: v for k, v in first.items() if k != "_path"}
    payload["model_state"] = state
    payload["blended_from"] = [{"path": str(p["_path"]), "weight": s} for p, s in zip(payloads, share)]
    if "age_temperature" in first:
        payload["age_temperature"] = float(sum(s * p.get("age_temperature", 1.0) for s, p in zip(share, payloads)))
    save_payload(payload, out)
    return Path(out)


def _calibration_fix(checkpoint: Path) -> str:
    """How a gender+age checkpoint without its age temperature gets one: the end of training
    calibrates best.pt on the validation split, if the run reached its end and had one."""
    import json

    try:
        summary = json.loads((checkpoint.parent / "train_summary.json").read_text())
    except (OSError, ValueError):
        return f"its run stopped before its end, where best.pt is calibrated: finish it with `facesense train --resume {checkpoint.parent}`"
    if "age_temperature" not in (summary.get("val") or {}):
        return "its run had no validation split to calibrate on: train it with val_size > 0"
    return "use the run's best.pt, which the end of training calibrated"


def load_model(path: str | Path, calibrating: bool = False) -> LoadedModel:
    """A checkpoint as a network ready to run. `calibrating`: the gender+age run's own end of
    training, which fits the age temperature the checkpoint lacks so far."""
    payload = read_checkpoint(path)
    cfg = payload["config"]
    if cfg.get("task") == GENDER_AGE_TASK and "age_temperature" not in payload and not calibrating:
        where = Path(payload["_path"])
        log.warning("%s: its age uncertainty was never calibrated: its age sd and 90%% interval are not to be trusted; %s", where, _calibration_fix(where))
    spec = InputSpec.from_dict(payload["input_spec"])
    classes = payload["classes"]
    binary_logit = cfg.get("loss") == "bce"
    width = 1 if binary_logit else len(classes)
    if cfg.get("task") == GENDER_AGE_TASK:  # class logits, then one logit per age bin
        width = output_width(len(classes), cfg["age_max"])
    model = build_model(cfg["model"], width, spec.channels, spec.size, **cfg.get("model_args", {}))
    model.load_state_dict(payload["model_state"])
    model = with_test_time_views(model, spec.size, bool(cfg.get("test_time_flip")), cfg.get("test_time_zoom") or []).eval()
    return LoadedModel(model, classes, spec, cfg, payload["_path"], binary_logit, age_temperature=float(payload.get("age_temperature", 1.0)))
