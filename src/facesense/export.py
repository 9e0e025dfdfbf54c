"""ONNX export: the graph outputs probabilities, and class names + input spec travel as metadata."""

from __future__ import annotations

import io
import json
import logging
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .checkpoint import LoadedModel, load_model, logits_to_probs
from .errors import DataError
from .onnx_files import DECISION_THRESHOLD_KEY, folded_threshold, onnx_metadata
from .runs import WRITE_ERRNOS, atomic_path, scratch_folder_beside, write_failure

log = logging.getLogger(__name__)

_EXPORT_LOCK = threading.Lock()  # onnx_bytes: torch.onnx.export is not thread-safe

if TYPE_CHECKING:
    import numpy as np

    from .data.samples import Samples

# the layers that carry the compute; the output (softmax / sigmoid) stays in float32 so the
# probabilities still sum to 1
INT8_OPS = ["Conv", "Gemm", "MatMul", "Add", "Relu", "MaxPool", "GlobalAveragePool", "Flatten"]
METADATA_KEYS = ("facesense_classes", "facesense_input_spec", "facesense_model", "facesense_task", "facesense_config")
# task=gender_age adds facesense_age_bins (JSON list: the age each bin of the second output,
# age_probabilities, stands for) and facesense_age_temperature (already applied in the graph)


class _WithProbabilities(nn.Module):
    def __init__(self, loaded: LoadedModel):
        super().__init__()
        self.model, self.binary_logit = loaded.model, loaded.binary_logit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return logits_to_probs(self.model(x), self.binary_logit)


class _GenderAgeOutputs(nn.Module):
    """task=gender_age: class probabilities (the first output, so a plain classifier reads the
    model as a gender model) and age-bin probabilities at the calibrated temperature."""

    def __init__(self, loaded: LoadedModel):
        super().__init__()
        self.model, self.k, self.temperature = loaded.model, len(loaded.classes), loaded.age_temperature

    def forward(self, x: torch.Tensor):
        z = self.model(x).float()
        return torch.softmax(z[:, : self.k], dim=1), torch.softmax(z[:, self.k :] / self.temperature, dim=1)


def onnx_bytes(loaded: LoadedModel, opset: int = 17) -> bytes:
    """Serialise a loaded model to ONNX (dynamic batch), with facesense metadata."""
    import onnx

    from .age import GENDER_AGE_TASK, age_bins

    gender_age = loaded.config.get("task") == GENDER_AGE_TASK
    wrapper = (_GenderAgeOutputs(loaded) if gender_age else _WithProbabilities(loaded)).eval()
    outputs = ["probabilities", "age_probabilities"] if gender_age else ["probabilities"]
    dummy = torch.zeros(1, loaded.spec.channels, loaded.spec.size, loaded.spec.size)
    buf = io.BytesIO()
    # one export at a time: torch.onnx.export keeps its state in module globals (and
    # catch_warnings swaps the process's filters), so two threads loading checkpoints at once
    # (FaceAnalyser or analyse_image from a thread pool) failed with "GLOBALS.in_onnx_export must be True"
    with _EXPORT_LOCK, warnings.catch_warnings():
        # the TorchScript exporter needs no extra package (the dynamo one needs onnxscript)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, dummy, buf, dynamo=False, opset_version=opset,
            input_names=["input"], output_names=outputs,
            dynamic_axes={"input": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "facesense_classes": json.dumps(loaded.classes),
        "facesense_input_spec": json.dumps(loaded.spec.to_dict()),
        "facesense_model": loaded.config.get("model", ""),
        "facesense_task": loaded.config.get("task", ""),
        # the training config: evaluation recomputes the model's own split from it
        "facesense_config": json.dumps(loaded.config, default=str),
    }
    if gender_age:
        meta["facesense_age_bins"] = json.dumps([int(a) for a in age_bins(loaded.config["age_max"])])
        meta["facesense_age_temperature"] = f"{loaded.age_temperature:.6g}"
        # how the training data was split: evaluation recomputes the held-out test split from it
        from .data.split import SPLIT_KEYS

        meta["facesense_split"] = json.dumps({k: loaded.config.get(k) for k in ("task", "folds_on", *SPLIT_KEYS)})
    return with_metadata(proto, meta)


