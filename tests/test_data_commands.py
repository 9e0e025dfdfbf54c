import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import write_class_folders, write_fer_csv
from facesense.cli import main
from facesense.data.sources import read_dataset
from facesense.preprocess import InputSpec, to_model_pixels


def test_inspect_report(tmp_path, capsys, fer_csv):
    out = tmp_path / "rep"
    assert main(["data", "inspect", str(fer_csv), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 70 and summary["counts"]["Training"]["happy"] == 8
    assert summary["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # FER's code order, as evaluate lists them (not alphabetical)
    assert (out / "samples.png").is_file() and "Naive baseline" in (out / "report.md").read_text()


def test_inspect_finds_duplicates_across_splits(tmp_path, capsys):
    root = tmp_path / "d"
    write_class_folders(root / "train", ["a", "b"], 4)
    write_class_folders(root / "test", ["a", "b"], 2, seed=5)
    (root / "test" / "b" / "copy.png").write_bytes((root / "train" / "a" / "a_0.png").read_bytes())
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "o")]) == 0
    d = json.loads((tmp_path / "o" / "summary.json").read_text())["exact_duplicates"]
    assert d["groups"] == 1 and d["groups_across_splits"] == 1 and d["groups_with_conflicting_labels"] == 1


def test_inspect_says_its_near_duplicates_include_the_exact_ones(tmp_path, capsys):
    """One copied image was reported as 1 exact group and 1 near-duplicate group, read as two
    (FER2013's 1,271 exact and 1,724 near groups: 1,270 of the exact ones are among the near);
    and the near groups are chains, not all within the threshold of each other (found by a bug hunt)."""
    root = write_class_folders(tmp_path / "d", ["a", "b"], 4)
    (root / "a" / "copy.png").write_bytes((root / "a" / "a_0.png").read_bytes())
    assert main(["data", "inspect", str(root), "--duplicates", "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["exact_duplicates"]["groups"] == 1 and summary["near_duplicates"]["groups"] == 1
    near = next(line for line in (tmp_path / "o" / "report.md").read_text().splitlines() if line.startswith("Near duplicates"))
    assert "the exact duplicates included" in near and "each <= 4 of 64 bits from another of its group" in near, near


def test_inspect_counts_the_classes_in_each_group_of_a_manifest(tmp_path, capsys):
    """The report said nothing of race or age, where a gender dataset's imbalance hides (UTKFace:
    73% men in their 40s, 55% women in their 20s). Age comes in decades; a column of ids (every
    value its own group) is no grouping and is left out."""
    root = write_class_folders(tmp_path / "d", ["man", "woman"], 6)
    rows = ["path,label,age,race,uid"]
    for i in range(6):
        rows.append(f"man/man_{i}.png,man,{41 + i},{'A' if i < 4 else 'B'},u{i}")
        rows.append(f"woman/woman_{i}.png,woman,{22 + i if i < 5 else 'nan'},B,w{i}")  # pandas writes a missing age as nan
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "o"), "--no-duplicates"]) == 0
    by = json.loads((tmp_path / "o" / "summary.json").read_text())["by_column"]
    assert by["race"] == {"A": {"man": 4, "woman": 0}, "B": {"man": 2, "woman": 6}}
    assert by["age"] == {"20-29": {"man": 0, "woman": 5}, "40-49": {"man": 6, "woman": 0}, "(blank)": {"man": 0, "woman": 1}}
    assert "uid" not in by
    from facesense.data.inspect import column_counts
    from facesense.data.samples import Samples

    ranges = Samples("x", [str(i) for i in range(8)], ["a", "b"] * 4, [None] * 8, columns={"age": ["0-2", "20-29", "-1", "nan"] * 2})
    assert list(column_counts(ranges, ["a", "b"])["age"]) == ["-1", "0-2", "20-29", "(blank)"]  # text kept as written (found by review), a negative number in its order
    report = (tmp_path / "o" / "report.md").read_text()
    assert "| B | 2 | 6 | 8 | 66.7% | woman 75.0% |" in report and "| class | total | share |" in report


def test_the_sample_grid_draws_its_faces_from_each_whole_class(tmp_path, capsys, monkeypatch):
    """The grid showed the first 8 files of each class by path: UTKFace's 100-year-olds (found by
    a bug hunt). It is a seeded draw from the whole class: the same grid each run."""
    import facesense.eval.plots as plots

    root = tmp_path / "d"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(np.full((16, 16), 8 * i, np.uint8)).save(root / c / f"{i:02d}.png")
    shown = []
    real = plots.plot_sample_grid
    monkeypatch.setattr(plots, "plot_sample_grid", lambda images, labels, classes, path: (shown.append(images), real(images, labels, classes, path))[1])
    for out in ("o1", "o2"):
        assert main(["data", "inspect", str(root), "--out", str(tmp_path / out), "--no-duplicates"]) == 0
    levels = [sorted(round(float(im.mean()) / 8) for im in images[:8]) for images in shown]
    assert levels[0] == levels[1] and len(levels[0]) == 8 and max(levels[0]) >= 8  # not files 00-07 alone


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


