"""Train-time degradations for faces as the live path hands them over: another detector margin,
other light, a soft or small face, JPEG compression. With teachers (distillation), the teachers
score the face as the ordinary augmentation left it and the student learns to give the same
answer for the degraded copy, so it learns robustness without learning from targets that the
degradation made wrong (a teacher that cannot read a blurred face would teach the blur's guess).

The families and their ranges span the crop-robustness table's rows (`facesense.eval.perturb`,
whose functions are reused here), each drawn at random per face; the table therefore measures
robustness within these families, not to kinds of damage training never showed."""

from __future__ import annotations

import numpy as np
import torch

from ..eval import perturb


def degrade_face(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 H x W face -> a degraded copy of the same size: camera order, framing, then
    light, then optics (blur or a small face), then compression; each step drawn at random,
    at least one taken."""
    side = image.shape[0]
    frame, light, compress = rng.random(3) < (0.5, 0.5, 0.4)
    optics = rng.choice(["blur", "small", None], p=[0.35, 0.35, 0.3])
    if not (frame or light or compress or optics):
        frame = True
    if frame:  # box 0.8x (tighter) .. 1.5x (a wider detector margin)
        image = perturb.box_scale(rng.uniform(0.8, 1.5))(image, rng)
    if light:
        image = perturb.brightness(rng.uniform(0.65, 1.35))(image, rng)
        image = perturb.contrast(rng.uniform(0.55, 1.45))(image, rng)
    if optics == "blur":  # sigma 0.5 .. 2 px at 48 px
        image = perturb.blur(rng.uniform(0.5, 2.0) * side / 48)(image, rng)
    elif optics == "small":  # a face of a third to three quarters of the input side
        image = perturb.downscale(max(4, round(side * rng.uniform(1 / 3, 0.75))))(image, rng)
    if compress:
        image = perturb.jpeg(int(rng.integers(15, 61)))(image, rng)
    return image


class Degrader:
    """Degrades each face of a batch with probability `p`; seeded by (seed, epoch) so a resumed
    run draws the same degradations as an uninterrupted one."""

    def __init__(self, p: float, seed: int = 0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"degrade probability {p} is not in [0, 1]")
        self.p, self.seed = p, seed
        self.rng = np.random.default_rng(seed)

    def set_epoch(self, epoch: int) -> None:
        self.rng = np.random.default_rng([self.seed, epoch])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W pixels in [0, 1] -> the same, some faces degraded."""
        chosen = np.flatnonzero(self.rng.random(len(x)) < self.p)
        if len(chosen) == 0:
            return x
        pixels = (x[chosen].clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        shape = pixels.shape[1:]
        out = np.stack([degrade_face(face.squeeze(-1) if shape[-1] == 1 else face, self.rng).reshape(shape) for face in pixels])
        x = x.clone()
        x[torch.from_numpy(chosen)] = torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0
        return x