def _with_training_hashes(model_bytes: bytes, loaded: LoadedModel) -> bytes:
    """The export with its training images' pixel hashes (8 bytes each) in its metadata, where
    its run recorded them (a shipped checkpoint's come from its runtime copy). They tell whether
    a given image was among the training images, which is the point (a copy of the training data
    scored says so) and also what someone holding the exact image could learn:
    `--no-training-hashes` leaves them out of a model to be shared."""
    from .data.digests import manifest_digests
    from .runtime.assets import carried_digests

    trained = carried_digests(None, loaded.path)
    if not trained:
        return model_bytes
    # a run on aligned faces records two hashes an image (before and after alignment): count images
    images = manifest_digests(loaded.path.parent / "split_manifest.csv", "train", ("pixels_digest",)) if loaded.path is not None else None
    # and its validation rows': a copy of them scored is said to be the rows that chose its best epoch
    validation = carried_digests(None, loaded.path, "val")
    log.info("the export carries the pixel hashes of its %d distinct training images (evaluate knows them wherever they are; --no-training-hashes leaves them out)", len(images or trained))
    return with_training_hashes(model_bytes, trained, validation)


def _with_held_out_rows(model_bytes: bytes, loaded: LoadedModel) -> bytes:
    """The export with the ids digests of the rows its run held out (val, test), from the run's
    split_manifest.csv: evaluating the file with --split on data without a split column can then
    tell the rows it held out from another draw, as the run folder can."""
    import csv

    manifest = loaded.path.parent / "split_manifest.csv" if loaded.path is not None else None
    if manifest is None or not manifest.is_file():
        return model_bytes
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = [(r["id"], r["label"], r["split"]) for r in csv.DictReader(f)]
    return with_held_out_rows(model_bytes, rows, loaded.config.get("extra_data") or [])


def with_held_out_rows(model_bytes: bytes, rows, extra_data: list[str]) -> bytes:
    """An ONNX model with the held-out rows' ids digests in its metadata (data.split.HELD_OUT_KEY);
    rows of a gender+age run's extra datasets (ids prefixed with the dataset's name) left out."""
    import onnx

    from .data.split import HELD_OUT_KEY, held_out_digests

    digests = held_out_digests(rows, tuple(f"{Path(extra).name}:" for extra in extra_data))
    proto = onnx.load_from_string(model_bytes)
    meta = {p.key: p.value for p in proto.metadata_props}
    if digests:
        meta[HELD_OUT_KEY] = json.dumps(digests)
    return with_metadata(proto, meta)


def with_training_hashes(model_bytes: bytes, digests: set[str], validation: set[str] | None = None) -> bytes:
    """An ONNX model with these training-image digests (and its validation rows', where given) in
    its metadata (replacing any it had); its graph and other metadata unchanged."""
    import onnx

    from .data.digests import METADATA_KEY, VALIDATION_METADATA_KEY, packed

    proto = onnx.load_from_string(model_bytes)
    meta = {p.key: p.value for p in proto.metadata_props} | {METADATA_KEY: packed(digests)}
    meta.pop(VALIDATION_METADATA_KEY, None)  # replaced, or gone with no validation rows
    if validation:
        meta[VALIDATION_METADATA_KEY] = packed(validation)
    return with_metadata(proto, meta)


def with_metadata(proto, meta: dict[str, str]) -> bytes:
    """The model serialised with exactly these metadata entries."""
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def check_threshold(classes: list[str], threshold: float) -> None:
    if len(classes) != 2:
        raise DataError(f"--threshold needs a two-class model; this one has {len(classes)} classes ({', '.join(classes)})")
    if not 0 < threshold < 1:
        raise DataError(f"--threshold must be between 0 and 1 (exclusive), got {threshold}")