def test_split_holds_each_group_of_a_column_in_proportion(tmp_path, capsys, caplog):
    """`data split --stratify race` (as training's `stratify:`): a small group (10 of 40 rows) keeps
    its share in test; a class whose stratum rounds whole to one side is named."""
    root = write_class_folders(tmp_path / "d", ["man", "woman"], 20)
    rows = ["path,label,race"] + [f"{c}/{c}_{i}.png,{c},{'B' if i < 5 else 'A'}" for c in ("man", "woman") for i in range(20)]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    for seed in range(3):
        out = tmp_path / f"s{seed}"
        assert main(["data", "split", str(root / "labels.csv"), "--out", str(out), "--stratify", "race", "--seed", str(seed)]) == 0
        s = read_dataset(out / "labels.csv")
        held = [(l, r) for l, r, sp in zip(s.labels, s.columns["race"], s.splits) if sp == "test"]
        assert sorted(held).count(("man", "B")) == 1 and sorted(held).count(("woman", "B")) == 1 and len(held) == 8
    assert main(["data", "split", str(root / "labels.csv"), "--out", str(tmp_path / "x"), "--stratify", "rac"]) == 2
    assert "no column 'rac' to stratify by (did you mean 'race'?)" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["data", "split", str(root / "labels.csv"), "--out", str(tmp_path / "x"), "--group", "rce"]) == 2
    assert "no column 'rce' for --group (did you mean 'race'?)" in capsys.readouterr().err
    assert main(["evaluate", "gender", "--data", str(root / "labels.csv"), "--group-by", "Rac", "--out", str(tmp_path / "e")]) == 2
    assert "no column 'Rac' to group by (did you mean 'race'?)" in capsys.readouterr().err
    # an age column in bands: a blank cell is a band of its own and text (FairFace's 20-29) a band as written, as
    # data inspect counts them (the split stopped with "age '' is not a number", naming no row)
    ages = [("" if i < 5 else "20-29" if i < 10 else 30 + i) for i in range(20)]
    (root / "ages.csv").write_text("path,label,age\n" + "".join(f"{c}/{c}_{i}.png,{c},{ages[i]}\n" for c in ("man", "woman") for i in range(20)))
    assert main(["data", "split", str(root / "ages.csv"), "--out", str(tmp_path / "ages"), "--stratify", "age"]) == 0
    split = read_dataset(tmp_path / "ages" / "labels.csv")
    held = [a for a, sp in zip(split.columns["age"], split.splits) if sp == "test"]
    assert held.count("") == 2 and held.count("20-29") == 2  # a fifth of each band's 10 rows
    assert main(["data", "split", str(root / "labels.csv"), "--out", str(tmp_path / "x"), "--stratify", "label"]) == 2
    assert "the label is stratified always" in capsys.readouterr().err
    # held to the plain split's rules (found by review): a class of one row stays in training, every
    # other class is on both sides, and a hold-out that rounds to nothing is refused
    rare = write_class_folders(tmp_path / "r", ["a", "b", "c"], 4)
    (rare / "labels.csv").write_text("path,label,race\n" + "".join(f"{c}/{c}_{i}.png,{c},A\n" for c in "ab" for i in range(4)) + "c/c_0.png,c,A\n")
    assert main(["data", "split", str(rare / "labels.csv"), "--out", str(tmp_path / "r_out"), "--stratify", "race", "--test-size", "0.5"]) == 0
    assert "class(es) 'c' have one sample: kept out of the --test-size hold-out" in caplog.text
    assert sorted(read_dataset(tmp_path / "r_out" / "labels.csv").labels) == sorted(["a"] * 4 + ["b"] * 4 + ["c"])
    assert main(["data", "split", str(root / "labels.csv"), "--out", str(tmp_path / "few"), "--stratify", "race", "--test-size", "0.03"]) == 0
    few = read_dataset(tmp_path / "few" / "labels.csv")
    assert sorted(l for l, sp in zip(few.labels, few.splits) if sp == "test") == ["man", "woman"]  # one class's share had rounded to none
    assert main(["data", "split", str(root / "labels.csv"), "--out", str(tmp_path / "none"), "--stratify", "race", "--test-size", "0.01"]) == 2
    assert "--test-size=0.01 with --stratify race: every class-and-race share of the rows rounds to none held out" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_split_copies_are_the_users_to_edit(tmp_path, capsys):
    """A read-only source file gave a read-only copy (found by a bug hunt): the split copies bytes."""
    import os
    import stat

    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    for p in (data / "a").iterdir():
        os.chmod(p, 0o444)
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s")]) == 0
    copies = list((tmp_path / "s").glob("*/a/*.png"))
    assert len(copies) == 5 and all(p.stat().st_mode & stat.S_IWUSR for p in copies)


def test_split_leaves_out_unreadable_images_only_when_asked(tmp_path, capsys, caplog):
    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    (data / "a" / "broken.png").write_text("not an image")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s1")]) == 2
    assert "broken.png: not a readable image" in capsys.readouterr().err and not (tmp_path / "s1").exists()
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s2"), "--skip-bad"]) == 0
    assert "skipped 1 unusable sample(s)" in caplog.text and "a/broken.png" in caplog.text
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


def test_split_keeps_every_file_and_every_class(tmp_path, capsys, caplog):
    """Nested files with one name (and one already named like the renamed copy) are all copied;
    a class of one image stays in training while the others are still stratified."""
    data = write_class_folders(tmp_path / "d", ["happy", "sad"], 20)
    for k, sub in enumerate(("a", "b"), start=1):  # other bytes (after the PNG's end): names alike, not copies, which split keeps together
        (data / "happy" / sub).mkdir()
        (data / "happy" / sub / "0.png").write_bytes((data / "happy" / "happy_0.png").read_bytes() + b"\0" * k)
    (data / "happy" / "2_0.png").write_bytes((data / "happy" / "happy_1.png").read_bytes() + b"\0")
    write_class_folders(data, ["angry"], 1)
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.2"]) == 0
    copied = read_dataset(tmp_path / "s")
    assert len(copied) == len(read_dataset(data)) == 44 and len(set(copied.ids)) == 44
    test = [l for l, sp in zip(copied.labels, copied.splits) if sp == "test"]
    assert "angry" not in test and abs(test.count("happy") - 0.2 * 23) <= 1 and abs(test.count("sad") - 4) <= 1
    assert "'angry' have one sample: kept out of the --test-size hold-out" in caplog.text
    # each file keeps the subfolders it had in its class folder: a/0.png and b/0.png were flattened, one renamed 13_0.png (found by a bug hunt)
    placed = {Path(i).relative_to(Path(i).parts[0], "happy").as_posix() for i, label in zip(copied.ids, copied.labels) if label == "happy"}
    assert {"a/0.png", "b/0.png", "2_0.png", "happy_0.png"} <= placed and len(placed) == 23
    # a labels.csv whose paths go up out of its folder through a class-named folder: copies were written outside --out (found by a review)
    (tmp_path / "m" / "happy").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    for label in ("happy", "sad"):
        for i in range(5):
            (tmp_path / "elsewhere" / f"{label}_{i}.png").write_bytes((data / label / f"{label}_{i}.png").read_bytes())
    rows = [f"happy/../../elsewhere/{label}_{i}.png,{label}" for label in ("happy", "sad") for i in range(5)]
    (tmp_path / "m" / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert main(["data", "split", str(tmp_path / "m" / "labels.csv"), "--out", str(tmp_path / "out" / "s")]) == 0
    copies = [p.relative_to(tmp_path / "out" / "s").parts for p in (tmp_path / "out" / "s").rglob("*.png")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s"] and len(copies) == 10
    assert all(len(parts) == 3 and parts[0] in ("train", "test") for parts in copies), copies  # each in <split>/<class>/, not in s/elsewhere/
    from facesense.data.materialise import _path_in_class_folder as placed_at  # where a manifest's rows go (found by a review)

    assert [placed_at(i, "happy").as_posix() for i in ("happy/2019/happy/1.png", "faces/images/happy/bob/0.png", "train/happy/sub/1.png", "images/x.png")] == \
        ["2019/happy/1.png", "bob/0.png", "sub/1.png", "x.png"]
    # its report's columns in the order the data flows (alphabetical put test before train; found by a bug hunt)
    assert main(["data", "inspect", str(tmp_path / "s"), "--no-duplicates", "--out", str(tmp_path / "i")]) == 0
    assert "| class | train | test | total | share |" in (tmp_path / "i" / "report.md").read_text()


def test_split_refuses_labels_that_are_paths_and_a_class_left_without_images(tmp_path, capsys):
    data = write_class_folders(tmp_path / "m", ["happy", "sad"], 4)
    rows = [f"{p.relative_to(data)},{'../../../escaped' if p.parent.name == 'happy' else 'sad'}" for p in sorted(data.rglob("*.png"))]
    (data / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "out" / "s")]) == 2
    assert "label '../../../escaped' cannot be a folder name" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out").exists()
    bad = write_class_folders(tmp_path / "b", ["happy", "sad"], 3)
    for p in (bad / "sad").iterdir():
        p.write_text("not an image")
    assert main(["data", "split", str(bad), "--out", str(tmp_path / "s2"), "--skip-bad"]) == 2
    assert "no readable image of class 'sad'" in capsys.readouterr().err


