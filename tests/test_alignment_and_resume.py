import numpy as np
import pytest
import torch
from torch import nn

from facesense.config import load_config
from facesense.data.batches import ArrayDataset, Batches
from facesense.eval.inference import run_inference
from facesense.experiment import train
from facesense.preprocess import InputSpec
from facesense.runs import RunDir


class EchoLabel(nn.Module):
    """A 'model' that reads the label planted in pixel (0, 0): perfect iff alignment holds."""

    def forward(self, x):
        code = (x[:, 0, 0, 0] * 255).round().long()
        return nn.functional.one_hot(code, 3).float() * 10


def test_shuffled_batches_cannot_misalign_labels():
    n = 50
    targets = torch.arange(n) % 3
    images = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = targets.to(torch.uint8)
    data = ArrayDataset(images, targets, [f"s{i}" for i in range(n)])
    spec = InputSpec(size=4, channels=1)
    # even a shuffling, sampling batch source yields indices that keep labels aligned
    shuffled = Batches(data, spec, 7, train=True, seed=1)
    shuffled._drop_last = lambda n: False
    idx, y, probs, _ = run_inference(EchoLabel(), shuffled, torch.device("cpu"), False)
    assert np.array_equal(idx, np.arange(n))
    assert np.array_equal(probs.argmax(1), y) and np.array_equal(y, targets.numpy())


def test_evaluation_refuses_incomplete_passes():
    targets = torch.arange(10) % 3
    data = ArrayDataset(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), targets, [str(i) for i in range(10)])
    dropping = Batches(data, InputSpec(4, 1), 3, train=True, seed=0)  # drop_last loses a sample
    with pytest.raises(RuntimeError, match="scored"):
        run_inference(EchoLabel(), dropping, torch.device("cpu"), False)


def small_config(data, runs, **extra):
    values = {"data": str(data), "task": "custom", "model": "resnet_fer_small", "epochs": 3, "batch_size": 8, "runs_dir": str(runs), "seed": 7, "augment": {"hflip": True, "rotation": 5}, "reduce_lr_patience": 1}
    values.update(extra)
    return load_config(overrides=values)


def history(run: RunDir):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in torch.load(run.last_checkpoint, weights_only=False)["history"]]


@pytest.mark.parametrize("schedule", [{}, {"lr_schedule": "onecycle", "optimizer": "sgd", "lr": 0.05}, {"augment": {"hflip": True, "degrade": 0.5}}], ids=["plateau", "onecycle", "degrade"])
def test_resume_matches_an_uninterrupted_run(tmp_path, folders3, schedule):
    full = train(small_config(folders3, tmp_path / "a", **schedule), progress=False)
    part = train(small_config(folders3, tmp_path / "b", **schedule), progress=False, stop_after=1)  # "killed" after epoch 1
    assert len(history(part)) == 1 and not part.summary.exists()
    resumed = train(None, resume=part.root, progress=False)
    assert resumed.root == part.root
    a, b = history(full), history(resumed)
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        for key in ra:
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-5), key
    assert resumed.summary.exists()


def test_same_seed_same_metrics(tmp_path, folders3):
    a = train(small_config(folders3, tmp_path / "a", epochs=1), progress=False)
    b = train(small_config(folders3, tmp_path / "b", epochs=1), progress=False)
    assert history(a) == history(b)


def test_transfer_from_a_local_checkpoint_with_frozen_layers(tmp_path, folders3):
    """Fine-tune from our own checkpoint (another class count): matching tensors are copied,
    frozen ones do not move, the new head trains."""
    from facesense.checkpoint import load_model

    source = train(small_config(folders3, tmp_path / "src", epochs=1), progress=False)
    cfg = small_config(folders3, tmp_path / "dst", epochs=1, init_from=str(source.best_checkpoint), freeze=["stem", "features.0"], augment={})
    target = train(cfg, progress=False)
    before, after = load_model(source.best_checkpoint).model.state_dict(), load_model(target.best_checkpoint).model.state_dict()
    for name in before:
        if name.startswith(("stem", "features.0")):
            assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before["head.3.weight"], after["head.3.weight"])


