"""Typed experiment config: YAML file + `key=value` overrides; unknown keys are errors with a hint."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class AugmentConfig:
    """Train-only augmentation (source B's set plus random erasing). 0 / False switches one off."""

    rotation: float = 0.0  # degrees, +-
    shift: float = 0.0  # fraction of width/height, +-
    shear: float = 0.0  # degrees, +-
    zoom: float = 0.0  # scale in [1 - zoom, 1 + zoom]
    hflip: bool = False
    erasing: float = 0.0  # probability of erasing one random rectangle
    # photometric (colour photos from other cameras and lighting)
    brightness: float = 0.0  # +- fraction
    contrast: float = 0.0  # +- fraction
    saturation: float = 0.0  # +- fraction
    grayscale: float = 0.0  # probability of a gray copy
    blur: float = 0.0  # probability of a Gaussian blur (a small or soft face)
    # probability that the student sees a degraded copy of a face (another box margin, light,
    # blur or a small face, JPEG; train/degrade.py); teachers, if any, see it undegraded
    degrade: float = 0.0


@dataclass
class Config:
    # what and where
    task: str = "expression"  # expression | gender | sentiment | custom | gender_age
    name: str = ""  # run name; defaults to the model name
    data: str = ""  # dataset path (folder tree, FER2013 csv, labels.csv)
    data_format: str = "auto"  # auto | folders | fer2013 | manifest
    classes: list[str] | None = None  # only for task=custom (default: sorted labels of the data)
    label_map: dict[str, str | None] = field(default_factory=dict)  # raw label -> class (null drops)
    skip_bad: bool = False  # skip unreadable images / bad rows and list them, instead of failing
    runs_dir: str = "runs"
    # splits: names are matched with aliases (train~Training, val~PublicTest~validation, test~PrivateTest)
    train_split: str | None = "train"  # None: every sample not in val/test
    val_split: str | None = "val"  # absent from the data -> carved from train with val_size
    test_split: str | None = "test"  # touched once, with the best checkpoint
    val_size: float = 0.2
    test_size: float = 0.0  # > 0 and no test split in the data: hold out this seeded fraction first
    stratify: list[str] = field(default_factory=list)  # manifest columns the seeded splits also balance (besides the label); `age` is binned into bands
    # a manifest column (a person's id, e.g. subject) whose rows the seeded splits keep together:
    # one person's photos are never on both sides of a hold-out or a fold
    split_group: str | None = None
    folds: int = 0  # >1: seeded stratified k-fold on the train pool ...
    fold: int = 0  # ... and this fold is validation
    folds_on: str = "main"  # task=gender_age: "extra" folds the extra_data (gender-only) datasets instead, the main dataset keeping its test/val split
    seed: int = 0
    # how seeded hold-outs are drawn: 4 holds test_size's hold-out and one stratified by `stratify`
    # columns to the rules below too (rules 1-3 left their small classes to rounding); 3 keeps a class with a single sample in training and the
    # rest stratified; 2 gives both sides a sample of every class that has two or more (but one
    # single-sample class made the whole hold-out unstratified); 1 (runs made before 2 existed,
    # whose configs lack the key) left a small class's share to rounding. Recorded so that
    # evaluate recomputes an old run's split as it was made. The default is data.split.SPLIT_RULE
    # (config knows nothing of the data layer; a test keeps the two equal).
    split_rule: int = 4
    # model and input spec
    model: str = "emotion_model_3"
    model_args: dict[str, Any] = field(default_factory=dict)
    image_size: int = 48
    channels: int = 1
    input_mean: float | list[float] = 0.0  # the model's normalisation: (pixel / 255 - mean) / std; one value or one per channel
    input_std: float | list[float] = 1.0
    align: str | None = None  # train on faces aligned by their five landmarks onto this named reference (dlib_chip), as the runtime aligns them; None: the images as they are
    test_time_flip: bool = False  # validate, evaluate, predict and export average each image with its mirror (2x compute per face)
    test_time_zoom: list[float] = field(default_factory=list)  # ... and with copies zoomed by these factors (> 1: in; each one more view)
    init_from: str | None = None  # local checkpoint/state dict to start from (no download)
    freeze: list[str] | None = None  # layers kept fixed, by name (e.g. [stem, features.0]: those layers and everything inside them)
    # task=gender_age: one network, gender classes + age as a distribution over one-year bins
    extra_data: list[str] = field(default_factory=list)  # more labelled datasets for the class head only (no age: masked age loss); split with val_size, never tested on
    age_max: int = 100  # age bins 0..age_max (the last one: age_max and older)
    age_sigma: float = 2.0  # width (years) of the Gaussian label distribution around each true age
    age_weight: float = 1.0  # weight of the age loss beside the gender loss (0: gender only)
    age_l1: float = 0.1  # weight of |expected age - true age| beside the distribution loss (DLDL-v2's expectation term)
    gender_weight: float = 1.0  # weight of the gender loss (0: age only)
    # optimisation
    epochs: int = 50
    batch_size: int = 64
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    loss: str = "ce"  # ce | bce (binary tasks: one sigmoid output)
    label_smoothing: float = 0.0
    class_balance: str = "none"  # none | weights | sampler
    teacher: list[str] | None = None  # checkpoints to distil from (their averaged soft outputs)
    distill_weight: float = 0.7  # share of the distillation term in the loss (the rest: labels)
    distill_temperature: float = 4.0
    teacher_mode: str = "online"  # online: teachers see each augmented batch | cached: score each train image (+ mirror) once
    distill_flip: bool = False  # online teachers also score each batch's mirror image (targets averaged over both)
    soft_labels: str | None = None  # crowd-vote table (FER+ fer2013new.csv layout) mixed into the targets
    soft_label_weight: float = 0.5  # share of the vote distribution in the label targets (soft_label_mode=mix)
    # mix: (1 - w) * original one-hot + w * vote shares, every row kept | majority: the crowd's
    # most-voted class as the label | distribution: the vote shares as the target; the last two
    # drop rows the crowd calls not-a-face or unknown (FER+ paper's "majority" / "probability")
    soft_label_mode: str = "mix"
    # stochastic weight averaging: from epoch swa_start on, the weights are averaged at each
    # epoch end; the average (batch-norm statistics re-estimated) becomes best.pt if it validates better
    swa_start: int | None = None
    swa_lr: float | None = None  # constant lr during the averaged epochs (None: the schedule's)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # callbacks, all chosen on the validation split
    monitor: str = "val_loss"  # val_loss | val_accuracy | val_macro_f1 | val_age_mae (task=gender_age)
    keep: str = "best"  # best.pt holds the best epoch by `monitor`, or the last one (then validation only reports, as for a model trained on all the data)
    early_stopping: int | None = None  # patience in epochs; None: off
    lr_schedule: str = "auto"  # auto (plateau if reduce_lr_patience is set, else constant) | constant | plateau | cosine | onecycle (per batch, peak lr at 30% of the run)
    reduce_lr_patience: int | None = None  # None: off
    reduce_lr_factor: float = 0.5
    reduce_lr_min_delta: float = 1e-4  # improvement threshold: absolute for keras, relative to the best for torch (each library's default)
    reduce_lr_cooldown: int = 0  # epochs after a reduction before epochs without improvement count again (Keras's count: the last of them counts)
    plateau_policy: str = "keras"  # keras: reduce after `reduce_lr_patience` epochs without improvement | torch: PyTorch's ReduceLROnPlateau (after patience + 1)
    min_lr: float = 1e-6
    # speed
    amp: str = "auto"  # auto (bfloat16 autocast on CPUs and GPUs that compute it in hardware) | off
    channels_last: bool = True
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # 0: torch's default

    def validate(self) -> "Config":
        choice = {
            "data_format": ("auto", "folders", "fer2013", "manifest"),
            "optimizer": ("adam", "sgd"),
            "loss": ("ce", "bce"),
            "class_balance": ("none", "weights", "sampler"),
            "monitor": ("val_loss", "val_accuracy", "val_macro_f1", "val_age_mae"),
            "keep": ("best", "last"),
            "amp": ("auto", "off"),
            "lr_schedule": ("auto", "constant", "plateau", "cosine", "onecycle"),
            "plateau_policy": ("keras", "torch"),
            "device": ("auto", "cpu", "cuda"),
            "teacher_mode": ("online", "cached"),
            "soft_label_mode": ("mix", "majority", "distribution"),
            "folds_on": ("main", "extra"),
            "split_rule": (1, 2, 3, 4),
            # a typo would otherwise train as a custom task under its own runs/ folder
            "task": ("expression", "gender", "sentiment", "custom", "gender_age"),
        }
        for key, allowed in choice.items():
            if getattr(self, key) not in allowed:
                said = getattr(self, key)
                if said in ("True", "False") and "off" in allowed:  # YAML's false, read as text: the user meant on or off
                    raise ConfigError(f"{key}={said.lower()}: write {key}={'off' if said == 'False' else allowed[0]} (one of {list(allowed)})")
                raise ConfigError(f"{key}={said!r} is not one of {list(allowed)}")
        positive = ("epochs", "batch_size", "image_size")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 (gray) or 3 (colour), got {self.channels}")
        for key in ("input_mean", "input_std"):
            value = getattr(self, key)
            if isinstance(value, list) and len(value) != self.channels:
                raise ConfigError(f"{key} has {len(value)} values for {self.channels} channels; give one value or one per channel")
        if any(v <= 0 for v in (self.input_std if isinstance(self.input_std, list) else [self.input_std])):
            raise ConfigError(f"input_std must be > 0, got {self.input_std}")
        if self.align is not None:
            from .preprocess import REFERENCES

            if self.align not in REFERENCES:
                raise ConfigError(f"align={self.align!r} is not one of {sorted(REFERENCES)} (or null for unaligned images)")
        if not 0 <= self.val_size < 1:
            raise ConfigError(f"val_size must be in [0, 1), got {self.val_size}")
        if self.folds > 1 and not 0 <= self.fold < self.folds:
            raise ConfigError(f"fold must be in [0, {self.folds - 1}], got {self.fold}")
        if not 0 <= self.seed < 2**32:  # numpy's and torch's seeds
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.folds < 0 or self.folds == 1:
            raise ConfigError(f"folds must be 0 (no k-fold) or >= 2, got {self.folds}")
        if self.folds == 0 and self.fold != 0:
            raise ConfigError(f"fold={self.fold} needs folds >= 2 (the number of folds to split the train pool into)")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule in ("cosine", "plateau", "auto") and self.min_lr >= self.lr and (self.lr_schedule == "cosine" or self.reduce_lr_patience is not None):
            raise ConfigError(f"min_lr={self.min_lr:g} must be below lr={self.lr:g} (the schedule lowers the rate towards min_lr)")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise ConfigError(f"early_stopping is a patience in epochs (>= 1, or null for off), got {self.early_stopping}")
        if self.swa_lr is not None and self.swa_start is None:
            raise ConfigError("swa_lr is the rate of the averaged epochs: set swa_start too (the first epoch averaged)")
        self._check_splits()
        self._check_name()
        from .labels import normalise

        if self.classes is not None and len({normalise(c) for c in self.classes}) != len(self.classes):  # man and male are one class
            raise ConfigError(f"classes {self.classes} name a class twice; give each once")
        from .labels import TASK_CLASSES

        fixed = TASK_CLASSES.get(self.task)
        if self.classes is not None and fixed is not None and [normalise(c) for c in self.classes] != list(fixed):  # it reordered or dropped a task's own classes (spellings as labels read them: male is man)
            raise ConfigError(f"classes {self.classes}: task={self.task} has its own classes ({', '.join(fixed)}); leave classes out, or use task=custom for classes of your own")
        if self.reduce_lr_patience is not None and self.reduce_lr_patience < 1:
            raise ConfigError(f"reduce_lr_patience must be >= 1 epoch, got {self.reduce_lr_patience}")
        if self.reduce_lr_patience is not None and self.lr_schedule in ("constant", "cosine", "onecycle"):  # it was dropped without a word
            # said, not refused: runs saved with both must still resume
            log.warning("reduce_lr_patience=%s lowers the rate on a plateau, which lr_schedule=%s does not do: it has no effect here (lr_schedule=plateau, or auto, uses it)",
                        self.reduce_lr_patience, self.lr_schedule)
        if not 0 < self.reduce_lr_factor < 1:
            raise ConfigError(f"reduce_lr_factor must be in (0, 1), got {self.reduce_lr_factor}")
        if self.reduce_lr_min_delta < 0 or self.reduce_lr_cooldown < 0 or self.min_lr < 0:
            raise ConfigError("reduce_lr_min_delta, reduce_lr_cooldown and min_lr must be >= 0")
        if self.lr_schedule == "plateau" and self.reduce_lr_patience is None:
            raise ConfigError("lr_schedule=plateau needs reduce_lr_patience (epochs without improvement)")
        if self.teacher is not None and not 0 < self.distill_weight <= 1:
            raise ConfigError(f"distill_weight must be in (0, 1], got {self.distill_weight}")
        if self.teacher is not None and self.distill_temperature <= 0:
            raise ConfigError(f"distill_temperature must be > 0, got {self.distill_temperature}")
        if any(not 0.5 <= z <= 2 for z in self.test_time_zoom):
            raise ConfigError(f"test_time_zoom factors must be in [0.5, 2] (1.1: zoom in 10%), got {self.test_time_zoom}")
        if self.swa_start is not None and not 1 <= self.swa_start <= self.epochs:
            raise ConfigError(f"swa_start must be in [1, epochs={self.epochs}], got {self.swa_start}")
        if self.swa_lr is not None and self.swa_lr <= 0:
            raise ConfigError(f"swa_lr must be > 0, got {self.swa_lr}")
        if self.soft_labels is not None and self.loss == "bce":
            raise ConfigError("soft_labels needs loss=ce (vote shares over every class)")
        if self.soft_label_mode != "mix" and self.soft_labels is None:
            raise ConfigError(f"soft_label_mode={self.soft_label_mode} needs soft_labels (a vote table such as FER+'s fer2013new.csv)")
        self._check_ranges()
        if not 0 <= self.soft_label_weight <= 1:
            raise ConfigError(f"soft_label_weight must be in [0, 1], got {self.soft_label_weight}")
        if self.split_group is not None and not self.split_group.strip():  # read as no grouping at all
            raise ConfigError("split_group is empty: name the labels.csv column that gives each row's person (split_group: subject), or leave it out")
        if not 0 <= self.test_size < 1 or self.val_size + self.test_size >= 1:
            raise ConfigError(f"test_size must be in [0, 1) with val_size + test_size < 1, got test_size={self.test_size}, val_size={self.val_size}")
        if self.monitor == "val_age_mae" and self.task != "gender_age":
            raise ConfigError("monitor=val_age_mae is for task=gender_age")
        if self.task == "gender_age":
            if self.loss != "ce" or self.teacher or self.soft_labels or self.class_balance != "none":
                raise ConfigError("task=gender_age trains with loss=ce and without teacher, soft_labels or class_balance")
            if self.age_max < 1 or self.age_sigma <= 0 or self.age_weight < 0 or self.age_l1 < 0 or self.gender_weight < 0 or self.age_weight + self.gender_weight == 0:
                raise ConfigError(f"task=gender_age needs age_max >= 1, age_sigma > 0, age_l1 >= 0 and non-negative age_weight/gender_weight, not both 0 (got {self.age_max}, {self.age_sigma}, {self.age_l1}, {self.age_weight}, {self.gender_weight})")
            if self.folds_on == "extra" and (not self.extra_data or self.folds < 2):
                raise ConfigError(f"folds_on=extra folds the extra_data datasets: give extra_data and folds >= 2 (got {len(self.extra_data)} datasets, folds={self.folds})")
        elif self.extra_data:
            raise ConfigError("extra_data is for task=gender_age (datasets that train the class head only)")
        elif self.folds_on != "main":
            raise ConfigError("folds_on=extra is for task=gender_age (it folds the extra_data datasets)")
        if not self.name:
            self.name = self.model
        return self

    def _check_ranges(self) -> None:
        """Bounds of the numbers the optimiser, the loss and the augmentation take; out of them
        each library fails mid-run with its own traceback, or (a probability above 1) silently
        does something else."""
        a = self.augment
        ranges = [
            # key, value, low, high, high included
            ("label_smoothing", self.label_smoothing, 0, 1, False),
            ("momentum", self.momentum, 0, 1, False),
            ("weight_decay", self.weight_decay, 0, None, True),
            ("threads", self.threads, 0, None, True),
            ("augment.rotation", a.rotation, 0, 180, True),
            ("augment.shear", a.shear, 0, 89, True),
            ("augment.shift", a.shift, 0, 1, False),
            ("augment.zoom", a.zoom, 0, 1, False),
            ("augment.brightness", a.brightness, 0, 1, False),
            ("augment.contrast", a.contrast, 0, 1, False),
            ("augment.saturation", a.saturation, 0, 1, False),
            ("augment.erasing", a.erasing, 0, 1, True),
            ("augment.grayscale", a.grayscale, 0, 1, True),
            ("augment.blur", a.blur, 0, 1, True),
            ("augment.degrade", a.degrade, 0, 1, True),
        ]
        for key, value, low, high, closed in ranges:
            if value < low or (high is not None and (value > high or (value == high and not closed))):
                bound = "" if high is None else f", {high}]" if closed else f", {high})"
                span = f">= {low}" if high is None else f"in [{low}{bound}"
                raise ConfigError(f"{key} must be {span}, got {value}")

    def _check_splits(self) -> None:
        """One split name given twice would validate or test on the training data (two aliases
        that select the same samples are refused where the data are read)."""
        named = [(k, getattr(self, k)) for k in ("train_split", "val_split", "test_split") if getattr(self, k) is not None]
        for i, (a, name_a) in enumerate(named):
            for b, name_b in named[i + 1:]:
                if name_a.strip().lower() == name_b.strip().lower():  # aliases (val, PublicTest): the data decide
                    raise ConfigError(f"{a}={name_a!r} and {b}={name_b!r} name the same split; give each its own (or null)")

    def _check_name(self) -> None:
        """The run folder is runs_dir/task/NAME-N: a path in the name would land elsewhere."""
        if self.name in (".", "..") or any(c in self.name for c in "/\\\0"):
            raise ConfigError(f"name={self.name!r} must be a folder name, without '/' or '\\' (the run goes to runs_dir/task/NAME-N)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _field_types(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _suggest(key: str, known: list[str], prefix: str = "") -> str:
    """The closest known key, named as it was given (augment.hflip, not hflip), or all of them."""
    close = difflib.get_close_matches(key, known, n=1)
    return f" Did you mean {prefix + close[0]!r}?" if close else f" Known keys: {', '.join(sorted(known))}."


class _ConfigLoader(yaml.SafeLoader):
    """YAML with only true/false as booleans (as YAML 1.2): PyYAML's YAML 1.1 also reads a bare
    on/off/yes/no as one, which turned `amp=off` and `name=no` into False. A key given twice in
    one mapping is an error (PyYAML keeps the last without a word: `epochs: 1` then `epochs: 2`)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool, type(None))):
                continue  # an unusual key: SafeLoader's own check names it
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1}): keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


_BOOL_TAG = "tag:yaml.org,2002:bool"
_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def read_yaml_file(path: Path, source: str | None = None) -> Any:
    """read_yaml of a file: one saved in another encoding than UTF-8 (Latin-1, as some Windows
    editors save it) is a ConfigError naming the file and the line, not a decoding traceback."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{source or path}: a byte that is not UTF-8 at line {line}; save the file as UTF-8") from None
    return read_yaml(text, source or str(path))


def read_yaml(text: str, source: str) -> Any:
    """A config, study or label-map file (or an override's value), with only true/false read as
    booleans; ConfigError naming `source` when it is not valid YAML."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {problem or ' '.join(str(exc).split())}; fix the file or value") from None


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Check/convert one value against a field's annotation (YAML already gives typed scalars)."""
    text = str(typ)
    if value is None:
        if "None" in text:
            return None
        raise ConfigError(f"{key} cannot be null")
    options = [t for t in get_args(typ) if t is not type(None)] if get_origin(typ) in (Union, types.UnionType) else []
    if len(options) == 1:  # `X | None`, not null: an X
        return _coerce(value, options[0], key)
    if options:  # float | list[float]: one value or one per channel
        return _coerce(value, next((t for t in options if str(t).startswith("list")), options[0]) if isinstance(value, list) else next(t for t in options if not str(t).startswith("list")), key)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:  # YAML 1.1's words for true/false
            return _BOOL_WORDS[value.lower()]
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if typ is int or text.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if typ is str or text.startswith("str"):
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return str(value)
    if text.startswith("list"):
        element = float if "float" in text else str
        if isinstance(value, str) and element is str:  # teacher=runs/x-1: a list of one; classes=man,woman: of two
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, element, f"{key}[{i}]") for i, v in enumerate(value)]
    if text.startswith("dict"):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    return value


