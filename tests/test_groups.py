"""Per-group figures: numbers sort as numbers, and a gap is not made by groups of one or two."""

import pytest

from facesense.eval.groups import gap, gap_note, group_table, natural_order


def test_groups_sort_numbers_as_numbers():
    assert sorted(["10", "100", "116", "12", "9", "Others", "(blank)"], key=natural_order) == ["9", "10", "12", "100", "116", "(blank)", "Others"]


def test_the_gap_leaves_out_groups_too_small_to_measure():
    values = {"a": 0.95, "b": 0.90, "tiny": 0.0}
    info = gap(values, {"a": 500, "b": 300, "tiny": 2})
    assert info["gap"] == 0.95 - 0.90 and info["left_out"] == ["tiny"]
    table = group_table({g: {"acc": v, "n": n} for (g, v), n in zip(values.items(), (500, 300, 2))}, "acc", "acc_gap")
    assert gap_note(table) == " (groups of n >= 30; left out: tiny (n 2))"


def test_a_gap_between_tiny_groups_or_of_one_group_says_so():
    """'Asian 1.000 (n 1), Black 0.667 (n 3), White 0.900 (n 21); gap 0.333' and 'Asian 2.80
    (n 1); gap 0.00' were printed as plain gaps, the second reading as parity (found by the
    group-report hunt)."""
    small = group_table({"Asian": {"acc": 1.0, "n": 1}, "Black": {"acc": 0.667, "n": 3}, "White": {"acc": 0.9, "n": 21}}, "acc", "acc_gap")
    assert small["acc_gap"] == 1.0 - 0.667 and small["gap_small_groups"] and small["gap_groups"] == 3
    assert "every group has under 30 samples: too few to tell this gap from chance" in gap_note(small)
    one = group_table({"Asian": {"mae": 2.8, "n": 1}}, "mae", "mae_gap")
    assert one["gap_groups"] == 1 and not one["gap_small_groups"] and gap_note(one) == " (one group: nothing to compare)"
    one_big = group_table({"A": {"acc": 0.9, "n": 100}, "B": {"acc": 0.7, "n": 10}, "C": {"acc": 0.8, "n": 12}}, "acc", "acc_gap")
    assert "only one group has 30 samples or more" in gap_note(one_big)  # not "every group" (found by review)
    fine = group_table({"a": {"acc": 0.9, "n": 40}, "b": {"acc": 0.8, "n": 50}}, "acc", "acc_gap")
    assert gap_note(fine) == "" and not fine["gap_small_groups"]


def test_bands_sort_by_their_number_and_nan_is_text():
    assert sorted(["80+", "10-19", "0-9", "nan", "100", "9"], key=natural_order) == ["0-9", "9", "10-19", "80+", "100", "nan"]
    assert sorted(["1.5", "10", "2", "-1", "nan"], key=natural_order) == ["-1", "1.5", "2", "10", "nan"]  # a negative number was put after 10 (found by a bug hunt)


def test_one_large_group_gives_no_false_parity():
    """With one group of 30 or more, a gap over it alone read 0.000 beside groups at 0.5."""
    info = gap({"white": 0.99, "black": 0.5, "asian": 0.5}, {"white": 500, "black": 20, "asian": 25})
    assert info["gap"] == 0.99 - 0.5 and info["left_out"] == []


def test_the_training_data_note_knows_its_dataset(tmp_path, monkeypatch):
    """Matched by path where the recorded one exists here (a labels.csv stands for its folder),
    by name where it does not (shipped models); a model without a recorded dataset gets no note."""
    from facesense.eval.evaluate import training_data_note

    (tmp_path / "a" / "faces").mkdir(parents=True)
    (tmp_path / "b" / "faces").mkdir(parents=True)
    run = {"data": str(tmp_path / "a" / "faces"), "train_split": None}
    assert training_data_note(run, tmp_path / "a" / "faces" / "labels.csv", None, "m")
    assert training_data_note(run, tmp_path / "b" / "faces", None, "m") is None  # another folder of the same name
    assert training_data_note(run, tmp_path / "a" / "faces", "train", "m")  # the training rows by name
    assert training_data_note(run, tmp_path / "a" / "faces", "test", "m") is None
    assert training_data_note({"data": "faces", "train_split": "train"}, tmp_path / "b" / "faces", None, "gender")  # a shipped model's name
    monkeypatch.chdir(tmp_path)
    assert training_data_note({}, ".", None, "m") is None


