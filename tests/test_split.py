from collections import Counter

import numpy as np
import pytest

from conftest import write_fer_csv
from facesense.data.samples import Samples
from facesense.data.sources import read_dataset
from facesense.data.split import assign_splits, trained_split_settings
from facesense.errors import DataError


def make_samples(counts: dict[str, int], splits=None) -> Samples:
    labels = [c for c, n in counts.items() for _ in range(n)]
    return Samples("mem", [f"s{i}" for i in range(len(labels))], labels, splits or [None] * len(labels))


def test_holdout_is_stratified_and_disjoint():
    s = make_samples({"a": 100, "b": 50, "c": 10})
    parts = assign_splits(s, val_size=0.2, seed=3)
    val = Counter(s.labels[i] for i in parts["val"])
    assert val == {"a": 20, "b": 10, "c": 2}
    assert not set(parts["train"]) & set(parts["val"])
    assert len(parts["train"]) + len(parts["val"]) == 160


def test_split_is_deterministic_per_seed():
    s = make_samples({"a": 40, "b": 40})
    a = assign_splits(s, seed=1)["val"]
    b = assign_splits(s, seed=1)["val"]
    c = assign_splits(s, seed=2)["val"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_kfold_covers_everything_once():
    s = make_samples({"a": 30, "b": 20})
    vals = [assign_splits(s, folds=5, fold=k, seed=0)["val"] for k in range(5)]
    allv = np.concatenate(vals)
    assert sorted(allv) == list(range(50))
    for v in vals:
        assert Counter(s.labels[i] for i in v) == {"a": 6, "b": 4}


def test_fer_usage_aliases(tmp_path):
    s = read_dataset(write_fer_csv(tmp_path / "f.csv", [0, 1, 2, 3], ["Training", "Training", "PublicTest", "PrivateTest"]))
    parts = assign_splits(s)  # defaults train/val/test
    assert list(parts["train"]) == [0, 1] and list(parts["val"]) == [2] and list(parts["test"]) == [3]
    parts = assign_splits(s, train_split="Training", val_split="PublicTest", test_split=None)
    assert list(parts["val"]) == [2] and len(parts["test"]) == 0


def test_predefined_partition_as_validation():
    s = make_samples({"a": 10, "b": 10}, splits=[f"partition{i % 5 + 1}" for i in range(20)])
    parts = assign_splits(s, train_split=None, val_split="partition2")
    assert all(s.splits[i] == "partition2" for i in parts["val"])
    assert len(parts["train"]) == 16
    with pytest.raises(DataError, match="partition9"):
        assign_splits(s, train_split=None, val_split="partition9")


def test_a_model_that_folded_its_extra_data_kept_its_main_split():
    """A gender_age cross-validation run (folds_on: extra) folded gender_faces only: evaluation
    and the benchmarks recompute UTKFace's fixed split, not a fold of it."""
    config = {"train_split": "train", "val_split": "val", "test_split": "test", "val_size": 0.1, "folds": 5, "fold": 3, "seed": 0, "test_size": 0.25, "stratify": ["race"]}
    assert trained_split_settings({**config, "folds_on": "extra"}) == {**config, "folds": 0, "fold": 0, "split_rule": 1}
    assert trained_split_settings({**config, "folds_on": "main"}) == {**config, "split_rule": 1}
    assert trained_split_settings({"seed": 1, "task": "expression"}) == {"seed": 1, "split_rule": 1}


def test_two_split_settings_that_select_the_same_samples_are_refused():
    """val_split=PublicTest with test_split=val: two aliases of the one split the data has; the
    test numbers would be the validation numbers. Data with both a 'dev' and a 'val' split keep
    them apart (exact names first)."""
    s = make_samples({"a": 6, "b": 6}, ["Training"] * 8 + ["PublicTest"] * 4)
    with pytest.raises(DataError, match="val_split and test_split select the same samples"):
        assign_splits(s, train_split="Training", val_split="PublicTest", test_split="val")
    both = make_samples({"a": 6, "b": 6}, ["train"] * 8 + ["dev"] * 2 + ["val"] * 2)
    parts = assign_splits(both, val_split="dev", test_split="val")
    assert len(parts["val"]) == len(parts["test"]) == 2 and not set(parts["val"]) & set(parts["test"])


def test_a_holdout_too_small_for_the_classes_names_the_setting():
    with pytest.raises(DataError, match=r"val_size=0.05 holds out 1 of 12 samples.*2 classes"):
        assign_splits(make_samples({"a": 6, "b": 6}), val_size=0.05)


def test_a_one_sample_class_stays_in_training_and_the_rest_stays_stratified():
    """One class with a single image made training's whole hold-out unstratified (val a=3, b=8
    of 20 each); with two classes the single image could land in val, leaving a one-class
    training split. Rule 3 keeps it in training (as data split always did); runs made under
    rules 1 and 2 recompute their split as it was."""
    s = make_samples({"a": 20, "b": 20, "c": 1})
    for seed in range(3):
        parts = assign_splits(s, val_size=0.25, seed=seed)
        assert Counter(s.labels[i] for i in parts["val"]) == {"a": 5, "b": 5}
        assert "c" in {s.labels[i] for i in parts["train"]}
    old = Counter(s.labels[i] for i in assign_splits(s, val_size=0.25, seed=0, split_rule=2)["val"])
    assert sum(old.values()) == 11 and old != {"a": 5, "b": 5, "c": 1}


def grouped_samples(people: int = 30, seed: int = 0) -> Samples:
    """Several photos per person (2-5), each person's photos of one or two classes."""
    rng = np.random.default_rng(seed)
    labels, subject = [], []
    for person in range(people):
        for _ in range(int(rng.integers(2, 6))):
            labels.append("ab"[int(rng.integers(0, 2))])
            subject.append(f"p{person}" if person != 3 else "")  # person 3's cells are blank
    s = Samples("mem", [f"s{i}" for i in range(len(labels))], labels, [None] * len(labels))
    s.columns = {"subject": subject}
    return s


def sides(s: Samples, parts: dict) -> dict[str, set]:
    """The splits each person's rows landed in."""
    out: dict[str, set] = {}
    for split, idx in parts.items():
        for i in idx:
            out.setdefault(s.columns["subject"][i] or s.ids[i], set()).add(split)
    return out


def test_split_group_keeps_each_persons_rows_on_one_side(caplog):
    """A user's photos of one person were split across training and validation (identity
    leakage); split_group keeps them together in every seeded hold-out and fold."""
    s = grouped_samples()
    parts = assign_splits(s, val_size=0.2, test_size=0.2, seed=1, split_group="subject")
    assert all(len(v) == 1 for v in sides(s, parts).values())
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(len(s)))
    assert 0.1 < len(parts["test"]) / len(s) < 0.3 and len(parts["val"]) > 0
    assert "blank 'subject' cell" in caplog.text  # each blank row is a group of its own
    assert assign_splits(s, val_size=0.2, seed=1, split_group="subject")["val"].tolist() == assign_splits(s, val_size=0.2, seed=1, split_group="subject")["val"].tolist()
    assert assign_splits(s, val_size=0.2, seed=2, split_group="subject")["val"].tolist() != assign_splits(s, val_size=0.2, seed=1, split_group="subject")["val"].tolist()
    for fold in range(3):
        folded = assign_splits(s, folds=3, fold=fold, seed=0, split_group="subject")
        assert all(len(v) == 1 for v in sides(s, folded).values())
    plain = assign_splits(s, val_size=0.2, seed=1)  # without it, people straddle the split
    assert any(len(v) > 1 for v in sides(s, plain).values())
    with pytest.raises(DataError, match="no column 'person' for split_group"):
        assign_splits(s, val_size=0.2, split_group="person")
    assert trained_split_settings({"val_size": 0.2, "split_group": "subject"})["split_group"] == "subject"  # evaluate recomputes it


