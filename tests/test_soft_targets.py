"""Per-sample soft targets: teacher outputs cached once per image, and crowd-vote soft labels."""

import csv

import numpy as np
import pytest
import torch

from facesense.config import load_config
from facesense.data.batches import ArrayDataset, Batches
from facesense.errors import DataError
from facesense.experiment import train
from facesense.preprocess import InputSpec
from facesense.train.distill import Teachers
from facesense.train.soft_labels import check_alignment, crowd_faces, crowd_targets, mixed_targets, non_class_votes, read_votes

from conftest import write_fer_csv

FERPLUS_HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
FER_CODES_TO_FERPLUS = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"}


def config(data, runs, **extra):
    values = {"data": str(data), "model": "resnet_fer_small", "epochs": 2, "batch_size": 8, "runs_dir": str(runs), "seed": 3,
              "train_split": "Training", "val_split": "PublicTest", "augment": {"hflip": True}}
    values.update(extra)
    return load_config(overrides=values)


def write_votes(path, labels, usages, shift=0):
    """FER+ layout: row i votes 7 for the label of row i + shift, 3 split over the rest."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FERPLUS_HEADER)
        for i, usage in enumerate(usages):
            votes = dict.fromkeys(FERPLUS_HEADER[2:], 0)
            votes[FER_CODES_TO_FERPLUS[labels[(i + shift) % len(labels)]]] = 7
            votes["neutral"] += 2
            votes["unknown"] = 1
            w.writerow([usage, f"fer{i:07d}.png"] + list(votes.values()))
    return path


@pytest.fixture
def fer_with_votes(tmp_path):
    labels = [i % 7 for i in range(84)]
    usages = ["Training"] * 70 + ["PublicTest"] * 14
    return write_fer_csv(tmp_path / "fer.csv", labels, usages), labels, usages


def test_cached_teacher_targets_average_image_and_mirror_and_are_reused(tmp_path, folders3):
    teacher = train(config(folders3, tmp_path / "t", task="custom", train_split="train", val_split="val"), progress=False)
    spec = InputSpec(48, 1)
    teachers = Teachers([str(teacher.best_checkpoint)], ["angry", "happy", "sad"], spec, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    data = ArrayDataset(torch.randint(0, 256, (10, 1, 48, 48), dtype=torch.uint8, generator=g), torch.zeros(10, dtype=torch.long), [f"s{i}" for i in range(10)])
    cache = tmp_path / "cache"
    out = teachers.cached_targets(Batches(data, spec, 4, train=False), 2.0, cache, torch.no_grad)
    assert out.shape == (10, 3) and torch.allclose(out.sum(1), torch.ones(10))
    x = next(iter(Batches(data, spec, 10, train=False)))[0]
    expected = (teachers.soft_targets(x, 2.0) + teachers.soft_targets(torch.flip(x, dims=[3]), 2.0)) / 2
    assert torch.allclose(out, expected, atol=1e-5)
    teachers.soft_targets = None  # a second call must read the cache, not score again
    assert torch.equal(teachers.cached_targets(Batches(data, spec, 4, train=False), 2.0, cache, torch.no_grad), out)
    # another temperature is another cache key: it must score again (and fails here)
    with pytest.raises(TypeError):
        teachers.cached_targets(Batches(data, spec, 4, train=False), 3.0, cache, torch.no_grad)
    # so are other images under the same ids (a FER csv of as many rows read the first one's targets; found by a bug hunt)
    other = ArrayDataset(255 - data.images, data.targets, data.ids)
    with pytest.raises(TypeError):
        teachers.cached_targets(Batches(other, spec, 4, train=False), 2.0, cache, torch.no_grad)


def test_a_teacher_sees_faces_normalised_as_it_learned_them_and_refuses_another_crop(tmp_path, folders3):
    """A teacher trained with another input_mean/std was fed the student's batches as they were
    normalised for the student, and one trained on plain crops scored aligned faces, without a
    word (found by a bug hunt)."""
    from facesense.errors import FacesenseError
    from facesense.preprocess import DLIB_CHIP_REFERENCE, normalise

    teacher = str(train(config(folders3, tmp_path / "t", task="custom", train_split="train", val_split="val", epochs=1), progress=False).best_checkpoint)
    classes = ["angry", "happy", "sad"]
    raw = torch.rand(6, 1, 48, 48)
    own = Teachers([teacher], classes, InputSpec(48, 1), torch.device("cpu")).soft_targets(raw, 2.0)
    student = InputSpec(48, 1, mean=0.5, std=0.25)
    other = Teachers([teacher], classes, student, torch.device("cpu")).soft_targets(normalise(raw, student), 2.0)
    assert torch.allclose(other, own, atol=1e-5)
    with pytest.raises(FacesenseError, match="it was trained on plain crops and the student on aligned faces"):
        Teachers([teacher], classes, InputSpec(48, 1, align=DLIB_CHIP_REFERENCE), torch.device("cpu"))


def test_online_teacher_targets_with_distill_flip_average_image_and_mirror(tmp_path, folders3):
    teacher = train(config(folders3, tmp_path / "t", task="custom", train_split="train", val_split="val"), progress=False)
    teachers = Teachers([str(teacher.best_checkpoint)], ["angry", "happy", "sad"], InputSpec(48, 1), torch.device("cpu"))
    x = torch.rand(6, 1, 48, 48)
    both = teachers.soft_targets(x, 2.0, flip=True)
    expected = (teachers.soft_targets(x, 2.0) + teachers.soft_targets(torch.flip(x, dims=[3]), 2.0)) / 2
    assert torch.allclose(both, expected, atol=1e-5) and torch.allclose(both.sum(1), torch.ones(6))
    run = train(config(folders3, tmp_path / "s", task="custom", train_split="train", val_split="val", teacher=[str(teacher.best_checkpoint)], distill_flip=True), progress=False)
    assert run.best_checkpoint.is_file()


def test_training_with_cached_teacher_targets(tmp_path, folders3):
    teacher = train(config(folders3, tmp_path / "t", task="custom", train_split="train", val_split="val"), progress=False)
    run = train(config(folders3, tmp_path / "s", task="custom", train_split="train", val_split="val", teacher=[str(teacher.best_checkpoint)], teacher_mode="cached", distill_weight=1.0), progress=False)
    (path,) = (run.root.parent / ".cache").glob("teacher_targets-*.pt")
    cached = torch.load(path, weights_only=True)["targets"]
    import csv

    n_train = sum(1 for row in csv.DictReader(run.split_manifest.open()) if row["split"] == "train")
    assert cached.shape == (n_train, 3)
    losses = [float(r.split(",")[3]) for r in run.history.read_text().splitlines()[1:]]
    assert all(np.isfinite(losses))


def test_votes_in_ferplus_layout_map_by_class_name(tmp_path, fer_with_votes):
    data, labels, usages = fer_with_votes
    votes_path = write_votes(tmp_path / "votes.csv", labels, usages)
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    ids = [f"row{i + 1}" for i in range(70)]
    votes = read_votes(votes_path, classes, ids, "Training")
    assert votes.shape == (70, 7)
    y = np.array(labels[:70])
    assert (votes[np.arange(70), y] >= 7).all()  # anger -> angry, happiness -> happy, ...
    assert check_alignment(votes_path, votes, y, 7) > 0.8
    mixed = mixed_targets(votes, torch.from_numpy(y), 7, 0.5)
    assert torch.allclose(mixed.sum(1), torch.ones(70))
    assert mixed[0].argmax() == y[0] and mixed[0, y[0]] == pytest.approx(0.5 + 0.5 * 7 / 9)
    run = train(config(data, tmp_path / "runs", soft_labels=str(votes_path), soft_label_weight=0.5), progress=False)
    assert run.best_checkpoint.is_file()


def test_misaligned_vote_tables_are_refused(tmp_path, fer_with_votes):
    data, labels, usages = fer_with_votes
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    ids = [f"row{i + 1}" for i in range(70)]
    shifted = write_votes(tmp_path / "shifted.csv", labels, usages, shift=1)  # same Usage, rows off by one
    with pytest.raises(DataError, match="not in the dataset's row order"):
        check_alignment(shifted, read_votes(shifted, classes, ids, "Training"), np.array(labels[:70]), 7)
    with pytest.raises(DataError, match="not in the dataset's row order"):
        train(config(data, tmp_path / "runs", soft_labels=str(shifted)), progress=False)
    swapped = write_votes(tmp_path / "swapped.csv", labels, ["PublicTest"] + usages[1:])
    with pytest.raises(DataError, match="Usage"):
        read_votes(swapped, classes, ids, "Training")
    short = write_votes(tmp_path / "short.csv", labels[:20], usages[:20])
    with pytest.raises(DataError, match="has 20 rows"):
        read_votes(short, classes, ids, "Training")
    with pytest.raises(DataError, match="no vote column"):
        read_votes(short, ["angry", "calm"], ids, "Training")


def test_vote_table_with_id_column(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("id,man,woman,unsure\nb.jpg,1,3,0\na.jpg,0,0,4\n")
    votes = read_votes(path, ["man", "woman"], ["a.jpg", "b.jpg"])
    assert votes.tolist() == [[0, 0], [1, 3]]
    mixed = mixed_targets(votes, torch.tensor([0, 0]), 2, 1.0)
    assert mixed.tolist() == [[1.0, 0.0], [0.25, 0.75]]  # no votes for a class: the label stays
    with pytest.raises(DataError, match="no row"):
        read_votes(path, ["man", "woman"], ["c.jpg"])


def test_crowd_labels_keep_faces_and_take_the_majority_or_the_shares():
    votes = np.array([[0, 6, 0, 4], [0, 0, 0, 0], [2, 2, 0, 0], [1, 0, 0, 0]], dtype=np.float32)
    other = np.array([[0, 0], [0, 10], [1, 0], [0, 9]], dtype=np.float32)  # unknown, not-a-face
    # row 1: no class vote (a non-face); row 3: the crowd says not-a-face ahead of its one class vote
    assert crowd_faces(votes, other).tolist() == [True, False, True, False]
    assert crowd_faces(votes, np.zeros((4, 0), np.float32)).tolist() == [True, False, True, True]
    hard, one_hot = crowd_targets(votes[[0, 2]], 4, "majority")
    assert hard.tolist() == [1, 0]  # a tie goes to the first class in class order
    assert torch.equal(one_hot, torch.tensor([[0.0, 1, 0, 0], [1, 0, 0, 0]]))
    hard, shares = crowd_targets(votes[[0, 2]], 4, "distribution")
    assert hard.tolist() == [1, 0]
    assert torch.allclose(shares, torch.tensor([[0.0, 0.6, 0, 0.4], [0.5, 0.5, 0, 0]]))


@pytest.mark.parametrize("mode", ["majority", "distribution"])
def test_training_on_crowd_labels_drops_the_rows_the_crowd_rejects(tmp_path, fer_with_votes, mode, caplog):
    data, labels, usages = fer_with_votes
    votes_path = write_votes(tmp_path / "votes.csv", labels, usages)
    rows = list(csv.reader(open(votes_path)))
    for r in (1, 2, 3):  # three training rows the crowd calls not-a-face
        rows[r][2:] = ["0"] * 9 + ["10"]
    with open(votes_path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    ids = [f"row{i + 1}" for i in range(70)]
    assert non_class_votes(votes_path, ids, "Training")[:4, 1].tolist() == [10, 10, 10, 0]
    with caplog.at_level("INFO", logger="facesense"):
        run = train(config(data, tmp_path / "runs", soft_labels=str(votes_path), soft_label_mode=mode), progress=False)
    assert run.best_checkpoint.is_file()
    assert any("67 of 70 training rows kept" in r.getMessage() for r in caplog.records)


def test_crowd_label_modes_need_a_vote_table(tmp_path, fer_with_votes):
    from facesense.errors import ConfigError

    with pytest.raises(ConfigError, match="soft_label_mode=majority needs soft_labels"):
        config(fer_with_votes[0], tmp_path / "runs", soft_label_mode="majority")


def test_a_resume_goes_on_with_a_moved_vote_table_and_refuses_changed_votes(tmp_path, fer_with_votes):
    """soft_labels could not be moved for a resume (the path counted as a changed setting; found
    by review), and nothing noticed other votes under the same name: the checkpoint records the
    votes' digest, so a moved table goes on and other votes are refused."""
    import shutil

    import yaml

    from facesense.errors import FacesenseError

    data, labels, usages = fer_with_votes
    votes_path = write_votes(tmp_path / "votes.csv", labels, usages)
    part = train(config(data, tmp_path / "runs", epochs=3, soft_labels=str(votes_path), soft_label_mode="distribution"), progress=False, stop_after=1)
    moved = tmp_path / "elsewhere" / "votes.csv"
    moved.parent.mkdir()
    shutil.move(votes_path, moved)
    with pytest.raises(FacesenseError, match=r"its soft_labels .*votes.csv is not there \(moved or renamed\?\); put it back, or set `soft_labels:`"):
        train(None, resume=part.root, progress=False)
    edited = yaml.safe_load(part.config.read_text())
    edited["soft_labels"] = str(moved)
    part.config.write_text(yaml.safe_dump(edited, sort_keys=False))
    rows = list(csv.reader(open(moved)))
    rows[1][-1] = "10"  # the crowd now calls the first training row not-a-face (it drops out), under the moved name
    with open(moved, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(FacesenseError, match="its votes for the training rows changed since the run started"):
        train(None, resume=part.root, progress=False)
    write_votes(moved, labels, usages)
    done = train(None, resume=part.root, progress=False)
    assert done.summary.is_file()


def test_a_resume_refuses_a_vote_table_added_or_dropped_since_the_run_started(tmp_path, fer_with_votes):
    """A run started without soft labels went on with vote targets once soft_labels was added to
    its config.yaml, and one started with them (mixed into the labels) went on without them once
    it was set to null (found by review)."""
    import yaml

    from facesense.errors import ConfigError

    data, labels, usages = fer_with_votes
    votes = str(write_votes(tmp_path / "votes.csv", labels, usages))
    for name, started, edited_value, said in (("plain", None, votes, "soft_labels is .*votes.csv', but the run started with None"),
                                              ("mixed", votes, None, "soft_labels is None, but the run started with .*votes.csv")):
        part = train(config(data, tmp_path / "runs", epochs=3, name=name, soft_labels=started), progress=False, stop_after=1)
        edited = yaml.safe_load(part.config.read_text())
        edited["soft_labels"] = edited_value
        part.config.write_text(yaml.safe_dump(edited, sort_keys=False))
        with pytest.raises(ConfigError, match=said):
            train(None, resume=part.root, progress=False)