def test_bad_transfer_inputs(tmp_path, folders3):
    from facesense.errors import FacesenseError

    with pytest.raises(FacesenseError, match="not found"):
        train(small_config(folders3, tmp_path, init_from=str(tmp_path / "none.pt")), progress=False)
    with pytest.raises(FacesenseError, match="top-level names"):
        train(small_config(folders3, tmp_path, freeze=["backbone"]), progress=False)
    # layers are named part by part: _blocks.1 froze _blocks.10-15 too, and a typo 'ste' froze stem (found by a bug hunt)
    from facesense.train.init import frozen_by

    assert frozen_by("features.1.weight", ["features.1"]) and not frozen_by("features.10.weight", ["features.1"])
    assert frozen_by("features.1.0.weight", ["features.1."]) and not frozen_by("stem.0.weight", ["ste"])
    with pytest.raises(FacesenseError, match=r"no layer is named \['ste'\]"):
        train(small_config(folders3, tmp_path, freeze=["ste"]), progress=False)
    # without init_from a frozen layer keeps its random start for the whole run (found by a bug hunt)
    with pytest.raises(FacesenseError, match=r"freeze=\['head'\] without init_from: those layers would stay at their random starting values"):
        train(small_config(folders3, tmp_path / "nofrom", freeze=["head"]), progress=False)
    assert not (tmp_path / "nofrom").exists()
    # a 3-channel checkpoint's first layer cannot load into a 1-channel model: frozen, it stayed random (found by a bug hunt)
    colour = train(small_config(folders3, tmp_path / "rgb", epochs=1, channels=3), progress=False)
    with pytest.raises(FacesenseError, match=r"freeze=\['stem'\]: stem.0.weight would stay frozen at random values"):
        train(small_config(folders3, tmp_path / "grey", init_from=str(colour.best_checkpoint), freeze=["stem"]), progress=False)
    assert not (tmp_path / "grey").exists() or not any((tmp_path / "grey").rglob("config.yaml"))


def test_distillation_pulls_the_student_towards_its_teachers(tmp_path, folders3, caplog):
    """With distill_weight=1 the labels play no part: the student's loss is the KL divergence to
    the averaged teachers, which falls as it trains; a teacher for other classes is refused. A
    teacher that trained on the student's validation rows (another seed's draw) is said to
    (found by a bug hunt: accepted without a word)."""
    from facesense.train.distill import Teachers, distillation_loss
    from facesense.errors import FacesenseError

    teacher = train(small_config(folders3, tmp_path / "t", epochs=3), progress=False)
    cfg = small_config(folders3, tmp_path / "s", epochs=3, teacher=[str(teacher.best_checkpoint)] * 2, distill_weight=1.0, augment={})
    student = train(cfg, progress=False)
    assert "trained on" not in caplog.text  # the same draw: its validation rows were the teacher's too
    train(small_config(folders3, tmp_path / "s2", epochs=1, seed=5, teacher=[str(teacher.best_checkpoint)]), progress=False)
    import re

    said = re.search(r"trained on (\d+) of this run's (\d+) validation rows \(the same pixels\)", caplog.text)
    assert f"teacher={teacher.best_checkpoint} trained on " in caplog.text and said and 0 < int(said[1]) <= int(said[2]), caplog.text
    losses = [float(r.split(",")[3]) for r in student.history.read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]
    soft = torch.tensor([[0.5, 0.5]])
    assert distillation_loss(torch.log(soft), soft, 4.0).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(FacesenseError, match="classes"):
        Teachers([str(teacher.best_checkpoint)], ["a", "b"], InputSpec(48, 1), torch.device("cpu"))


def test_teachers_score_the_face_that_the_student_sees_degraded(tmp_path, folders3, monkeypatch):
    """augment.degrade=1 with a teacher: the student trains on a degraded copy of each batch and
    the teacher scores the batch as it was, so its targets are those of the undegraded face."""
    from facesense.train import distill, loop

    teacher = train(small_config(folders3, tmp_path / "t", epochs=1, augment={}), progress=False)
    scored, degraded = [], []
    soft_targets, to_degraded = distill.Teachers.soft_targets, loop.Trainer._degraded

    def spy_teacher(self, x, *args, **kwargs):
        scored.append(x.clone())
        return soft_targets(self, x, *args, **kwargs)

    def spy_degrade(self, x):
        out = to_degraded(self, x)
        degraded.append((x.clone(), out))
        return out

    student_inputs = []
    build = loop.build_model

    def spy_build(*args, **kwargs):  # the student network records what it trains on
        net = build(*args, **kwargs)
        net.register_forward_pre_hook(lambda module, inputs: student_inputs.append(inputs[0].detach().clone()) if module.training else None)
        return net

    monkeypatch.setattr(distill.Teachers, "soft_targets", spy_teacher)
    monkeypatch.setattr(loop.Trainer, "_degraded", spy_degrade)
    monkeypatch.setattr(loop, "build_model", spy_build)
    train(small_config(folders3, tmp_path / "s", epochs=1, teacher=[str(teacher.best_checkpoint)], augment={"degrade": 1.0}), progress=False)
    assert scored and len(scored) == len(degraded) == len(student_inputs)
    for teacher_x, (clean, degraded_x), student_x in zip(scored, degraded, student_inputs):
        assert torch.equal(teacher_x, clean)
        assert torch.equal(student_x, degraded_x)
        assert (degraded_x != clean).flatten(1).any(1).all()  # every face degraded