def test_split_group_draws_anew_for_each_seed_and_refuses_in_words(caplog):
    """Where every person had a different number of photos, every seed drew the same people
    (StratifiedGroupKFold orders groups by their class mix); four rows a class and five folds
    ended in scikit-learn's ValueError; a single group was told to take 'a share of at least
    1/1' (found by a review)."""
    labels, subject = [], []
    for person in range(10):  # 1 to 10 photos each, one class per person
        labels += ["ab"[person % 2]] * (person + 1)
        subject += [f"p{person}"] * (person + 1)
    s = Samples("mem", [f"s{i}" for i in range(len(labels))], labels, [None] * len(labels))
    s.columns = {"subject": subject}
    draws = {tuple(assign_splits(s, val_size=0.2, seed=seed, split_group="subject")["val"].tolist()) for seed in range(6)}
    assert len(draws) > 2
    small = Samples("mem", [f"s{i}" for i in range(8)], ["a"] * 4 + ["b"] * 4, [None] * 8)
    small.columns = {"subject": [f"p{i}" for i in range(8)]}
    held = assign_splits(small, val_size=0.2, seed=0, split_group="subject")["val"]
    assert len(held) == 2 and {small.labels[i] for i in held} == {"a", "b"}
    with pytest.raises(DataError, match=r"folds=5 with split_group: 5 folds need 5 groups and a class of 5 rows.*use at most 4 folds"):
        assign_splits(small, folds=5, fold=0, split_group="subject")
    small.columns = {"subject": ["one"] * 8}
    with pytest.raises(DataError, match=r"the rows are a single group, which cannot be on both sides"):
        assign_splits(small, val_size=0.2, split_group="subject")
    with pytest.raises(DataError, match=r"the rows are a single group \(or each class a single row\)"):
        assign_splits(small, folds=2, split_group="subject")


