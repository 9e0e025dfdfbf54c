"""Ctrl-C (SIGINT) during train, evaluate and live: exit 130, finished outputs intact, no temp
file left, and an interrupted training run resumes."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facesense.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"


def temp_files(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*") if ".tmp" in p.name]


def test_ctrl_c_during_training_keeps_a_resumable_run(tmp_path, folders3, monkeypatch, capsys, caplog):
    from facesense import cli

    class InterruptAfterFirstEpoch(logging.LoggerAdapter):
        def info(self, msg, *args, **kwargs):
            if str(msg).startswith("epoch"):
                raise KeyboardInterrupt  # what SIGINT raises in the main thread
            super().info(msg, *args, **kwargs)

    monkeypatch.setattr(cli, "log", InterruptAfterFirstEpoch(logging.getLogger("facesense"), {}))
    argv = ["train", f"data={folders3}", "task=custom", "model=resnet_fer_small", "epochs=2", "batch_size=8", f"runs_dir={tmp_path}", "image_size=32", "-q"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    [run] = list((tmp_path / "custom").iterdir())
    assert f"interrupted; the run continues from its last checkpoint with `facesense train --resume {run}`" in err  # the folder, not RUN_DIR
    assert (run / "last.pt").is_file() and not (run / "train_summary.json").exists()
    assert not temp_files(tmp_path)
    monkeypatch.undo()
    # predict with the stopped run says so, as evaluate and export do (found by a newcomer's trial)
    photo = next(folders3.rglob("*.png"))
    assert main(["predict", str(run), str(photo), "--crops"]) == 0
    assert f"{run} is not finished (finish it with `facesense train --resume {run}`): these are the predictions of its best epoch so far" in caplog.text
    assert main(["train", "--resume", str(run), "-q"]) == 0
    with open(run / "history.csv") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]


def test_a_full_disk_mid_run_says_the_epochs_so_far_are_kept_and_how_to_go_on(tmp_path, folders3, monkeypatch, capsys):
    """A full disk at epoch 2's checkpoint: "cannot be written: the disk is full; free space or
    choose another place", not that epoch 1's checkpoint was kept and resumes (found by a bug hunt)."""
    import errno

    from facesense import checkpoint
    from facesense.runs import atomic_path

    real_save, saves = checkpoint.save_payload, []

    def full_at_the_second_epoch(payload, path):
        saves.append(Path(path).name)
        if saves.count("last.pt") == 2:
            with atomic_path(path) as tmp:  # as a write into a full disk fails
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
        real_save(payload, path)

    monkeypatch.setattr(checkpoint, "save_payload", full_at_the_second_epoch)
    argv = ["train", f"data={folders3}", "task=custom", "model=resnet_fer_small", "epochs=3", "batch_size=8", f"runs_dir={tmp_path}", "image_size=32", "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    [run] = list((tmp_path / "custom").iterdir())
    assert "the disk is full" in err and f"the epochs before it are kept: once there is room, `facesense train --resume {run}` continues the run" in err, err
    assert (run / "last.pt").is_file() and not temp_files(tmp_path)


def test_ctrl_c_during_evaluate_keeps_the_finished_report(tmp_path, monkeypatch, capsys):
    from conftest import write_class_folders
    from facesense.eval import report

    data = write_class_folders(tmp_path / "g", ["man", "woman"], 4, colour=True, size=64)
    out = tmp_path / "eval"
    assert main(["evaluate", "gender", "--data", str(data), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "plot_reliability", interrupted)  # mid-way through writing the report
    assert main(["evaluate", "gender", "--data", str(data), "--out", str(out)]) == 130
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before and not temp_files(tmp_path)  # the whole earlier report, not a mix of two


def test_a_killed_rerun_leaves_earlier_outputs_whole_and_its_leftovers_go_next_time(tmp_path, monkeypatch):
    """The demo clip is written beside and renamed (a kill mid-write damaged the finished clip);
    a folder a killed data split was building, and a killed int8 export's work folder, are
    removed by the next run to the same place."""
    import cv2

    from conftest import write_class_folders
    from facesense.runs import host_name
    from facesense.stream import demo

    clip = demo.make_demo_clip(tmp_path / "clip.mp4", frames=6)
    before = clip.read_bytes()
    calls = []

    def warp(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real_warp(*args, **kwargs)

    real_warp = cv2.warpAffine
    monkeypatch.setattr(cv2, "warpAffine", warp)
    with pytest.raises(KeyboardInterrupt):
        demo.make_demo_clip(clip, frames=6)
    monkeypatch.undo()
    assert clip.read_bytes() == before and not temp_files(tmp_path)
    data = write_class_folders(tmp_path / "d", ["a", "b"], 5)
    dead = 2**22 + 12345  # above Linux's pid limit: no such process
    # (a split is built inside its --out folder, which a killed run leaves holding only its build)
    stale = [tmp_path / "split" / f".split_manifest.csv.{dead}.{host_name()}.0badf00d.tmpdir", tmp_path / f".m.onnx.{dead}.{host_name()}.0badf00d.tmpdir"]
    for folder in stale:
        (folder / "test" / "a").mkdir(parents=True)
        (folder / "test" / "a" / "x.png").write_bytes(b"half a copy")
    assert main(["data", "split", str(data), "--out", str(tmp_path / "split")]) == 0
    assert main(["export", "gender", "--int8", "--calibration", str(data), "--calibration-samples", "4", "--out", str(tmp_path / "m.onnx")]) == 0
    assert not any(folder.exists() for folder in stale) and not temp_files(tmp_path)



def test_the_ctrl_c_line_of_live_names_the_outputs_asked_for():
    """It listed every kind of output, asked for or not (found by a bug hunt)."""
    from facesense.cli import _outputs_kept
    from facesense.stream.live import LiveOptions

    opts = LiveOptions(video_out=None, photos_out=Path("annotated"), log_csv=None, log_jsonl=Path("/elsewhere/f.jsonl"), summary_json=None)
    assert _outputs_kept({"frames": 1, "source_kind": "photos"}, opts) == "annotated, /elsewhere/f.jsonl hold the 1 photo before it"
    opts = LiveOptions(video_out=None, photos_out=None, log_csv=None, log_jsonl=None, summary_json=None)
    assert _outputs_kept({"frames": 40, "source_kind": "video"}, opts) == "40 frames read; no output was asked for (--out, --photos-out, --log, --jsonl, --summary)"


def test_ctrl_c_during_live_exits_130_with_complete_outputs(tmp_path):
    from mjpeg_server import MjpegServer

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with MjpegServer(frames=400, fps=20, then="stall") as server:
        cmd = [sys.executable, "-m", "facesense", "live", "--source", server.url, "--no-window", "--stall-timeout", "30",
               "--log", str(tmp_path / "f.csv"), "--out", str(tmp_path / "a.mp4"), "--summary", str(tmp_path / "s.json")]
        # Ctrl-C as a terminal delivers it: the child starts with SIGINT's default action, since
        # the test run itself may ignore SIGINT (a non-interactive shell starts a background job,
        # `pytest &`, with SIGINT ignored) and a child inherits that
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until rows are being logged
            tmp = [p for p in tmp_path.glob(".f.csv*") if p.stat().st_size > 300]
            if tmp or proc.poll() is not None:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("live did not stop within 30 s of Ctrl-C")
    assert proc.returncode == 130, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["error"] == "interrupted" and summary["frames"] >= 1
    n = summary["frames"]  # the outputs asked for, by name (not advice to resume a training run, nor every kind of output)
    kept = f"interrupted; {tmp_path / 'a.mp4'}, {tmp_path / 'f.csv'}, {tmp_path / 's.json'} hold the {n} frame{'s' if n != 1 else ''} before it"
    assert "Traceback" not in err and kept in err, err
    assert len(list(csv.DictReader(open(tmp_path / "f.csv")))) == summary["faces"]
    import av

    with av.open(str(tmp_path / "a.mp4")) as video:
        assert video.streams.video[0].frames == summary["frames"]
    assert not temp_files(tmp_path)


def test_a_report_is_built_inside_its_folder_and_replaces_the_earlier_one_whole(tmp_path, monkeypatch):
    """The build folder is a hidden one inside the report folder (same filesystem and group;
    '.' works), and a plot the earlier report had but this one lacks does not stay beside it."""
    import tempfile

    import facesense
    from conftest import write_class_folders
    from facesense.export import quantize_int8

    data = write_class_folders(tmp_path / "g", ["man", "woman"], 3, colour=True, size=64)
    out = tmp_path / "eval"
    out.mkdir()
    (out / "learning_curves.png").write_bytes(b"an earlier run's curves")
    (out / "notes.txt").write_text("the user's own file")
    monkeypatch.chdir(out)
    m = facesense.evaluate("gender", data, ".")
    assert m["n"] == 6 and json.loads((out / "metrics.json").read_text())["n"] == 6
    assert not (out / "learning_curves.png").exists() and (out / "notes.txt").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    import onnx
    import onnxruntime.quantization as quantization

    def fails(*args, **kwargs):
        assert tempfile.gettempdir().startswith(str(tmp_path))  # ONNX Runtime's temp files go to the work folder
        raise RuntimeError("quantisation failed")

    monkeypatch.setattr(onnx, "load_from_string", lambda data: type("Proto", (), {"metadata_props": []})())
    monkeypatch.setattr(quantization, "quant_pre_process", fails)
    before = tempfile.tempdir
    with pytest.raises(RuntimeError, match="quantisation failed"):
        quantize_int8(b"a model", __import__("numpy").zeros((1, 1, 8, 8), "float32"), tmp_path)
    assert tempfile.tempdir == before  # the process's temp folder is given back


def test_ctrl_c_before_the_first_checkpoint_leaves_no_run(tmp_path, folders3, monkeypatch, capsys):
    """It printed the resume advice with the placeholder RUN_DIR, and left a folder with nothing to resume."""
    from facesense.train.loop import Trainer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "fit", interrupted)
    argv = ["train", f"data={folders3}", "task=custom", "model=resnet_fer_small", "epochs=2", "batch_size=8", f"runs_dir={tmp_path}", "image_size=32", "-q"]
    assert main(argv) == 130
    assert "interrupted; before the first epoch finished; no run folder was kept" in capsys.readouterr().err
    assert not list((tmp_path / "custom").glob("*")) if (tmp_path / "custom").exists() else True


def test_a_demo_stopped_before_its_first_frame_leaves_nothing_and_says_so(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the demo made its clip said "the outputs hold every frame before the
    interruption" and left the empty folders it had made (found by a bug hunt)."""
    import facesense.stream.demo as demo
    from facesense.cli import main

    def stopped(path, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "make_demo_clip", stopped)
    assert main(["demo", "--out", str(tmp_path / "new" / "demo")]) == 130
    assert "before the demo's first frame; nothing of this run was kept" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_live_stopped_while_it_starts_says_nothing_was_written(tmp_path, capsys, monkeypatch):
    """Ctrl-C 0.3 s into `live` (its imports, its checks) said "the outputs asked for ... hold
    every frame before the interruption" of files an earlier run had written (found by a bug hunt)."""
    import facesense.stream.live as live
    from facesense.cli import main

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(live, "check_outputs", stopped)
    (tmp_path / "f.csv").write_text("earlier run\n")
    assert main(["live", "--source", str(tmp_path / "clip.mp4"), "--no-window", "--log", str(tmp_path / "f.csv")]) == 130
    assert "interrupted; before the first frame; earlier outputs at these paths are left as they were" in capsys.readouterr().err
    assert (tmp_path / "f.csv").read_text() == "earlier run\n"


def test_live_stopped_once_its_run_is_done_says_what_it_kept(tmp_path, capsys, monkeypatch):
    """Ctrl-C while the summary of a finished run was printed fell back to 'before the first
    frame', of a log holding this run's frames (found by a review)."""
    from facesense import cli
    from facesense.stream.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=3, width=160, height=90)

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_print_summary", stopped)
    assert cli.main(["live", "--source", str(clip), "--no-window", "--log", str(tmp_path / "f.csv")]) == 130
    assert f"interrupted; {tmp_path / 'f.csv'} holds the 3 frames before it" in capsys.readouterr().err
    assert (tmp_path / "f.csv").read_text().startswith("frame,time_s,")  # this run's log, finished


def test_interrupts_held_acts_after_the_block_or_at_once_on_a_second_signal():
    """A frame's outputs are written inside the block (a Ctrl-C between a video's packets lost a
    frame); a second Ctrl-C still stops a write that hangs, and every handler comes back."""
    import signal
    import time

    from facesense.interrupts import interrupts_held

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            steps.append("finished")
    assert steps == ["finished"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            steps.append("not reached")
    assert steps == ["finished"]
    terminated = []

    def on_term(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with pytest.raises(KeyboardInterrupt):  # a Ctrl-C then a SIGTERM: the SIGTERM's handler runs (the CLI exits 143)
            with interrupts_held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
        assert terminated == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is on_term
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_file_is_on_the_disk_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    """A power cut after the rename but before the data reached the disk left an empty file
    under the final name (XFS, or ext4 for a file that replaces none, such as a run's first
    best.pt): every write now syncs the temp file before its rename (found by a bug hunt)."""
    import os

    from facesense import checkpoint
    from facesense.runs import write_text

    events: list[tuple[str, int]] = []  # (what, the file's inode)
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_text(tmp_path / "history.csv", "epoch\n1\n")
    checkpoint.save_payload({"x": 1}, tmp_path / "best.pt")
    renamed = [src for kind, src in events if kind == "replace"]
    assert len(renamed) == 2
    for src in renamed:  # each temp file synced, before its own rename
        assert ("fsync", src) in events and events.index(("fsync", src)) < events.index(("replace", src)), events
    assert (tmp_path / "history.csv").read_text() == "epoch\n1\n" and (tmp_path / "best.pt").is_file()


def test_a_file_system_that_cannot_sync_still_takes_the_writes(tmp_path, monkeypatch):
    """fsync raises EINVAL where a file system has none (vboxsf, some FUSE and network mounts):
    the writes that worked there before the sync was added still do; a real write error at the
    sync (EIO) is one line naming the output, and leaves an earlier set of outputs whole, marker
    and all (it came as a traceback, after the earlier set's marker was gone; found by a review)."""
    import errno
    import os

    from facesense.errors import OutputError
    from facesense.runs import building, write_text

    failure = [errno.EINVAL]

    def fsync(fd):
        raise OSError(failure[0], os.strerror(failure[0]))

    monkeypatch.setattr(os, "fsync", fsync)
    write_text(tmp_path / "history.csv", "epoch\n1\n")
    with building(tmp_path / "set", "metrics.json") as build:
        (build / "predictions.csv").write_text("old")
        (build / "metrics.json").write_text("{}")
    assert (tmp_path / "history.csv").read_text() == "epoch\n1\n" and (tmp_path / "set" / "metrics.json").is_file()
    failure[0] = errno.EIO
    with pytest.raises(OutputError, match="cannot be written"):
        with building(tmp_path / "set", "metrics.json") as build:
            (build / "predictions.csv").write_text("new")
            (build / "metrics.json").write_text('{"new": 1}')
    assert (tmp_path / "set" / "metrics.json").read_text() == "{}" and (tmp_path / "set" / "predictions.csv").read_text() == "old"
