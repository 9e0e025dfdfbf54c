"""Resuming a run as people do after a kill: after it had stopped early, with last.pt lost or
damaged, while another process still trains it, and with a kill's temp files left behind."""

import json
import subprocess
import sys

import pytest
import torch

from facesense.errors import FacesenseError
from facesense.experiment import train
from facesense.runs import being_trained, host_name, training_lock

from test_alignment_and_resume import small_config


def epochs_in(run):
    return [row["epoch"] for row in torch.load(run.last_checkpoint, weights_only=False)["history"]]


def test_a_run_resumed_after_early_stopping_trains_no_more_epochs(tmp_path, folders3, caplog):
    """Killed during the final evaluation of a run that early stopping had ended: the resume
    trained one more epoch past the stop, and could have replaced best.pt with it."""
    cfg = small_config(folders3, tmp_path, epochs=10, early_stopping=1, monitor="val_accuracy", lr=1e-12, min_lr=0)
    with caplog.at_level("INFO", logger="facesense"):
        run = train(cfg, progress=False)
    summary = json.loads(run.summary.read_text())
    assert summary["stopped_early"] and summary["epochs_run"] < 10
    # and the console says why the epochs ended (only train_summary.json did; found by a bug hunt)
    assert f"early stopping: val_accuracy has not improved for 1 epoch (early_stopping 1): stopped after epoch {summary['epochs_run']} of 10" in caplog.text
    best = run.best_checkpoint.read_bytes()
    run.summary.unlink()  # as a kill during the final evaluation leaves it
    train(None, resume=run.root, progress=False)
    again = json.loads(run.summary.read_text())
    assert again["epochs_run"] == summary["epochs_run"] and again["stopped_early"]
    assert epochs_in(run) == list(range(1, summary["epochs_run"] + 1))
    assert run.best_checkpoint.read_bytes() == best


def test_resume_goes_on_from_best_pt_when_last_pt_is_lost(tmp_path, folders3, caplog):
    """With last.pt gone, the resume said "killed before its first checkpoint", started again
    from epoch 1 and overwrote best.pt; a damaged last.pt was named without a way forward."""
    # a rate too small to change the validation accuracy: epoch 1 stays the best
    run = train(small_config(folders3, tmp_path, epochs=4, monitor="val_accuracy", lr=1e-12, min_lr=0), progress=False, stop_after=3)
    assert torch.load(run.best_checkpoint, weights_only=False)["epoch"] == 1
    run.last_checkpoint.write_bytes(run.last_checkpoint.read_bytes()[:1000])
    with pytest.raises(FacesenseError, match=r"last.pt: not a readable checkpoint .*\); delete last.pt to go on from best.pt") as refused:
        train(None, resume=run.root, progress=False)
    assert "give " not in str(refused.value)  # "give best.pt" could not be followed: --resume takes a run folder (found by a bug hunt)
    run.last_checkpoint.unlink()
    train(None, resume=run.root, progress=False)
    assert "last.pt is missing; going on from best.pt" in caplog.text and "before its first checkpoint" not in caplog.text
    assert epochs_in(run) == [1, 2, 3, 4]  # epochs 2 and 3 trained again after the best one
    assert run.history.read_text().count("\n") == 5  # the header and one row per epoch
    summary = json.loads(run.summary.read_text())
    assert summary["epochs_run"] == 4 and summary["best_epoch"] == 1


def test_a_run_that_another_process_trains_is_not_resumed(tmp_path, folders3):
    """Two processes resuming one run wrote the same checkpoints from two trajectories."""
    run = train(small_config(folders3, tmp_path), progress=False, stop_after=1)
    before = run.last_checkpoint.read_bytes()
    with training_lock(run):  # as the process still training it holds
        with pytest.raises(FacesenseError, match="another process is training this run now"):
            train(None, resume=run.root, progress=False)
        assert being_trained(run)  # a new run of the same name says so instead of offering to resume it
    assert not being_trained(run)
    assert run.last_checkpoint.read_bytes() == before
    assert train(None, resume=run.root, progress=False).summary.is_file()  # released with its holder