def apply_values(target: Any, values: dict[str, Any], prefix: str = "") -> None:
    """Set config keys from a mapping: an unknown key (with the closest known one) or a value of
    the wrong type is a ConfigError; nothing checks keys against each other here (validate does)."""
    types = _field_types(type(target))
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in types:
            head, _, rest = str(key).partition(".")
            if rest and head in types:  # a command line's dotted key in a mapping (a study's overrides)
                raise ConfigError(f"unknown config key {full!r}: in a mapping, nest it: {head}: {{{rest}: {json.dumps(value, default=str)}}}")
            raise ConfigError(f"unknown config key {full!r}.{_suggest(key, list(types), prefix)}")
        typ = types[key]
        if dataclasses.is_dataclass(typ):
            if not isinstance(value, dict):
                raise ConfigError(f"{full} must be a mapping of {sorted(_field_types(typ))}")
            apply_values(getattr(target, key), value, prefix=f"{full}.")
        else:
            # model_args.width=8 sets one key of the mapping and keeps the others (the config's
            # dropout: 0.2 was dropped without a word); model_args={width: 8} replaces the whole
            setattr(target, key, _coerce(_merged(getattr(target, key), value), typ, full))


class _Dotted(dict):
    """The keys a dotted override (model_args.width=8) sets inside a mapping: merged into the
    mapping the config has, where a whole mapping given (model_args={width: 8}) replaces it."""