def test_an_empty_split_group_is_refused():
    from facesense.config import Config
    from facesense.errors import ConfigError

    with pytest.raises(ConfigError, match="split_group is empty"):
        Config(split_group=" ").validate()


def test_split_group_says_when_the_datas_own_splits_put_a_person_on_two_sides(caplog):
    """The data's own split column is taken as it is: with each person in train and test, a run
    with split_group said nothing, and its log said each group was whole on one side (found by a
    bug hunt)."""
    s = grouped_samples(people=12)
    s.splits = ["test" if i % 5 == 0 else "train" for i in range(len(s))]
    parts = assign_splits(s, val_size=0.2, seed=0, split_group="subject")
    assert len(parts["test"]) and "people (subject) are in more than one of the data's own splits" in caplog.text
    assert "--group subject" in caplog.text


def test_runs_on_aligned_faces_from_two_cpus_share_a_validation_set():
    """Runs on aligned faces record each image's digest before alignment; compare took the two
    digests of each image as two samples (a run from before them, on the same data, was another
    set), and two CPUs' aligned chips as other images (found by a review)."""
    from facesense.eval.compare import validation_sets

    ids = frozenset({"a.png", "b.png"})
    spec = '{"align": "dlib_chip", "channels": 3, "size": 64}'
    old = {"_val_ids": ids, "_val_pixels": frozenset({"aa", "bb"}), "_val_images": None, "_pixel_spec": spec}
    here = {"_val_ids": ids, "_val_pixels": frozenset({"aa", "bb"}), "_val_images": frozenset({"11", "22"}), "_pixel_spec": spec}
    elsewhere = {"_val_ids": ids, "_val_pixels": frozenset({"cc", "dd"}), "_val_images": frozenset({"11", "22"}), "_pixel_spec": spec}
    other = {"_val_ids": ids, "_val_pixels": frozenset({"ee", "ff"}), "_val_images": frozenset({"33", "22"}), "_pixel_spec": spec}
    for rows in ([old, here], [here, elsewhere]):  # (an old run and another CPU's: nothing can tell)
        assert validation_sets(rows) is None and [r["val_set"] for r in rows] == ["A", "A"]
    rows = [here, other]
    assert "2 different sets of samples (val_set; 1 sample is in all of them)" in validation_sets(rows)
    # both digests are of pixels resized to the input: runs at two input sizes are not told apart by them (found by a review)
    other_size = {**other, "_pixel_spec": spec.replace("64", "48")}
    assert validation_sets([here, other_size]) is None
    # ... but the same ids from another dataset are other samples (two FER csvs' row numbers, found by an audit)
    assert "2 different sets of samples (val_set): " in validation_sets([{**here, "_data": "/d/ferX.csv"}, {**other_size, "_data": "/d/ferY.csv"}])
    assert validation_sets([{**here, "_data": "/d/fer.csv"}, {**other_size, "_data": "/d/fer.csv"}]) is None


