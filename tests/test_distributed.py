"""torchrun with 2 CPU processes (gloo) trains like one process with the same global batch."""

import csv
import socket
import os
import subprocess
import sys

import pytest

from facesense.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def history(run_dir):
    return list(csv.DictReader(open(f"{run_dir}/history.csv")))


def test_two_processes_match_one(tmp_path, folders3, capsys):
    # no batch norm and no dropout, so the only difference left is float summation order
    args = [f"data={folders3}", "task=custom", "model=baseline_vgg", "model_args={dropout: 0.0}", "image_size=32", "epochs=1", "batch_size=8", "seed=3"]
    assert main(["train", *args, f"runs_dir={tmp_path / 'one'}", "-q"]) == 0
    single = capsys.readouterr().out.strip().splitlines()[-1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "facesense.cli", "train", *args, f"runs_dir={tmp_path / 'two'}", "-q"]
    # torchrun makes a torchelastic_* folder in the temp folder and leaves it: inside tmp_path, it goes with it
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    # process 0 alone tells the epochs (each process logged each epoch line: found by a bug hunt)
    assert sum(line.startswith("epoch 1 ") for line in done.stderr.splitlines()) == 1, done.stderr[-3000:]
    double = done.stdout.strip().splitlines()[-1]
    assert double.endswith("baseline_vgg-1") and "two" in double
    import json

    assert json.load(open(f"{double}/train_summary.json"))["world_size"] == 2
    a, b = history(single)[0], history(double)[0]
    assert a["samples"] == b["samples"] == "32"  # 38 training images, global batch 8
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-3, abs=1e-4), key
