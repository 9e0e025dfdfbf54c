"""Every bad input gives a clear error naming the file/row and the fix, or is skipped and listed."""

import gzip
import os
import re

import pytest

from conftest import write_class_folders, write_fer_csv
from facesense.cli import main
from facesense.config import load_config
from facesense.data.prepare import prepare_data
from facesense.data.sources import read_dataset
from facesense.errors import DataError


def cli_error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def test_corrupt_image_names_the_file_or_is_skipped(tmp_path, capsys):
    root = write_class_folders(tmp_path / "d", ["man", "woman"], 6, colour=True)
    (root / "man" / "broken.jpg").write_bytes(b"not really a jpeg")
    err = cli_error(capsys, "train", f"data={root}", "task=gender", "epochs=1", f"runs_dir={tmp_path}/r")
    assert "broken.jpg" in err and "skip_bad" in err
    cfg = load_config(overrides={"data": str(root), "task": "gender", "skip_bad": True, "image_size": 32, "channels": 3})
    data = prepare_data(cfg)
    assert any("broken.jpg" in i for i, _ in data.skipped)
    assert sum(len(s) for s in data.splits.values()) == 12


def test_non_image_file(tmp_path, capsys):
    root = write_class_folders(tmp_path / "d", ["a", "b"], 3)
    (root / "a" / "notes.txt").write_text("hello")
    err = cli_error(capsys, "data", "inspect", str(root), "--out", str(tmp_path / "o"))
    assert "notes.txt" in err
    s = read_dataset(root, skip_bad=True)
    assert len(s) == 6 and s.skipped[0][0].endswith("notes.txt")


def test_empty_class_folder(tmp_path, capsys):
    root = write_class_folders(tmp_path / "d", ["a", "b"], 3)
    (root / "c").mkdir()
    assert "no images" in cli_error(capsys, "data", "inspect", str(root))


def test_single_class(tmp_path, capsys, caplog):
    """A classifier needs two classes, so splitting or training refuses one; the report is still
    worth its counts and duplicates (a folder of one person's photos), with a warning."""
    root = write_class_folders(tmp_path / "d", ["a"], 3)
    assert "only one class ('a'); a classifier needs at least two" in cli_error(capsys, "data", "split", str(root), "--out", str(tmp_path / "s"))
    assert main(["data", "inspect", str(root), "--out", str(tmp_path / "r")]) == 0
    assert "only one class ('a'): the report counts it and searches it for duplicates, but a classifier needs at least two to train" in caplog.text
    assert (tmp_path / "r" / "report.md").read_text().startswith(f"# Dataset report: {root}\n\n3 samples, 1 class.")
    err = cli_error(capsys, "data", "inspect", str(root), "--out", str(tmp_path / "r2"), "--leak-free", str(tmp_path / "x.csv"))
    assert err.strip().endswith("no evaluation image can repeat a training one; leave out --leak-free") and "data split" not in err  # which refuses it (found by review)


def test_csv_wrong_pixel_count_names_the_line(tmp_path, capsys):
    path = write_fer_csv(tmp_path / "f.csv", [0, 1, 2])
    lines = path.read_text().splitlines()
    lines[2] = "1," + " ".join(["7"] * 100)
    path.write_text("\n".join(lines) + "\n")
    err = cli_error(capsys, "data", "inspect", str(path))
    assert "line 3" in err and "100 pixel values" in err
    s = read_dataset(path, skip_bad=True)
    assert len(s) == 2 and "line 3" in s.skipped[0][1]


def test_csv_rows_are_named_by_their_line_in_the_file_and_a_short_first_row_is_the_odd_one(tmp_path, capsys):
    """Blank lines shifted every line number named after them, and the face size came from the
    first row: a first row cut short made every other row 'bad' (found by a bug hunt)."""
    path = write_fer_csv(tmp_path / "f.csv", [0, 1, 2, 3])
    lines = path.read_text().splitlines()
    lines[1] = "1," + " ".join(["7"] * 100)  # the first data row is the odd one
    path.write_text("\n".join(lines[:3] + ["", ""] + lines[3:]) + "\n")  # two blank lines before the 4th data row
    err = cli_error(capsys, "data", "inspect", str(path))
    assert "line 2: 100 pixel values, expected 2304 (48x48, as most rows have)" in err
    s = read_dataset(path, skip_bad=True)
    assert s.ids == ["row2", "row3", "row4"] and s.pixels.shape == (3, 48, 48) and [i for i, _ in s.skipped] == ["row1"]
    lines[4] = "9," + lines[4].split(",", 1)[1]
    path.write_text("\n".join(lines[:3] + ["", ""] + lines[3:]) + "\n")
    with pytest.raises(DataError, match=r"line 7: unknown label code 9"):  # the file's 7th line
        read_dataset(path)


