"""Knowledge distillation: a small student learns from the softened outputs of one or more
larger teachers (Hinton et al., 2015). The teachers see the same augmented batch as the student."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn import functional as F

from ..checkpoint import load_model
from ..errors import FacesenseError
from ..preprocess import InputSpec


class Teachers:
    """An ensemble of frozen facesense checkpoints; their probabilities at temperature T are averaged."""

    def __init__(self, paths: list[str], classes: list[str], spec: InputSpec, device: torch.device):
        self.models = []
        for path in paths:
            if not Path(path).is_file():
                raise FacesenseError(f"teacher={path}: file not found (give a local .pt checkpoint trained by facesense)")
            loaded = load_model(path)
            if loaded.binary_logit:
                raise FacesenseError(f"teacher={path}: a one-logit (loss=bce) model cannot be a teacher; train it with loss=ce")
            if loaded.classes != classes:
                raise FacesenseError(f"teacher={path}: classes {loaded.classes} differ from the student's {classes}")
            if (loaded.spec.size, loaded.spec.channels) != (spec.size, spec.channels):
                raise FacesenseError(f"teacher={path}: input {loaded.spec.size}x{loaded.spec.size}x{loaded.spec.channels} differs from the student's {spec.size}x{spec.size}x{spec.channels}")
            self.models.append(loaded.model.to(device).eval())

    @torch.no_grad()
    def soft_targets(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        probs = [torch.softmax(m(x).float() / temperature, dim=1) for m in self.models]
        return torch.stack(probs).mean(0)


def distillation_loss(student_logits: torch.Tensor, soft_targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at temperature T, times T^2 so its gradients keep their scale."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_p, soft_targets, reduction="batchmean") * temperature**2