def _merged(current: Any, value: Any) -> Any:
    """`value` as a plain value, a dotted override's keys merged into `current`'s mapping."""
    if not isinstance(value, _Dotted):
        return value
    out = dict(current) if isinstance(current, dict) else {}
    for k, v in value.items():
        # label_map.1=null on {0: man, 1: woman}: the key typed is text, the YAML's is the number 1
        k = next((key for key in out if k not in out and str(key) == k), k)
        out[k] = _merged(out.get(k), v)
    return out


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """['epochs=2', 'augment.hflip=true'] -> nested dict with YAML-typed values."""
    out: dict[str, Any] = {}
    given: dict[str, str] = {}  # key -> the override that set it
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} is not key=value (e.g. epochs=2)")
        key, raw = pair.split("=", 1)
        key = key.strip()
        # a key given twice, or a key and one of its sub-keys (augment=... augment.hflip=...),
        # as a YAML file may not repeat a key: one of them would be dropped without a word
        clash = next((k for k in given if k == key or k.startswith(key + ".") or key.startswith(k + ".")), None)
        if clash is not None:
            both = f"{key} is given twice" if clash == key else f"{clash} and {key} are both given (one sets the whole of the other)"
            raise ConfigError(f"override {pair!r}: {both}, with {given[clash]!r} before it; give {'it once' if clash == key else 'one of them'}")
        given[key] = pair
        closing = {"{": "}", "[": "]"}.get(raw.lstrip()[:1])
        if closing and closing not in raw:
            # `label_map={angry: happy}` unquoted: the shell cut it at the space, and the YAML
            # error ("expected the node content") said nothing of why
            example = "{a: b}" if closing == "}" else "[a, b]"
            raise ConfigError(f"override {pair!r}: the value is cut off, as the shell splits words at spaces: quote the whole override, e.g. \"{key}={example}\"")
        value = read_yaml(raw, f"override {pair!r}") if raw != "" else None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, _Dotted())
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> Config:
    """Config from an optional YAML file, then overrides; validated."""
    cfg = Config()
    if path is not None:
        path = Path(path)
        if path.is_dir() and (path / "config.yaml").is_file():  # a training run: the data advice below named it as the data
            from .runs import RunDir, resume_command, train_longer_command

            how = (f"it has finished: `{train_longer_command(path)}` trains on from its weights as a new run" if RunDir(path).summary.is_file()
                   else f"`{resume_command(path)}` continues it where it stopped")
            raise ConfigError(f"{path}: is a training run, not a config file; {how} (its config alone: {path / 'config.yaml'})")
        if path.is_dir():  # `facesense train faces/`: the data where the config goes
            raise ConfigError(f"{path}: is a folder; train takes a config file, with the data as data=PATH: e.g. `facesense train configs/gender.yaml data={path}`")
        if not path.is_file():
            import difflib

            # a typo in the name (configs/emotion_modl_3.yaml): the file beside it that was meant
            folder = path.parent if path.parent.is_dir() else None
            near = difflib.get_close_matches(path.name, [f.name for f in folder.glob("*.y*ml")], n=1, cutoff=0.8) if folder else []
            meant = f"; did you mean {folder / near[0]}?" if near else " (see configs/ for examples)"
            raise ConfigError(f"config file {path} not found{meant}")
        values = read_yaml_file(path) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
        try:
            apply_values(cfg, values)
        except ConfigError as exc:  # name the file: the same key may also come from an override
            raise ConfigError(f"{path}: {exc}") from None
    if overrides:
        apply_values(cfg, parse_overrides(overrides) if isinstance(overrides, list) else overrides)
    return cfg.validate()


