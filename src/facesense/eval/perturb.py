"""Face-crop perturbations like the ones the live path makes (another detector margin, a box a
little off, a tilted head, a soft or compressed or small or badly lit face), for measuring how
much a model's accuracy drops under each. Each takes and returns a uint8 image (HxW or HxWxC)
of the same size; geometric ones fill what the crop never held by mirroring its border, since a
48x48 dataset crop has no surrounding frame to show."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Perturbation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def shift(fraction: float) -> Perturbation:
    """The box moved by `fraction` of its side, in a random direction (seeded per face)."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(0, 2 * np.pi)
        h, w = image.shape[:2]
        dx, dy = fraction * w * np.cos(angle), fraction * h * np.sin(angle)
        return _warp(image, np.float32([[1, 0, dx], [0, 1, dy]]))

    return apply


def box_scale(factor: float) -> Perturbation:
    """The box `factor` times as wide about the same centre (< 1: a tighter crop, the face fills
    more of it; > 1: a wider margin), resized back to the same side."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        return _warp(image, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, 1.0 / factor))

    return apply


def rotate(degrees: float) -> Perturbation:
    """The face turned in the image plane by `degrees` (counter-clockwise) about the crop centre."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        return _warp(image, cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0))

    return apply


def blur(sigma: float) -> Perturbation:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)

    return apply


def jpeg(quality: int) -> Perturbation:
    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        flag = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
        return cv2.imdecode(data, flag).reshape(image.shape)

    return apply


def downscale(side: int) -> Perturbation:
    """A small face: shrunk to `side` pixels (area averaging, as a camera sees it) and enlarged
    back (bilinear, as the live path resizes a crop)."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(image.shape)

    return apply


def brightness(factor: float) -> Perturbation:
    """Every pixel times `factor` (1.3: 30% brighter), clipped to 0..255."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)

    return apply


def contrast(factor: float) -> Perturbation:
    """Deviations from the crop's mean grey level times `factor`, clipped to 0..255."""

    def apply(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = image.astype(np.float32)
        mean = x.mean()
        return np.clip(np.rint((x - mean) * factor + mean), 0, 255).astype(np.uint8)

    return apply


def standard_set() -> dict[str, Perturbation]:
    """The perturbations of the crop-robustness table, by row name."""
    return {
        "shift 10%": shift(0.10),
        "box 0.8x (tighter)": box_scale(0.8),
        "box 1.4x (wider)": box_scale(1.4),
        "rotate +15": rotate(15),
        "rotate -15": rotate(-15),
        "blur sigma 1.5": blur(1.5),
        "JPEG q30": jpeg(30),
        "downscale 24 px": downscale(24),
        "brightness +30%": brightness(1.3),
        "brightness -30%": brightness(0.7),
        "contrast 0.6x": contrast(0.6),
        "contrast 1.4x": contrast(1.4),
    }


def perturb_all(images: np.ndarray, perturbation: Perturbation, seed: int = 0) -> np.ndarray:
    """Apply one perturbation to every image of an N x H x W (x C) uint8 stack; random choices
    (a shift's direction) are seeded, so each run perturbs each face the same way."""
    rng = np.random.default_rng(seed)
    return np.stack([perturbation(image, rng) for image in images])
