"""Does test-time averaging help a model? Validation accuracy of each model alone, averaged over
the image and its mirror, and over zoomed copies too (the views `test_time_flip` and
`test_time_zoom` put inside a model), with an exact McNemar test of each against the plain
model on the same images; then all models averaged (an ensemble) over every view.

Choosing the views on the split that reports them flatters them; `--halves N` measures by how
much: N times, split the samples in two at random, choose the best view set on one half and
score its gain over 'as is' on the other.

    python bench/test_time_views.py MODEL [MODEL ...] [--zooms 1.1,0.9] [--halves 200] [--data ../shared/data/fer2013/fer2013.csv.gz] [--split PublicTest]
"""

from __future__ import annotations

import argparse

import torch
from scipy.stats import binomtest

from facesense.checkpoint import load_model
from facesense.config import load_config
from facesense.data.batches import Batches
from facesense.data.prepare import prepare_data
from facesense.models import with_test_time_views


@torch.no_grad()
def probabilities(loaded, net, batches) -> torch.Tensor:
    return torch.cat([loaded.probabilities(net(x)) for x, _, _ in batches])


def mcnemar(better: torch.Tensor, base: torch.Tensor) -> str:
    """Images only one of the two gets right, each way, and the exact two-sided p-value."""
    gained, lost = int((better & ~base).sum()), int((~better & base).sum())
    p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
    return f"+{gained} / -{lost}, p={p:.2g}"


def held_out_gain(rights: list[torch.Tensor], names: list[str], halves: int) -> str:
    """Gain over 'as is' (rights[0]) of the view set chosen on a random half, scored on the other."""
    g = torch.Generator().manual_seed(0)
    gains, chosen = [], {}
    n = len(rights[0])
    for _ in range(halves):
        perm = torch.randperm(n, generator=g)
        pick, score = perm[: n // 2], perm[n // 2 :]
        best = max(range(1, len(rights)), key=lambda i: rights[i][pick].float().mean().item())
        chosen[names[best]] = chosen.get(names[best], 0) + 1
        gains.append((rights[best][score].float().mean() - rights[0][score].float().mean()).item())
    q = torch.tensor(gains).quantile(torch.tensor([0.05, 0.5, 0.95]))
    return (f"views chosen on one half, gain over 'as is' on the other ({halves} random halves): mean {sum(gains) / len(gains):+.4f}, "
            f"5/50/95% {q[0]:+.4f} / {q[1]:+.4f} / {q[2]:+.4f}; chosen: " + ", ".join(f"{k} {v}x" for k, v in chosen.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="checkpoints, run dirs or shipped names")
    ap.add_argument("--zooms", default="1.1,0.9", help="zoom factors to add one at a time (comma-separated; '' for flip only)")
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013.csv.gz")
    ap.add_argument("--split", default="PublicTest")
    ap.add_argument("--halves", type=int, default=0, help="random half splits for the selection check (0: off)")
    args = ap.parse_args()
    zooms = [float(z) for z in args.zooms.split(",") if z.strip()]
    loaded = [load_model(m) for m in args.models]
    spec = loaded[0].spec
    cfg = load_config(overrides={"data": args.data, "task": loaded[0].config.get("task", "expression"), "train_split": None, "val_split": args.split, "test_split": None, "image_size": spec.size, "channels": spec.channels})
    data = prepare_data(cfg)
    batches = Batches(data.splits["val"], data.spec, 256, train=False)
    y = torch.as_tensor(data.splits["val"].targets)
    # views: (flip, zooms) -> column name; each adds the next zoom factor to the last
    view_sets = [(False, []), (True, [])] + [(True, zooms[: i + 1]) for i in range(len(zooms))]
    names = ["as is", "flip"] + ["flip, zoom " + ", ".join(map(str, zooms[: i + 1])) for i in range(len(zooms))]
    print(f"{args.data} {args.split}: {len(y)} samples; accuracy (McNemar against 'as is': images gained / lost, p)\n")
    print("| model | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    widest, held_out = [], []
    for name, m in zip(args.models, loaded):
        bare = getattr(m.model, "module", m.model).eval()  # a model trained with views: score its bare network too
        cells, rights = [], []
        for flip, zs in view_sets:
            p = probabilities(m, with_test_time_views(bare, spec.size, flip, zs).eval(), batches)
            rights.append(p.argmax(1) == y)
            cells.append(f"{rights[-1].float().mean():.4f}" + (f" ({mcnemar(rights[-1], rights[0])})" if len(rights) > 1 else ""))
        widest.append(p)
        print(f"| {name} | " + " | ".join(cells) + " |")
        if args.halves:
            held_out.append((name, held_out_gain(rights, names, args.halves)))
    for name, line in held_out:
        print(f"\n{name}: {line}")
    if len(loaded) > 1:
        print(f"\nensemble of all, {names[-1]}: {(torch.stack(widest).mean(0).argmax(1) == y).float().mean():.4f}")


if __name__ == "__main__":
    from benchkit import run

    run(main)