def with_decision_threshold(model_bytes: bytes, classes: list[str], threshold: float, chosen_by: str) -> bytes:
    """A two-class model whose second class wins exactly when its original probability is >=
    `threshold`: probabilities -> softmax(log(probabilities) + [log(t / (1 - t)), 0]), a prior
    shift folded into the graph, so every consumer (live, serve, predict, evaluate) decides
    there and the order of the scores is kept. The metadata records it."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    check_threshold(classes, threshold)
    proto = onnx.load_from_string(model_bytes)
    graph = proto.graph
    out = graph.output[0]
    raw = out.name + "_unshifted"
    for node in graph.node:
        node.output[:] = [raw if o == out.name else o for o in node.output]
    shift = np.array([[np.log(threshold / (1 - threshold)), 0.0]], np.float32)
    graph.initializer.append(numpy_helper.from_array(shift, "facesense_prior_shift"))
    graph.initializer.append(numpy_helper.from_array(np.array(1e-12, np.float32), "facesense_eps"))
    graph.node.extend([
        helper.make_node("Max", [raw, "facesense_eps"], [raw + "_clipped"]),
        helper.make_node("Log", [raw + "_clipped"], [raw + "_log"]),
        helper.make_node("Add", [raw + "_log", "facesense_prior_shift"], [raw + "_shifted"]),
        helper.make_node("Softmax", [raw + "_shifted"], [out.name], axis=1),
    ])
    meta = {p.key: p.value for p in proto.metadata_props}
    meta[DECISION_THRESHOLD_KEY] = json.dumps({classes[1]: threshold, "chosen_by": chosen_by})
    onnx.checker.check_model(proto)
    return with_metadata(proto, meta)


def decision_threshold(onnx_file: str | Path) -> float | None:
    """The threshold folded into an exported two-class model (None: it decides at 0.5)."""
    folded = folded_threshold(onnx_metadata(onnx_file))
    return folded[1] if folded else None


_QUANTIZING = threading.Lock()


def quantize_int8(model_bytes: bytes, calibration: "np.ndarray", work_dir: Path | None = None) -> bytes:
    """Static int8 quantisation (ONNX Runtime, QDQ, per-channel weights): activation ranges come
    from `calibration`, a batch of model-ready float32 inputs. About 2x faster on x86 CPUs with
    VNNI; check the accuracy change with `facesense evaluate FILE.onnx`. Its intermediate
    models (tens of MB) go to `work_dir` (default: the system's temp folder)."""
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static

    if len(calibration) == 0:
        raise ValueError("int8 quantisation needs at least one calibration sample")
    metadata = {p.key: p.value for p in onnx.load_from_string(model_bytes).metadata_props}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter({"input": calibration[i : i + 1]} for i in range(len(calibration)))

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        fp32, pre, q = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32.write_bytes(model_bytes)
        # ONNX Runtime's own temp folders (ort.quant.*, pre.quant.*) go there too: it takes no
        # folder, so the process's temp folder is pointed there meanwhile (one export at a time)
        with _QUANTIZING:
            system_tmp = tempfile.tempdir
            tempfile.tempdir = tmp if work_dir is not None else system_tmp
            try:
                quant_pre_process(str(fp32), str(pre))
                # reduce_range: 7-bit weights. x86 CPUs without VNNI (AVX2 only) multiply uint8
                # activations by int8 weights with an instruction that saturates on full-range
                # weights: the shipped expression model decided otherwise than its float32 self on
                # 9% of faces there, and on 1.5% with 7 bits (as fast; uint8 weights: 1.5x slower)
                quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True, op_types_to_quantize=INT8_OPS,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=output_layers(onnx.load(str(pre))))
            finally:
                tempfile.tempdir = system_tmp
        proto = onnx.load(str(q))
    return with_metadata(proto, {**metadata, "facesense_precision": "int8"})


