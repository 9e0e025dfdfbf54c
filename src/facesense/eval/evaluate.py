"""Evaluate a saved model on any dataset: labels mapped by name onto the model's classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoint import LoadedModel, load_model
from ..data.batches import ArrayDataset, Batches, inference_batch_size
from ..data.images import decode
from ..data.prepare import map_labels
from ..data.sources import canonical_split, read_dataset
from ..data.split import _match, assign_splits
from ..errors import DataError, FacesenseError
from .inference import run_inference
from .report import write_evaluation


class _OnnxAsTorch(torch.nn.Module):
    """Lets the one ordered evaluation pass score an ONNX model: it returns log-probabilities,
    which the pass's softmax turns back into the model's own probabilities."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.classifier
        probs = c.session.run(None, {c.input_name: x.float().numpy()})[0]
        return torch.log(torch.from_numpy(probs).clamp_min(1e-12))


def load_for_evaluation(model: str | Path) -> LoadedModel:
    """A checkpoint/run dir/shipped name, an exported .onnx, or a third-party backend name."""
    from .. import thirdparty

    if str(model) in thirdparty.AGE_BACKENDS:
        raise FacesenseError(f"{model} estimates ages, not classes, and there are no age labels to score it against; use it with `predict` or `live --age`")
    if str(model) in thirdparty.BACKENDS or Path(str(model)).suffix == ".onnx":
        from ..stream.classify import FaceClassifier

        clf = FaceClassifier.load(model, threads=2)
        network = getattr(clf, "network", clf)  # an aligned backend: its ONNX network behind an aligner
        return LoadedModel(_OnnxAsTorch(network), clf.classes, clf.spec, {"model": clf.name}, Path(str(model)), False, getattr(clf, "prepare", None))
    return load_model(model)


def evaluate_dataset(loaded: LoadedModel, dataset: ArrayDataset, out_dir: Path, title: str, history: Path | None = None, train_labels=None, device: str = "cpu", extra: dict | None = None) -> dict:
    batches = Batches(dataset, loaded.spec, inference_batch_size(loaded.spec), train=False)
    idx, y, probs, loss = run_inference(loaded.model.to(device), batches, torch.device(device), loaded.binary_logit)
    ids = [dataset.ids[i] for i in idx]
    return write_evaluation(out_dir, ids, y, probs, loaded.classes, loss, title, history_csv=history, train_labels=train_labels, extra=extra)


def select_split(samples, split: str, config: dict, data) -> np.ndarray:
    """Indices of a named split. A dataset without its own splits gets the split the model was
    trained with, recomputed from the seed and sizes in its checkpoint (same samples, same order)."""
    idx = _match(samples, split)
    if idx is not None:
        return idx
    if not samples.split_names() and canonical_split(split) and "val_size" in config:
        keys = ("train_split", "val_split", "test_split", "val_size", "folds", "fold", "seed")
        idx = assign_splits(samples, **{k: config[k] for k in keys})[canonical_split(split)]
        if len(idx) == 0:
            raise DataError(f"{data}: the model's training split has no {split!r} samples (it trained with val_size={config['val_size']}, folds={config['folds']}); evaluate on other data, or pass --split-from MODEL to borrow another model's split")
        return idx
    raise DataError(f"{data}: no split named {split!r}; the data has {samples.split_names() or 'no split column'}")


def evaluate_model(model: str | Path, data: str | Path, out_dir: Path, split: str | None = None, data_format: str = "auto", skip_bad: bool = False, label_map: dict | None = None, group_by: str | None = None, split_from: str | Path | None = None) -> dict:
    """`split_from`: take the recomputed split of another model's training (to compare two
    models on exactly the same samples)."""
    loaded = load_for_evaluation(model)
    samples = read_dataset(data, data_format, skip_bad=skip_bad)
    if group_by is not None and group_by.lower() not in samples.columns:
        raise DataError(f"{data}: no column {group_by!r} to group by; the manifest has {sorted(samples.columns) or 'no extra columns'}")
    label_map = label_map if label_map is not None else loaded.config.get("label_map") or {}
    targets, keep = map_labels(samples, loaded.classes, label_map)
    dropped = int((~keep).sum())
    samples, targets = samples.subset(np.flatnonzero(keep)), targets[keep]
    if split is not None:
        split_config = load_for_evaluation(split_from).config if split_from else loaded.config
        idx = select_split(samples, split, split_config, data)
        samples, targets = samples.subset(idx), targets[idx]
    images, kept = decode(samples, loaded.spec, skip_bad=skip_bad, prepare=loaded.prepare)
    dataset = ArrayDataset(torch.from_numpy(images), torch.from_numpy(targets[kept]), [samples.ids[i] for i in kept])
    history = loaded.path.parent / "history.csv" if loaded.path.is_file() else None
    extra = {"model": str(loaded.path), "data": str(data), "split": split, "skipped": len(samples.skipped), "dropped_by_label_map": dropped}
    if group_by is not None:
        extra["group_by"] = group_by.lower()
        extra["_groups"] = [samples.columns[group_by.lower()][i] for i in kept]
    title = f"{Path(loaded.path).parent.name}/{Path(loaded.path).name} on {Path(str(data)).name}" + (f" [{split}]" if split else "")
    return evaluate_dataset(loaded, dataset, Path(out_dir), title, history if history and history.is_file() else None, extra=extra)