def test_csv_files_as_spreadsheets_and_gzip_leave_them(tmp_path, capsys):
    """A byte-order mark (Excel's 'CSV UTF-8') is read; a non-UTF-8 byte far down, a field longer
    than csv's default limit (a 200 px FER row) and a .gz cut short are one line each."""
    from conftest import write_fer_csv

    fer = write_fer_csv(tmp_path / "f.csv", [i % 7 for i in range(14)])
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + fer.read_bytes())
    assert len(read_dataset(tmp_path / "bom.csv")) == 14
    assert len(read_dataset(write_fer_csv(tmp_path / "big.csv", [i % 7 for i in range(14)], side=200))) == 14
    import gzip

    packed = gzip.compress(fer.read_bytes())
    (tmp_path / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    data = write_class_folders(tmp_path / "m", ["happy", "sad"], 2)
    rows = "".join(f"{p.relative_to(data)},{p.parent.name}\n" for p in sorted(data.rglob("*.png"))) * 3000
    (data / "labels.csv").write_bytes(b"path,label\n" + rows.encode() + "happy/caf\u00e9.png,happy\n".encode("latin-1"))
    lines = fer.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ',"Training'  # an unclosed quote: the rest of the file was one cell
    (tmp_path / "quote.csv").write_text("\n".join(lines) + "\n")
    for source, expected in ((tmp_path / "cut.csv.gz", "cannot be read (EOFError"), (data, "labels.csv line 12002: a byte that is not UTF-8"),
                             (tmp_path / "quote.csv", "quote.csv line 6: cannot be read (a broken row or an unclosed quote")):
        assert main(["data", "inspect", str(source), "--out", str(tmp_path / "i")]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_names_in_another_encoding_are_named_not_a_traceback(tmp_path, capsys):
    """A file or class folder whose name is not UTF-8 (a latin-1 'café.png' from an old camera)
    cannot go into the UTF-8 manifests, reports and logs: one line naming it, or skipped with
    --skip-bad; a class folder so named is always refused (it would be a class name)."""
    import os

    data = write_class_folders(tmp_path / "d", ["happy", "sad"], 4)
    os.rename(data / "happy" / "happy_0.png", os.fsencode(data / "happy") + b"/caf\xe9.png")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s")]) == 2
    assert "the file name is not UTF-8" in capsys.readouterr().err and not (tmp_path / "s").exists()
    assert main(["data", "split", str(data), "--skip-bad", "--out", str(tmp_path / "s")]) == 0
    assert len(read_dataset(tmp_path / "s")) == 7
    os.rename(data / "sad", os.fsencode(data) + b"/tri\xe9ste")
    assert main(["data", "inspect", str(data), "--skip-bad", "--out", str(tmp_path / "i")]) == 2
    assert "the folder name is not UTF-8" in capsys.readouterr().err


def test_leak_free_copy_keeps_columns_and_never_replaces_the_input(tmp_path, capsys):
    data = write_class_folders(tmp_path / "m", ["happy", "sad"], 3)
    rows = [f"{p.relative_to(data)},{p.parent.name},train,{20 + i},{'a' if i % 2 else 'b'}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "test").mkdir()
    (data / "test" / "copy.png").write_bytes((data / "happy" / "happy_0.png").read_bytes())
    rows.append("test/copy.png,happy,test,30,a")
    (data / "labels.csv").write_text("path,label,split,age,race\n" + "\n".join(rows) + "\n")
    before = (data / "labels.csv").read_bytes()
    for leak, message in ((data / "labels.csv", "is the dataset itself"), (tmp_path / "a_folder", "is a folder")):
        (tmp_path / "a_folder").mkdir(exist_ok=True)
        assert main(["data", "inspect", str(data), "--out", str(tmp_path / "o"), "--leak-free", str(leak)]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "o"), "--no-duplicates", "--leak-free", str(tmp_path / "x.csv")]) == 2
    assert "leave out --no-duplicates" in capsys.readouterr().err
    assert (data / "labels.csv").read_bytes() == before
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "o"), "--leak-free", str(tmp_path / "clean.csv")]) == 0
    clean = read_dataset(tmp_path / "clean.csv")
    assert len(clean) == 6 and sorted(clean.columns) == ["age", "race"] and clean.columns["age"][0] == "20"
    # with --group, a held-out row of a person who has training rows goes too: the report named
    # such people, and the "leak-free" copy kept them (found by a bug hunt)
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (48, 48), dtype=np.uint8)).save(data / "test" / "other.png")
    (data / "labels.csv").write_text("path,label,split,age,race\n" + "\n".join(rows + ["test/other.png,sad,test,40,b", "test/new.png,sad,test,41,c"]) + "\n")
    Image.fromarray(np.random.default_rng(8).integers(0, 255, (48, 48), dtype=np.uint8)).save(data / "test" / "new.png")
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "o2"), "--group", "race", "--leak-free", str(tmp_path / "clean2.csv")]) == 0
    assert "leak-free split: removed 2 evaluation samples (1 duplicate, 1 more of people in training, by race)" in capsys.readouterr().out
    assert sorted(read_dataset(tmp_path / "clean2.csv").ids)[-1].endswith("new.png") and len(read_dataset(tmp_path / "clean2.csv")) == 7


