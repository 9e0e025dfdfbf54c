"""The input spec of a model, and the ONE place where images become model input.

Colour order, channel count, size and scaling are decided here and nowhere else, for training
(Pillow-decoded RGB) and for inference (OpenCV BGR frames) alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

# (channels in, colour order, channels out) -> OpenCV conversion (None: already right). OpenCV
# converts straight from a frame's crop view: no float copy, no contiguous copy of a channel
# flip (those took 0.1-0.2 ms per face, a tenth of the live budget). Gray is ITU-R 601-2 luma,
# as Pillow's "L"; the two differ by at most one grey level from rounding.
_CONVERSIONS = {
    (3, "RGB", 1): cv2.COLOR_RGB2GRAY,
    (3, "BGR", 1): cv2.COLOR_BGR2GRAY,
    (4, "RGB", 1): cv2.COLOR_RGBA2GRAY,
    (4, "BGR", 1): cv2.COLOR_BGRA2GRAY,
    (3, "RGB", 3): None,
    (3, "BGR", 3): cv2.COLOR_BGR2RGB,
    (4, "RGB", 3): cv2.COLOR_RGBA2RGB,
    (4, "BGR", 3): cv2.COLOR_BGRA2RGB,
}

# CenterFace's five landmarks (eyes, nose, mouth corners, image left to right) in dlib's face
# chip, as fractions of its side: the mean over 1,997 gender_faces photos of where dlib's own
# alignment puts them, made left-right symmetric (python bench/alignment_check.py --derive 2000)
DLIB_CHIP_REFERENCE = ((0.314, 0.302), (0.686, 0.302), (0.5, 0.528), (0.345, 0.694), (0.655, 0.694))

# named references a training config can ask for (`align: dlib_chip`)
REFERENCES = {"dlib_chip": DLIB_CHIP_REFERENCE}


@dataclass(frozen=True)
class InputSpec:
    size: int = 48  # square side in pixels
    channels: int = 1  # 1 gray, 3 RGB
    mean: float | tuple[float, ...] = 0.0  # after scaling to [0, 1]; one value or one per channel
    std: float | tuple[float, ...] = 1.0
    # the face crop the model was trained on: None = a plain crop of the detector box; else five
    # reference (x, y) points, fractions of the crop side, that the aligner maps the landmarks to
    align: tuple[tuple[float, float], ...] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        values = {k: d[k] for k in ("size", "channels", "mean", "std", "align") if k in d}
        for k in ("mean", "std"):
            if isinstance(values.get(k), list):
                values[k] = tuple(values[k])
        if values.get("align") is not None:
            values["align"] = tuple(tuple(float(v) for v in point) for point in values["align"])
        return cls(**values)


def to_model_pixels(image: np.ndarray, spec: InputSpec, color_order: str = "RGB") -> np.ndarray:
    """Any uint8 image (HxW gray, HxWx3 RGB/BGR, HxWx4) -> uint8 CxHxW at the spec's size."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        key = (image.shape[2], color_order.upper(), spec.channels)
        if key not in _CONVERSIONS:
            raise ValueError(f"cannot convert a {image.shape[2]}-channel {color_order} image to {spec.channels} channels")
        if _CONVERSIONS[key] is not None:
            image = cv2.cvtColor(image, _CONVERSIONS[key])
    if image.shape[0] != spec.size or image.shape[1] != spec.size:
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((spec.size, spec.size), Image.BILINEAR))
    if image.ndim == 2:
        image = image[None] if spec.channels == 1 else np.repeat(image[None], 3, axis=0)
    else:
        image = image.transpose(2, 0, 1)
    return np.ascontiguousarray(image)


def scale(batch_uint8, spec: InputSpec):
    """uint8 batch (numpy or torch, NxCxHxW) -> float32 model input."""
    x = batch_uint8.float() if hasattr(batch_uint8, "float") else batch_uint8.astype(np.float32)
    return normalise(x / 255.0, spec)


def _mean_std(x, spec: InputSpec):
    """The spec's mean and std, shaped to broadcast over an NxCxHxW batch of x's kind."""
    shape = (-1, 1, 1)  # per channel, broadcast over H x W
    mean = np.asarray(spec.mean, np.float32).reshape(shape) if isinstance(spec.mean, tuple) else spec.mean
    std = np.asarray(spec.std, np.float32).reshape(shape) if isinstance(spec.std, tuple) else spec.std
    if hasattr(x, "float") and not (isinstance(mean, float) and isinstance(std, float)):
        import torch

        mean, std = torch.as_tensor(mean, device=x.device), torch.as_tensor(std, device=x.device)
    return mean, std


def normalise(x, spec: InputSpec):
    """Pixels in [0, 1] (numpy or torch, NxCxHxW) -> the model's input: (x - mean) / std."""
    if spec.mean != 0.0 or spec.std != 1.0:
        mean, std = _mean_std(x, spec)
        x = (x - mean) / std
    return x


def denormalise(x, spec: InputSpec):
    """The model's input -> pixels in [0, 1]: the inverse of `normalise`."""
    if spec.mean != 0.0 or spec.std != 1.0:
        mean, std = _mean_std(x, spec)
        x = x * std + mean
    return x
