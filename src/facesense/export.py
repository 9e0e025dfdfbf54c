"""ONNX export: the graph outputs probabilities, and class names + input spec travel as metadata."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoint import LoadedModel, load_model, logits_to_probs
from .runs import atomic_path

METADATA_KEYS = ("facesense_classes", "facesense_input_spec", "facesense_model", "facesense_task")


class _WithProbabilities(nn.Module):
    def __init__(self, loaded: LoadedModel):
        super().__init__()
        self.model, self.binary_logit = loaded.model, loaded.binary_logit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_to_probs(self.model(x), self.binary_logit)


def onnx_bytes(loaded: LoadedModel, opset: int = 17) -> bytes:
    """Serialise a loaded model to ONNX (dynamic batch), with facesense metadata."""
    import onnx

    wrapper = _WithProbabilities(loaded).eval()
    dummy = torch.zeros(1, loaded.spec.channels, loaded.spec.size, loaded.spec.size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter needs no extra package (the dynamo one needs onnxscript)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, dummy, buf, dynamo=False, opset_version=opset,
            input_names=["input"], output_names=["probabilities"],
            dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "facesense_classes": json.dumps(loaded.classes),
        "facesense_input_spec": json.dumps(loaded.spec.to_dict()),
        "facesense_model": loaded.config.get("model", ""),
        "facesense_task": loaded.config.get("task", ""),
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def export_onnx(model: str | Path, out: str | Path) -> Path:
    data = onnx_bytes(load_model(model))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return Path(out)