def test_a_fer_style_csv_keeps_its_other_columns_for_groups_and_in_its_leak_free_copy(tmp_path, capsys):
    """A subject column in a FER2013-style csv was dropped: --group-by and --group said the data
    had no such column, and --leak-free wrote the copy without it (found by a bug hunt)."""
    from conftest import write_fer_csv

    fer = write_fer_csv(tmp_path / "fer.csv", [i % 7 for i in range(28)], ["Training"] * 21 + ["PublicTest"] * 7)
    lines = fer.read_text().splitlines()
    lines[25] = lines[1].replace("Training", "PublicTest")  # a Training face again in PublicTest: the leak-free copy drops one
    fer.write_text("\n".join([lines[0] + ",subject"] + [f"{line},{'ab'[i % 2]}" for i, line in enumerate(lines[1:])]) + "\n")
    assert read_dataset(fer).columns["subject"][:3] == ["a", "b", "a"]
    assert main(["data", "inspect", str(fer), "--out", str(tmp_path / "r"), "--group", "subject", "--leak-free", str(tmp_path / "clean.csv")]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["group_leakage"]["groups"] == 2
    clean = read_dataset(tmp_path / "clean.csv")
    assert len(clean) == 21 and list(clean.columns) == ["subject"]  # with --group, every PublicTest row goes: both subjects have Training rows
    assert main(["evaluate", "expression", "--data", str(fer), "--split", "PublicTest", "--group-by", "subject", "--out", str(tmp_path / "e")]) == 0
    assert set(json.loads((tmp_path / "e" / "metrics.json").read_text())["by_group"]["groups"]) == {"a", "b"}
    # a column named as a manifest's own (split, label): not read, so a split of it stays readable (found by review)
    lines = fer.read_text().splitlines()
    fer.write_text("\n".join([lines[0] + ",split,label"] + [f"{line},fold{i % 2},x" for i, line in enumerate(lines[1:])]) + "\n")
    assert list(read_dataset(fer).columns) == ["subject"]
    assert main(["data", "split", str(fer), "--out", str(tmp_path / "s"), "--test-size", "0.5", "--val-size", "0"]) == 0
    assert main(["data", "inspect", str(tmp_path / "s"), "--out", str(tmp_path / "r2")]) == 0


def test_a_broken_link_is_a_bad_file_and_a_headerless_csv_a_short_line(tmp_path, capsys):
    import os

    from conftest import write_fer_csv

    data = write_class_folders(tmp_path / "d", ["a", "b"], 3)
    os.symlink(tmp_path / "nowhere.png", data / "a" / "gone.png")
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "i")]) == 2
    assert "gone.png: a link to a missing file" in capsys.readouterr().err  # was silently left out
    fer = write_fer_csv(tmp_path / "f.csv", [1, 2, 3])
    fer.write_text("\n".join(fer.read_text().splitlines()[1:]) + "\n")  # no header: a row of pixels stands there
    assert main(["data", "inspect", str(fer), "--out", str(tmp_path / "j")]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset format" in err and len(err) < 400


def test_split_of_a_manifest_keeps_its_other_columns(tmp_path, capsys):
    """`data split` of a labels.csv with age/race columns reads back with them (--group-by race
    on the split); the copied class folders alone lost them."""
    data = write_class_folders(tmp_path / "d", ["man", "woman"], 6)
    files = sorted(p.relative_to(data) for p in data.rglob("*.png"))
    races = {str(f): ("asian", "black", "white")[n % 3] for n, f in enumerate(files)}
    (data / "labels.csv").write_text("path,label,age,race\n" + "".join(f"{f},{f.parent},{20 + n},{races[str(f)]}\n" for n, f in enumerate(files)))
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.25"]) == 0
    split = read_dataset(tmp_path / "s")
    assert len(split) == len(files) and sorted(split.split_names()) == ["test", "train"]
    by_name = {f.name: races[str(f)] for f in files}
    assert [by_name[Path(i).name] for i in split.ids] == split.columns["race"]
    assert set(split.columns) == {"age", "race"}


def test_a_report_is_refused_inside_a_folder_of_a_manifests_images(tmp_path, capsys):
    """`--data split/labels.csv --out split/test/evalout` wrote the report beside split/test's
    class folders, and `--data split/test` then read it as a class (found by a bug hunt). The
    csv's own folder may still hold reports; an image folder outside it may not either."""
    assert main(["data", "split", str(write_class_folders(tmp_path / "d", ["man", "woman"], 6)), "--out", str(tmp_path / "s"), "--test-size", "0.25"]) == 0
    manifest = tmp_path / "s" / "labels.csv"
    images = sorted(p.relative_to(tmp_path / "s") for p in (tmp_path / "s").rglob("*.png"))
    manifest.write_text("path,label,split\n" + "".join(f"{p},{p.parent.name},{p.parts[0]}\n" for p in images))
    capsys.readouterr()
    assert main(["data", "inspect", str(manifest), "--out", str(tmp_path / "s" / "test" / "report")]) == 2
    err = capsys.readouterr().err
    assert f"is inside {tmp_path / 's' / 'test'}, which holds images of {manifest}" in err and "choose a folder outside it" in err
    assert not (tmp_path / "s" / "test" / "report").exists()
    assert main(["data", "inspect", str(manifest), "--out", str(tmp_path / "s" / "report")]) == 0  # beside the csv
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in sorted((tmp_path / "d").rglob("*.png"))))
    assert main(["data", "inspect", str(elsewhere), "--out", str(tmp_path / "d" / "man" / "report")]) == 2
    assert main(["data", "inspect", str(elsewhere), "--out", str(tmp_path / "report")]) == 0
    # a csv beside its images' folder: that folder and the ones below it (../d/man/x.png: d/ too)
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "labels.csv").write_text("path,label\n" + "".join(f"../d/{p.parent.name}/{p.name},{p.parent.name}\n" for p in sorted((tmp_path / "d").rglob("*.png"))))
    assert main(["data", "inspect", str(meta / "labels.csv"), "--out", str(tmp_path / "d" / "report")]) == 2
    # through a link to the images' folder, the folder reached is guarded
    (tmp_path / "linked").symlink_to(tmp_path / "d", target_is_directory=True)
    assert main(["data", "inspect", str(elsewhere), "--out", str(tmp_path / "linked" / "man" / "report")]) == 2


def test_split_keeps_exact_copies_on_one_side(tmp_path, caplog):
    """8 copied images landed on both sides of `data split` in 5 of 8 cases, which data inspect
    then reported as leakage (found by a bug hunt): copies go to training together."""
    data = write_class_folders(tmp_path / "d", ["happy", "sad"], 20)
    for c in ("happy", "sad"):
        for j in range(4):
            (data / c / f"copy_{j}.png").write_bytes((data / c / f"{c}_{j}.png").read_bytes())
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.3", "--seed", "0"]) == 0
    copied = read_dataset(tmp_path / "s")
    side = {}
    for path, split in zip(copied.paths, copied.splits):
        side.setdefault(Path(path).read_bytes(), set()).add(split)
    assert all(len(s) == 1 for s in side.values()) and len(copied) == 48
    assert "exact copies of images on another side of the split: moved to train" in caplog.text