def test_csv_unknown_label(tmp_path):
    path = write_fer_csv(tmp_path / "f.csv", [0, 1, 9])
    with pytest.raises(DataError, match=r"line 4: unknown label code 9"):
        read_dataset(path)


def test_csv_missing_column(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("emotion,pix\n0,1 2 3\n")
    with pytest.raises(DataError, match="f.csv.*header"):
        read_dataset(path)
    with gzip.open(tmp_path / "m.csv.gz", "wt") as f:
        f.write("path,lbl\nx.png,a\n")
    with pytest.raises(DataError, match="missing column 'label'"):
        read_dataset(tmp_path / "m.csv.gz")


def test_manifest_unreadable_path(tmp_path, capsys):
    root = write_class_folders(tmp_path / "d" / "images", ["a", "b"], 2)
    rows = ["path,label"] + [f"{p.relative_to(tmp_path / 'd')},{p.parent.name}" for p in sorted(root.rglob("*.png"))]
    rows.append("images/a/missing.png,a")
    (tmp_path / "d" / "labels.csv").write_text("\n".join(rows) + "\n")
    err = cli_error(capsys, "data", "inspect", str(tmp_path / "d"))
    assert "missing.png" in err and "line 6" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied(tmp_path):
    root = write_class_folders(tmp_path / "d", ["a", "b"], 2)
    target = root / "a" / "a_0.png"
    target.chmod(0)
    with pytest.raises(DataError, match="permission"):
        prepare_data(load_config(overrides={"data": str(root), "task": "custom"}))


def test_missing_dataset_and_model(tmp_path, capsys):
    assert "does not exist" in cli_error(capsys, "data", "inspect", str(tmp_path / "nope"))
    assert "not found" in cli_error(capsys, "predict", str(tmp_path / "nope.pt"), str(tmp_path))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    (tmp_path / "data").mkdir()
    assert "not a readable checkpoint" in cli_error(capsys, "evaluate", str(bad), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"))
    # the folder above a run, and a run's config file given as the model, point to the run (found by a bug hunt)
    run = tmp_path / "runs" / "x-1"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"garbage")
    (run / "config.yaml").write_text("task: gender\n")
    assert f"(it holds {run}: give one of them)" in cli_error(capsys, "predict", str(tmp_path / "runs"), str(tmp_path))
    assert f"give the run folder {run} (or its best.pt)" in cli_error(capsys, "predict", str(run / "config.yaml"), str(tmp_path))
    (run / "last.pt").write_bytes(b"garbage too")  # a damaged best.pt: the folder would give it again, so last.pt is named
    assert f"the run's last.pt may be whole: give {run / 'last.pt'}" in cli_error(capsys, "predict", str(run), str(tmp_path))


def test_unknown_classes_for_task(tmp_path, capsys):
    root = write_class_folders(tmp_path / "d", ["cat", "dog"], 3)
    err = cli_error(capsys, "train", f"data={root}", "task=gender", f"runs_dir={tmp_path}/r")
    assert "cat" in err and "label_map" in err


def test_csv_non_numeric_pixels(tmp_path):
    path = write_fer_csv(tmp_path / "f.csv", [0, 1])
    lines = path.read_text().splitlines()
    lines[1] = "0," + " ".join(["7"] * 2303 + ["x"])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 2"):
        read_dataset(path)


@pytest.mark.parametrize("option,value,match", [("--smoothing", "0", "argument --smoothing: 0: must be > 0"), ("--age-smoothing", "1.5", "argument --age-smoothing: 1.5: must be <= 1"), ("--detect-every", "0", "argument --detect-every: 0: must be"),
                                                  ("--hold-frames", "2.5", "argument --hold-frames: '2.5': not a whole number; give one >= 0 and <= 10"), ("--margin", "-0.5", "argument --margin: -0.5: must be"), ("--gender-age-per-frame", "-3", "argument --gender-age-per-frame: -3: must be >= 0")])
def test_live_settings_out_of_range_are_refused_before_anything_runs(tmp_path, capsys, option, value, match):
    # smoothing 0 used to freeze each track's first label for good; detect-every 0 divided by zero
    err = cli_error(capsys, "live", "--source", str(tmp_path / "missing.mp4"), "--no-window", option, value)
    assert re.search(match, err), err
    # worded as argparse words the other flags' range errors, with the same pointer to help
    assert err.strip().endswith("(see `facesense live --help`)"), err


@pytest.mark.parametrize("argv,match", [
    (["live", "--source", "x.mp4", "--stall-timeout", "-1"], "argument --stall-timeout: -1: must be > 0"),
    (["live", "--source", "x.mp4", "--stall-timeout", "abc"], "argument --stall-timeout: 'abc': not a number; give one > 0"),
    (["live", "--source", "x.mp4", "--stride", "2.5"], "argument --stride: '2.5': not a whole number; give one >= 1"),  # argparse named no range (found by a docs audit)
    (["live", "--source", "x.mp4", "--margin", "-0.1"], "argument --margin: -0.1: must be >= 0"),
    (["live", "--source", "x.mp4", "--stride", "0"], "argument --stride: 0: must be >= 1"),
    (["live", "--source", "x.mp4", "--cut-threshold", "300"], "argument --cut-threshold: 300: must be <= 255"),  # a grey-level change
    (["serve", "--port", "-5"], "argument --port: -5: must be >= 0"),  # was a bind() OverflowError traceback
    (["serve", "--port", "70000"], "argument --port: 70000: must be <= 65535"),
    (["serve", "--workers", "0"], "argument --workers: 0: must be >= 1"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["live", "--source", "x.mp4", "--stall-timeout", "nan"], "argument --stall-timeout: nan: must be a finite number"),
    (["serve", "--max-upload-mb", "inf"], "argument --max-upload-mb: inf: must be a finite number"),  # int(inf) overflowed per upload
    (["export", "gender", "--int8", "--calibration", "d", "--calibration-samples", "0"], "argument --calibration-samples: 0: must be >= 1"),
    (["data", "split", "d", "--out", "o", "--seed", "-1"], "argument --seed: -1: must be >= 0"),
    (["data", "split", "d", "--out", "o", "--test-size", "2"], "argument --test-size: 2: must be < 1"),
    (["data", "split", "d", "--out", "o", "--test-size", "0.6", "--val-size", "0.5"], "--test-size 0.6 and --val-size 0.5 hold out 1.1 of the data"),  # named as typed, before the data is read
    (["data", "inspect", "d", "--near-threshold", "-3"], "argument --near-threshold: -3: must be >= 0"),
    (["data", "inspect", "d", "--near-threshold", "32"], "argument --near-threshold: 32: must be <= 16"),  # chains of near pairs made 3,600 faces one group
    (["live", "--source", "x.mp4", "--device", "gpu"], "argument --device: invalid choice 'gpu'; did you mean 'cuda'?"),  # it offered 'cpu' (found by a bug hunt)
    (["evaluate", "gender", "--data", "d", "--group-by", "race", "--group-by", "age"], "argument --group-by: given twice (race, age); it takes one value"),  # age alone was reported
    (["data", "split", "d", "--out", "o", "--stratify", "race,"], "argument --stratify: 'race,': name each column, separated by commas (race,age)"),
    # an option the sub-command lacks points to that sub-command's help, not the top level's
    (["live", "--source", "x.mp4", "--bogus", "1"], "unrecognized arguments: --bogus 1 (see `facesense live --help`)"),
    (["data", "inspect", "d", "--bogus"], "unrecognized arguments: --bogus (see `facesense data inspect --help`)"),
    (["live", "clip.mp4", "--no-window"], "unrecognized arguments: clip.mp4; give the video, folder or camera as --source clip.mp4"),  # as `predict` takes its input
    # with --source given, a word left over is no source to give: it was told to give `b.csv` as --source
    (["live", "--source", "x.mp4", "--log", "a.csv", "b.csv"], "unrecognized arguments: b.csv (see `facesense live --help`)"),
    (["live", "--source", "x.mp4", "--no-widow"], "unrecognized arguments: --no-widow; did you mean --no-window?"),  # a misspelt option, named as misspelt commands are
])
def test_a_bad_option_is_one_line_naming_the_option(capsys, argv, match):
    err = cli_error(capsys, *argv)
    assert match in err and err.count("\n") == 1 and "usage:" not in err, err


def test_help_still_shows_the_usage(capsys):
    assert main(["live", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: facesense live")


def test_every_option_of_every_command_says_what_it_does():
    """--help is where a user looks first: `data split --out OUT` and `--seed SEED` said nothing,
    not even that the seed is 0 unless given (found by a docs audit)."""
    import argparse

    from facesense.cli import build_parser

    silent = []

    def walk(parser, command):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{command} {name}")
            elif action.help is None and action.dest != "help":
                silent.append(f"{command} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "facesense")
    assert not silent, silent


def test_the_face_detector_is_not_offered_as_a_classifier(tmp_path, capsys):
    data = str(write_class_folders(tmp_path / "g", ["man", "woman"], 2, colour=True))
    err = cli_error(capsys, "evaluate", "no-such-model", "--data", data)
    assert "gender_age" in err and "centerface" not in err, err
    err = cli_error(capsys, "evaluate", "centerface", "--data", data)  # was "ONNX file has no facesense metadata"
    assert "centerface is the face detector" in err and "--detector centerface" in err, err
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    classifiers, detector = listing.split("Shipped face detector")
    assert "centerface" not in classifiers and "centerface" in detector.split("Architectures")[0]


def test_a_model_in_the_wrong_place_names_the_option_and_a_way_that_works(tmp_path, capsys):
    """`--age GENDER.onnx` said only "GENDER.onnx: not a gender+age model"; another tool's ONNX
    file was sent to `facesense export`, which refuses ONNX files."""
    from facesense.runtime.assets import shipped_model_path
    from facesense.stream.demo import make_demo_clip

    clip = str(make_demo_clip(tmp_path / "clip.mp4", frames=2))
    gender = str(shipped_model_path("gender", ".int8.onnx"))
    err = cli_error(capsys, "live", "--source", clip, "--no-window", "--age", gender)
    assert err.startswith(f"error: --age {gender}: not a gender+age network (its task is gender); give one trained with task: gender_age"), err
    # a model not found, or of another kind, named the model but not the option that gave it
    assert cli_error(capsys, "live", "--source", clip, "--no-window", "--gender", "gint-1").startswith("error: --gender gint-1: not found; give an .onnx file")
    assert cli_error(capsys, "live", "--source", clip, "--no-window", "--expression", "gint-1").startswith("error: --expression gint-1: not found")
    detector = str(shipped_model_path("centerface", ".onnx"))
    err = cli_error(capsys, "live", "--source", clip, "--no-window", "--expression", detector)
    assert "without facesense's metadata" in err and "model: onnx_graph" in err and "export it" not in err, err


def test_a_detector_model_file_of_another_kind_is_one_line(tmp_path, capsys):
    """Another network given as --detector-model failed on the first frame with a traceback
    (ONNX Runtime's or OpenCV's), a missing one said "reinstall facesense", and one given with a
    Haar detector was ignored (found by a bug hunt)."""
    from facesense.runtime.assets import shipped_model_path

    photo = tmp_path / "p.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(photo), np.full((64, 64, 3), 90, np.uint8))
    other = shipped_model_path("gender", ".int8.onnx")
    assert "not a CenterFace model" in cli_error(capsys, "predict", "expression", str(photo), "--detector-model", str(other))
    assert "not a usable YuNet model" in cli_error(capsys, "predict", "expression", str(photo), "--detector", "yunet", "--detector-model", str(shipped_model_path("centerface", ".onnx")))
    err = cli_error(capsys, "predict", "expression", str(photo), "--detector-model", str(tmp_path / "none.onnx"))
    assert "not found" in err and "--detector yunet" in err and "reinstall" not in err
    assert "(--detector-model, detector_model=): is for the centerface or yunet detector" in cli_error(capsys, "live", "--source", str(photo), "--no-window", "--detector", "haar", "--detector-model", str(other))
    assert "detect width 10 (--detect-width, detect_width=): too small to find faces in" in cli_error(capsys, "live", "--source", str(photo), "--no-window", "--detect-width", "10")


@pytest.mark.parametrize("argv, named", [
    (["live", "--source", "clip.mp4", "--no-window", "--out", "a.mp4", "--log", ""], "--log is empty"),
    (["live", "--source", "clip.mp4", "--no-window", "--summary="], "--summary is empty"),
    (["demo", "--out", ""], "--out is empty"),
    (["data", "inspect", "faces", "--out", ""], "--out is empty"),  # a nested command's options too (found by review)
    (["data", "inspect", ""], "an argument (dataset) is empty"),
    (["predict", "expression", ""], "an argument (inputs) is empty"),
    (["predict", "expression", "--skip-bad", ""], "an argument (inputs) is empty"),
])
def test_an_empty_value_is_refused_not_taken_as_off(tmp_path, capsys, monkeypatch, argv, named):
    """`--log "$LOG"` with the variable unset wrote no log without a word; `demo --out ""`
    wrote into the working folder (found by a bug hunt)."""
    monkeypatch.chdir(tmp_path)
    assert named in cli_error(capsys, *argv) and not list(tmp_path.iterdir())


def test_a_model_argument_that_is_an_image_or_the_age_name_says_so(tmp_path, capsys):
    """`predict photo.jpg expression` said "not a readable checkpoint (UnpicklingError...)",
    `--gender age` said "model age not found; did you mean age?", and `predict expression`
    without photos suggested `facesense predict expression expression` (found by a bug hunt)."""
    import cv2
    import numpy as np

    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), np.full((64, 64, 3), 90, np.uint8))
    assert "is an image, not a model" in cli_error(capsys, "predict", str(photo), "expression")
    assert "is an image, not a model" in cli_error(capsys, "live", "--source", str(photo), "--no-window", "--expression", str(photo))
    assert "--gender age: estimates ages, not classes; use it as an age model (--age age)" in cli_error(capsys, "live", "--source", str(photo), "--no-window", "--gender", "age")
    assert "facesense predict expression photo.jpg" in cli_error(capsys, "predict", "expression")


def test_a_fer_csv_emotion_cell_that_is_no_code_is_named(tmp_path, capsys):
    """A blank or named emotion cell said "invalid literal for int() with base 10: ''" (found by a bug hunt)."""
    data = tmp_path / "fer.csv"
    data.write_text("emotion,pixels,Usage\nhappy,1 2 3 4,Training\n")
    assert "line 2: emotion 'happy' is a class name; a FER2013-style csv gives label codes (0 angry, 1 disgust" in cli_error(capsys, "data", "inspect", str(data), "--out", str(tmp_path / "o"))
    data.write_text("emotion,pixels,Usage\n,1 2 3 4,Training\n")
    assert "line 2: emotion '' is not a label code (expected a number 0..6)" in cli_error(capsys, "data", "inspect", str(data), "--out", str(tmp_path / "o"))


def test_data_inspects_default_folder_keeps_a_folders_dots(tmp_path, monkeypatch, capsys):
    """faces.v1 and faces.v2 both wrote inspect-faces, the second replacing the first (found by a bug hunt)."""
    for name in ("faces.v1", "faces.v2"):
        write_class_folders(tmp_path / name, ["man", "woman"], 3)
    monkeypatch.chdir(tmp_path)
    for name in ("faces.v1", "faces.v2"):
        assert main(["data", "inspect", name, "--no-duplicates"]) == 0
    assert (tmp_path / "inspect-faces.v1").is_dir() and (tmp_path / "inspect-faces.v2").is_dir()


def test_data_inspect_with_no_readable_image_is_a_failure(tmp_path, capsys):
    """Every image unreadable: data inspect --skip-bad wrote a report of 4 samples with a 50%
    baseline and exited 0 (found by a bug hunt)."""
    for c in ("man", "woman"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for name in ("a.png", "b.png"):
            (tmp_path / "d" / c / name).write_text("junk")
    for extra in ([], ["--skip-bad"]):
        assert "none of its 4 images could be read" in cli_error(capsys, "data", "inspect", str(tmp_path / "d"), "--out", str(tmp_path / "o"), *extra)
    assert not (tmp_path / "o").exists()


def test_data_split_refuses_a_full_out_before_reading_the_data(tmp_path, capsys):
    """A full --out was refused only after the whole dataset was read (7 s of FER2013; found by
    a bug hunt): said first, even of data that would fail to read."""
    (tmp_path / "bad.csv").write_text("emotion,pixels,Usage\nhappy,1 2 3 4,Training\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("x")
    assert "exists and is not empty; choose a new --out folder" in cli_error(capsys, "data", "split", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "out"))


def test_an_evaluation_is_not_written_into_a_training_run(tmp_path, capsys, folders3):
    """`evaluate --out RUN/eval_val` replaced the report the run's training wrote, and compare
    then showed another model's figures as the run's; `--out` naming a file was said only after
    the whole evaluation had run (found by a bug hunt)."""
    import json

    from facesense.experiment import train
    from test_alignment_and_resume import small_config

    run = train(small_config(folders3, tmp_path / "runs", epochs=1), progress=False)
    report = (run.eval_dir("val") / "metrics.json").read_text()
    for out in (run.eval_dir("val"), run.root):
        err = cli_error(capsys, "evaluate", str(run.root), "--data", str(folders3), "--out", str(out))
        assert f"is the training run {run.root} or one of its own reports" in err
    # a folder of its own inside the run is fine, and so is one below a folder that merely
    # holds a config.yaml and a checkpoint (a project's root; found by review)
    assert main(["evaluate", str(run.root), "--data", str(folders3), "--out", str(run.root / "eval_again")]) == 0
    (tmp_path / "config.yaml").write_text("model: resnet_fer_small\n")
    (tmp_path / "best.pt").write_bytes(run.best_checkpoint.read_bytes())
    assert main(["evaluate", str(run.root), "--data", str(folders3), "--out", str(tmp_path / "eval" / "mine")]) == 0
    assert (run.eval_dir("val") / "metrics.json").read_text() == report
    (tmp_path / "notes.txt").write_text("mine")
    err = cli_error(capsys, "evaluate", str(run.root), "--data", str(folders3), "--out", str(tmp_path / "notes.txt"))
    assert "is a file" in err and "note" not in err.split("error:")[0]
    assert main(["evaluate", str(run.root), "--data", str(folders3), "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n"] == 48


def test_a_custom_tasks_own_classes_list_is_named_as_the_fix(tmp_path, capsys):
    """task=custom with a classes list the data does not match was told to 'use task: custom'
    (found by a bug hunt): the fix is that list, or a label map."""
    data = write_class_folders(tmp_path / "d", ["adult_m", "adult_w"], 4)
    err = cli_error(capsys, "train", "task=custom", f"data={data}", "model=resnet_fer_small", "epochs=1", f"runs_dir={tmp_path / 'runs'}", "classes=[adult_w,adult_x]")
    assert "labels ['adult_m'] are not classes of this task ['adult_w', 'adult_x']" in err and "the config's `classes` list" in err and "use `task: custom`" not in err


def test_a_dataset_csv_given_to_predict_and_a_run_folder_given_as_data_are_named(tmp_path, capsys):
    """`predict MODEL labels.csv` called the csv an unreadable image, and `evaluate --data RUN`
    read the run's reports as images of classes (found by a bug hunt)."""
    (tmp_path / "labels.csv").write_text("path,label\na.png,happy\n")
    err = cli_error(capsys, "predict", "expression", str(tmp_path / "labels.csv"))
    assert "a csv, not a photo" in err and f"facesense evaluate MODEL --data {tmp_path / 'labels.csv'}" in err
    run = tmp_path / "run"
    (run / "eval_val").mkdir(parents=True)
    (run / "config.yaml").write_text("task: expression\n")
    (run / "best.pt").write_bytes(b"")
    (run / "eval_val" / "metrics.json").write_text("{}")
    for command in (["evaluate", "expression", "--data", str(run), "--out", str(tmp_path / "e")], ["data", "inspect", str(run), "--out", str(tmp_path / "i")]):
        assert f"{run}: a training run's folder, not a dataset" in cli_error(capsys, *command)


def test_a_file_whose_name_starts_with_a_dash_is_said_to_need_a_double_dash(tmp_path, capsys, monkeypatch):
    """`predict gender -dash.jpg` said "predict takes a model, then images" (found by a bug hunt)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-dash.jpg").write_bytes(b"")
    err = cli_error(capsys, "predict", "gender", "-dash.jpg")
    assert "-dash.jpg: a file whose name starts with '-' reads as an option; put `--` before it" in err
