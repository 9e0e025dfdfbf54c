"""Start training from local weights (transfer learning): no download, the user gives the path."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..errors import FacesenseError

log = logging.getLogger(__name__)


def load_backbone(model: nn.Module, path: str | Path) -> int:
    """Copy every tensor whose name and shape match from a facesense checkpoint or a plain
    state dict into `model` (heads with another class count are left as initialised)."""
    path = Path(path)
    if not path.is_file():
        raise FacesenseError(f"init_from={path}: file not found (give a local .pt checkpoint or state dict)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise FacesenseError(f"init_from={path}: not a readable PyTorch file ({exc})") from None
    state = payload.get("model_state", payload.get("state_dict", payload)) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise FacesenseError(f"init_from={path}: no state dict inside")
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and getattr(v, "shape", None) == own[k].shape}
    if not matched:
        raise FacesenseError(f"init_from={path}: no parameter matches this model by name and shape")
    model.load_state_dict(matched, strict=False)
    log.info("init_from %s: loaded %d of %d tensors", path, len(matched), len(own))
    return len(matched)