def test_the_note_points_at_rows_that_were_held_out_or_at_other_data(tmp_path):
    """The note sent a user to --split val for a model that held nothing out ('the model's
    training split has no val samples'); --split on extra_data failed on another dataset's column."""
    import pytest

    from facesense.errors import DataError
    from facesense.eval.evaluate import check_not_extra_data, training_data_note

    everything = {"data": "faces", "train_split": "train", "val_size": 0.0, "folds": 0}
    assert "score it on other data" in training_data_note(everything, tmp_path / "faces", None, "gender")
    assert "--split PublicTest" in training_data_note({"data": "fer", "train_split": "Training"}, tmp_path / "fer", None, "m", data_splits=["Training", "PublicTest"])
    assert "--split val or test" in training_data_note({"data": "utk", "val_size": 0.1, "test_size": 0.25}, tmp_path / "utk", None, "m")
    with pytest.raises(DataError, match="trained on all of it \\(extra_data\\)"):
        check_not_extra_data({"data": "utkface", "extra_data": ["/elsewhere/gender_faces"]}, tmp_path / "gender_faces", "test", "gender_age")
    # a gender+age run holds a validation share of its extra_data out: "all of it" was false
    run = {"data": "utkface", "extra_data": ["/elsewhere/gender_faces"], "task": "gender_age", "val_size": 0.1}
    with pytest.raises(DataError, match="trained on all but a validation share of it \\(extra_data\\)"):
        check_not_extra_data(run, tmp_path / "gender_faces", "val", "gender_age")
    assert "trained on all but a validation share of gender_faces" in training_data_note(run, tmp_path / "gender_faces", None, "m")


def test_a_model_trained_on_every_row_is_not_sent_to_one_of_them(tmp_path):
    """train_split null trains on every row no val_split or test_split takes. The shipped
    sentiment model (all 603 images) was said to have held out partition1, and scoring it there
    gave no note at all."""
    from facesense.eval.evaluate import training_data_note

    parts = ["partition1", "partition2", "partition3"]
    everything = {"data": "sentiment", "train_split": None, "val_split": None, "test_split": "test", "val_size": 0.0}
    for split in (None, "partition1"):
        assert "it held none of this data out" in training_data_note(everything, tmp_path / "sentiment", split, "m", data_splits=parts)
    one_held = {**everything, "val_split": "partition3"}
    assert "--split partition3" in training_data_note(one_held, tmp_path / "sentiment", "partition1", "m", data_splits=parts)
    assert training_data_note(one_held, tmp_path / "sentiment", "partition3", "m", data_splits=parts) is None
    own_hold_out = {**everything, "val_size": 0.2}  # held out a recomputed fifth of every row (found by review)
    # only the splits it drew: "--split test" of a run without a test share was refused (found by a bug hunt)
    assert "--split val: its own split, recomputed" in training_data_note(own_hold_out, tmp_path / "sentiment", "partition1", "m", data_splits=parts)
    assert "--split val or test: its own split, recomputed" in training_data_note({**own_hold_out, "test_size": 0.2}, tmp_path / "sentiment", "partition1", "m", data_splits=parts)


def test_a_recomputed_split_is_the_run_s_own_data_only_by_path(tmp_path):
    """A shipped model's config records a dataset's name only: a user's folder of that name with
    its own named splits got a val recomputed out of its train rows with the shipped settings
    (found by review). Scoring a recomputed val is no note's business either."""
    import numpy as np
    import pytest

    from facesense.data.samples import Samples
    from facesense.errors import DataError
    from facesense.eval.evaluate import _trained_on_split, select_split

    labels = ["man", "woman"] * 20
    samples = Samples("x", [f"s{i}" for i in range(40)], labels, ["train"] * 30 + ["test"] * 10)
    folder = tmp_path / "utkface"
    folder.mkdir()
    shipped = {"data": "utkface", "train_split": None, "val_size": 0.2, "seed": 0}
    with pytest.raises(DataError, match="no split named 'val'"):
        select_split(samples, "val", shipped, folder)
    own = {**shipped, "data": str(folder)}
    assert len(select_split(samples, "val", own, folder)) > 0 and isinstance(select_split(samples, "test", own, folder), np.ndarray)
    assert not _trained_on_split(own, "val", ["partition1", "partition2"])