def resolve_paths(cfg: Config, base: Path) -> Config:
    """The config's file paths made absolute against `base` (the folder they were given from: the
    working folder of a `train` command, a study's), `~` expanded. A packaged init_from
    (package:MODULE/...) and a shipped model's name as init_from or teacher (teacher: [expression])
    stay as they are."""
    from .packaged import PACKAGE_PREFIX
    from .runtime.assets import names_a_local_model, shipped_model_path

    def resolved(value: str) -> str:
        return str((base / Path(value).expanduser()).resolve())

    for key in ("data", "runs_dir", "soft_labels"):
        if getattr(cfg, key):
            setattr(cfg, key, resolved(getattr(cfg, key)))

    def resolved_model(value: str) -> str:  # a shipped name (expression, gender) stays a name, unless a file here has it
        return value if not names_a_local_model(base / value, value) and shipped_model_path(value) else resolved(value)

    if cfg.init_from and not cfg.init_from.startswith(PACKAGE_PREFIX):  # package:MODULE/... is found by import
        cfg.init_from = resolved_model(cfg.init_from)
    cfg.extra_data = [resolved(d) for d in cfg.extra_data]
    if cfg.teacher:
        cfg.teacher = [resolved_model(t) for t in cfg.teacher]
    return cfg


def warn_of_idle_options(cfg: Config) -> None:
    """Options set away from their defaults that take effect only with another: said once as a
    run starts (a study: as it checks its cells), not refused, so that a run saved with them
    still resumes; out of range, without what they need, they are idle all the same."""
    defaults = Config()
    idle = []
    if cfg.teacher is None:
        idle += [f"{k}={getattr(cfg, k)}" for k in ("distill_weight", "distill_temperature", "teacher_mode", "distill_flip") if getattr(cfg, k) != getattr(defaults, k)]
    if idle:
        log.warning("%s: no effect without teacher (distillation settings)", ", ".join(idle))
    elif cfg.teacher_mode == "cached" and cfg.distill_flip:  # cached targets always average the image and its mirror
        log.warning("distill_flip=true: no effect with teacher_mode=cached, whose targets average each image and its mirror already")
    if cfg.soft_labels is None and cfg.soft_label_weight != defaults.soft_label_weight:
        log.warning("soft_label_weight=%s: no effect without soft_labels (a vote table)", cfg.soft_label_weight)
    grey = [f"augment.{k}={getattr(cfg.augment, k)}" for k in ("saturation", "grayscale") if getattr(cfg.augment, k) and cfg.channels == 1]
    if grey:
        log.warning("%s: no effect on grey input (channels 1): it changes colour", ", ".join(grey))


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a saved (resolved) config, e.g. from a checkpoint. One saved before split_rule
    existed was split under rule 1, and is resumed and compared as such."""
    cfg = Config()
    apply_values(cfg, {"split_rule": 1, **values})
    return cfg