def test_training_without_validation_keeps_the_last_epoch(tmp_path, folders3):
    """val_size=0 (a model trained on all the data): callbacks watch the training loss, best.pt
    is the last epoch and the summary says so."""
    import json

    run = train(small_config(folders3, tmp_path, epochs=2, val_size=0.0, test_split=None), progress=False)
    summary = json.loads(run.summary.read_text())
    assert summary["samples"]["val"] == 0 and summary["best_epoch"] == summary["epochs_run"] == 2
    assert "best_train_loss" in summary
    best, last = (torch.load(p, weights_only=False) for p in (run.best_checkpoint, run.last_checkpoint))
    assert best["epoch"] == last["epoch"] == 2


def test_weight_averaging_over_the_last_epochs_survives_a_kill(tmp_path, folders3):
    """swa_start=2 of 3 epochs at swa_lr: the summary reports 2 averaged epochs and their
    validation; a run killed inside the averaging window and resumed ends with the same weights."""
    import json

    extra = {"swa_start": 2, "swa_lr": 0.004}
    full = train(small_config(folders3, tmp_path / "a", **extra), progress=False)
    summary = json.loads(full.summary.read_text())
    assert summary["swa"]["epochs_averaged"] == 2 and 0 <= summary["swa"]["val_accuracy"] <= 1
    assert [round(r["lr"], 6) for r in history(full)][1:] == [0.004, 0.004]
    part = train(small_config(folders3, tmp_path / "b", **extra), progress=False, stop_after=2)
    assert not part.summary.exists()
    resumed = train(None, resume=part.root, progress=False)
    assert json.loads(resumed.summary.read_text())["swa"] == pytest.approx(summary["swa"], rel=1e-4, abs=1e-5)
    a, b = (torch.load(r.best_checkpoint, weights_only=False)["model_state"] for r in (full, resumed))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    from facesense.errors import ConfigError

    with pytest.raises(ConfigError, match="swa_start"):
        small_config(folders3, tmp_path, swa_start=9)


