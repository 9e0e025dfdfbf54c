"""Checkpoints: model state + resolved config + class names + input spec, written atomically.

Evaluate and predict need nothing but this file; a run directory resolves to its best.pt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .age import GENDER_AGE_TASK, output_width
from .errors import FacesenseError
from .models import build_model, with_test_time_views
from .preprocess import InputSpec
from .runs import atomic_path
from .runtime.assets import shipped_model_names, shipped_model_path

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
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def resolve_model_path(path: str | Path) -> Path:
    if not Path(path).exists() and shipped_model_path(str(path)) is not None:
        return shipped_model_path(str(path))
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        raise FacesenseError(f"{path}: no best.pt or last.pt in this folder; give a run directory or a .pt file")
    if not path.is_file():
        raise FacesenseError(f"model {path} not found; give a run directory, a checkpoint file or a shipped model name ({', '.join(shipped_model_names())})")
    return path


def read_checkpoint(path: str | Path) -> dict:
    path = resolve_model_path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise FacesenseError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != "facesense-checkpoint":
        raise FacesenseError(f"{path}: not a facesense checkpoint (train one with `facesense train`)")
    payload["_path"] = path
    return payload


def load_model(path: str | Path) -> LoadedModel:
    payload = read_checkpoint(path)
    cfg = payload["config"]
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