def test_a_split_named_for_a_dataset_is_not_drawn_from_data_without_a_split_column(tmp_path, caplog):
    """--split PublicTest on FER rows without their Usage column scored a seeded fifth of them as
    "PublicTest", most of them training faces, with no note (found by a bug hunt). A generic
    --split val still draws the rows by the model's seed and sizes (a run of the expression config
    on a folder drew its val so; refusing it was found by review), with a note where the model's
    settings name its data's own split, whose rows such a draw is not."""
    import pytest

    from facesense.data.samples import Samples
    from facesense.errors import DataError
    from facesense.eval.evaluate import select_split

    samples = Samples("fer.csv", [f"row{i}" for i in range(40)], ["happy", "sad"] * 20, [None] * 40)
    fer = {"data": "fer2013.csv.gz", "train_split": "Training", "val_split": "PublicTest", "test_split": None, "val_size": 0.2, "seed": 0}
    carved = {"data": "faces", "train_split": "train", "val_split": "val", "test_split": "test", "val_size": 0.25, "seed": 0}
    for config in (fer, carved):
        for split in ("PublicTest", "PrivateTest"):
            with pytest.raises(DataError, match=f"no split named '{split}' \\(the data has no split column\\); --split (val|test) scores the rows a model drew"):
                select_split(samples, split, config, tmp_path / "fer.csv", pixels_checked=True)
    caplog.clear()
    assert len(select_split(samples, "val", fer, tmp_path / "fer.csv", pixels_checked=True)) == 8
    assert "where that data had a split column, its held-out rows were its 'PublicTest' split and this draw is none of them" in caplog.text
    caplog.clear()
    assert len(select_split(samples, "val", carved, tmp_path / "faces", pixels_checked=True)) == 10  # a run that carved its val: the draw repeats
    assert "recomputed" not in caplog.text


def test_a_copy_without_the_models_named_test_split_still_gets_its_val_drawn(tmp_path):
    """An export trained with test_split=holdout, scored on a copy of its data without the
    holdout rows: `--split val` (the val it carved out of its train rows) was refused with
    training's advice, "no split named 'holdout' ... (set test_split to one of them ...)", where
    the draw is the same without them (found by review); --split test says which split it was."""
    import numpy as np
    import pytest

    from facesense.data.samples import Samples
    from facesense.data.split import assign_splits
    from facesense.errors import DataError
    from facesense.eval.evaluate import select_split

    folder = tmp_path / "faces"
    folder.mkdir()
    samples = Samples("faces", [f"s{i}" for i in range(40)], ["a", "b"] * 20, ["train"] * 40)
    config = {"data": str(tmp_path / "full"), "train_split": "train", "val_split": "val", "test_split": "holdout", "val_size": 0.25, "test_size": 0.0, "folds": 0, "fold": 0, "seed": 0}
    held_out = {"val": "recorded", "test": "recorded"}  # what the export recorded (checked against the draw later, by check_held_out)
    drawn = select_split(samples, "val", config, folder, pixels_checked=True, held_out=held_out)
    expected = assign_splits(samples, train_split="train", val_split="val", test_split=None, val_size=0.25, seed=0)["val"]
    assert len(drawn) == 10 and np.array_equal(np.sort(drawn), np.sort(expected))
    with pytest.raises(DataError, match=r"draw no 'test' rows from data whose splits \['train'\] hold no 'holdout' .*the 'holdout' split of the data it trained on"):
        select_split(samples, "test", config, folder, pixels_checked=True, held_out=held_out)


def test_grouping_by_the_label_points_to_the_per_class_table():
    """`--group-by label` said "no column 'label'" of a manifest that has one (its class column)."""
    import pytest

    from facesense.errors import DataError
    from facesense.eval.groups import check_group_column

    check_group_column({"race": []}, "Race", "d")
    with pytest.raises(DataError, match="that is the class itself.*per_class.*\\['race'\\]"):
        check_group_column({"race": []}, "label", "d")
    with pytest.raises(DataError, match="no column 'height' to group by; the data has \\['race'\\]"):
        check_group_column({"race": []}, "height", "d")
    with pytest.raises(DataError, match="groups come from a csv's extra columns \\(a labels.csv's path,label,race; a FER2013-style csv's emotion,pixels,Usage,race\\), and this data has none"):
        check_group_column({}, "race", "faces")  # class folders: there is no manifest to speak of
    with pytest.raises(DataError, match="a 'partition' column holds the data's splits; score one at a time with --split NAME"):
        check_group_column({}, "partition", "image_sentiment", split_column="partition")
    with pytest.raises(DataError, match="and this data has none"):  # no such column: not called the split column (found by review)
        check_group_column({}, "split", "faces")