def test_a_missing_split_is_answered_with_the_splits_the_model_held_out(tmp_path, monkeypatch):
    """A model trained on every partition (train_split null, as the shipped sentiment model) was
    told to score them all 'with --split (the rest: its training rows)' (found by review); a
    shipped config's data name is a name, not a file of the working folder (found by review)."""
    from facesense.eval.evaluate import _no_such_split_offering_others, _same_dataset

    names = ["partition1", "partition2", "partition3"]
    said = _no_such_split_offering_others("d", "partition9", names, {"train_split": None, "val_split": None, "test_split": None})
    assert "it trained on all of them" in said and "score" not in said
    said = _no_such_split_offering_others("d", "partition9", names, {"train_split": None, "val_split": "partition2", "test_split": None})
    assert "score partition2 with --split (partition1 and partition3: its training rows)" in said
    said = _no_such_split_offering_others("d", "PrivateTest", ["PublicTest", "Training"], {"train_split": "Training", "val_split": "PublicTest"})
    assert "score PublicTest with --split (Training: its training rows)" in said
    elsewhere = tmp_path / "copy" / "fer2013.csv.gz"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fer2013.csv.gz").write_bytes(b"")  # a file of that name in the working folder
    assert _same_dataset("fer2013.csv.gz", elsewhere) and not _same_dataset("fer2013.csv.gz", tmp_path / "other.csv.gz")


def test_a_class_left_with_one_sample_by_an_earlier_hold_out_is_not_said_to_have_one(caplog):
    """`data split --test-size 0.3 --val-size 0.2` of a class of two: "class(es) 'two' have one
    sample", where it had two and the test hold-out took one (found by a bug hunt)."""
    import numpy as np

    from facesense.data.split import stratified_holdout

    labels = ["one"] * 6 + ["two"] * 2
    stratified_holdout(labels, 0.2, 0, np.array([0, 1, 2, 3, 4, 6]), "--val-size")  # row 7, the other 'two', is in the test split
    assert "class(es) 'two' have one sample left here (its others are in another split): kept out of the --val-size hold-out" in caplog.text
    caplog.clear()
    stratified_holdout(labels[:7], 0.2, 0, np.arange(7), "--val-size")
    assert "class(es) 'two' have one sample: kept out" in caplog.text
    caplog.clear()  # a class of one beside it is not said to have others elsewhere (found by a review)
    labels = ["one"] * 6 + ["two"] * 2 + ["three"]
    stratified_holdout(labels, 0.2, 0, np.array([0, 1, 2, 3, 4, 6, 8]), "--val-size")
    assert "class(es) 'three' have one sample: kept out" in caplog.text and "class(es) 'two' have one sample left here" in caplog.text


def test_folds_say_that_the_datas_own_validation_split_is_left_out(caplog):
    """folds=3 on FER2013 with val_split: PublicTest validated on a fold of Training and left
    every PublicTest row out of the run without a word (found by a bug hunt)."""
    s = make_samples({"a": 12, "b": 12}, ["Training"] * 8 + ["PublicTest"] * 4 + ["Training"] * 8 + ["PublicTest"] * 4)
    parts = assign_splits(s, train_split="Training", val_split="PublicTest", test_split=None, folds=3, fold=1)
    assert len(parts["train"]) + len(parts["val"]) == 16
    assert "the data's own 'PublicTest' split (8 rows) is left out" in caplog.text
    caplog.clear()
    assign_splits(s, train_split="Training", val_split=None, test_split=None, folds=3, fold=1)
    assert "left out" not in caplog.text


def test_test_size_beside_the_datas_own_test_split_is_said_to_do_nothing(caplog):
    """test_size=0.2 on data with its own PrivateTest rows carved nothing, without a word (found
    by a bug hunt)."""
    s = make_samples({"a": 12, "b": 12}, (["Training"] * 8 + ["PublicTest"] * 2 + ["PrivateTest"] * 2) * 2)
    parts = assign_splits(s, train_split="Training", val_split="PublicTest", test_split="PrivateTest", test_size=0.2)
    assert len(parts["test"]) == 4 and len(parts["train"]) == 16
    assert "test_size=0.2 has no effect: the data's own 'PrivateTest' split (4 rows) is the test split" in caplog.text
    # evaluate and export recompute a trained model's split: no advice for a config there (found by review)
    caplog.clear()
    assign_splits(s, train_split="Training", val_split="PublicTest", test_split="PrivateTest", test_size=0.2, advise=False)
    assign_splits(s, train_split="Training", val_split="PublicTest", test_split="PrivateTest", folds=3, fold=1, advise=False)
    assert "no effect" not in caplog.text and "left out" not in caplog.text
