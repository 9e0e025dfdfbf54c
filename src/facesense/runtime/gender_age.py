"""The gender + age network (task=gender_age) on ONNX Runtime: one batched run gives each face
its gender probabilities and its age distribution, read as an AgeEstimate(years, sd). No torch.

The ONNX file (from `facesense export`) has two outputs: `probabilities` (N x K, classes in
the metadata's facesense_classes order) and `age_probabilities` (N x B over the ages in
facesense_age_bins, the calibrated temperature already applied)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..age import GENDER_AGE_TASK, central_interval, years_and_sd
from ..errors import FacesenseError
from ..preprocess import InputSpec, scale, to_model_pixels
from .classifier import run_graph
from .results import AgeEstimate, Prediction, to_prediction
from .session import make_session

SHIPPED_NAME = "gender_age"


def trained_without(model, head: str) -> bool:
    """Whether a gender+age network's `head` ("age" or "gender") learned nothing: trained with
    that head's loss weight 0 (age_weight 0: gender only; gender_weight 0: ages only), so its
    answers are those of the head's first weights. From the training config the network carries
    (`model`: a loaded network, or that config itself)."""
    config = model if isinstance(model, dict) else getattr(model, "config", None) or {}
    return config.get(f"{head}_weight", 1) == 0


def untrained_age(name: str) -> FacesenseError:
    return FacesenseError(f"{name}: was trained without ages (age_weight 0), so its age head learned nothing; give a gender+age network trained "
                          f"with ages, the shipped {SHIPPED_NAME!r}, or 'none'")


@dataclass
class GenderAgeResult:
    gender: Prediction  # most likely class, its probability, every class's
    age: AgeEstimate  # expected years, the distribution's sd and central 90% interval (calibrated on validation)

    @property
    def age_low(self) -> float:
        return self.age.low90

    @property
    def age_high(self) -> float:
        return self.age.high90


class GenderAgeModel:
    """Load with `GenderAgeModel.load("gender_age")` (the shipped int8 model), an .onnx file, or a
    checkpoint/run dir (exported on the fly; needs the training extra)."""

    task = GENDER_AGE_TASK

    def __init__(self, session, name: str = "gender_age"):
        self.session = session  # an ONNX Runtime session (make_session)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("facesense_task") != GENDER_AGE_TASK or "facesense_age_bins" not in meta:
            task = meta.get("facesense_task")
            what = "its age bins are missing" if task == GENDER_AGE_TASK else f"its task is {task}" if task else "it names no task"
            raise FacesenseError(f"{name}: not a gender+age network ({what}); give one trained with task: gender_age (configs/gender_age.yaml), or the shipped {SHIPPED_NAME!r}")
        self.name = name
        self.classes: list[str] = json.loads(meta["facesense_classes"])
        self.spec = InputSpec.from_dict(json.loads(meta["facesense_input_spec"]))
        self.bins = np.asarray(json.loads(meta["facesense_age_bins"]), dtype=np.float64)
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        if outputs[:2] != ["probabilities", "age_probabilities"]:
            raise FacesenseError(f"{name}: expected outputs probabilities, age_probabilities; got {outputs}")
        self.margin: float | None = None  # crop margin this model was trained with (None: the pipeline's)
        self.config: dict = json.loads(meta.get("facesense_config", "{}"))  # the training config, when the export kept it
        self.metadata: dict[str, str] = dict(meta)  # all of it (an export's training-image hashes, for evaluation)
        self._last: tuple | None = None  # (crops, color_order, outputs) of the latest run

    @classmethod
    def load(cls, model: str | Path = SHIPPED_NAME, threads: int = 0, device: str = "auto") -> "GenderAgeModel":
        from .loading import checkpoint_as_onnx, resolve

        path = resolve(model)
        if not isinstance(path, Path):
            raise FacesenseError(f"{model} is not a gender+age model; give an .onnx file, a checkpoint or run folder, or the shipped name {SHIPPED_NAME!r}")
        onnx_model = str(path) if path.suffix.lower() == ".onnx" else checkpoint_as_onnx(path)
        return cls(make_session(onnx_model, str(model), threads, device), name=str(model))

    @classmethod
    def of(cls, classifier) -> "GenderAgeModel":
        """A classifier already loaded from a gender+age model, seen whole (its age output too),
        without loading or exporting it a second time."""
        return cls(classifier.session, name=classifier.name)

    @property
    def prepare(self):
        """What a face crop file goes through first (align.crop_preparer): evaluation on a
        dataset of crops aligns them, as the live path and predict do."""
        from .align import crop_preparer

        return crop_preparer(self.spec)

    def run_pixels(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model-ready uint8 N x C x H x W -> (N x K class probabilities, N x B age probabilities)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, len(self.bins)), np.float32)
        gender, age = run_graph(self.session, self.input_name, scale(np.asarray(batch), self.spec).astype(np.float32))[:2]
        return gender, age

    def run(self, crops: list[np.ndarray], color_order: str = "BGR") -> tuple[np.ndarray, np.ndarray]:
        """Face crops (uint8 images) -> (class probabilities, age probabilities), one batched run.
        When this model is both the pipeline's gender and age model, both ask for the same crops
        list in turn: the second asks get the first's outputs instead of a second run."""
        last = self._last
        if last is not None and last[0] is crops and last[1] == color_order:
            return last[2]
        outputs = self.run_pixels(np.stack([to_model_pixels(c, self.spec, color_order) for c in crops]) if crops else np.zeros((0,)))
        self._last = (crops, color_order, outputs)  # holding the list keeps its id from being reused
        return outputs

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        """N x K gender probabilities: the classifier contract, so it can stand in as a gender model."""
        return self.run(crops, color_order)[0]

    def predict_pixels(self, batch: np.ndarray) -> np.ndarray:
        return self.run_pixels(batch)[0]

    def result(self, probs: np.ndarray) -> Prediction:
        return to_prediction(self.classes, probs)

    def age_estimates(self, age_probs: np.ndarray) -> list[AgeEstimate]:
        years, sd = years_and_sd(age_probs, self.bins)
        low, high = central_interval(age_probs, self.bins, 0.9)
        return [AgeEstimate(float(y), float(s), float(lo), float(hi)) for y, s, lo, hi in zip(years, sd, low, high)]

    def estimate(self, crops: list[np.ndarray], color_order: str = "BGR") -> list[GenderAgeResult]:
        """Every face's gender and age from one batched run."""
        gender, age = self.run(crops, color_order)
        if len(gender) == 0:
            return []
        return [GenderAgeResult(to_prediction(self.classes, g), estimate) for g, estimate in zip(gender, self.age_estimates(age))]


class AgeHead:
    """The age half of a gender+age model as the pipeline's age model (`--age gender_age`):
    predict -> age distributions per face, result -> AgeEstimate."""

    def __init__(self, model: GenderAgeModel):
        self.model, self.name, self.spec, self.margin = model, model.name, model.spec, model.margin
        self.classes = [f"{b:g}" for b in model.bins]

    def predict(self, crops: list[np.ndarray], color_order: str = "BGR") -> np.ndarray:
        return self.model.run(crops, color_order)[1]

    def result(self, probs: np.ndarray) -> AgeEstimate:
        p = np.asarray(probs, dtype=np.float64)
        return self.model.age_estimates((p / p.sum())[None])[0]  # smoothed sums need not be exactly 1
