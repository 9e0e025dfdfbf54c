import json

import numpy as np
from PIL import Image

from conftest import write_class_folders
from facesense.cli import main
from facesense.data.sources import read_dataset
from facesense.preprocess import InputSpec, to_model_pixels


def test_inspect_report(tmp_path, capsys, fer_csv):
    out = tmp_path / "rep"
    assert main(["data", "inspect", str(fer_csv), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 70 and summary["counts"]["Training"]["happy"] == 8
    assert (out / "samples.png").is_file() and "Naive baseline" in (out / "report.md").read_text()


def test_inspect_finds_duplicates_across_splits(tmp_path, capsys):
    root = tmp_path / "d"
    write_class_folders(root / "train", ["a", "b"], 4)
    write_class_folders(root / "test", ["a", "b"], 2, seed=5)
    (root / "test" / "b" / "copy.png").write_bytes((root / "train" / "a" / "a_0.png").read_bytes())
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "o")]) == 0
    d = json.loads((tmp_path / "o" / "summary.json").read_text())["exact_duplicates"]
    assert d["groups"] == 1 and d["groups_across_splits"] == 1 and d["groups_with_conflicting_labels"] == 1


def test_split_materialises_stratified(tmp_path, capsys, fer_csv):
    out = tmp_path / "split"
    assert main(["data", "split", str(fer_csv), "--out", str(out), "--test-size", "0.2", "--val-size", "0.2", "--seed", "1"]) == 0
    s = read_dataset(out)
    assert sorted(s.split_names()) == ["test", "train", "val"]
    for split in ("train", "val", "test"):
        labels = [l for l, sp in zip(s.labels, s.splits) if sp == split]
        counts = {c: labels.count(c) for c in set(labels)}
        assert len(counts) == 7 and max(counts.values()) - min(counts.values()) <= 1
    assert len(s) == 70
    assert main(["data", "split", str(fer_csv), "--out", str(out)]) == 2  # never overwrite


def test_split_leaves_out_unreadable_images_only_when_asked(tmp_path, capsys, caplog):
    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    (data / "a" / "broken.png").write_text("not an image")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s1")]) == 2
    assert "broken.png: not a readable image" in capsys.readouterr().err and not (tmp_path / "s1").exists()
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s2"), "--skip-bad"]) == 0
    assert "skipped 1 unreadable sample(s)" in caplog.text and "a/broken.png" in caplog.text
    copied = read_dataset(tmp_path / "s2")
    assert len(copied) == 10 and not any("broken" in i for i in copied.ids)


def test_one_conversion_function_for_rgb_and_bgr():
    rgb = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    spec = InputSpec(size=24, channels=1)
    a = to_model_pixels(rgb, spec, "RGB")
    b = to_model_pixels(rgb[:, :, ::-1].copy(), spec, "BGR")
    assert a.shape == (1, 24, 24) and np.array_equal(a, b)
    # gray conversion uses the same ITU-R 601 luma as Pillow's "L" (and OpenCV's BGR2GRAY)
    square = rgb[:30, :30].copy()
    ours = to_model_pixels(square, InputSpec(size=30, channels=1))[0]
    pil_gray = np.asarray(Image.fromarray(square).convert("L"))
    assert np.abs(ours.astype(int) - pil_gray.astype(int)).max() <= 1
    colour = to_model_pixels(rgb[:, :, 0].copy(), InputSpec(size=24, channels=3))
    assert colour.shape == (3, 24, 24) and np.array_equal(colour[0], colour[2])
    # a crop is a strided view of the frame, and a frame may carry alpha: same pixels as a copy
    frame = np.random.default_rng(1).integers(0, 255, (60, 80, 4), dtype=np.uint8)
    for spec in (InputSpec(size=24, channels=1), InputSpec(size=24, channels=3)):
        view = to_model_pixels(frame[5:45, 10:50], spec, "BGR")
        assert np.array_equal(view, to_model_pixels(frame[5:45, 10:50, :3].copy(), spec, "BGR"))
        assert np.array_equal(view, to_model_pixels(frame[5:45, 10:50, 2::-1].copy(), spec, "RGB"))


def test_near_duplicates_and_leak_free_split(tmp_path, capsys):
    root = tmp_path / "d"
    write_class_folders(root / "train", ["a", "b"], 6)
    write_class_folders(root / "test", ["a", "b"], 3, seed=9)
    from facesense.stream.demo import demo_photo

    structured = np.asarray(Image.fromarray(demo_photo()[:, :, 1]).resize((48, 48))).astype(int)  # a real photo
    Image.fromarray(structured.astype(np.uint8)).save(root / "train" / "a" / "a_0.png")
    altered = np.clip(structured + 8 + np.random.default_rng(1).integers(-4, 5, structured.shape), 0, 255).astype(np.uint8)
    Image.fromarray(altered).save(root / "test" / "a" / "altered.png")  # brighter, noisier copy, across splits
    (root / "test" / "b" / "exact.png").write_bytes((root / "train" / "b" / "b_1.png").read_bytes())
    Image.fromarray(np.full((48, 48), 128, np.uint8)).save(root / "train" / "b" / "blank.png")
    leak_free_csv = tmp_path / "clean.csv"
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "o"), "--duplicates", "--leak-free", str(leak_free_csv)]) == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["exact_duplicates"]["groups_across_splits"] == 1
    near = s["near_duplicates"]
    assert near["groups_across_splits"] >= 2 and near["groups_with_conflicting_labels"] == 0
    assert any("altered.png" in i for g in near["examples"] for i in g)
    assert s["blank_images"]["count"] == 1
    clean = read_dataset(leak_free_csv)
    ids = {p.name for p in clean.paths}
    assert "altered.png" not in ids and "exact.png" not in ids and "a_0.png" in ids
    assert len(clean) == len(read_dataset(root)) - 2


def test_other_libraries_info_logs_stay_off_the_terminal(tmp_path):
    # a first matplotlib use logs "generated new fontManager" at INFO: facesense shows only its own
    # progress at that level (-v shows everything)
    import os
    import subprocess
    import sys
    from pathlib import Path

    data = write_class_folders(tmp_path / "d", ["a", "b"], 3)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmd = [sys.executable, "-m", "facesense", "data", "inspect", str(data), "--out", str(tmp_path / "o")]
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 0 and "fontManager" not in quiet.stderr, quiet.stderr
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "one.png").write_bytes((data / "a" / "a_0.png").read_bytes())
    live = subprocess.run(cmd[:3] + ["live", "--source", str(photos), "--no-window", "--expression", "none", "--gender", "none", "--age", "none"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert "no classifier enabled" in live.stderr, live.stderr  # facesense's own INFO lines still show
    (tmp_path / "o").rename(tmp_path / "o1")
    loud_env = {**env, "MPLCONFIGDIR": str(tmp_path / "mpl2")}  # a fresh cache: the line comes again
    loud = subprocess.run(cmd[:3] + ["-v"] + cmd[3:], capture_output=True, text=True, env=loud_env, timeout=120)
    assert loud.returncode == 0 and "fontManager" in loud.stderr, loud.stderr
