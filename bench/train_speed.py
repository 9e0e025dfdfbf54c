"""Training speed of every registered model: float32 vs the fast CPU path (channels_last, and
bfloat16 autocast where the CPU computes it in hardware, as training does), as images/second and
seconds per FER2013-sized epoch (28,709 images).

Also measures what the decoded-data cache saves: decoding a real image dataset once vs one pass
over the cached batches.

    python bench/train_speed.py [--batches 10] [--batch-size 64] [--models a,b]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from facesense.data.batches import Batches
from facesense.eval.inference import autocast_for, cpu_computes_bfloat16, loss_fn
from facesense.models import build_model, count_parameters, list_models

FER_TRAIN = 28_709


def images_per_second(name: str, size: int, channels: int, classes: int, fast: bool, batch_size: int, batches: int) -> float:
    torch.manual_seed(0)
    model = build_model(name, classes, channels, size)
    model.train()
    x = torch.rand(batch_size, channels, size, size)
    y = torch.randint(0, classes, (batch_size,))
    if fast:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    device = torch.device("cpu")

    def step():
        with autocast_for(device, fast):
            logits = model(x)
        loss = loss_fn(logits, y, False)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up
        step()
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    return batches * batch_size / (time.perf_counter() - t0)


def cache_effect() -> str:
    from facesense.config import load_config
    from facesense.data.prepare import prepare_data

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gender_faces"
    if not data.exists():
        return "decode cache: ../shared/data/gender_faces absent, skipped"
    cfg = load_config(overrides={"data": str(data), "task": "gender", "image_size": 96, "channels": 3, "val_size": 0.0})
    t0 = time.perf_counter()
    prepared = prepare_data(cfg)
    decode_s = time.perf_counter() - t0
    batches = Batches(prepared.splits["train"], prepared.spec, 64, train=True)
    t0 = time.perf_counter()
    for _ in batches:
        pass
    n = len(prepared.splits["train"])
    epoch_s = time.perf_counter() - t0
    return (
        f"decode cache (gender_faces, {n} images at 96x96x3): reading + decoding once {decode_s:.2f} s; "
        f"each later epoch's data pass from the uint8 cache {epoch_s:.3f} s ({decode_s / epoch_s:.0f}x less)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--models", help="comma-separated subset")
    args = ap.parse_args()
    wanted = set(args.models.split(",")) if args.models else None
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"bfloat16 in hardware: {'yes' if cpu_computes_bfloat16() else 'no (the fast path is float32)'}")
    print(f"batch {args.batch_size}, {args.batches} timed batches after 2 warm-up; each model at its default input size\n")
    print("| model | input | params | fp32 img/s | fast img/s | speed-up | fp32 s/epoch | fast s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for info in list_models():
        if wanted and info.name not in wanted:
            continue
        s, c, k = info.default_size, info.default_channels, info.default_classes
        params = count_parameters(build_model(info.name, k, c, s))
        slow = images_per_second(info.name, s, c, k, False, args.batch_size, args.batches)
        fast = images_per_second(info.name, s, c, k, True, args.batch_size, args.batches)
        print(f"| {info.name} | {s}x{s}x{c} | {params:,} | {slow:.0f} | {fast:.0f} | {fast / slow:.2f}x | {FER_TRAIN / slow:.0f} | {FER_TRAIN / fast:.0f} |", flush=True)
    print()
    print(cache_effect())


if __name__ == "__main__":
    main()
