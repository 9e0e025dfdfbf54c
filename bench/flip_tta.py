"""Does horizontal-flip test-time averaging help a model? Validation accuracy of each model
alone and with its probabilities averaged over the image and its mirror, and of all models
averaged (an ensemble), on one split of a dataset.

    python bench/flip_tta.py MODEL [MODEL ...] [--data ../shared/data/fer2013/fer2013.csv.gz] [--split PublicTest]
"""

from __future__ import annotations

import argparse

import torch

from facesense.checkpoint import load_model
from facesense.config import load_config
from facesense.data.batches import Batches
from facesense.data.prepare import prepare_data


@torch.no_grad()
def probabilities(loaded, batches, mirror: bool) -> torch.Tensor:
    model = loaded.model.eval()
    return torch.cat([loaded.probabilities(model(torch.flip(x, dims=[3]) if mirror else x)) for x, _, _ in batches])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="checkpoints, run dirs or shipped names")
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--split", default="PublicTest")
    args = ap.parse_args()
    loaded = [load_model(m) for m in args.models]
    spec = loaded[0].spec
    cfg = load_config(overrides={"data": args.data, "task": loaded[0].config.get("task", "expression"), "train_split": None, "val_split": args.split, "test_split": None, "image_size": spec.size, "channels": spec.channels})
    data = prepare_data(cfg)
    batches = Batches(data.splits["val"], data.spec, 256, train=False)
    y = data.splits["val"].targets
    print(f"{args.data} {args.split}: {len(y)} samples\n\n| model | accuracy | with flip averaging |\n|---|---|---|")
    both_all = []
    for name, m in zip(args.models, loaded):
        plain, mirrored = probabilities(m, batches, False), probabilities(m, batches, True)
        both_all.append((plain + mirrored) / 2)
        print(f"| {name} | {(plain.argmax(1) == y).float().mean():.4f} | {(both_all[-1].argmax(1) == y).float().mean():.4f} |")
    if len(loaded) > 1:
        print(f"| ensemble of all, with flip averaging | | {(torch.stack(both_all).mean(0).argmax(1) == y).float().mean():.4f} |")


if __name__ == "__main__":
    main()
