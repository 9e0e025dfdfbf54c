"""The crop perturbations of bench/crop_robustness.py do what their names say, and
bench/weight_interpolation.py runs on tiny data."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_fer_csv
from facesense.checkpoint import read_checkpoint, save_checkpoint
from facesense.eval import perturb
from facesense.models import build_model
from facesense.preprocess import InputSpec


def face(size: int = 48) -> np.ndarray:
    """A bright square on a dark ground, off centre, with a smooth gradient: shape and edges to move."""
    y, x = np.mgrid[0:size, 0:size]
    img = (40 + x).astype(np.float32)
    img[10:26, 14:30] = 220
    return img.astype(np.uint8)


def centroid(img: np.ndarray) -> np.ndarray:
    mask = img > 180
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_every_perturbation_keeps_shape_and_type_and_changes_the_image():
    img = face()
    for name, p in perturb.standard_set().items():
        out = p(img, np.random.default_rng(0))
        assert out.shape == img.shape and out.dtype == np.uint8, name
        assert not np.array_equal(out, img), name


def test_shift_moves_the_content_by_the_fraction_of_the_side():
    img = face()
    moved = perturb.shift(0.1)(img, np.random.default_rng(3))
    assert np.linalg.norm(centroid(moved) - centroid(img)) == pytest.approx(4.8, abs=0.6)


def test_box_scale_wider_box_shrinks_the_face_tighter_box_enlarges_it():
    img = face()
    area = lambda a: int((a > 180).sum())  # noqa: E731
    assert area(perturb.box_scale(1.4)(img, None)) == pytest.approx(area(img) / 1.4**2, rel=0.15)
    assert area(perturb.box_scale(0.8)(img, None)) == pytest.approx(area(img) / 0.8**2, rel=0.15)


def test_rotation_direction_and_size():
    img = face()
    c0 = centroid(img) - 23.5
    turned = centroid(perturb.rotate(15)(img, None)) - 23.5
    # counter-clockwise on screen (y down): the angle of the centroid about the centre decreases
    a0, a1 = np.degrees(np.arctan2(c0[1], c0[0])), np.degrees(np.arctan2(turned[1], turned[0]))
    assert a0 - a1 == pytest.approx(15, abs=2)


def test_photometric_perturbations():
    img = face()
    assert perturb.brightness(1.3)(img, None)[0, 0] == round(img[0, 0] * 1.3)
    assert perturb.brightness(1.3)(img, None).max() == 255  # clipped
    low = perturb.contrast(0.6)(img, None).astype(float)
    assert low.std() == pytest.approx(img.std() * 0.6, rel=0.02) and low.mean() == pytest.approx(img.mean(), abs=0.5)
    assert perturb.blur(1.5)(img, None).astype(float).std() < img.std()
    small = perturb.downscale(24)(img, None)
    assert np.abs(small.astype(int) - img).mean() < 8  # the same picture, softer


def test_jpeg_colour_and_grey():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    assert perturb.jpeg(30)(colour, None).shape == (48, 48, 3)
    assert perturb.jpeg(30)(face(), None).shape == (48, 48)


def test_perturb_all_is_seeded():
    faces = np.stack([face()] * 4)
    a = perturb.perturb_all(faces, perturb.shift(0.1), seed=0)
    b = perturb.perturb_all(faces, perturb.shift(0.1), seed=0)
    assert np.array_equal(a, b) and not np.array_equal(a[0], a[1])  # each face its own direction


def test_weight_interpolation_bench_prints_a_row_per_alpha_and_the_blend_it_saves(tmp_path):
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("resnet_fer_small", 7, 1, 48)
        paths.append(tmp_path / f"m{seed}.pt")
        save_checkpoint(paths[-1], model, {"model": "resnet_fer_small", "task": "expression", "model_args": {}}, classes, InputSpec(48, 1))
    data = write_fer_csv(tmp_path / "fer.csv", [i % 7 for i in range(14)], ["PublicTest"] * 14)
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, str(root / "bench" / "weight_interpolation.py"), *map(str, paths), "--alphas", "0,0.5,1",
                          "--data", str(data), "--save", "0.5", str(tmp_path / "half.pt")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = [l for l in run.stdout.splitlines() if l.startswith("| 0") or l.startswith("| 1")]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 0.5", "| 1"]
    assert all(len(r.strip("| ").split(" | ")) == 6 + 12 + 2 for r in rows)  # scores, one drop per perturbation, largest, mean
    half, a, b = (read_checkpoint(p)["model_state"] for p in (tmp_path / "half.pt", *paths))
    key = next(k for k, v in a.items() if v.is_floating_point())
    assert torch.allclose(half[key], (a[key] + b[key]) / 2, atol=1e-6)