def test_inspect_with_skip_bad_counts_what_training_would_use(tmp_path, capsys, caplog):
    """--skip-bad still counted a corrupt image in n and the baseline (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    (data / "a" / "bad.jpg").write_bytes(b"nope")
    assert main(["data", "inspect", str(data), "--skip-bad", "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["n"] == 10 and summary["total"] == {"a": 5, "b": 5} and {k: v for k, v in summary["unreadable"].items() if k != "reasons"} == {"count": 1, "files": ["a/bad.jpg"], "counted": False}
    assert [row[0] for row in summary["skipped"]] == ["a/bad.jpg"]
    # without --skip-bad it is counted, so not listed as skipped too (found by a bug hunt)
    assert main(["data", "inspect", str(data), "--no-duplicates", "--out", str(tmp_path / "r1")]) == 0
    counted = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert counted["n"] == 11 and counted["unreadable"]["counted"] and counted["skipped"] == []
    assert "Skipped" not in (tmp_path / "r1" / "report.md").read_text()
    # a class of nothing but unreadable images is still reported on, not refused (found by review)
    for j in range(5):
        (data / "b" / f"b_{j}.png").write_bytes(b"nope")
    assert main(["data", "inspect", str(data), "--skip-bad", "--no-duplicates", "--out", str(tmp_path / "r2")]) == 0
    assert "class 'b' has no readable image, so the report (with --skip-bad) leaves it out" in caplog.text


def test_keeping_copies_together_never_empties_a_class_of_a_held_out_split(tmp_path, caplog):
    """Class b made of one image copied four times lost its whole test side to the move, and
    data split exited 0 with a test split of one class (found by review)."""
    data = write_class_folders(tmp_path / "d", ["a"], 10)
    (data / "b").mkdir()
    for j in range(4):
        (data / "b" / f"b_{j}.png").write_bytes((data / "a" / "a_0.png").read_bytes().replace(b"IEND", b"IEND") + bytes([j % 1]))
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.25"]) == 0
    copied = read_dataset(tmp_path / "s")
    assert {l for l, sp in zip(copied.labels, copied.splits) if sp == "test"} == {"a", "b"}
    assert "still cross the split: no other image of their class could go to that held-out side (b in test: b/b_" in caplog.text


def test_a_copy_moved_out_of_a_held_out_split_leaves_its_place_to_another_image(tmp_path, caplog):
    """A class's one test image had a copy in train: the copies stayed across the split, with a
    warning that no other image could go, though three non-copies of its class trained (found by
    a bug hunt). One of them now takes the place."""
    data = write_class_folders(tmp_path / "d", ["cat", "dog"], 5)
    (data / "cat" / "cat_1.png").write_bytes((data / "cat" / "cat_0.png").read_bytes())
    crossed = 0
    for seed in range(12):
        caplog.clear()
        out = tmp_path / f"s{seed}"
        assert main(["data", "split", str(data), "--out", str(out), "--test-size", "0.2", "--seed", str(seed)]) == 0
        split = read_dataset(out)
        sides = {split.splits[i] for i, p in enumerate(split.paths) if Path(p).read_bytes() == (data / "cat" / "cat_0.png").read_bytes()}
        assert len(sides) == 1 and {l for l, sp in zip(split.labels, split.splits) if sp == "test"} == {"cat", "dog"}, seed
        assert "still cross the split" not in caplog.text
        crossed += "took their places" in caplog.text
    assert crossed  # some draws put a copy in test


def test_a_stand_in_goes_back_to_training_when_the_copies_it_replaced_are_given_back(caplog):
    """A class of three, a and its copy drawn into test and val, b into train: the copies went to
    train, b stood in for them in test, then val (no stand-in left) got the copies back, and b
    stayed in test: the class had no training image at all (found by a bug hunt)."""
    from facesense.data.materialise import _copies_kept_together
    from facesense.data.samples import Samples

    samples = Samples("d", ["c/a.png", "c/a_copy.png", "c/b.png", "d/0.png", "d/1.png", "d/2.png"], ["c", "c", "c", "d", "d", "d"], [None] * 6)
    parts = {"test": np.array([1, 3]), "val": np.array([0, 4]), "train": np.array([2, 5])}
    kept = _copies_kept_together(samples, parts, [[0, 1]])
    assert kept["train"].tolist() == [2, 5] and kept["test"].tolist() == [1, 3] and kept["val"].tolist() == [0, 4], kept
    assert "still cross the split" in caplog.text and "took their places" not in caplog.text


def test_inspect_and_split_count_spellings_of_one_class_as_one(tmp_path, capsys, caplog):
    """A manifest labelled 'Angry' in some rows and 'angry' in others trains one class, but the
    report counted two and the split made two folders of it: both now count what training reads."""
    data = write_class_folders(tmp_path / "d", ["angry", "happy"], 6)
    files = sorted(p.relative_to(data) for p in data.rglob("*.png"))
    spelled = {"angry": ("Angry", "angry"), "happy": ("happy", "happy")}
    (data / "labels.csv").write_text("path,label\n" + "".join(f"{f},{spelled[f.parent.name][n % 2]}\n" for n, f in enumerate(files)))
    assert main(["data", "inspect", str(data / "labels.csv"), "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["total"] == {"angry": 6, "happy": 6}
    assert "labels 'Angry' and 'angry' are one class to train" in caplog.text
    assert main(["data", "split", str(data / "labels.csv"), "--out", str(tmp_path / "s"), "--test-size", "0.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "s" / "train").iterdir()) == ["angry", "happy"]


def test_inspect_with_skip_bad_names_a_class_lost_while_reading_the_manifest(tmp_path, capsys, caplog):
    """Rows whose images are missing are skipped as the manifest is read, before the report sees
    them: a class of nothing but such rows vanished from the report without a word."""
    data = write_class_folders(tmp_path / "d", ["a", "b", "c"], 4)
    rows = [f"{c}/{c}_{j}.png,{c}" for c in "ac" for j in range(4)] + [f"b/gone_{j}.png,b" for j in range(3)]
    (data / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    assert main(["data", "inspect", str(data / "labels.csv"), "--skip-bad", "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    assert "class 'b' has no readable image" in caplog.text


def test_a_folder_read_through_its_labels_csv_names_images_it_does_not_list(tmp_path, capsys, caplog, monkeypatch):
    """`data split` of a manifest writes labels.csv beside the class folders; an image added to
    those folders later was left out of every command without a word (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["a", "b"], 6)
    files = sorted(p.relative_to(data) for p in data.rglob("*.png"))
    (data / "labels.csv").write_text("path,label,race\n" + "".join(f"{f},{f.parent},x\n" for f in files))
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.5"]) == 0
    assert (tmp_path / "s" / "labels.csv").is_file()
    read_dataset(tmp_path / "s")
    assert "not in its labels.csv" not in caplog.text
    (tmp_path / "s" / "test" / "a" / "added.png").write_bytes((data / "a" / "a_0.png").read_bytes())
    assert len(read_dataset(tmp_path / "s")) == 12
    assert "1 image(s) in the folder are not in its labels.csv, which is what is read (e.g. test/a/added.png): list them there, or read the class folders instead with --format folders" in caplog.text
    # a subset's labels.csv beside one folder of every image (UTKFace's images/): no class folders to read (read so, they were one class; found by a bug hunt)
    subset = tmp_path / "subset"
    (subset / "images").mkdir(parents=True)
    for f in files:
        (subset / "images" / f.name).write_bytes((data / f).read_bytes())
    (subset / "labels.csv").write_text("path,label\n" + "".join(f"images/{f.name},{f.parent}\n" for f in files[:8]))
    caplog.clear()
    assert len(read_dataset(subset)) == 8
    assert "4 image(s) in the folder are not in its labels.csv" in caplog.text and "a labels.csv of a subset reads its own rows only" in caplog.text and "--format folders" not in caplog.text
    assert len(read_dataset(tmp_path / "s", "folders")) == 13
    # given as a relative path (the README's ../shared/data/...), every listed image was called unlisted (found by a bug hunt)
    caplog.clear()
    monkeypatch.chdir(tmp_path)
    read_dataset("d")
    assert "not in its labels.csv" not in caplog.text
    # the report `data inspect labels.csv` writes into the working folder by default, there the data's: its plots are no images of it (found by a bug hunt)
    monkeypatch.chdir(data)
    assert main(["data", "inspect", "labels.csv", "--no-duplicates"]) == 0
    assert list(data.glob("inspect-*/samples.png"))
    caplog.clear()
    read_dataset(data)
    assert "not in its labels.csv" not in caplog.text
    # class folders with a labels.csv that lists two of three classes: the new class's folder can be read so (found by review)
    (data / "c").mkdir()
    (data / "c" / "c_0.png").write_bytes((data / "a" / "a_0.png").read_bytes())
    (data / "labels.csv").write_text("path,label\n" + "".join(f"{f},{f.parent}\n" for f in files))
    caplog.clear()
    monkeypatch.chdir(tmp_path.parent)
    assert len(read_dataset(data)) == 12 and "c/c_0.png): list them there, or read the class folders instead with --format folders" in caplog.text


