"""One pass over a non-shuffled batch source, collecting sample indices with the outputs."""

from __future__ import annotations

import functools
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checkpoint import logits_to_probs


def autocast_for(device: torch.device, enabled: bool):
    """bfloat16 autocast: same exponent range as float32, so no loss scaling is needed.
    A GPU without bfloat16 runs in float32 (float16 would need a gradient scaler), and so does a
    CPU that does not compute bfloat16 in hardware (cpu_computes_bfloat16)."""
    if not enabled or (device.type == "cuda" and not torch.cuda.is_bf16_supported()) or (device.type == "cpu" and not cpu_computes_bfloat16()):
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@functools.cache  # asked at every training step; the CPU does not change
def cpu_computes_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 on this CPU's own instructions (AVX-512, AMX), as PyTorch
    checks it: emulated on an AVX2-only CPU (an AMD EPYC), autocast made a training step 8x
    slower than float32 (bench/train_speed.py: emotion_model_3 5 against 42 images/s)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def loss_fn(logits: torch.Tensor, targets: torch.Tensor, binary_logit: bool, weight=None, label_smoothing: float = 0.0):
    logits = logits.float()
    if binary_logit:
        y = targets.float()
        if label_smoothing:
            y = y * (1 - label_smoothing) + 0.5 * label_smoothing
        pos_weight = None if weight is None else (weight[1] / weight[0]).reshape(1)
        return F.binary_cross_entropy_with_logits(logits.reshape(-1), y, pos_weight=pos_weight)
    return F.cross_entropy(logits, targets, weight=weight, label_smoothing=label_smoothing)


@torch.no_grad()
def run_inference(model: nn.Module, batches, device: torch.device, binary_logit: bool, amp: bool = False, channels_last: bool = False):
    """-> (indices, targets, probabilities, mean loss) in the order of the indices.

    Checks that every sample was scored exactly once (no silent drop, no duplicate)."""
    model.eval()
    all_idx, all_y, all_p, total_loss = [], [], [], 0.0
    for x, y, idx in batches:
        x = x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast_for(device, amp):
            logits = model(x)
        total_loss += loss_fn(logits, y.to(device), binary_logit).item() * len(y)
        all_p.append(logits_to_probs(logits, binary_logit).cpu())
        all_idx.append(idx)
        all_y.append(y.cpu())
    if not all_idx:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0)), float("nan")
    idx = torch.cat(all_idx).numpy()
    n = len(batches.data)
    if batches.world_size == 1 and (len(idx) != n or len(np.unique(idx)) != n):
        raise RuntimeError(f"evaluation scored {len(np.unique(idx))} distinct of {n} samples; refusing to report")
    order = np.argsort(idx, kind="stable")
    probs = torch.cat(all_p).numpy().astype(np.float64)[order]
    return idx[order], torch.cat(all_y).numpy()[order], probs, total_loss / len(idx)