def test_weight_averaging_stopped_during_its_final_step_resumes_to_the_same_weights(tmp_path, folders3, monkeypatch):
    """A Ctrl-C after the last epoch, while the average's batch-norm statistics were re-estimated,
    resumed with the training batches at epoch 0 (no epoch is trained again): another shuffle,
    other statistics, another best.pt and other figures than the uninterrupted run's (found by a
    bug hunt: val accuracy 0.275 against 0.270)."""
    import json

    from facesense.train.loop import Trainer

    extra = {"swa_start": 2, "swa_lr": 0.004, "batch_size": 5}  # 38 training images: 3 left out of each epoch's batches
    full = train(small_config(folders3, tmp_path / "a", **extra), progress=False)
    finish = Trainer._finish_swa

    def stopped(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_finish_swa", stopped)
    with pytest.raises(KeyboardInterrupt):
        train(small_config(folders3, tmp_path / "b", **extra), progress=False)
    monkeypatch.setattr(Trainer, "_finish_swa", finish)
    part = RunDir(tmp_path / "b" / "custom" / "resnet_fer_small-1")
    assert part.last_checkpoint.is_file() and not part.summary.exists()
    resumed = train(None, resume=part.root, progress=False)
    a, b = (torch.load(r.best_checkpoint, weights_only=False)["model_state"] for r in (full, resumed))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    assert json.loads(resumed.summary.read_text())["swa"] == pytest.approx(json.loads(full.summary.read_text())["swa"], rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("key", ["init_from", "teacher"])
def test_a_missing_start_or_teacher_checkpoint_fails_before_any_image_is_read(tmp_path, folders3, capsys, key):
    """A missing init_from or teacher file is named in one line before the data are read (a
    broken image would fail first otherwise), and no run folder is left behind."""
    from facesense.cli import main

    next((folders3 / "angry").iterdir()).write_bytes(b"not an image")
    missing = tmp_path / "nope" / "best.pt"
    value = str(missing) if key == "init_from" else f"[{missing}]"
    args = ["train", "task=custom", f"data={folders3}", "model=resnet_fer_small", f"{key}={value}", f"runs_dir={tmp_path / 'runs'}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{key}={missing}: file not found" in err and "not an image" not in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_a_finished_run_and_changed_data(tmp_path, folders3):
    """Resuming a finished run would retrain (or re-average) into its best.pt; resuming on data
    that changed since the start would mix two datasets in one run."""
    from facesense.errors import FacesenseError

    done = train(small_config(folders3, tmp_path / "a", epochs=1), progress=False)
    best = done.best_checkpoint.read_bytes()
    with pytest.raises(FacesenseError, match="this run has finished"):
        train(None, resume=done.root, progress=False)
    assert done.best_checkpoint.read_bytes() == best
    part = train(small_config(folders3, tmp_path / "b"), progress=False, stop_after=1)
    extra = folders3 / "happy" / "happy_0.png"
    extra.rename(folders3 / "sad" / "moved.png")
    with pytest.raises(FacesenseError, match="the data changed since the run started"):
        train(None, resume=part.root, progress=False)


def test_resume_says_when_an_image_was_replaced_under_the_same_name(tmp_path, folders3, caplog):
    """Its id and label unchanged, an image with other pixels went unnoticed: the resumed epochs
    trained on another dataset than the first. A newer image library can decode a JPEG a little
    differently, so this warns (with the count and a file) instead of refusing."""
    from PIL import Image

    part = train(small_config(folders3, tmp_path), progress=False, stop_after=1)
    train(None, resume=part.root, progress=False, stop_after=2)
    assert "other pixels than when the run started" not in caplog.text
    Image.fromarray(np.full((48, 48), 7, np.uint8)).save(folders3 / "happy" / "happy_3.png")
    train(None, resume=part.root, progress=False)
    assert "1 image(s) have other pixels than when the run started (e.g. happy/happy_3.png)" in caplog.text


def test_a_new_run_names_the_killed_one_it_could_resume(tmp_path, folders3, caplog):
    """Rerunning the command after a kill starts name-2; it says how to continue name-1 instead."""
    killed = train(small_config(folders3, tmp_path), progress=False, stop_after=1)
    again = train(small_config(folders3, tmp_path, epochs=1), progress=False)
    assert again.root != killed.root and again.summary.exists()
    assert f"{killed.root} stopped before it finished" in caplog.text and f"--resume {killed.root}" in caplog.text
    caplog.clear()
    train(small_config(folders3, tmp_path, epochs=1), progress=False)
    assert caplog.text.count("stopped before it finished") == 1  # the finished name-2 is not named
    from facesense.runs import unfinished_runs

    other = tmp_path / "custom" / "resnet_fer_small-x-1"  # a killed run of another name, ending in -x-1
    other.mkdir()
    (other / "last.pt").write_bytes(b"")
    assert [r.root.name for r in unfinished_runs(tmp_path, "custom", "resnet_fer_small-x")] == ["resnet_fer_small-x-1"]
    assert [r.root for r in unfinished_runs(tmp_path, "custom", "resnet_fer_small")] == [killed.root]  # not name-x-1


def test_resume_does_not_need_the_starting_weights_file(tmp_path, folders3):
    """After its first checkpoint a run's weights come from last.pt: the init_from file may be
    gone. A run folder is accepted as init_from (its best.pt)."""
    start = train(small_config(folders3, tmp_path / "start", epochs=1), progress=False)
    copy = tmp_path / "start.pt"
    copy.write_bytes(start.best_checkpoint.read_bytes())
    part = train(small_config(folders3, tmp_path / "b", init_from=str(copy)), progress=False, stop_after=1)
    copy.unlink()
    assert train(None, resume=part.root, progress=False).summary.is_file()
    assert torch.load(part.last_checkpoint, weights_only=False)["config"]["init_from"] == str(copy)  # the record keeps it
    assert train(small_config(folders3, tmp_path / "c", epochs=1, init_from=str(start.root)), progress=False).summary.is_file()


def test_keep_last_reports_the_last_epochs_value(tmp_path, folders3):
    import json

    run = train(small_config(folders3, tmp_path, keep="last", lr=0.05), progress=False)
    summary = json.loads(run.summary.read_text())
    assert summary["best_epoch"] == 3 and summary["kept"] == "last"  # it read as picked by the monitor (found by a bug hunt)
    assert summary["best_val_loss"] == pytest.approx(history(run)[-1]["val_loss"])


def test_keep_last_is_said_as_the_last_epoch_not_the_best(tmp_path, folders3, caplog):
    """keep=last printed "best epoch 3 (by val_loss)" for the last epoch (found by a bug hunt)."""
    from facesense.cli import main

    assert main(["train", f"data={folders3}", "task=custom", "model=resnet_fer_small", "epochs=2", "batch_size=8", "keep=last", f"runs_dir={tmp_path}"]) == 0
    assert "last epoch 2 kept (keep=last): val accuracy" in caplog.text and "best epoch" not in caplog.text


def test_keep_last_with_weight_averaging_reports_what_best_pt_holds(tmp_path, folders3):
    """keep=last: the average replaces best.pt when it beats the last epoch, and the summary's
    value is then the average's."""
    import json

    run = train(small_config(folders3, tmp_path, keep="last", swa_start=2, lr=0.05), progress=False)
    summary = json.loads(run.summary.read_text())
    last = history(run)[-1]["val_loss"]
    assert summary["swa"]["used_as_best"] == (summary["swa"]["val_loss"] < last)
    assert summary["kept"] == ("average" if summary["swa"]["used_as_best"] else "last")  # what best.pt holds (found by review)
    assert summary["best_val_loss"] == pytest.approx(summary["swa"]["val_loss"] if summary["swa"]["used_as_best"] else last)


def test_a_diverged_run_fails_and_leaves_no_folder(tmp_path, folders3):
    """A validation loss of nan means the weights overflowed: one line, and (no checkpoint yet)
    no run folder."""
    from facesense.errors import FacesenseError

    with pytest.raises(FacesenseError, match="training diverged at epoch 1"):
        train(small_config(folders3, tmp_path / "runs", optimizer="sgd", lr=1e20, amp="off"), progress=False)
    assert not any(p.is_file() for p in (tmp_path / "runs").rglob("*"))


def test_weight_averaging_keeps_frozen_batch_norm_statistics(tmp_path, folders3):
    """update_bn re-estimates every batch-norm layer of the average; the frozen ones must keep the
    statistics they started with."""
    start = train(small_config(folders3, tmp_path / "start", epochs=1), progress=False)
    run = train(small_config(folders3, tmp_path / "b", init_from=str(start.root), freeze=["stem"], swa_start=1, lr=1e-4), progress=False)
    before, after = (torch.load(r.best_checkpoint, weights_only=False)["model_state"] for r in (start, run))
    stem = [k for k in before if k.startswith("stem") and k.endswith(("running_mean", "running_var"))]
    assert stem and all(torch.equal(before[k], after[k]) for k in stem)


def test_scientific_notation_is_a_number():
    """YAML 1.1 reads 1e-3 (no dot) as a string; a float setting takes it as the number."""
    assert load_config(overrides=["lr=1e-3", "swa_start=1", "swa_lr=5e-4"]).lr == pytest.approx(0.001)


def test_resume_writes_the_run_inputs_a_kill_left_out(tmp_path, folders3):
    """config.yaml (what --resume looks for) is written after labels.json and split_manifest.csv;
    a run that has it but lost the others (killed between them by an older version) gets them
    back on resume, so its data check and its record are whole."""
    part = train(small_config(folders3, tmp_path, epochs=2), progress=False, stop_after=1)
    manifest = part.split_manifest.read_text()
    part.labels.unlink()
    part.split_manifest.unlink()
    done = train(None, resume=part.root, progress=False)
    assert done.labels.is_file() and done.split_manifest.read_text() == manifest and done.summary.is_file()


def test_init_from_names_the_tensors_that_start_afresh(tmp_path, caplog):
    """init_from said "loaded 37 of 38 tensors" and not which one started afresh (the last
    layer, for another class count; found by a bug hunt)."""
    import logging

    import torch

    from facesense.models import build_model
    from facesense.train.init import load_backbone

    seven = build_model("resnet_fer_small", num_outputs=7, in_channels=1, image_size=48)
    torch.save(seven.state_dict(), tmp_path / "seven.pt")
    two = build_model("resnet_fer_small", num_outputs=2, in_channels=1, image_size=48)
    with caplog.at_level(logging.INFO):
        loaded = load_backbone(two, tmp_path / "seven.pt")
    fresh = [k for k in two.state_dict() if k not in loaded]
    assert fresh and f"loaded {len(loaded)} of {len(two.state_dict())} tensors; starting afresh: {', '.join(fresh)}" in caplog.text