def test_the_unlisted_image_check_follows_a_link_to_a_listed_folder_after_the_folder(tmp_path, caplog):
    """A link sorting before the folder it points to (archive -> photos) made every listed image
    'unlisted' as archive/...; real folders are walked before links to them (found by review)."""
    data = tmp_path / "d"
    write_class_folders(data / "photos", ["a", "b"], 3)
    files = sorted(p.relative_to(data) for p in data.rglob("*.png"))
    (data / "labels.csv").write_text("path,label\n" + "".join(f"{f},{f.parent.name}\n" for f in files))
    (data / "archive").symlink_to(data / "photos")
    assert len(read_dataset(data)) == 6
    assert "not in its labels.csv" not in caplog.text


def test_the_unlisted_image_check_follows_a_link_inside_another_folder(tmp_path, caplog):
    """A link inside an earlier-sorting folder (backup/archive -> photos) still claimed the
    folder first: its images are compared as real paths now (found by review)."""
    data = tmp_path / "d"
    write_class_folders(data / "photos", ["a", "b"], 3)
    files = sorted(p.relative_to(data) for p in data.rglob("*.png"))
    (data / "labels.csv").write_text("path,label\n" + "".join(f"{f},{f.parent.name}\n" for f in files))
    (data / "backup").mkdir()
    (data / "backup" / "archive").symlink_to(data / "photos")
    assert len(read_dataset(data)) == 6
    assert "not in its labels.csv" not in caplog.text