def test_each_group_s_accuracy_has_a_95_percent_interval_that_widens_when_small():
    """Per-group accuracies had no interval: 1.000 of 5 faces read like 1.000 of 500."""
    from facesense.eval.groups import proportion_ci95

    small, large = proportion_ci95(5, 5), proportion_ci95(500, 500)
    assert small[1] == 1.0 and large[1] == 1.0 and small[0] < 0.6 < 0.99 < large[0]
    low, high = proportion_ci95(45, 50)  # Wilson: 0.786-0.957
    assert abs(low - 0.7864) < 1e-3 and abs(high - 0.9565) < 1e-3


def test_numbers_written_two_ways_are_one_group():
    """A band column written 20, 20.0 and ' 20' made two groups of one band (found by the group-report hunt)."""
    from facesense.data.samples import group_names

    assert group_names(["20", "20.0", " 20", "30", ""], "band") == ["20", "20", "20", "30", "(blank)"]
    assert group_names(["A", "20.0"], "site") == ["A", "20.0"]  # text columns are left as written
    assert group_names(["14", "nan", ""], "age") == ["10-19", "(blank)", "(blank)"]
    # six significant digits merged 1000001 and 1000002 into one group '1e+06', and zip codes 02134 and 2134 (found by a bug hunt)
    assert group_names(["1000001", "1000002", "2e1", "0.50"], "site") == ["1000001", "1000002", "20", "0.5"]
    assert group_names(["02134", "2134"], "zip") == ["02134", "2134"]
    assert group_names(["12345678901234567890123456789.5", "12345678901234567890123456790", "-0.0"], "id") == ["12345678901234567890123456789.5", "12345678901234567890123456790", "0"]


def test_a_column_named_twice_is_refused(tmp_path):
    """`race` and `Race` in one header gave each row two values, which shifted the group column
    against the rows: group figures silently wrong (found by a bug hunt)."""
    from facesense.data.sources import read_dataset
    from facesense.errors import DataError

    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "labels.csv").write_text("path,label,race,Race\na.png,man,A,A\n")
    with pytest.raises(DataError, match=r"labels.csv: column 'race' appears 2 times in the header \(race, Race; names are read without case\); rename or remove all but one"):
        read_dataset(tmp_path)


def test_a_gap_has_the_interval_of_the_difference_between_its_two_groups():
    """A gap was printed bare, so a 7-point gap between 20 faces and 2,000 read as firmly as one
    between two large groups. Newcombe's published examples (1998, method 10): 56/70 vs 48/80
    -> 0.0524 to 0.3339; 9/10 vs 3/10 -> 0.1705 to 0.8090."""
    from facesense.eval.groups import difference_ci95, gap_text, proportion_ci95

    low, high = difference_ci95(56 / 70, proportion_ci95(56, 70), 48 / 80, proportion_ci95(48, 80))
    assert (round(low, 3), round(high, 3)) == (0.052, 0.334)
    low, high = difference_ci95(0.9, proportion_ci95(9, 10), 0.3, proportion_ci95(3, 10))
    assert (round(low, 3), round(high, 3)) == (0.171, 0.809)
    groups = {"a": {"n": 70, "acc": 56 / 70, "acc_ci95": proportion_ci95(56, 70)}, "b": {"n": 80, "acc": 0.6, "acc_ci95": proportion_ci95(48, 80)},
              "tiny": {"n": 2, "acc": 0.0, "acc_ci95": proportion_ci95(0, 2)}}
    table = group_table(groups, "acc", "acc_gap")
    assert table["gap_between"] == ["a", "b"] and table["gap_ci95"] == pytest.approx([0.0524, 0.3339], abs=2e-4)
    assert gap_text(table, "acc_gap", 100, " points", 1) == "gap 20.0 points (a - b, 95% CI 5.2 to 33.4) (groups of n >= 30; left out: tiny (n 2))"
    tied = group_table({"A": {"n": 40, "acc": 1.0}, "B": {"n": 50, "acc": 1.0}}, "acc", "acc_gap")
    assert tied["gap_between"] == ["B", "A"]  # two groups, not A against itself (found by review)
    # of groups tied at the top or bottom, the largest: the last listed (5 faces) was taken over 17 (found by a bug hunt)
    assert gap({"Indian": 1.0, "Others": 1.0, "Black": 0.75, "Asian": 0.75}, {"Indian": 17, "Others": 5, "Black": 9, "Asian": 30}, min_n=1)["between"] == ["Indian", "Asian"]
    # groups without intervals (a one-face MAE group has none) get the gap and its groups alone
    bare = group_table({"x": {"n": 40, "mae": 5.0}, "y": {"n": 40, "mae": 3.0}}, "mae", "mae_gap")
    assert bare["gap_ci95"] is None and gap_text(bare, "mae_gap", unit=" years", digits=2) == "gap 2.00 years (x - y)"