def test_resume_removes_the_temp_files_a_kill_left(tmp_path, folders3):
    """A kill while best.pt was being written left its temp file (a whole checkpoint) in the
    finished run: it was only removed when best.pt was next written."""
    run = train(small_config(folders3, tmp_path, epochs=2), progress=False, stop_after=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    left = [run.root / f".{name}.{dead}.{host_name()}.deadbeef.tmp" for name in ("best.pt", "last.pt")]
    for path in left:
        path.write_bytes(b"half a checkpoint")
    train(None, resume=run.root, progress=False)
    assert not any(path.exists() for path in left)


def _edit(run, **values):
    import yaml

    cfg = yaml.safe_load(run.config.read_text())
    cfg.update(values)
    run.config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_a_resume_refuses_a_config_yaml_edited_since_the_run_started(tmp_path, folders3, capsys):
    """Edits to config.yaml before --resume: another model gave a traceback loading its weights,
    classes in another order silently swapped what the head's outputs mean, another lr was
    ignored while the file recorded it, fewer epochs than trained ended with epochs_run > epochs_max
    (found by a bug hunt). Each is one line naming the key and both values, exit 2; a longer run
    on a constant schedule, or data moved elsewhere, goes on."""
    from facesense.cli import main

    part = train(small_config(folders3, tmp_path, epochs=3, classes=["angry", "happy", "sad"], reduce_lr_patience=None), progress=False, stop_after=2)
    original = part.config.read_text()
    for values, said in (({"model": "emotion_model_3"}, "model is 'emotion_model_3', but the run started with 'resnet_fer_small'"),
                         ({"classes": ["happy", "angry", "sad"]}, "classes is ['happy', 'angry', 'sad'], but the run started with ['angry', 'happy', 'sad']"),
                         ({"lr": 0.5}, "lr is 0.5, but the run started with 0.001"),
                         ({"epochs": 1}, "epochs 1: the run has trained 2 epochs already")):
        _edit(part, **values)
        assert main(["train", "--resume", str(part.root), "-q"]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        part.config.write_text(original)
    assert len(epochs_in(part)) == 2
    moved = tmp_path / "moved"
    folders3.rename(moved)
    _edit(part, epochs=4, data=str(moved))
    done = train(None, resume=part.root, progress=False)
    assert json.loads(done.summary.read_text())["epochs_run"] == 4


def test_a_resume_without_its_split_manifest_still_notices_other_data(tmp_path, folders3):
    """With split_manifest.csv deleted, the resume trained on other data without a word (found by a bug hunt)."""
    part = train(small_config(folders3, tmp_path), progress=False, stop_after=1)
    part.split_manifest.unlink()
    (folders3 / "sad" / "sad_0.png").unlink()
    with pytest.raises(FacesenseError, match="the data changed since the run started"):
        train(None, resume=part.root, progress=False)


def test_a_resume_refuses_a_teacher_changed_since_the_run_started(tmp_path, folders3):
    """Distillation went on from another teacher file under the same name (found by a bug hunt)."""
    import shutil

    first = train(small_config(folders3, tmp_path / "t1", epochs=1), progress=False)
    other = train(small_config(folders3, tmp_path / "t2", epochs=1, seed=3), progress=False)
    teacher = tmp_path / "teacher.pt"
    shutil.copy(first.best_checkpoint, teacher)
    part = train(small_config(folders3, tmp_path / "s", teacher=[str(teacher)]), progress=False, stop_after=1)
    shutil.copy(other.best_checkpoint, teacher)
    with pytest.raises(FacesenseError, match="teacher=.*teacher.pt: the file changed since the run started"):
        train(None, resume=part.root, progress=False)
    # the same bytes moved elsewhere, config.yaml pointed at them: goes on (was refused as a changed setting; found by review)
    moved = tmp_path / "models" / "teacher.pt"
    moved.parent.mkdir()
    shutil.copy(first.best_checkpoint, moved)
    teacher.unlink()
    _edit(part, teacher=[str(moved)])
    done = train(None, resume=part.root, progress=False)
    assert len(epochs_in(done)) == 3


def test_compare_of_a_run_in_training_or_missing_its_report_says_what_it_is(tmp_path, folders3):
    """compare told to resume a run another process was training (the lock refuses that), and
    called a run whose eval_val/ was deleted one 'trained without a validation split' (found by a bug hunt)."""
    import shutil

    from facesense.eval.compare import compare_runs

    done = train(small_config(folders3, tmp_path, epochs=1), progress=False)
    shutil.rmtree(done.eval_dir("val"))
    with pytest.raises(FacesenseError, match="its validation report eval_val/metrics.json is missing"):
        compare_runs([done.root], tmp_path / "cmp")
    part = train(small_config(folders3, tmp_path / "p"), progress=False, stop_after=1)
    with pytest.raises(FacesenseError, match="finish it with `facesense train --resume"):
        compare_runs([part.root], tmp_path / "cmp")
    with training_lock(part):
        with pytest.raises(FacesenseError, match="still being trained"):
            compare_runs([part.root], tmp_path / "cmp")


def test_a_resume_whose_data_moved_says_where_to_point_it(tmp_path, folders3, capsys):
    """The data moved: the resume said only 'dataset ... does not exist; give a folder tree, a
    FER2013 csv or a labels.csv' (found by a bug hunt); --split-from of a model that is not
    there did not name the option."""
    from facesense.cli import main

    part = train(small_config(folders3, tmp_path), progress=False, stop_after=1)
    folders3.rename(tmp_path / "elsewhere")
    assert main(["train", "--resume", str(part.root), "-q"]) == 2
    err = capsys.readouterr().err
    assert "is not there (moved or renamed?)" in err and "set `data:` in" in err
    assert main(["evaluate", "gender", "--data", str(tmp_path / "elsewhere"), "--split", "val", "--split-from", "nosuch", "--out", str(tmp_path / "e")]) == 2
    assert "--split-from nosuch: model nosuch not found" in capsys.readouterr().err


def test_a_run_without_best_pt_is_used_through_its_last_pt_with_a_note(tmp_path, caplog):
    """A run folder holding only last.pt was used silently: its latest epoch, not its best."""
    from facesense.checkpoint import resolve_model_path
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"x")
    with caplog.at_level("WARNING", logger="facesense"):  # a warning: an export of it was silent (found by a bug hunt)
        assert resolve_model_path(run) == run / "last.pt"
    assert "no best.pt in this run; its last.pt is used (the latest epoch, not the best)" in caplog.text
    (run / "best.pt").write_bytes(b"x")
    caplog.clear()
    assert resolve_model_path(run) == run / "best.pt" and "last.pt is used" not in caplog.text


def test_an_interrupt_during_the_final_evaluation_names_the_resume(tmp_path, folders3, monkeypatch, caplog):
    """Ctrl-C after the last epoch, while the run was scored, said "before training started;
    nothing was written" with no way on (found by a bug hunt)."""
    import facesense.experiment as experiment

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    cfg = small_config(folders3, tmp_path, epochs=2)
    with monkeypatch.context() as m:
        m.setattr(experiment, "evaluate_split", interrupted)
        with pytest.raises(KeyboardInterrupt, match=r"its training is done; `facesense train --resume .*` writes the run's final evaluation and summary"):
            train(cfg, progress=False)
    run = next(tmp_path.rglob("last.pt")).parent
    assert not (run / "train_summary.json").exists()
    with caplog.at_level("INFO", logger="facesense"):
        train(None, resume=run, progress=False)
    assert "its training is done (2 epochs); its final evaluation follows" in caplog.text
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs_run"] == 2 and (run / "eval_val" / "metrics.json").is_file()
    # a run that early stopping ended: "resumed at epoch N+1" of a run that trains no more (found by a review)
    stopped = small_config(folders3, tmp_path / "stopped", epochs=10, early_stopping=1, monitor="val_accuracy", lr=1e-12, min_lr=0)
    with monkeypatch.context() as m:
        m.setattr(experiment, "evaluate_split", interrupted)
        with pytest.raises(KeyboardInterrupt, match="its training is done"):
            train(stopped, progress=False)
    run = next((tmp_path / "stopped").rglob("last.pt")).parent
    caplog.clear()
    with caplog.at_level("INFO", logger="facesense"):
        train(None, resume=run, progress=False)
    epochs = json.loads((run / "train_summary.json").read_text())["epochs_run"]
    assert epochs < 10 and f"its training is done ({epochs} epochs); its final evaluation follows" in caplog.text and "at epoch" not in caplog.text


def test_the_hint_to_train_longer_fits_the_runs_schedule(tmp_path, capsys):
    """`--resume RUN epochs=N` advised raising epochs in config.yaml, which the resume then refuses
    for a cosine or one-cycle run (every shipped config's schedule; found by a bug hunt)."""
    from facesense.cli import main

    for schedule, hint in (("cosine", "its cosine learning rate runs over the epochs it started with, so to train longer start a new run of 30 more epochs from its weights: "
                                      f"facesense train {tmp_path / 'cosine' / 'config.yaml'} init_from={tmp_path / 'cosine' / 'best.pt'} epochs=30"),
                           ("constant", "to train longer, raise epochs in its config.yaml")):
        (tmp_path / schedule).mkdir()
        (tmp_path / schedule / "config.yaml").write_text(f"task: custom\nlr_schedule: {schedule}\nepochs: 3\n")
        assert main(["train", "--resume", str(tmp_path / schedule), "epochs=30"]) == 2
        assert hint in capsys.readouterr().err
    # a path with a space, quoted for the shell (found by review)
    (tmp_path / "my runs").mkdir()
    (tmp_path / "my runs" / "config.yaml").write_text("task: custom\nlr_schedule: onecycle\nepochs: 3\n")
    assert main(["train", "--resume", str(tmp_path / "my runs"), "epochs=30"]) == 2
    assert f"facesense train '{tmp_path / 'my runs' / 'config.yaml'}' 'init_from={tmp_path / 'my runs' / 'best.pt'}' epochs=30" in capsys.readouterr().err


def test_the_hint_to_train_a_finished_run_longer_is_a_new_run(tmp_path, capsys):
    """`--resume FINISHED epochs=2` advised raising epochs in its config.yaml; done so, the resume
    refused the finished run ("start a new run") without saying how (found by a newcomer's trial).
    Both now give the new run from its weights."""
    from facesense.cli import main

    run = tmp_path / "done"
    run.mkdir()
    (run / "config.yaml").write_text("task: custom\nlr_schedule: constant\nepochs: 3\n")
    (run / "train_summary.json").write_text("{}")
    command = f"facesense train {run / 'config.yaml'} init_from={run / 'best.pt'} epochs="
    assert main(["train", "--resume", str(run), "epochs=30"]) == 2
    err = capsys.readouterr().err
    assert f"it has finished, so to train longer start a new run of 30 more epochs from its weights: {command}30" in err and "raise epochs" not in err
    assert main(["train", "--resume", str(run)]) == 2
    assert f"this run has finished (see train_summary.json); to train more, start a new run from its weights: {command}N" in capsys.readouterr().err