def test_inspect_refuses_options_it_would_ignore(tmp_path, capsys):
    """Found by a bug hunt: --near-threshold without --duplicates was ignored, --duplicates with
    --no-duplicates half applied, and --leak-free on data without splits 'removed evaluation
    samples' it did not have."""
    data = write_class_folders(tmp_path / "d", ["a", "b"], 4)
    for argv, said in ((["--near-threshold", "6"], "--near-threshold 6: sets the near-duplicate search, which --duplicates turns on; add --duplicates"),
                       (["--duplicates", "--no-duplicates"], "contradict each other: give one"),
                       (["--duplicates", "--leak-free", str(tmp_path / "clean.csv")], "has no splits (no split column or split folders)")):
        assert main(["data", "inspect", str(data), *argv, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and not (tmp_path / "r").exists(), err


def _manifest(root: Path, rows: list[tuple[str, str]]) -> Path:
    """A labels.csv dataset of distinct grey images, one per (label, split) row."""
    (root / "images").mkdir(parents=True)
    lines = []
    for i, (label, split) in enumerate(rows):
        Image.fromarray(np.full((48, 48), 10 * i, np.uint8)).save(root / "images" / f"{i}.png")
        lines.append(f"images/{i}.png,{label},{split}\n")
    (root / "labels.csv").write_text("path,label,split\n" + "".join(lines))
    return root


def test_the_naive_baseline_of_data_in_partitions_is_the_majority_of_all_rows(tmp_path, capsys):
    """Data in partitions (each held out in turn, no train split) took the majority of the first
    partition for its baseline (found by a bug hunt)."""
    root = _manifest(tmp_path / "p", [("a", "partition1")] * 3 + [("b", "partition1")] * 4 + [("a", "partition2")] * 6 + [("b", "partition2")])
    assert main(["data", "inspect", str(root), "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    baseline = json.loads((tmp_path / "r" / "summary.json").read_text())["naive_baseline"]
    assert baseline["majority_class"] == "a" and baseline["from_split"] == "all rows"
    assert "the majority of all rows" in (tmp_path / "r" / "report.md").read_text()


def test_a_naive_baseline_of_tied_majority_classes_gives_each_ones_score(tmp_path, capsys):
    """train a:4 b:4, test a:1 b:4: the report said "always 'a' ... test 20.0%" where always 'b',
    as much train's majority, scores 80%, so a model looked better than it is (found by a bug hunt)."""
    root = _manifest(tmp_path / "d", [("a", "train")] * 4 + [("b", "train")] * 4 + [("a", "test")] + [("b", "test")] * 4)
    assert main(["data", "inspect", str(root), "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    baseline = json.loads((tmp_path / "r" / "summary.json").read_text())["naive_baseline"]
    assert baseline["tied_classes"] == ["a", "b"] and baseline["accuracy_range"]["test"] == [0.2, 0.8]
    assert "Naive baseline (always one of 'a', 'b', tied as the majority of train): train 50.0%, test 20.0%-80.0%" in (tmp_path / "r" / "report.md").read_text()


def _run_with_file_size_limit(args: list[str], limit_bytes: int, cwd: Path):
    """`python -m facesense ARGS` with writes past `limit_bytes` refused (EFBIG), as a full disk would be."""
    import os
    import resource
    import subprocess
    import sys

    env = {**os.environ, "MPLCONFIGDIR": str(cwd / "mpl"), "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    (cwd / "mpl").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "facesense", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes)))


def test_split_into_an_existing_empty_folder_keeps_the_folder(tmp_path, monkeypatch):
    """The folder was removed and a new one put in its place: its permissions (a group's private
    folder became world-readable) were lost, a mount point failed after every image was copied,
    and `--out .` left the shell in a deleted folder (found by a bug hunt)."""
    import os
    import stat

    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    out = tmp_path / "private"
    out.mkdir()
    out.chmod(0o2770)
    before = out.stat()
    assert main(["data", "split", str(data), "--out", str(out), "--test-size", "0.4"]) == 0
    after = out.stat()
    assert (after.st_ino, stat.S_IMODE(after.st_mode)) == (before.st_ino, 0o2770)
    assert sorted(p.name for p in out.iterdir()) == ["split_manifest.csv", "test", "train"]
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["data", "split", str(data), "--out", ".", "--test-size", "0.4"]) == 0
    assert os.getcwd() == str(here) and (here / "split_manifest.csv").is_file()
    # a killed run's half-built split inside the folder does not make it "not empty" for the rerun
    again = tmp_path / "again"
    again.mkdir()
    stale = again / f".split_manifest.csv.999999999.{__import__('facesense.runs', fromlist=['host_name']).host_name()}.0123abcd.tmpdir"
    (stale / "train").mkdir(parents=True)
    assert main(["data", "split", str(data), "--out", str(again)]) == 0 and not stale.exists()
    mounted = tmp_path / "mounted"  # a new file system's root: empty but for lost+found
    (mounted / "lost+found").mkdir(parents=True)
    assert main(["data", "split", str(data), "--out", str(mounted)]) == 0 and (mounted / "split_manifest.csv").is_file()


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path):
    """A write refused for its size named a good dataset image ("ds/a/0.png: File too large; check
    the path") or a hidden temp file, and inspect left an empty report folder (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["a", "b"], 4, size=96)
    split = _run_with_file_size_limit(["data", "split", str(data), "--out", "new/sp"], 1024, tmp_path)
    assert split.returncode == 2 and "Traceback" not in split.stderr, split.stderr
    line = split.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {tmp_path / 'new' / 'sp'}/") and "larger than this system allows" in line and str(data) not in line, line
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".*sp*")) and not list(tmp_path.glob(".split*"))  # nor the folders made for it
    inspect = _run_with_file_size_limit(["data", "inspect", str(data), "--out", "rep"], 4096, tmp_path)
    assert inspect.returncode == 2 and "Traceback" not in inspect.stderr, inspect.stderr
    line = inspect.stderr.strip().splitlines()[-1]
    assert ".tmp" not in line and "larger than this system allows" in line and str(tmp_path / "rep") in line, line
    assert not (tmp_path / "rep").exists()
    # an int8 export's float32 work files (larger than the result) beside --out: named as --out, not "an output"
    export = _run_with_file_size_limit(["export", "gender", "--int8", "--calibration", str(data), "--out", "m.int8.onnx"], 600_000, tmp_path)
    line = export.stderr.strip().splitlines()[-1]
    assert export.returncode == 2 and line.startswith(f"error: {tmp_path / 'm.int8.onnx'}: cannot be written") and "larger than this system allows" in line, export.stderr
    assert not list(tmp_path.glob("*m.int8*"))


def test_a_leak_free_copy_that_cannot_be_written_leaves_no_new_report(tmp_path):
    """The report was published and then the command exited 2 for the leak-free copy (exit 2 means
    none written; found by a bug hunt)."""
    data = write_fer_csv(tmp_path / "f.csv", [i % 7 for i in range(120)], ["Training"] * 90 + ["PublicTest"] * 30)
    run = _run_with_file_size_limit(["data", "inspect", str(data), "--out", "rep", "--leak-free", "clean.csv"], 200_000, tmp_path)
    assert run.returncode == 2 and "clean.csv: cannot be written" in run.stderr.strip().splitlines()[-1], run.stderr
    assert not (tmp_path / "rep").exists() and not (tmp_path / "clean.csv").exists()
    # nor the other way round: a report that cannot be written leaves no new leak-free copy (found by review)
    folders = write_class_folders(tmp_path / "ds" / "train", ["a", "b"], 3, size=96)
    write_class_folders(tmp_path / "ds" / "test", ["a", "b"], 2, size=96, seed=1)
    (folders / "a" / "copy.png").write_bytes((tmp_path / "ds" / "test" / "a" / "a_0.png").read_bytes())
    run = _run_with_file_size_limit(["data", "inspect", str(tmp_path / "ds"), "--out", "rep2", "--leak-free", "clean2.csv"], 4096, tmp_path)
    assert run.returncode == 2 and "rep2/samples.png: cannot be written" in run.stderr.strip().splitlines()[-1], run.stderr
    assert not (tmp_path / "rep2").exists() and not (tmp_path / "clean2.csv").exists() and not list(tmp_path.glob(".clean2*"))


def test_leak_free_removes_exact_copies_with_near_search_and_keeps_one_copy_without_a_train_split(tmp_path, capsys):
    """With --duplicates the leak-free copy was made from the near-duplicate groups only, which leave
    out blank images: an all-black PublicTest face with Training copies stayed (FER2013 has one).
    Data with no train split (k-fold partitions) lost every copy of a duplicate (found by a bug hunt)."""
    import csv

    from facesense.data.sources import read_dataset as read

    data = write_fer_csv(tmp_path / "f.csv", [i % 7 for i in range(21)], ["Training"] * 14 + ["PublicTest"] * 7)
    with open(data, "a", newline="") as f:
        csv.writer(f).writerows([[3, " ".join(["0"] * 2304), "Training"], [3, " ".join(["0"] * 2304), "PublicTest"]])
    for flags in ([], ["--duplicates"]):
        clean = tmp_path / f"clean{len(flags)}.csv"
        assert main(["data", "inspect", str(data), "--out", str(tmp_path / f"r{len(flags)}"), "--leak-free", str(clean), *flags]) == 0
        kept = read(clean)
        assert len(kept) == 22 and sum(not p.any() for p in kept.pixels) == 1, flags  # the PublicTest blank copy is gone
    parts = write_class_folders(tmp_path / "p" / "img", ["x"], 6, size=32)
    rows = ["path,label,partition"] + [f"img/x/x_{j}.png,{'pos' if j % 2 else 'neg'},partition{j % 3 + 1}" for j in range(6)]
    (parts / "x" / "copy.png").write_bytes((parts / "x" / "x_0.png").read_bytes())
    rows.append("img/x/copy.png,neg,partition2")
    (tmp_path / "p" / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["data", "inspect", str(tmp_path / "p"), "--out", str(tmp_path / "rp"), "--leak-free", str(tmp_path / "p.csv")]) == 0
    kept = read(tmp_path / "p.csv")
    assert len(kept) == 6 and "removed 1 evaluation samples" in capsys.readouterr().out


def test_the_warning_on_copies_left_across_the_split_names_their_class(tmp_path, caplog):
    """It named the class of the group's first image, not the class left without another held-out
    image (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["angry", "happy"], 6)
    for j in range(6):  # every happy image a copy of an angry one: none can stand in for another
        (data / "happy" / f"happy_{j}.png").write_bytes((data / "angry" / f"angry_{j}.png").read_bytes())
    for seed in range(20):
        caplog.clear()
        out = tmp_path / f"s{seed}"
        assert main(["data", "split", str(data), "--out", str(out), "--test-size", "0.15", "--seed", str(seed)]) == 0
        if "still cross the split" in caplog.text:
            test_files = [line.split(",")[0] for line in (out / "split_manifest.csv").read_text().splitlines()[1:] if line.split(",")[2] == "test"]
            named = caplog.text.split("held-out side (", 1)[1].split(";")[0].split(")")[0]
            label, rest = named.split(" in test: ")
            assert any(f.startswith(f"test/{label}/") and f.endswith(Path(rest).name) for f in test_files), (named, test_files)
            return
    raise AssertionError("no seed left a copy across the split")


def test_a_flat_folder_of_photos_is_one_error_line(tmp_path, caplog):
    flat = tmp_path / "flat"
    flat.mkdir()
    for j in range(3):
        Image.fromarray(np.full((8, 8), j * 40, np.uint8)).save(flat / f"{j}.png")
    with __import__("pytest").raises(Exception) as err:
        read_dataset(flat)
    assert "no class folders" in str(err.value) and "its 3 image(s) lie directly in it" in str(err.value)
    assert "belong to no class folder" not in caplog.text


def test_data_commands_from_a_bug_hunt(tmp_path, capsys, monkeypatch):
    """A default report folder inside a folder dataset was named as --out, which was not given;
    two empty files were one exact duplicate, across the splits; --leak-free given a folder was
    told live's frames.csv; an option after `--` was 'did you mean' itself; a --format that does
    not fit said no fix."""
    data = write_class_folders(tmp_path / "ds", ["a", "b"], 5)
    rows = [f"{p.relative_to(data)},{p.parent.name}" for p in sorted(data.rglob("*.png"))]
    (data / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(data)
    assert main(["data", "inspect", "."]) == 2
    assert "the default report folder (no --out given)" in capsys.readouterr().err and not list(data.glob("inspect-*"))
    assert main(["data", "inspect", "labels.csv"]) == 0  # read through its rows: a report beside them is not read as data
    folders = write_class_folders(tmp_path / "sp" / "train", ["a", "b"], 4)
    write_class_folders(tmp_path / "sp" / "test", ["a", "b"], 2, seed=1)
    (folders / "a" / "empty.png").write_bytes(b"")
    (tmp_path / "sp" / "test" / "b" / "empty.png").write_bytes(b"")
    assert main(["data", "inspect", str(tmp_path / "sp"), "--out", str(tmp_path / "r"), "--skip-bad"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["unreadable"]["count"] == 2 and summary["exact_duplicates"]["groups"] == 0
    (tmp_path / "dir").mkdir()
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "r2"), "--leak-free", str(tmp_path / "dir")]) == 2
    assert f"e.g. {tmp_path / 'dir' / 'leak_free.csv'}" in capsys.readouterr().err
    assert main(["data", "inspect", "--", str(data), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err
    assert "--out came after --" in err and "did you mean" not in err
    assert main(["data", "inspect", "--format", "folders", str(data / "labels.csv")]) == 2
    assert "is a file, not a folder of class folders; let its format be found (--format auto" in capsys.readouterr().err
    assert main(["data", "inspect", "--format", "manifest", str(tmp_path / "sp" / "train")]) == 2
    assert "has no labels.csv: read its class folders with --format folders" in capsys.readouterr().err


def test_data_split_with_group_keeps_each_persons_photos_on_one_side(tmp_path, capsys):
    data = write_class_folders(tmp_path / "ds", ["a", "b"], 24)
    rows = [f"{p.relative_to(data)},{p.parent.name},person{i % 12}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,subject\n" + "\n".join(rows) + "\n")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.25", "--group", "subject"]) == 0
    import csv

    placed: dict[str, set] = {}
    for row in csv.DictReader(open(tmp_path / "s" / "labels.csv")):
        placed.setdefault(row["subject"], set()).add(row["split"])
    assert len(placed) == 12 and all(len(v) == 1 for v in placed.values()) and {"train", "test"} == set().union(*placed.values())
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s2"), "--group", "person"]) == 2
    assert "no column 'person' for --group (the column naming each row's person or group); the data has ['subject']" in capsys.readouterr().err
    (data / "labels.csv").unlink()  # class folders name no one: the fix is a manifest, not another column
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s3"), "--group", "subject"]) == 2
    assert "this data has only images and labels; --group needs a csv with a column naming each row's person (a labels.csv's path,label,subject" in capsys.readouterr().err


def test_inspect_with_group_names_the_people_in_more_than_one_split(tmp_path, capsys):
    data = write_class_folders(tmp_path / "ds", ["a", "b"], 6)
    rows = [f"{p.relative_to(data)},{p.parent.name},{'train' if i % 3 else 'test'},{['ann', 'bob', 'cy', 'dee'][i % 4] if i != 5 else ''}"
            for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,split,subject\n" + "\n".join(rows) + "\n")
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "r"), "--group", "subject"]) == 0
    g = json.loads((tmp_path / "r" / "summary.json").read_text())["group_leakage"]
    # rows 0..11: test on 0,3,6,9 -> ann (0), dee (3), cy (6), bob (9); every person also has train rows
    assert (g["groups"], g["groups_across_splits"], g["rows_in_cross_split_groups"]) == (5, 4, 11)
    assert g["examples"]["ann"] == ["test", "train"]
    assert "4 appear in more than one split (11 rows; identity leakage" in (tmp_path / "r" / "report.md").read_text()
    assert main(["data", "inspect", str(data), "--out", str(tmp_path / "r2"), "--group", "person"]) == 2
    assert "no column 'person' for --group" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_data_split_with_group_keeps_together_the_people_who_share_a_copy(tmp_path):
    """Two people sharing an exact copy of an image: the copy was moved to train alone, leaving
    each person on both sides (found by a review)."""
    import csv

    data = write_class_folders(tmp_path / "ds", ["a", "b"], 20)
    files = sorted(data.rglob("*.png"))
    for i in range(4, len(files), 8):  # people 1, 3, 5...: their first image is also the previous person's last
        files[i].write_bytes(files[i - 1].read_bytes())
    rows = [f"{p.relative_to(data)},{p.parent.name},person{i // 4}" for i, p in enumerate(files)]
    (data / "labels.csv").write_text("path,label,subject\n" + "\n".join(rows) + "\n")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.3", "--group", "subject", "--seed", "3"]) == 0
    placed: dict[str, set] = {}
    for row in csv.DictReader(open(tmp_path / "s" / "labels.csv")):
        placed.setdefault(row["subject"], set()).add(row["split"])
    assert all(len(v) == 1 for v in placed.values()), placed


def test_a_group_column_with_a_value_for_every_row_is_said_to_change_nothing(tmp_path, caplog):
    """`--group path` (or an image id) kept no two rows together, and nothing said so."""
    data = write_class_folders(tmp_path / "ds", ["a", "b"], 8)
    rows = [f"{p.relative_to(data)},{p.parent.name},img{i},person{i % 4}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,image_id,subject\n" + "\n".join(rows) + "\n")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--group", "image_id"]) == 0
    assert "every row has its own 'image_id' value, so each group is a single row and --group changes nothing" in caplog.text
    caplog.clear()
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s2"), "--group", "subject"]) == 0
    assert "changes nothing" not in caplog.text