def test_a_gap_between_the_extremes_of_many_groups_has_a_wider_interval_and_no_one_class_side():
    """The gap is max - min over k groups, the widest of k(k-1)/2 differences: with eight groups
    of equal accuracy, a plain 95% interval of it missed zero about half the time; and a group
    whose labels are one class (all women) scores how often that class is said, yet was a side
    of the gap (both found by an audit)."""
    from facesense.eval.groups import gap_text, proportion_ci95

    def group(hits: int, n: int, classes=("man", "woman")) -> dict:
        return {"n": n, "accuracy": hits / n, "accuracy_ci95": proportion_ci95(hits, n), "classes": list(classes)}

    two = group_table({"a": group(56, 70), "b": group(48, 80)}, "accuracy", "accuracy_gap")
    assert two["gap_ci95"] == pytest.approx([0.0524, 0.3339], abs=2e-4) and two["gap_pairs"] == 1
    many = group_table({"a": group(56, 70), "b": group(48, 80), "c": group(50, 70), "d": group(52, 75)}, "accuracy", "accuracy_gap")
    assert many["gap_between"] == ["a", "b"] and many["gap_pairs"] == 6
    assert many["gap_ci95"][0] < two["gap_ci95"][0] and many["gap_ci95"][1] > two["gap_ci95"][1]  # Wilson at 1 - 0.05/6 on each side
    assert "95% CI" in gap_text(many, "accuracy_gap", 100, " points", 1) and "widened for 4 groups" in gap_text(many, "accuracy_gap", 100, " points", 1)
    # a group of one class is left out of the gap, and said so
    skewed = group_table({"mixed": group(60, 100), "women_only": group(40, 40, ["woman"]), "other": group(55, 90)}, "accuracy", "accuracy_gap")
    assert skewed["gap_between"] == ["other", "mixed"] and skewed["gap_one_class"] == {"women_only": "woman"}
    assert gap_text(skewed, "accuracy_gap", 100, " points", 1).endswith("(left out as of one class: women_only (only woman))")  # no size rule claimed (found by review)
    # every group of one class (an audit set of women only, by race): they measure the same thing and are compared (found by review)
    women = group_table({"A": group(90, 100, ["woman"]), "B": group(80, 100, ["woman"])}, "accuracy", "accuracy_gap")
    assert women["gap_between"] == ["A", "B"] and women["gap_groups"] == 2 and not women["gap_one_class"]
    # the true best and worst may be other groups than the observed ones: the high end covers every pair (found by review)
    wide = group_table({"A": group(900, 1000), "B": group(800, 1000), "C": group(27, 31)}, "accuracy", "accuracy_gap")
    assert wide["gap_between"] == ["A", "B"] and wide["gap_ci95"][1] > 0.2
    # rows without a value (no group of people) are no side of the gap: "Indian - (blank)" was reported (found by an audit)
    blank = group_table({"(blank)": group(58, 67), "Asian": group(59, 64), "Indian": group(60, 64), "Black": group(57, 64)}, "accuracy", "accuracy_gap")
    assert blank["gap_between"] == ["Indian", "Black"] and blank["gap_unknown"] == ["(blank)"] and blank["gap_groups"] == 3
    assert gap_text(blank, "accuracy_gap", 100, " points", 1).endswith("(left out as rows without a value: (blank))")


