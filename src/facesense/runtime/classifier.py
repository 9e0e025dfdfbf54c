"""Face classifiers on ONNX Runtime: every face of a frame goes through a model in one batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FacesenseError
from ..preprocess import InputSpec, scale, to_model_pixels
from .results import Prediction, to_prediction
from .session import make_session


def run_graph(session, input_name: str, inputs: np.ndarray) -> list[np.ndarray]:
    """A graph's outputs for a scaled batch; a graph exported for one image at a time (a fixed
    batch of 1) takes the batch's images one by one."""
    if session.get_inputs()[0].shape[0] == 1 and len(inputs) > 1:
        parts = [session.run(None, {input_name: inputs[i : i + 1]}) for i in range(len(inputs))]
        return [np.concatenate(outputs) for outputs in zip(*parts)]
    return session.run(None, {input_name: inputs})


class FaceClassifier:
    """An exported (or on-the-fly exported) model: class names and input spec from its metadata."""

    def __init__(self, onnx_model: bytes | str, name: str = "model", threads: int = 0, classes: list[str] | None = None, spec: InputSpec | None = None, device: str = "auto"):
        self.session = make_session(onnx_model, name, threads, device)
        meta = self.session.get_modelmeta().custom_metadata_map
        if classes is None and "facesense_classes" not in meta:
            raise FacesenseError(f"{name}: an ONNX model without facesense's metadata (classes, input size); give one `facesense export` made, "
                                 "or fine-tune this network into one with `model: onnx_graph` (README)")
        self.name = name
        self.classes: list[str] = classes if classes is not None else json.loads(meta["facesense_classes"])
        self.spec = spec if spec is not None else InputSpec.from_dict(json.loads(meta["facesense_input_spec"]))
        self.task = meta.get("facesense_task", "")
        # the training config, when the export kept it (which split the model trained on)
        self.config: dict = json.loads(meta["facesense_config"]) if "facesense_config" in meta else {}
        self.metadata: dict[str, str] = dict(meta)  # all of it (an export's training-image hashes, for evaluation)
        self.margin: float | None = None  # crop margin this model was trained with (None: the pipeline's)
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] != self.spec.channels:
            raise FacesenseError(f"{name}: model input {shape} does not match its input spec {self.spec}")
        width = self.session.get_outputs()[0].shape[-1] if self.session.get_outputs()[0].shape else None
        if isinstance(width, int) and width != len(self.classes):  # an IndexError or a shape error mid-run otherwise
            raise FacesenseError(f"{name}: the model gives {width} scores per face but its metadata names {len(self.classes)} classes ({', '.join(self.classes)}); export it again, or give it the classes it was trained on")

    @classmethod
    def load(cls, model: str | Path, threads: int = 0, device: str = "auto") -> "FaceClassifier":
        """An .onnx file, a shipped name, a third-party backend, or a checkpoint (see loading)."""
        from .loading import load_classifier

        return load_classifier(model, threads, device)

    @property
    def prepare(self):
        """What a face crop file goes through first (align.crop_preparer)."""
        from .align import crop_preparer

        return crop_preparer(self.spec)

    def predict_pixels(self, batch: np.ndarray) -> np.ndarray:
        """uint8 N x C x H x W at the model's size -> N x K probabilities."""
        if len(batch) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.run_batch(scale(batch, self.spec))[0]

    def run_batch(self, inputs: np.ndarray) -> list[np.ndarray]:
        return run_graph(self.session, self.input_name, inputs)

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        """crops (uint8 images) -> N x K probabilities, one batched run."""
        if not crops:
            return np.zeros((0, len(self.classes)), np.float32)
        return self.predict_pixels(np.stack([to_model_pixels(c, self.spec, color_order) for c in crops]))

    def result(self, probs: np.ndarray) -> Prediction:
        """One face's (possibly smoothed) probabilities -> its label."""
        return to_prediction(self.classes, probs)