def output_layers(proto) -> list[str]:
    """The last fully connected layer(s) before each graph output: kept in float32. One int8
    scale spans all of a layer's outputs, so in a gender+age head 101 wide age logits would
    leave the 2 gender logits a handful of levels (man/woman came out at 0.5, 0.69 or 0.8)."""
    producer = {out: node for node in proto.graph.node for out in node.output}
    names = []
    for output in proto.graph.output:
        node = producer.get(output.name)
        while node is not None and node.op_type not in ("Gemm", "MatMul"):
            node = next((producer[i] for i in node.input if i in producer), None)
        if node is not None and node.name not in names:
            names.append(node.name)
    return names


def calibration_inputs(dataset: str | Path, spec, samples: int = 500, seed: int = 0, config: dict | None = None, classes: list[str] | None = None) -> "np.ndarray":
    """A seeded random draw of model-ready inputs from a dataset's training rows: its train
    split, or without a split column the training rows the model's `config` recomputes (its
    val_size, test_size or fold held out), so no held-out image sets a range; every row where
    the config's split does not fit the data (another dataset), or there is no config."""
    import numpy as np

    from .data.images import decode
    from .data.prepare import face_preparer
    from .data.split import _match
    from .preprocess import scale

    data, labelled = _calibration_samples(dataset)
    if labelled:  # the labels can be checked against the model's classes
        _check_calibration_labels(data.labels, classes, config, dataset)
    train = _match(data, "train")
    if train is None and labelled and config:  # (photos: not the model's data, no split to recompute)
        from .data.split import assign_splits, trained_split_settings

        try:  # the validation rows went into the ranges too where only test_size was looked at
            train = assign_splits(data, **trained_split_settings(config), advise=False)["train"]
        except DataError:  # a split its settings cannot draw here (a column this data lacks): every row
            train = None
    pool = train if train is not None else np.arange(len(data))
    pick = np.sort(np.random.default_rng(seed).choice(pool, min(samples, len(pool)), replace=False))
    drawn = data.subset(pick)
    images, kept = decode(drawn, spec, skip_bad=True, prepare=face_preparer(spec))  # aligned as in training
    if not kept:
        raise DataError(f"--calibration {dataset}: none of the {len(pick)} images drawn could be read; give training images of the model's task")
    if drawn.skipped:
        log.warning("--calibration %s: skipped %d unreadable of %d images drawn", dataset, len(drawn.skipped), len(pick))
    return scale(images, spec).astype(np.float32)


def _calibration_samples(dataset: str | Path) -> tuple[Samples, bool]:
    """-> (the calibration dataset, whether it is labelled). A folder of photos without class
    folders (ranges need no labels) is taken as it is: every image in it, unlabelled."""
    from .data.images import IMAGE_SUFFIXES, files_under, hidden
    from .data.samples import Samples
    from .data.sources import read_dataset

    sources_log = logging.getLogger("facesense.data.sources")
    level = sources_log.level
    sources_log.setLevel(logging.ERROR)  # "images directly in the folder are left out": not so, if they are photos
    try:
        return read_dataset(dataset), True
    except DataError:
        folder = Path(dataset)
        if not folder.is_dir() or (folder / "labels.csv").is_file():
            raise
        photos = sorted(p for p in files_under(folder) if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p, folder))
        if not photos:  # "no class folders" read as if a dataset were needed; a folder of photos does
            raise DataError(f"--calibration {dataset}: no images in it; give a folder of photos of the kind the model sees, or a dataset of its task") from None
        log.info("--calibration %s: %d images, read as unlabelled photos (ranges need no labels)", dataset, len(photos))
        return Samples(str(folder), [str(p.relative_to(folder)) for p in photos], ["(unlabelled)"] * len(photos), [None] * len(photos), paths=photos), False
    finally:
        sources_log.setLevel(level)


