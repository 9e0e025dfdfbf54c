"""scripts/fer_pack.py: the FER2013 rows survive pack -> unpack exactly; a damaged pack is refused;
and `python -m facesense` (how the GPU script runs the CLI from a source tree) works."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACK = [sys.executable, str(ROOT / "scripts" / "fer_pack.py")]


def _fer_csv(path: Path) -> list[list[str]]:
    rng = np.random.default_rng(0)
    rows = []
    for i, usage in enumerate(["Training"] * 6 + ["PublicTest"] * 3 + ["PrivateTest"] * 2):
        # smooth faces and noise, so both the predictor's good and bad cases are exercised
        img = rng.integers(0, 256, (48, 48)) if i % 2 else np.add.outer(np.arange(48), np.arange(48)) * 2 + i
        rows.append([str(i % 7), " ".join(map(str, np.clip(img, 0, 255).ravel())), usage])
    with gzip.open(path, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)
    return rows


def test_pack_unpack_keeps_the_chosen_rows_exactly(tmp_path):
    rows = _fer_csv(tmp_path / "fer.csv.gz")
    subprocess.run([*PACK, "pack", str(tmp_path / "fer.csv.gz"), str(tmp_path / "out" / "fer.xz")], check=True, capture_output=True)
    subprocess.run([*PACK, "unpack", str(tmp_path / "out" / "fer.xz"), str(tmp_path / "back.csv")], check=True, capture_output=True)
    back = list(csv.reader(open(tmp_path / "back.csv", newline="")))
    assert back[0] == ["emotion", "pixels", "Usage"]
    assert back[1:] == [r for r in rows if r[2] != "PrivateTest"]


def test_truncated_pack_is_refused_with_its_name(tmp_path):
    _fer_csv(tmp_path / "fer.csv.gz")
    subprocess.run([*PACK, "pack", str(tmp_path / "fer.csv.gz"), str(tmp_path / "fer.xz")], check=True, capture_output=True)
    import lzma

    raw = lzma.decompress((tmp_path / "fer.xz").read_bytes())
    (tmp_path / "cut.xz").write_bytes(lzma.compress(raw[:-100]))
    done = subprocess.run([*PACK, "unpack", str(tmp_path / "cut.xz"), str(tmp_path / "back.csv")], capture_output=True, text=True)
    assert done.returncode != 0
    assert "cut.xz" in done.stderr and "truncated" in done.stderr
    assert not (tmp_path / "back.csv").exists()


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "facesense", "models"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "resnet_fer" in done.stdout
