"""Datasets as researchers make them: repeated rows, split cells with typos or left blank, a
class too small for a stratified hold-out, a bad row in a split that is not being scored."""

import json
import logging

import numpy as np
import pytest

from conftest import write_class_folders, write_fer_csv
from facesense.cli import main
from facesense.data.sources import read_dataset
from facesense.data.split import assign_splits
from facesense.errors import DataError


def manifest(root, rows, header="path,label"):
    (root / "labels.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return root / "labels.csv"


def test_a_repeated_row_is_one_image_not_one_on_each_side_of_a_split(tmp_path, caplog):
    """Five rows repeated put the same images in train and val: the run scored images it had
    trained on, and evaluate then said the data differed from the training data."""
    write_class_folders(tmp_path, ["man", "woman"], 10)
    rows = [f"{c}/{c}_{j}.png,{c}" for c in ("man", "woman") for j in range(10)]
    samples = read_dataset(manifest(tmp_path, rows + rows[:5] + ["./man/man_6.png,man"]))
    assert len(samples) == 20 and "6 row(s) repeat an earlier row's image" in caplog.text
    splits = assign_splits(samples, val_size=0.3)
    ids = {name: {samples.ids[i] for i in idx} for name, idx in splits.items()}
    assert not ids["train"] & ids["val"]
    with pytest.raises(DataError, match=r"man/man_0.png is labelled 'woman' here and 'man' on line 2"):
        read_dataset(manifest(tmp_path, rows + ["man/man_0.png,woman"]))
    # the same image by its absolute path, with another label (found by a bug hunt: trained and validated on it)
    with pytest.raises(DataError, match=r"man_0.png is labelled 'woman' here and 'man' on line 2"):
        read_dataset(manifest(tmp_path, rows + [f"{tmp_path / 'man' / 'man_0.png'},woman"]))
    # a repeat whose group column disagrees says which value is kept (found by the group-report hunt)
    caplog.clear()
    raced = [f"{r},{'White' if i % 2 else 'Black'}" for i, r in enumerate(rows)]
    samples = read_dataset(manifest(tmp_path, raced + ["man/man_1.png,man,Black"], header="path,label,race"))
    assert samples.columns["race"][1] == "White" and "line 22 gives race 'Black' where line 3 gave 'White'" in caplog.text
    # an age is a target (gender+age training, age evaluation): one image with two ages is two labels (found by a bug hunt)
    aged = [f"{r},{20 + i}" for i, r in enumerate(rows)]
    with pytest.raises(DataError, match=r"man/man_0.png is given age '60' here and '20' on line 2"):
        read_dataset(manifest(tmp_path, aged + ["man/man_0.png,man,60"], header="path,label,age"))
    samples = read_dataset(manifest(tmp_path, aged + ["man/man_0.png,man,60"], header="path,label,age"), skip_bad=True)
    assert "man/man_0.png" not in samples.ids and len(samples) == 19  # which age is right is unknown: neither row is kept
    assert len(read_dataset(manifest(tmp_path, aged + ["man/man_0.png,man,20.0"], header="path,label,age"))) == 20  # one age written two ways
    blank_first = [f"{r},{'' if i == 0 else 20 + i}" for i, r in enumerate(rows)]  # a blank age says none: the filled row's is kept (found by review)
    samples = read_dataset(manifest(tmp_path, blank_first + ["man/man_0.png,man,33"], header="path,label,age"))
    assert len(samples) == 20 and samples.columns["age"][0] == "33"
    with pytest.raises(DataError, match=r"given age '30' here and '33' on line 22"):  # the line the kept age came from
        read_dataset(manifest(tmp_path, blank_first + ["man/man_0.png,man,33", "man/man_0.png,man,30"], header="path,label,age"))


def test_a_windows_path_is_named_as_such(tmp_path):
    write_class_folders(tmp_path, ["man", "woman"], 2)
    with pytest.raises(DataError, match=r"written with /; this one has \\"):
        read_dataset(manifest(tmp_path, ["man\\man_0.png,man", "woman/woman_0.png,woman"]))


def test_rows_that_no_split_takes_are_named(tmp_path, caplog):
    """Blank split cells and a typo ('tset') dropped 12-26% of the rows without a word."""
    write_class_folders(tmp_path, ["man", "woman"], 10)
    rows = [f"{c}/{c}_{j}.png,{c},{['train', 'train', 'train', 'val', 'tset', ''][j % 6]}" for c in ("man", "woman") for j in range(10)]
    samples = read_dataset(manifest(tmp_path, rows, "path,label,split"))
    with caplog.at_level(logging.WARNING):
        splits = assign_splits(samples)
    assert len(splits["test"]) == 0
    assert "4 row(s) belong to no split and are left out (a blank split: 2, 'tset': 2)" in caplog.text


def test_a_split_named_two_ways_and_odd_cells_are_named_by_train_and_data_inspect(tmp_path, caplog, capsys, monkeypatch):
    """A 'validation' row beside 'val' rows was left out without a word, and data inspect named
    no blank or unknown split cell; its default folder for any labels.csv was ./inspect-labels
    (found by a bug hunt)."""
    from facesense.cli import main

    write_class_folders(tmp_path, ["man", "woman"], 10)
    cells = ["train"] * 6 + ["val", "val", "validation", "holdout"]
    rows = [f"{c}/{c}_{j}.png,{c},{cells[j]}" for c in ("man", "woman") for j in range(10)]
    path = manifest(tmp_path, rows, "path,label,split")
    with caplog.at_level(logging.WARNING):
        assign_splits(read_dataset(path))
    assert "'validation' (the data also calls that split 'val': write one name): 2" in caplog.text and "'holdout': 2" in caplog.text
    caplog.clear()
    monkeypatch.chdir(tmp_path)
    assert main(["data", "inspect", str(path), "--no-duplicates"]) == 0
    assert "2 row(s) have a blank split cell or one that names no known split ('holdout': 2)" in caplog.text
    assert (tmp_path / f"inspect-{tmp_path.name}" / "report.md").is_file()


def test_a_known_split_left_out_on_purpose_stays_quiet(tmp_path, caplog):
    fer = write_fer_csv(tmp_path / "fer.csv", [i % 2 for i in range(12)], ["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2)
    with caplog.at_level(logging.WARNING):
        assign_splits(read_dataset(fer), train_split="Training", val_split="PublicTest", test_split=None)
    assert "belong to no split" not in caplog.text


def test_every_class_of_two_or_more_reaches_both_sides_of_a_hold_out(tmp_path):
    """2 'man' images of 41, val_size 0.2: scikit-learn held out no man, and the run reported
    macro-F1 1.0 on a validation set of one class."""
    write_class_folders(tmp_path / "man", ["man"], 2)
    write_class_folders(tmp_path / "woman", ["woman"], 39)
    rows = [f"man/man/man_{j}.png,man" for j in range(2)] + [f"woman/woman/woman_{j}.png,woman" for j in range(39)]
    samples = read_dataset(manifest(tmp_path, rows))
    splits = assign_splits(samples, val_size=0.2, seed=0)
    for side in ("train", "val"):
        assert {samples.labels[i] for i in splits[side]} == {"man", "woman"}
    assert sorted(np.concatenate([splits["train"], splits["val"]]).tolist()) == list(range(41))
    again = assign_splits(samples, val_size=0.2, seed=0)
    assert all(np.array_equal(splits[k], again[k]) for k in splits)


def test_evaluate_counts_and_checks_only_the_split_it_scores(tmp_path, capsys):
    """A bad row among the training rows stopped the evaluation of PublicTest, `skipped`
    counted it, and `dropped_by_label_map` counted the training rows' drops too (86 scored +
    67 dropped of 100 PublicTest rows)."""
    fer = write_fer_csv(tmp_path / "fer.csv", [i % 7 for i in range(42)], ["Training"] * 28 + ["PublicTest"] * 14)
    lines = fer.read_text().splitlines()
    code, pixels, usage = lines[3].split(",")
    lines[3] = f"{code},abc {pixels},{usage}"  # a Training row
    fer.write_text("\n".join(lines) + "\n")
    (tmp_path / "map.yaml").write_text("disgust: null\nfear: null\n")
    out = tmp_path / "eval"
    assert main(["evaluate", "expression", "--data", str(fer), "--split", "PublicTest", "--label-map", str(tmp_path / "map.yaml"), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["n"], metrics["dropped_by_label_map"], metrics["skipped"]) == (10, 4, 0)
    assert main(["evaluate", "expression", "--data", str(fer), "--split", "Training", "--out", str(tmp_path / "e2")]) == 2
    assert "line 4: pixel value 'abc' is not a whole number" in capsys.readouterr().err


def test_evaluate_is_not_refused_for_a_label_only_another_split_holds(tmp_path, capsys):
    """contempt among the training rows only (FER+ or AffectNet style) refused --split test, whose
    rows are all expression classes (found by a bug hunt); scoring every row still names it."""
    write_class_folders(tmp_path / "img", ["happy", "sad"], 3)
    rows = ["path,label,split", "img/happy/happy_0.png,contempt,train", "img/sad/sad_0.png,sad,train",
            "img/happy/happy_1.png,happy,test", "img/sad/sad_1.png,sad,test", "img/happy/happy_2.png,happy,test"]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["evaluate", "expression", "--data", str(tmp_path / "labels.csv"), "--split", "test", "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 3
    capsys.readouterr()
    assert main(["evaluate", "expression", "--data", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "e_all")]) == 2
    assert "['contempt'] are not classes of this task" in capsys.readouterr().err


def test_train_takes_overrides_after_an_option_and_names_the_working_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text("task: expression\nmodel: emotion_model_3\ndata: data/missing\n")
    assert main(["train", "cfg.yaml", "-q", "epochs=0"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
    assert main(["train", "cfg.yaml"]) == 2
    assert f"relative paths are taken from the working folder, {tmp_path}" in capsys.readouterr().err


def test_one_image_in_two_splits_is_refused_and_skip_bad_keeps_neither_row(tmp_path):
    write_class_folders(tmp_path, ["man", "woman"], 3)
    rows = [f"{c}/{c}_{j}.png,{c},train" for c in ("man", "woman") for j in range(3)]
    with pytest.raises(DataError, match=r"man/man_0.png is in split 'test' here and 'train' on line 2"):
        read_dataset(manifest(tmp_path, rows + ["man/man_0.png,man,test"], "path,label,split"))
    samples = read_dataset(manifest(tmp_path, rows + ["man/man_0.png,woman,train"], "path,label,split"), skip_bad=True)
    assert "man/man_0.png" not in samples.ids and len(samples) == 5
    assert [i for i, _ in samples.skipped] == ["man/man_0.png", "man/man_0.png"]


def test_a_run_made_before_the_both_sides_rule_gets_its_split_back(tmp_path):
    """evaluate recomputes a run's split from its config: a run made before the rule that moves
    a sample to each side must get the split it trained with, not one holding its training images."""
    from facesense.data.split import trained_split_settings

    labels = ["man"] * 2 + ["woman"] * 39
    samples = read_dataset(manifest(write_class_folders(tmp_path, ["man", "woman"], 39), [f"man/man_{j}.png,man" for j in range(2)] + [f"woman/woman_{j}.png,woman" for j in range(39)]))
    assert samples.labels == labels
    old = assign_splits(samples, **trained_split_settings({"val_size": 0.2, "seed": 0}))
    new = assign_splits(samples, **trained_split_settings({"val_size": 0.2, "seed": 0, "split_rule": 2}))
    assert "man" not in {samples.labels[i] for i in old["val"]}  # as such runs were made
    assert "man" in {samples.labels[i] for i in new["val"]}


def test_a_saved_config_without_split_rule_resumes_under_rule_1():
    from facesense.config import Config, config_from_dict
    from facesense.data.split import SPLIT_RULE

    assert config_from_dict({"seed": 3}).split_rule == 1
    assert config_from_dict({"seed": 3, "split_rule": 2}).split_rule == 2
    # the config's default (what a new run records) is the rule the split code draws new runs with
    assert Config().split_rule == SPLIT_RULE == config_from_dict({"split_rule": SPLIT_RULE}).split_rule


def test_split_cells_naming_one_split_are_one_split(tmp_path):
    write_class_folders(tmp_path, ["man", "woman"], 3)
    rows = [f"{c}/{c}_{j}.png,{c},train" for c in ("man", "woman") for j in range(3)]
    samples = read_dataset(manifest(tmp_path, rows + ["man/man_0.png,man,Train", "woman/woman_1.png,woman,training"], "path,label,split"))
    assert len(samples) == 6


def test_compare_writes_apart_from_runs_and_their_datasets(tmp_path, capsys):
    """compare --out inside a class folder put its CSV and plots among the images, and the
    dataset was refused from then on; inside a run folder it mixed with the run's files."""
    data = write_class_folders(tmp_path / "faces", ["man", "woman"], 4)
    run = tmp_path / "runs" / "gender" / "a-1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"data: {data}\n")
    assert main(["compare", str(run), "--out", str(data / "man" / "cmp")]) == 2
    assert main(["compare", str(run), "--out", str(run / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "is inside the dataset folder" in err and "is inside the run folder" in err
    assert not (data / "man" / "cmp").exists() and not (run / "cmp").exists()


def test_study_overrides_are_checked_with_the_study_file(tmp_path, capsys):
    (tmp_path / "cfg.yaml").write_text("task: gender\n")
    for overrides, said in (("lrr: 0.1", "overrides: unknown config key 'lrr'"), ("runs_dir: elsewhere", "overrides ['runs_dir'] are set by the study itself")):
        (tmp_path / "s.yaml").write_text(f"configs: [cfg.yaml]\nseeds: [0, 1, 2]\noverrides:\n  {overrides}\n")
        assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")]) == 2
        assert f"{tmp_path / 's.yaml'}: {said}" in capsys.readouterr().err


def test_study_overrides_that_need_the_configs_other_keys_are_not_refused_alone(tmp_path):
    """Checking the overrides on a default config refused valid ones: min_lr below a config's
    own lr, monitor=val_age_mae for a gender_age config."""
    from facesense.study import load_study

    (tmp_path / "cfg.yaml").write_text("task: gender_age\nlr: 0.0001\n")
    (tmp_path / "s.yaml").write_text("configs: [cfg.yaml]\nseeds: [0, 1, 2]\noverrides:\n  monitor: val_age_mae\n  min_lr: 0.00001\n")
    assert load_study(tmp_path / "s.yaml").overrides == {"monitor": "val_age_mae", "min_lr": 0.00001}


def test_a_dataset_split_named_as_validation_that_the_data_lacks_is_refused(tmp_path):
    """val_split=PrivateTest on a file with Training and PublicTest only carved a random val out
    of Training and left PublicTest unused, exit 0 (found by a bug hunt); the generic name 'val'
    still carves val_size from training where the data has no such split."""
    fer = write_fer_csv(tmp_path / "fer.csv", [i % 2 for i in range(12)], ["Training"] * 10 + ["PublicTest"] * 2)
    with pytest.raises(DataError, match=r"no split named 'PrivateTest'; the data has \['PublicTest', 'Training'\]"):
        assign_splits(read_dataset(fer), train_split="Training", val_split="PrivateTest", test_split=None)
    two = write_fer_csv(tmp_path / "two.csv", [i % 2 for i in range(12)], ["Training"] * 10 + ["PrivateTest"] * 2)
    splits = assign_splits(read_dataset(two), train_split="Training", val_split="val", test_split="PrivateTest", val_size=0.2)
    assert len(splits["val"]) == 2 and len(splits["test"]) == 2


def test_a_test_split_the_data_lacks_is_refused(tmp_path):
    """test_split=PrivTest (a typo) on a file with PrivateTest trained and exited 0 with no test
    split, its rows left out without a word (found by a bug hunt); the generic name 'test'
    absent from the data still means no test split (or test_size's hold-out)."""
    fer = write_fer_csv(tmp_path / "fer.csv", [i % 2 for i in range(16)], ["Training"] * 10 + ["PublicTest"] * 3 + ["PrivateTest"] * 3)
    with pytest.raises(DataError, match=r"no split named 'PrivTest'; the data has \['PrivateTest', 'PublicTest', 'Training'\] \(set test_split"):
        assign_splits(read_dataset(fer), train_split="Training", val_split="PublicTest", test_split="PrivTest")
    two = write_fer_csv(tmp_path / "two.csv", [i % 2 for i in range(12)], ["Training"] * 10 + ["PublicTest"] * 2)
    assert len(assign_splits(read_dataset(two), train_split="Training", val_split="PublicTest", test_split="test")["test"]) == 0
    assert len(assign_splits(read_dataset(two), train_split="Training", val_split="PublicTest", test_split="test", test_size=0.2)["test"]) == 2


def test_inspect_says_nothing_of_a_column_of_the_datas_own_split_names(tmp_path, caplog, monkeypatch):
    """image_sentiment's partition1-5 are folds its config names (train_split: null trains on the
    rest): data inspect warned that train leaves all 603 rows out (found by a bug hunt)."""
    from facesense.cli import main

    write_class_folders(tmp_path, ["man", "woman"], 10)
    rows = [f"{c}/{c}_{j}.png,{c},partition{j % 3 + 1}" for c in ("man", "woman") for j in range(10)]
    path = manifest(tmp_path, rows, "path,label,partition")
    assert main(["data", "inspect", str(path), "--no-duplicates", "--out", str(tmp_path / "r")]) == 0
    assert "names no known split" not in caplog.text


def test_data_inspect_counts_split_spellings_as_train_reads_them(tmp_path, capsys, caplog):
    """A 'Train' row beside 'train' rows was a split of its own in data inspect, whose naive
    baseline came from that one row; 'Training' beside 'train' was not said, though train
    leaves one name's rows out (found by a bug hunt)."""
    write_class_folders(tmp_path, ["man", "woman"], 10)
    rows = [f"{c}/{c}_{j}.png,{c},{'val' if j >= 7 else 'train'}" for c in ("man", "woman") for j in range(10)]
    rows[0] = rows[0].replace(",train", ",Train")
    manifest(tmp_path, rows, "path,label,split")
    assert main(["data", "inspect", str(tmp_path), "--out", str(tmp_path.parent / "ins"), "--no-duplicates"]) == 0
    report = json.loads((tmp_path.parent / "ins" / "summary.json").read_text())
    assert sorted(report["counts"]) == ["train", "val"] and "split cells 'Train' and 'train' are one split to train" in caplog.text
    assert report["naive_baseline"]["from_split"] == "train" and report["counts"]["train"] == {"man": 7, "woman": 7}
    rows[1] = rows[1].replace(",train", ",Training")
    manifest(tmp_path, rows, "path,label,split")
    assert main(["data", "inspect", str(tmp_path), "--out", str(tmp_path.parent / "ins2"), "--no-duplicates"]) == 0
    assert "the data names one split 'Training' and 'train'" in caplog.text


def test_copies_under_two_names_of_one_split_are_no_leak(tmp_path, capsys):
    """An image in 'train' and its copy in 'Training' was counted as leakage across splits, and
    an image in 'val' with its copy in 'PublicTest' lost both copies to --leak-free (found by a
    bug hunt): by their names these are one split each, as train and evaluate match them."""
    write_class_folders(tmp_path, ["man", "woman"], 10)
    for src, dst in (("man/man_0.png", "man/man_copy.png"), ("woman/woman_9.png", "woman/woman_copy.png")):
        (tmp_path / dst).write_bytes((tmp_path / src).read_bytes())
    rows = [f"{c}/{c}_{j}.png,{c},{'val' if j >= 7 else 'train'}" for c in ("man", "woman") for j in range(10)]
    rows += ["man/man_copy.png,man,Training", "woman/woman_copy.png,woman,PublicTest"]
    manifest(tmp_path, rows, "path,label,split")
    clean = tmp_path.parent / "clean.csv"
    assert main(["data", "inspect", str(tmp_path), "--out", str(tmp_path.parent / "ins"), "--leak-free", str(clean)]) == 0
    dup = json.loads((tmp_path.parent / "ins" / "summary.json").read_text())["exact_duplicates"]
    assert dup["groups"] == 2 and dup["groups_across_splits"] == 0
    kept = read_dataset(clean)
    assert len(kept) == 21 and sum(str(p).endswith(("woman_9.png", "woman_copy.png")) for p in kept.paths) == 1


def test_files_the_system_makes_beside_photos_are_not_the_users_images(tmp_path):
    """A Windows folder of photos was refused as a dataset for its Thumbs.db ("not an image
    file"), and an unzipped Mac archive's __MACOSX folder read as a class (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["man", "woman"], 3)
    (data / "man" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (data / "woman" / "desktop.ini").write_text("[.ShellClassInfo]\n")
    (data / "__MACOSX" / "man").mkdir(parents=True)
    (data / "__MACOSX" / "man" / "._man_0.png").write_bytes(b"\x00\x05\x16\x07")
    samples = read_dataset(data)
    assert sorted(samples.class_counts().items()) == [("man", 3), ("woman", 3)] and not samples.skipped


def test_a_link_up_the_tree_does_not_pull_other_classes_into_a_class(tmp_path):
    """`sad/loop -> ..` read every other class's images as sad (found by a bug hunt)."""
    data = write_class_folders(tmp_path / "d", ["happy", "sad"], 3)
    (data / "sad" / "loop").symlink_to("..")
    assert sorted(read_dataset(data).class_counts().items()) == [("happy", 3), ("sad", 3)]
    (data / "sad" / "album").symlink_to(tmp_path / "d" / "happy")  # a link across, to another folder: still read
    assert sorted(read_dataset(data).class_counts().items()) == [("happy", 3), ("sad", 6)]


def test_cells_beyond_the_header_are_said_not_dropped_without_a_word(tmp_path, caplog):
    """`img/a.jpg,woman,1,2,3` under a path,label,subject header: its extra cells were left out
    silently (found by a bug hunt); a spreadsheet's empty trailing cells say nothing."""
    data = write_class_folders(tmp_path / "d", ["man", "woman"], 2)
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    (data / "labels.csv").write_text("path,label,subject\n" + "".join(f"{f},{f.split('/')[0]},s{i},,\n" for i, f in enumerate(files[:-1]))
                                     + f"{files[-1]},woman,s9,extra,more\n")
    assert len(read_dataset(data)) == 4
    assert "labels.csv line 5: 2 cell(s) beyond the header's 3 columns ('extra', 'more'), which are not read; a cell holding a comma needs quotes" in caplog.text
    assert caplog.text.count("beyond the header") == 1
    caplog.clear()  # once for a command that reads the csv twice (its --out is checked against it first; found by a review)
    assert main(["data", "split", str(data), "--out", str(tmp_path / "s"), "--test-size", "0.5"]) == 0
    assert caplog.text.count("beyond the header") <= 1


def test_one_class_name_among_fer_codes_is_a_bad_row_that_skip_bad_skips(tmp_path, capsys):
    """Only names from the first row on mean a csv of names: one stray 'happy' among codes was
    refused even with --skip-bad (found by a review)."""
    csv_file = write_fer_csv(tmp_path / "fer.csv", [i % 7 for i in range(14)])
    lines = csv_file.read_text().splitlines()
    lines[5] = "happy" + lines[5][1:]
    csv_file.write_text("\n".join(lines) + "\n")
    assert len(read_dataset(csv_file, skip_bad=True)) == 13
    with pytest.raises(DataError, match="line 6: emotion 'happy' is not a label code"):
        read_dataset(csv_file)