def _check_calibration_labels(labels, classes: list[str] | None, config: dict | None, dataset) -> None:
    """Calibration images of another task (face crops for the sentiment model) set int8 ranges
    the model never sees in use: said, not refused (unlabelled images of the right kind, put in
    any folders, are fine for ranges). Labels are read as the model's training read them (its
    label_map: M/F, numbered folders)."""
    from .labels import mapped_labels, normalise

    if not classes:
        return
    classes = {normalise(c) for c in classes}
    found = {normalise(x) for x in mapped_labels(set(labels), (config or {}).get("label_map"))}
    if not classes & found:
        log.warning("--calibration %s: its labels or folder names (%s) are none of the model's classes (%s): fine for photos of the kind the model sees (int8 ranges need no labels), but images of another task set ranges that may not fit it",
                    dataset, ", ".join(sorted(found)[:6]) + (", ..." if len(found) > 6 else ""), ", ".join(sorted(classes)))


def int8_agreement(float_bytes: bytes, int8_bytes: bytes, inputs: "np.ndarray", most: int = 200) -> float:
    """The share of images (the first `most` calibration inputs) on which the int8 model decides
    as the float32 one does (each with the decision threshold it ships with, if any): static
    quantisation can move a decision (it changed 12% of the shipped sentiment model's), and
    nothing else in an export would say so."""
    inputs = inputs[:most]
    return float((first_outputs(float_bytes, inputs).argmax(1) == first_outputs(int8_bytes, inputs).argmax(1)).mean())


def first_outputs(model_bytes: bytes, inputs: "np.ndarray") -> "np.ndarray":
    """An ONNX model's first output for each input, run on the CPU 16 at a time."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i : i + 16]})[0] for i in range(0, len(inputs), 16)])


def _say_if_unfinished(model: str | Path) -> None:
    """A run still training, or stopped before its end, exports its best epoch so far: said, as
    compare refuses such runs (the export would quietly be an early model)."""
    from .runs import unfinished_run

    found = unfinished_run(model)
    if found:
        log.warning("%s %s: this exports its best epoch so far", *found)


def export_onnx(model: str | Path, out: str | Path, int8_calibration: str | Path | None = None, samples: int = 500, threshold: float | None = None, threshold_chosen_by: str = "given at export",
                training_hashes: bool = True) -> Path:
    """`threshold`: a two-class model decides its second class when that class's probability
    is >= it (see with_decision_threshold). `training_hashes`: carry the training images' pixel
    hashes (from the run's split_manifest.csv), so that evaluating the file on its training
    images, wherever they are, says so."""
    loaded = load_model(model)
    _say_if_unfinished(model)
    if threshold is not None:  # before the slow work
        check_threshold(loaded.classes, threshold)
    if int8_calibration is not None:  # a dataset that cannot serve is said before the export
        inputs = calibration_inputs(int8_calibration, loaded.spec, samples, config=loaded.config, classes=loaded.classes)
    data = _with_held_out_rows(onnx_bytes(loaded), loaded)
    data = _with_training_hashes(data, loaded) if training_hashes else data
    decided = (lambda b: with_decision_threshold(b, loaded.classes, threshold, threshold_chosen_by)) if threshold is not None else (lambda b: b)
    if int8_calibration is not None:
        try:
            with scratch_folder_beside(Path(out)) as work:  # the quantiser's work files
                float_data, data = data, quantize_int8(data, inputs, work)
        except OSError as exc:  # its work files beside --out (larger than the result) did not fit: named as the output
            if exc.errno not in WRITE_ERRNOS:
                raise
            raise write_failure(out, exc) from None
        checked = min(200, len(inputs))
        agree = int8_agreement(decided(float_data), decided(data), inputs, checked)
        # said as checked: the first 200 of --calibration-samples (500), which read as a miscount
        which = f"{checked} calibration images" if checked == len(inputs) else f"the first {checked} of the {len(inputs)} calibration images"
        if agree < 0.99:
            log.warning("int8 decides otherwise than float32 on %.1f%% of %s: check it on held-out data (facesense evaluate %s ...) before using it, or export float32 (without --int8)",
                        100 * (1 - agree), which, out)
        else:
            log.info("int8 decides as float32 does on %.1f%% of %s", 100 * agree, which)
    data = decided(data)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return Path(out)
