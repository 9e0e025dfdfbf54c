"""Face classifiers on ONNX Runtime: every face of a frame goes through a model in one batch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FacesenseError
from ..preprocess import InputSpec, scale, to_model_pixels


@dataclass
class Prediction:
    label: str
    p: float
    probs: dict[str, float]


@dataclass
class AgeEstimate:
    years: float  # expected age under the model's distribution over ages
    sd: float  # that distribution's standard deviation: how unsure the model is


def to_prediction(classes: list[str], probs: np.ndarray) -> Prediction:
    i = int(np.argmax(probs))
    return Prediction(classes[i], float(probs[i]), {c: float(v) for c, v in zip(classes, probs)})


class FaceClassifier:
    """An exported (or on-the-fly exported) model: class names and input spec from its metadata."""

    def __init__(self, onnx_model: bytes | str, name: str = "model", threads: int = 0, classes: list[str] | None = None, spec: InputSpec | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        # 0 = ONNX Runtime's default (one thread per physical core): measured 1.4 ms vs 2.2 ms with
        # one thread for expression + gender on one face, on the 2-core dev machine
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: the detector and the video decoder need those cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise FacesenseError(f"{name}: not a loadable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if classes is None and "facesense_classes" not in meta:
            raise FacesenseError(f"{name}: ONNX file has no facesense metadata; export it with `facesense export`")
        self.name = name
        self.classes: list[str] = classes if classes is not None else json.loads(meta["facesense_classes"])
        self.spec = spec if spec is not None else InputSpec.from_dict(json.loads(meta["facesense_input_spec"]))
        self.task = meta.get("facesense_task", "")
        self.margin: float | None = None  # crop margin this model was trained with (None: the pipeline's)
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] != self.spec.channels:
            raise FacesenseError(f"{name}: model input {shape} does not match its input spec {self.spec}")

    @classmethod
    def load(cls, model: str | Path, threads: int = 0) -> "FaceClassifier":
        """An .onnx file, or anything `load_model` takes (checkpoint, run dir, shipped name).
        A shipped name runs its int8 ONNX copy when the package has one (see its model card)."""
        from .. import thirdparty
        from ..checkpoint import shipped_model_path

        if str(model) in thirdparty.BACKENDS:
            return thirdparty.BACKENDS[str(model)](threads)
        path = Path(model)
        if not path.exists():
            path = shipped_model_path(str(model), ".int8.onnx") or path
        if path.suffix == ".onnx":
            if not path.is_file():
                raise FacesenseError(f"model {path} not found")
            return cls(str(path), name=str(path), threads=threads)
        from ..checkpoint import load_model
        from ..export import onnx_bytes

        loaded = load_model(model)
        return cls(onnx_bytes(loaded), name=str(model), threads=threads)

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        """crops (uint8 images) -> N x K probabilities, one batched run."""
        if not crops:
            return np.zeros((0, len(self.classes)), np.float32)
        batch = np.stack([to_model_pixels(c, self.spec, color_order) for c in crops])
        return self.session.run(None, {self.input_name: scale(batch, self.spec)})[0]

    def result(self, probs: np.ndarray) -> Prediction:
        """One face's (possibly smoothed) probabilities -> its label."""
        return to_prediction(self.classes, probs)


def crop_faces(frame: np.ndarray, boxes, margin: float = 0.0) -> list[np.ndarray]:
    """Crops of each box (clipped to the frame), optionally widened by `margin` of the box size."""
    h, w = frame.shape[:2]
    crops = []
    for b in boxes:
        dx, dy = int(b.w * margin), int(b.h * margin)
        x0, y0 = max(0, b.x - dx), max(0, b.y - dy)
        x1, y1 = min(w, b.x + b.w + dx), min(h, b.y + b.h + dy)
        crops.append(frame[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)])
    return crops