def test_training_pixels_in_a_held_out_split_are_duplicates_only_where_the_rows_are_known(tmp_path):
    """A shipped model records its data's name only: a recomputed 'test' split of a subset or
    copy of that name is another draw, and its training images there were called duplicates the
    data holds across its splits (found by review). Rows held out by the data's own split
    column, or a split recomputed on the very data it read, are its held-out rows."""
    import numpy as np

    from facesense.eval.evaluate import training_data_note

    one = np.array([True, False, False])
    shipped = {"data": "/machine/that/trained/utkface", "train_split": "train", "val_size": 0.1, "test_size": 0.25, "folds": 0}
    note = training_data_note(shipped, tmp_path / "utkface", "test", "gender_age", matches=one)
    assert "gender_age trained on 1 of the 3 images scored here" in note and "score it on images it did not train on" in note
    (tmp_path / "utkface").mkdir()
    own = dict(shipped, data=str(tmp_path / "utkface"))
    assert "duplicates the data holds across its splits" in training_data_note(own, tmp_path / "utkface", "test", "gender_age", matches=one)
    fer = {"data": "fer2013.csv.gz", "train_split": "Training", "val_split": "PublicTest"}
    assert "duplicates the data holds across its splits" in training_data_note(fer, tmp_path / "fer2013.csv.gz", "PublicTest", "expression", data_splits=["Training", "PublicTest"], matches=one)
    assert "trained on 1 of the 3" in training_data_note(own, tmp_path / "utkface", "test", "gender_age", matches=one, own_split=False)  # --split-from: another model's draw


def test_a_cell_reading_blank_is_not_merged_with_empty_cells_and_non_ages_are_named(caplog):
    """A literal '(blank)' cell was reported as one group with the empty cells; under --group-by
    age, cells such as 'abc' or '-5' became groups of their own without a word (found by a bug
    hunt). Text ranges (FairFace's '20-29') are groups as written, and not warned about."""
    from facesense.data.samples import group_names

    assert group_names(["(blank)", "", "B"], "site") == ["(blank)", "(empty cell)", "B"]
    assert group_names(["(blank)", "(empty cell)", "", "B"], "site") == ["(blank)", "(empty cell)", "(empty cell 2)", "B"]
    with caplog.at_level("WARNING"):
        assert group_names(["34", "", "abc", "-5", "71"], "age") == ["30-39", "(blank)", "abc", "-5", "70-79"]
    assert "age column: 2 cells are not an age in years ('-5', 'abc'), grouped as written, not by decade" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert group_names(["20-29", "more than 70", ""], "age") == ["20-29", "more than 70", "(blank)"]
    assert not caplog.text
    # an age above 130 is a typo, as train and evaluate refuse it; data split --stratify age says so too, once (found by a bug hunt)
    with caplog.at_level("WARNING"):
        assert group_names(["34", "200"], "age") == ["30-39", "200"]
    assert "1 cell is not an age in years ('200')" in caplog.text
    caplog.clear()
    from facesense.data.samples import Samples
    from facesense.data.split import strata_keys

    samples = Samples("labels.csv", ["a", "b", "c"], ["man", "woman", "man"], [None] * 3, columns={"age": ["34", "unknown", "-3"]})
    with caplog.at_level("WARNING"):
        assert strata_keys(samples, ["age"]) == ["man|30-39", "woman|unknown", "man|0-17"]
    assert "2 cells are not an age in years ('-3', 'unknown'), stratified as written (text) or in the nearest band (numbers)" in caplog.text
    caplog.clear()
    samples.columns["note"] = ["x", "y", "z"]
    with caplog.at_level("WARNING"):
        strata_keys(samples, ["note"])
    assert "every row has its own 'note' value, so stratifying by it changes nothing" in caplog.text


def test_a_model_that_reads_every_face_as_one_class_is_noted():
    """A model that answered 'woman' for every face got a race "accuracy gap" of 11.9 points and
    no word that the gap was the groups' class mix (found by a bug hunt)."""
    import numpy as np

    from facesense.eval.evaluate import one_class_note

    y = np.array([0, 1, 1, 0, 1])
    always_woman = np.tile([0.3, 0.7], (5, 1))
    said = one_class_note(y, always_woman, ["man", "woman"], "race")
    assert said.startswith("it read every one of the 5 images as 'woman'") and "gaps between groups measure their class mix" in said
    assert "race" not in one_class_note(y, always_woman, ["man", "woman"])
    assert one_class_note(y, np.array([[0.6, 0.4]] + [[0.3, 0.7]] * 4), ["man", "woman"], "race") is None  # two classes given
    assert one_class_note(np.ones(5, int), always_woman, ["man", "woman"], "race") is None  # the images hold one class
    # said in report.md too, as in metrics.json and on the console (it was left out of the page)
    from facesense.eval.metrics import classification_metrics
    from facesense.eval.report import markdown_report

    m = {**classification_metrics(y, always_woman, ["man", "woman"], loss=0.7), "one_class_predicted": said}
    assert f"Note: {said}." in markdown_report(m, "t")
