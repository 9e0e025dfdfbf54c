"""What `live` writes from the videos and photo folders people bring: phone videos with a
variable frame rate, folders of mixed photo sizes, long names, a full disk."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from facesense.cli import main  # noqa: E402
from facesense.stream.demo import demo_photo  # noqa: E402
from facesense.stream.frames import ImageFolderSource, VideoFileSource, open_source, source_name  # noqa: E402
from facesense.stream.sinks import fit_into  # noqa: E402

OFF = ["--expression", "none", "--gender", "none", "--age", "none"]


def write_vfr(path, times_ms, size=(160, 120)):
    """An H.264 clip whose frames are shown at `times_ms`, as a phone records."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 10 * i % 255, np.uint8), format="bgr24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_a_variable_frame_rate_video_keeps_its_frame_times(tmp_path):
    """Times were the index over the average rate: with 15 frames at 30 FPS and then one every
    0.5 s, frame 15 was logged at 3.3 s instead of 0.495 s, and the annotated video played the
    first half in slow motion."""
    times = [33 * i for i in range(15)] + [495 + 500 * i for i in range(15)]
    clip = write_vfr(tmp_path / "phone.mp4", times)
    read = [round(f.time_s, 3) for f in VideoFileSource(clip)]
    assert read == [t / 1000 for t in times]
    out = tmp_path / "annotated.mp4"
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--out", str(out), "--summary", str(tmp_path / "s.json")]) == 0
    with av.open(str(out)) as video:
        shown = [round(float(f.pts * f.time_base), 3) for f in video.decode(video=0)]
    assert shown == [t / 1000 for t in times]


class _StampedCapture:
    """Stands in for cv2.VideoCapture's timestamps: what a damaged stream's container reports."""

    def __init__(self, times_ms):
        self.times_ms = iter(times_ms)

    def get(self, prop):
        assert prop == cv2.CAP_PROP_POS_MSEC
        return next(self.times_ms)


class _FailingOnceCapture:
    """A file whose fourth grab fails (a later frame's damaged packet, as B-frames order them):
    the frames on either side keep their own timestamps, 40 ms apart."""

    def __init__(self):
        self.grabs = iter([True, True, True, False, True, True, True])
        self.stamps = iter([0, 40, 80, 120, 160, 200])
        self.ms = 0.0

    def grab(self):
        ok = next(self.grabs, False)
        if ok:
            self.ms = float(next(self.stamps))
        return ok

    def retrieve(self):
        return True, np.zeros((8, 8, 3), np.uint8)

    def get(self, prop):
        return self.ms

    def release(self):
        pass


def test_a_failed_grab_does_not_shift_the_frame_numbers_after_it(tmp_path):
    """Counting a failed grab as a frame numbered every later row one ahead of its time, when
    the packet that failed was a later frame's (found by a bug hunt on a truncated MP4)."""
    source = VideoFileSource(write_vfr(tmp_path / "c.mp4", [0, 33]))
    source.fps, source.frame_count = 25.0, 0
    source.cap = _FailingOnceCapture()
    read = [(f.index, round(f.time_s, 3)) for f in source]
    assert read == [(0, 0.0), (1, 0.04), (2, 0.08), (3, 0.12), (4, 0.16), (5, 0.2)]
    assert source.unreadable == 0  # frames at the average rate, none missing from the numbering: none said skipped
    # a variable-rate file: the numbering cannot tell a lost frame from a later frame's packet, so the failure counts (found by review)
    source = VideoFileSource(write_vfr(tmp_path / "v.mp4", [0, 33]))
    source.fps, source.frame_count = 30.0, 0
    source.cap = _FailingOnceCapture()
    source.cap.stamps = iter([0, 17, 33, 67, 83, 100])  # 60 frames a second in a file said to be 30
    list(source)
    assert source.unreadable == 1
    # a wild timestamp after the failure may not leap the numbering ahead of the count (found by review)
    source = VideoFileSource(write_vfr(tmp_path / "d.mp4", [0, 33]))
    source.fps, source.frame_count = 25.0, 0
    source.cap = _FailingOnceCapture()
    source.cap.stamps = iter([0, 40, 80, 600_000, 160, 200])
    assert [f.index for f in source] == [0, 1, 2, 4, 5, 6]


def test_one_wild_timestamp_does_not_shift_the_frames_after_it(tmp_path):
    """A lone timestamp 10 minutes ahead (a damaged stream) was believed, and every later frame,
    whose own time then went backwards, was logged 10 minutes late. A pause the next frame
    confirms is still believed."""
    source = VideoFileSource(write_vfr(tmp_path / "c.mp4", [0, 33]))
    source.fps = 30.0
    wild = [33 * i for i in range(5)] + [600_000] + [33 * i for i in range(6, 10)]
    source.cap = _StampedCapture(wild)
    times = [round(source._time_of(i), 3) for i in range(10)]
    assert times == [0.0, 0.033, 0.066, 0.099, 0.132, 0.165, 0.198, 0.231, 0.264, 0.297]
    paused = [33 * i for i in range(5)] + [60_000 + 33 * i for i in range(5)]
    source._last_time, source._last_index, source._last_raw = 0.0, 0, None
    source.cap = _StampedCapture(paused)
    times = [round(source._time_of(i), 3) for i in range(10)]
    assert times[:6] == [0.0, 0.033, 0.066, 0.099, 0.132, 0.165]  # the first of the pause: not yet believed
    assert times[6:] == [60.033, 60.066, 60.099, 60.132]
    # frames sampled 10 s apart (--stride 300 at 30 FPS, or a sparse time-lapse) around a 60 s
    # pause: the pause stayed unbelieved, and every later frame 60 s early
    sparse = [10_000 * i for i in range(5)] + [110_000 + 10_000 * i for i in range(4)]
    source._last_time, source._last_index, source._last_raw = 0.0, 0, None
    source.cap = _StampedCapture(sparse)
    assert [round(source._time_of(300 * i)) for i in range(9)] == [0, 10, 20, 30, 40, 50, 120, 130, 140]


def test_a_folder_named_by_digits_is_a_folder_not_a_camera(tmp_path, monkeypatch):
    """`--source 2024` (a folder of that year's photos) tried to open camera 2024."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "2024").mkdir()
    cv2.imwrite(str(tmp_path / "2024" / "a.jpg"), demo_photo())
    assert isinstance(open_source("2024"), ImageFolderSource)
    assert source_name("2024") == "2024" and source_name("3") == "camera 3" and source_name(0) == "camera 0"


def test_photos_of_other_shapes_are_fitted_not_stretched(tmp_path):
    """Each photo was stretched to the first one's size (a portrait photo's faces 2.5x too wide),
    and a thumbnail first made a 10-pixel video."""
    portrait = np.full((200, 100, 3), 255, np.uint8)
    fitted = fit_into(portrait, (400, 200))
    assert fitted.shape == (200, 400, 3)
    assert fitted[:, :150].max() == 0 and fitted[:, 250:].max() == 0 and fitted[:, 150:250].min() == 255
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "0_thumb.jpg"), cv2.resize(demo_photo(), (12, 9)))
    cv2.imwrite(str(photos / "1_photo.jpg"), demo_photo())
    out = tmp_path / "photos.mp4"
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--out", str(out)]) == 0
    with av.open(str(out)) as video:
        stream = video.streams.video[0]
        assert max(stream.width, stream.height) == 640
        assert [round(float(f.pts * f.time_base), 3) for f in video.decode(stream)] == [0.0, 1.0]


def test_a_jfif_photo_is_a_photo(tmp_path):
    """Browsers on Windows save JPEGs as .jfif: live read one as a video (ignoring its EXIF
    orientation) and left it out of photo folders."""
    cv2.imwrite(str(tmp_path / "face.jpg"), demo_photo())
    (tmp_path / "face.jpg").rename(tmp_path / "face.jfif")
    assert isinstance(open_source(tmp_path / "face.jfif"), ImageFolderSource)
    assert ImageFolderSource(tmp_path).files == [tmp_path / "face.jfif"]


def test_a_model_that_is_off_leaves_its_keys_out_of_jsonl(tmp_path):
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), demo_photo())
    assert main(["live", "--source", str(photo), "--no-window", "--gender", "none", "--age", "none", "--jsonl", str(tmp_path / "f.jsonl"), "--log", str(tmp_path / "f.csv")]) == 0
    record = json.loads((tmp_path / "f.jsonl").read_text().splitlines()[0])
    assert "gender" not in record and "gender_p" not in record and isinstance(record["expression_p"], float)
    assert "gender,gender_p" in (tmp_path / "f.csv").read_text().splitlines()[0]


def test_a_long_output_name_is_refused_or_written(tmp_path, capsys):
    """A 244-character name is legal, but its temp name was not: a traceback from PyAV; a name
    over 255 bytes failed only after the whole video had been processed."""
    clip = write_vfr(tmp_path / "clip.mp4", [33 * i for i in range(5)])
    long_name = tmp_path / ("a" * 240 + ".csv")
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--log", str(long_name)]) == 0
    assert long_name.is_file() and {p.name for p in tmp_path.iterdir()} == {"clip.mp4", long_name.name}
    too_long = tmp_path / ("b" * 260 + ".mp4")
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--out", str(too_long)]) == 2
    assert "longer than the 255 bytes" in capsys.readouterr().err
    # a log name too long was looked at as a folder first, which the file system refused ("File name too long")
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--log", str(tmp_path / ("c" * 260 + ".csv"))]) == 2
    assert "longer than the 255 bytes" in capsys.readouterr().err


def _small_files():
    # files over 200 kB cannot be written (EFBIG) instead of the process being killed
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.skipif(sys.platform == "win32", reason="file size limits are POSIX")
def test_an_output_that_cannot_be_written_is_one_line_and_leaves_no_temp_file(tmp_path):
    """A full disk gave a traceback (PIL, PyAV, stdout) or a line naming a hidden temp file, and
    left the temp files filling the disk."""
    # noise does not compress: the annotated video outgrows the limit
    noisy = tmp_path / "noise.mp4"
    with av.open(str(noisy), "w") as video:
        stream = video.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(np.random.default_rng(i).integers(0, 255, (480, 640, 3), dtype=np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                video.mux(packet)
        for packet in stream.encode():
            video.mux(packet)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "facesense", "live", "--source", str(noisy), "--no-window", *OFF, "--out", str(out / "a.mp4"), "--log", str(out / "f.csv")]
    done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_small_files, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and lines[-1].startswith(f"error: {out / 'a.mp4'}: cannot be written")
    # the log kept beside it is said to be partial (it was kept under its name without a word; found by a bug hunt)
    assert f"kept with the frames before it: {out / 'f.csv'} (" in lines[-1] and "a.mp4 (" not in lines[-1], lines[-1]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def test_a_run_that_reads_nothing_leaves_no_new_folders(tmp_path):
    bad = tmp_path / "photos"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "new" / "deeper"
    assert main(["live", "--source", str(bad), "--no-window", *OFF, "--log", str(out / "f.csv"), "--out", str(out / "a.mp4")]) == 2
    assert not (tmp_path / "new").exists()


def test_a_ctrl_c_while_a_frame_is_written_keeps_the_video(tmp_path, monkeypatch):
    """A Ctrl-C (or SIGTERM) that landed inside the video's write counted it as a failed output
    and threw the annotated video away, while the message said the outputs were kept."""
    from facesense.stream import sinks
    from facesense.stream.live import LiveOptions, run_live

    clip = write_vfr(tmp_path / "clip.mp4", [33 * i for i in range(10)])
    real_write, calls = sinks.VideoSink.write, []

    def write(self, result, annotated):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real_write(self, result, annotated)

    monkeypatch.setattr(sinks.VideoSink, "write", write)
    opts = LiveOptions(source=str(clip), expression=None, gender=None, age=None, window=False, video_out=str(tmp_path / "a.mp4"), log_csv=str(tmp_path / "f.csv"))
    summary = run_live(opts)
    assert summary["error"] == "interrupted" and (tmp_path / "a.mp4").is_file() and (tmp_path / "f.csv").is_file()
    with av.open(str(tmp_path / "a.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 3


def test_a_linked_album_is_part_of_the_photo_folder_and_an_empty_video_says_so(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    cv2.imwrite(str(album / "a.jpg"), demo_photo())
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "linked").symlink_to(album, target_is_directory=True)
    (album / "loop").symlink_to(photos, target_is_directory=True)  # a link back up: read once
    assert ImageFolderSource(photos).files == [photos / "linked" / "a.jpg"]
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(Exception, match=r"an empty file \(0 bytes\)"):
        VideoFileSource(tmp_path / "empty.mp4")


class _Sink:
    """A stand-in output: records what happened to it; `fails` raises on close."""

    def __init__(self, name, fails=None):
        self.path, self.fails, self.done = name, fails, None

    def close(self):
        if self.fails:
            raise self.fails
        self.done = "closed"

    def discard(self):
        self.done = "discarded"


def test_one_output_that_cannot_be_finished_does_not_take_the_others_with_it():
    """A window that would not close (the window sink is finished first) threw the video and
    logs away with a traceback; a second Ctrl-C while finishing lost every output after it."""
    from facesense.stream.sinks import finish_sinks

    video, log, window = _Sink("a.mp4"), _Sink("f.csv"), _Sink("window", RuntimeError("NULL window"))
    assert isinstance(finish_sinks([video, log, window], keep=True), RuntimeError)
    assert (video.done, log.done, window.done) == ("closed", "closed", "discarded")
    video, log = _Sink("a.mp4", KeyboardInterrupt()), _Sink("f.csv")
    failure = finish_sinks([video, log], keep=True)
    assert isinstance(failure, KeyboardInterrupt) and "a.mp4 not kept" in str(failure)
    assert (video.done, log.done) == ("discarded", "closed")
    # the summary, written after the outputs, is named too (the message named the video alone)
    failure = finish_sinks([_Sink("a.mp4", KeyboardInterrupt()), _Sink("f.csv")], keep=True, then=("summary.json",))
    assert "a.mp4, summary.json not kept" in str(failure)


def test_a_converted_copy_never_takes_the_name_of_a_folder_of_copies(tmp_path):
    """x.gif's copy (x.gif.jpg) took the name of the source's folder x.gif.jpg, and the run failed
    every time at the photo inside it, telling the user to move a file facesense had made (found
    by a bug hunt)."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    (photos / "x.gif.jpg").mkdir(parents=True)
    cv2.imwrite(str(photos / "x.gif.jpg" / "inner.jpg"), demo_photo())
    __import__("PIL.Image").Image.fromarray(demo_photo()[..., ::-1]).save(photos / "x.gif")
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["x.gif (2).jpg", "x.gif.jpg/inner.jpg"]


def test_photos_out_writes_an_annotated_copy_of_each_photo(tmp_path, capsys):
    """A photo folder's annotated results came only as a video of the photos."""
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    cv2.imwrite(str(photos / "a.jpg"), demo_photo())
    cv2.imwrite(str(photos / "trip" / "b.webp"), demo_photo())
    Image.fromarray(demo_photo()[..., ::-1]).save(photos / "trip" / "b.gif")  # not to land on b.webp's or a b.jpg's name
    out = tmp_path / "annotated"
    assert main(["live", "--source", str(photos), "--no-window", "--gender", "none", "--age", "none", "--photos-out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.jpg", "trip/b.gif.jpg", "trip/b.webp"]
    annotated, original = cv2.imread(str(out / "a.jpg")), demo_photo()
    assert annotated.shape == original.shape and np.abs(annotated.astype(int) - original).mean() > 1  # boxes and labels drawn
    clip = write_vfr(tmp_path / "clip.mp4", [0, 33])
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--photos-out", str(tmp_path / "x")]) == 2
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(photos / "ann")]) == 2
    err = capsys.readouterr().err
    assert "is for a photo folder or a photo" in err and "where the photos are read from" in err
    assert not (tmp_path / "x").exists() and not (photos / "ann").exists()


def test_a_link_in_photos_out_into_the_photos_is_refused_before_any_photo(tmp_path, capsys):
    """A link inside --photos-out leading into the photo folder: copies were written through it
    among the photos (read as photos by the next run), with exit 0, or exit 2 only at the photo
    it reached (found by a bug hunt)."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    (photos / "album").mkdir(parents=True)
    out.mkdir()
    cv2.imwrite(str(photos / "album" / "a.jpg"), demo_photo())
    __import__("PIL.Image").Image.fromarray(demo_photo()[:, :, ::-1]).save(photos / "album" / "b.gif")  # written as b.gif.jpg: no photo of that name
    (out / "album").symlink_to(photos / "album", target_is_directory=True)
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out)]) == 2
    assert f"{out / 'album'} leads into {photos} through a link, where the photos are read from" in capsys.readouterr().err
    assert sorted(p.name for p in (photos / "album").iterdir()) == ["a.jpg", "b.gif"]
    (out / "album").unlink()
    (out / "a.jpg").symlink_to(photos / "album" / "a.jpg")  # one photo, a stale link to it beside where its copy goes
    assert main(["live", "--source", str(photos / "album" / "a.jpg"), "--no-window", *OFF, "--photos-out", str(out)]) == 2
    assert "a.jpg leads into" in capsys.readouterr().err
    (out / "a.jpg").unlink()
    (out / "elsewhere").symlink_to(photos, target_is_directory=True)  # no copy goes through it: no concern (found by a review)
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out)]) == 0


def test_photos_out_never_replaces_a_photo(tmp_path, capsys):
    """--photos-out set to a single photo's own folder wrote the annotated copy over the photo
    (exit 0); a linked album's folder as --photos-out had its photos replaced; a linked album's
    copies were flattened into the top folder, where one replaced another."""
    photos, album = tmp_path / "photos", tmp_path / "album"
    photos.mkdir()
    album.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), demo_photo())
    cv2.imwrite(str(album / "a.jpg"), cv2.flip(demo_photo(), 1))
    (photos / "linked").symlink_to(album, target_is_directory=True)
    before = {p: p.read_bytes() for p in (photos / "a.jpg", album / "a.jpg")}
    for source, out in ((photos / "a.jpg", photos), (photos, album), (photos, tmp_path), (photos, photos)):
        assert main(["live", "--source", str(source), "--no-window", *OFF, "--photos-out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("where the photos are read from") == 3 and "is the folder of the photo itself" in err
    assert all(p.read_bytes() == data for p, data in before.items())
    out = tmp_path / "annotated"
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == ["a.jpg", "linked/a.jpg"]
    assert main(["live", "--source", str(tmp_path / "missing"), "--no-window", *OFF, "--photos-out", str(out)]) == 2
    assert "is for a photo folder" not in capsys.readouterr().err


def test_a_single_photos_copies_may_go_below_its_folder_and_no_link_leads_a_copy_onto_a_photo(tmp_path, monkeypatch):
    """--photos-out annotated beside one photo was refused (its folder was taken as read
    whole); a link left in the output folder led one photo's copy onto another photo."""
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("single.jpg", demo_photo())
    assert main(["live", "--source", "single.jpg", "--no-window", *OFF, "--photos-out", "annotated"]) == 0
    assert (tmp_path / "annotated" / "single.jpg").is_file()
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    cv2.imwrite(str(photos / "a.jpg"), demo_photo())
    cv2.imwrite(str(photos / "sub" / "a.jpg"), cv2.flip(demo_photo(), 1))
    before = (photos / "a.jpg").read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(photos, target_is_directory=True)
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(tmp_path / "out")]) == 2
    assert (photos / "a.jpg").read_bytes() == before


def test_a_missing_photo_folder_is_called_a_folder(tmp_path, capsys):
    assert main(["live", "--source", f"{tmp_path / 'nosuch'}/", "--no-window", *OFF]) == 2
    assert f"folder {tmp_path / 'nosuch'}/ not found" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes are a POSIX matter")
def test_a_video_whose_name_is_not_utf8_is_read_and_written(tmp_path):
    """A Latin-1 file name (an old camera's, a zip's) crashed the process in OpenCV's reader and
    AVI writer with a segmentation fault and no output (found by a bug hunt)."""
    from facesense.stream.demo import make_demo_clip

    folder = os.fsencode(tmp_path)
    clip, out = os.fsdecode(folder + b"/clip\xe9.mp4"), os.fsdecode(folder + b"/out\xe9.avi")
    os.rename(make_demo_clip(tmp_path / "clip.mp4", frames=6), clip)
    # in a process of its own: without the fix it crashes
    done = subprocess.run([sys.executable, "-m", "facesense", "live", "--source", clip, "--no-window", *OFF, "--out", out],
                          capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, (done.returncode, done.stderr.decode(errors="replace"))
    assert sorted(os.listdir(folder)) == [b"clip\xe9.mp4", b"out\xe9.avi"]  # no link or temp file left
    os.rename(out, tmp_path / "out.avi")
    assert VideoFileSource(tmp_path / "out.avi").frame_count == 6


def test_links_to_files_that_are_not_photos_do_not_fence_off_photos_out(tmp_path, capsys):
    """A linked notes file counted its folder as one the photos are read from, and a broken link
    counted '/', so every --photos-out was refused (found by a bug hunt)."""
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    photos.mkdir()
    elsewhere.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), demo_photo())
    (elsewhere / "notes.txt").write_text("notes")
    (photos / "notes.txt").symlink_to(elsewhere / "notes.txt")
    (photos / "gone.jpg").symlink_to(tmp_path / "nowhere" / "gone.jpg")
    out = elsewhere / "annotated"
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out)]) == 0, capsys.readouterr().err
    assert [p.name for p in out.glob("*.jpg")] == ["a.jpg"]


def camera_profile() -> bytes:
    """4 KB of colour-profile bytes that do not compress, as a camera photo's ICC profile: in an
    animated PNG's iCCP chunk, before its animation chunk, FFmpeg no longer sees the animation."""
    return np.random.default_rng(0).bytes(4000)


def test_an_animated_gif_as_the_source_is_a_clip_and_an_animated_webp_says_only_its_first_frame_is_read(tmp_path, caplog, capsys):
    """An animated GIF given as --source was analysed as one photo without a word (found by a bug
    hunt), then with a warning; a GIF or PNG animation is now read as the clip it is, frame by
    frame with its own delays. OpenCV cannot decode an animated WebP's frames: that one still
    says it is read as a photo."""
    frames = [Image.fromarray(np.roll(demo_photo()[..., ::-1], 10 * i, axis=1)) for i in range(3)]
    for suffix in ("gif", "png"):
        frames[0].save(tmp_path / f"anim.{suffix}", save_all=True, append_images=frames[1:], duration=100, loop=0)
        summary, log = tmp_path / f"{suffix}.json", tmp_path / f"{suffix}.csv"
        assert main(["live", "--source", str(tmp_path / f"anim.{suffix}"), "--no-window", *OFF, "--summary", str(summary), "--log", str(log)]) == 0
        assert json.loads(summary.read_text())["frames"] == 3 and "animated" not in caplog.text
        assert main(["live", "--source", str(tmp_path / f"anim.{suffix}"), "--no-window", *OFF, "--photos-out", str(tmp_path / "out")]) == 2
        assert "read as a clip" in capsys.readouterr().err
        with open(log, newline="") as f:
            assert [round(float(r["time_s"]), 2) for r in csv.DictReader(f)] == [0.0, 0.1, 0.2]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100, loop=0)
    # an APNG with a colour profile, as one made from a camera photo, plays as one frame in OpenCV:
    # it was a "clip" of 1 frame, promised as read whole (found by a bug hunt)
    frames[0].save(tmp_path / "profiled.png", save_all=True, append_images=frames[1:], duration=100, loop=0, icc_profile=camera_profile())
    for name in ("anim.webp", "profiled.png"):
        caplog.clear()
        assert main(["live", "--source", str(tmp_path / name), "--no-window", *OFF, "--summary", str(tmp_path / "s.json")]) == 0
        assert f"{name}: an animated image of 3 frames; only its first is read (convert {name} to an MP4 or a GIF to read every frame)" in caplog.text
        assert json.loads((tmp_path / "s.json").read_text())["frames"] == 1
    # a still GIF is a photo; a phone's JPEG with a second picture in it (MPO) is no animation (found by review)
    caplog.clear()
    frames[0].save(tmp_path / "still.gif")
    assert main(["live", "--source", str(tmp_path / "still.gif"), "--no-window", *OFF, "--summary", str(tmp_path / "still.json")]) == 0
    assert json.loads((tmp_path / "still.json").read_text())["frames"] == 1
    frames[0].convert("RGB").save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[frames[1].convert("RGB")])
    assert main(["live", "--source", str(tmp_path / "phone.jpg"), "--no-window", *OFF]) == 0
    assert "animated" not in caplog.text
    # in a photo folder, an animated one is read as its first frame: said, as predict says it (found by a bug hunt)
    (tmp_path / "folder").mkdir()
    frames[0].save(tmp_path / "folder" / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "folder" / "still.gif")
    assert main(["live", "--source", str(tmp_path / "folder"), "--no-window", *OFF, "--summary", str(tmp_path / "f.json")]) == 0
    assert "anim.gif: an animated image of 3 frames; only its first is read (facesense live --source" in caplog.text and "still.gif:" not in caplog.text


def test_an_output_whose_folder_turned_read_only_is_named_not_its_temp_file(tmp_path, monkeypatch):
    """With the folder made read-only mid-run, removing the temp file failed too, and its
    PermissionError named the hidden temp file instead of the output (found by a bug hunt)."""
    from pathlib import Path

    from facesense.errors import OutputError
    from facesense.stream import sinks

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sinks.os, "replace", refused)
    monkeypatch.setattr(Path, "unlink", refused)
    with pytest.raises(OutputError, match=r"a\.csv: cannot be written: permission denied") as failure:
        sinks._commit(tmp_path / ".a.csv.tmp", tmp_path / "a.csv")
    assert ".tmp" not in str(failure.value)


def test_a_ctrl_c_between_a_frames_video_packets_keeps_video_and_log_frame_for_frame(tmp_path, monkeypatch):
    """A Ctrl-C that landed between the packets of one frame lost an earlier frame's packets from
    the video, and the frame being written was in the video but not in the log (found by a bug
    hunt): the frame now goes to every output before the Ctrl-C is taken."""
    from facesense.stream import sinks
    from facesense.stream.live import LiveOptions, run_live

    from facesense.stream.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=40, width=320, height=180)  # a face in every frame: a log row each
    real_open, muxed = sinks.VideoSink._open, []

    class Interrupting:  # the container, with a real SIGINT sent from inside its 5th mux
        def __init__(self, container):
            self.container = container

        def mux(self, packet):
            muxed.append(1)
            if len(muxed) == 5:
                os.kill(os.getpid(), signal.SIGINT)
            self.container.mux(packet)

        def __getattr__(self, name):
            return getattr(self.container, name)

    def _open(self, w, h):
        real_open(self, w, h)
        self.container = Interrupting(self.container)

    monkeypatch.setattr(sinks.VideoSink, "_open", _open)
    opts = LiveOptions(source=str(clip), expression=None, gender=None, age=None, window=False, video_out=str(tmp_path / "a.mp4"), log_csv=str(tmp_path / "f.csv"))
    summary = run_live(opts)
    assert summary["error"] == "interrupted" and 0 < summary["frames"] < 40
    with av.open(str(tmp_path / "a.mp4")) as video:
        shown = [round(float(f.time), 3) for f in video.decode(video=0)]
    with open(tmp_path / "f.csv") as f:
        logged = sorted({round(float(row["time_s"]), 3) for row in csv.DictReader(f)})
    assert shown == logged and len(logged) == summary["frames"], (shown, logged)


def test_a_summary_whose_timeline_is_the_source_or_an_annotated_copy_removes_neither(tmp_path, capsys):
    """`--summary s.json` with the source photo named s_timeline.png deleted the photo (exit 0), an
    animated PNG of that name was overwritten by the plot, and an annotated copy of that name in
    --photos-out was removed (found by a bug hunt)."""
    photo = tmp_path / "s_timeline.png"
    cv2.imwrite(str(photo), demo_photo())
    before = photo.read_bytes()
    assert main(["live", "--source", str(photo), "--no-window", *OFF, "--summary", str(tmp_path / "s.json")]) == 2
    assert "its timeline" in capsys.readouterr().err and photo.read_bytes() == before
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "report_timeline.png"), demo_photo())
    cv2.imwrite(str(photos / "b.jpg"), demo_photo())
    out = tmp_path / "out"
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out), "--summary", str(out / "report.json")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["b.jpg", "report.json", "report_timeline.png"]


def test_a_negative_camera_index_is_named_as_one(tmp_path, capsys):
    assert main(["live", "--source", "-1", "--no-window", *OFF, "--log", str(tmp_path / "f.csv")]) == 2
    assert "a camera index is 0 or more" in capsys.readouterr().err


def test_a_full_disk_names_only_the_outputs_kept_each_with_its_frames(tmp_path, monkeypatch):
    """The line named an output that could not be finished either (its close failed too), and gave
    the video, written before the log broke, one frame too few (found by review)."""
    import errno

    from facesense.errors import OutputError
    from facesense.runs import write_failure
    from facesense.stream import sinks
    from facesense.stream.demo import make_demo_clip
    from facesense.stream.live import LiveOptions, run_live

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=12, width=320, height=180)
    real_write, rows = sinks.FrameLogSink.write, []

    def write(self, result, annotated):
        rows.append(1)
        if len(rows) == 6:
            raise write_failure(self.path, OSError(errno.ENOSPC, "No space left on device"))
        real_write(self, result, annotated)

    monkeypatch.setattr(sinks.FrameLogSink, "write", write)
    opts = LiveOptions(source=str(clip), expression=None, gender=None, age=None, window=False, video_out=str(tmp_path / "a.mp4"), log_csv=str(tmp_path / "f.csv"))
    with pytest.raises(OutputError) as err:
        run_live(opts)
    assert str(err.value).endswith(f"kept with the frames before it: {tmp_path / 'a.mp4'} (6 frames)"), str(err.value)
    with av.open(str(tmp_path / "a.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 6
    (tmp_path / "a.mp4").unlink()
    rows.clear()

    def close(self):
        raise write_failure(self.path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(sinks.VideoSink, "close", close)
    with pytest.raises(OutputError) as err:
        run_live(opts)
    assert "kept with" not in str(err.value) and not (tmp_path / "a.mp4").exists()


def test_a_video_that_fails_as_it_is_closed_keeps_the_log_and_the_summary_and_says_so(tmp_path, monkeypatch):
    """The disk filled as the annotated video was finished (its final pass, after the last
    frame): the line named the video alone, and the summary of the whole run was not written
    (found by a bug hunt)."""
    import errno

    from facesense.errors import OutputError
    from facesense.runs import write_failure
    from facesense.stream import sinks
    from facesense.stream.demo import make_demo_clip
    from facesense.stream.live import LiveOptions, run_live

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=12, width=320, height=180)

    def close(self):
        raise write_failure(self.path, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(sinks.VideoSink, "close", close)
    opts = LiveOptions(source=str(clip), expression=None, gender=None, age=None, window=False, video_out=str(tmp_path / "a.mp4"),
                       log_csv=str(tmp_path / "f.csv"), summary_json=str(tmp_path / "s.json"))
    with pytest.raises(OutputError) as err:
        run_live(opts)
    assert str(err.value).endswith(f"the disk is full; free space or choose another place; kept with all 12 frames: {tmp_path / 'f.csv'}, {tmp_path / 's.json'}"), str(err.value)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames"] == 12 and len((tmp_path / "f.csv").read_text().splitlines()) > 1
    assert [o["output"] for o in summary["outputs_not_kept"]] == [str(tmp_path / "a.mp4")] and "the disk is full" in summary["outputs_not_kept"][0]["reason"]  # (it read as a complete set: found by review)
    assert not (tmp_path / "a.mp4").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # a folder made read-only mid-run: every output and then the summary failed, and the line named
    # the summary's timeline alone, as if the rest were kept (found by a bug hunt)
    monkeypatch.setattr(sinks.FrameLogSink, "close", close)

    def plot(self, path, classes):
        raise write_failure(Path(path), OSError(errno.EROFS, "Read-only file system"))

    monkeypatch.setattr(sinks.SummaryCollector, "plot_timeline", plot)
    opts = replace(opts, expression="expression")
    with pytest.raises(OutputError) as err:
        run_live(opts)
    said = str(err.value)
    assert said.startswith(f"{tmp_path / 'f.csv'}: cannot be written") and f"{tmp_path / 's_timeline.png'}: cannot be written" in said, said  # (the last made is finished first)
    assert said.endswith(f"no output was kept (not kept: {tmp_path / 'f.csv'}, {tmp_path / 'a.mp4'})"), said


def test_photos_out_removes_every_folder_it_made_when_no_copy_is_written(tmp_path, monkeypatch):
    """The folders made for --photos-out and for a photo's subfolder go again when the copy fails,
    innermost first (so the outer ones are empty by then)."""
    from facesense.stream import sinks
    from facesense.stream.frames import Frame
    from facesense.stream.pipeline import FrameResult

    photo = tmp_path / "photos" / "trip" / "deep" / "a.jpg"
    photo.parent.mkdir(parents=True)
    cv2.imwrite(str(photo), demo_photo())
    sink = sinks.AnnotatedPhotosSink(tmp_path / "new" / "ann", tmp_path / "photos", [photo])

    def refuse(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sinks, "write_bytes", refuse)
    image = demo_photo()
    with pytest.raises(Exception, match="cannot be written|No space"):
        sink.write(FrameResult(Frame(0, 0.0, image, str(photo)), []), image)
    assert (tmp_path / "new" / "ann" / "trip" / "deep").is_dir()  # made for the copy
    sink.close()
    assert not (tmp_path / "new").exists()


def test_an_age_reads_the_same_whole_years_on_the_label_the_printed_line_and_the_log(capsys):
    """A face aged 27.497: the drawn label said "~27y", the log 27.5 and the printed line "age 28"
    (the printed line rounded the log's figure again, the label the exact one; found by a bug
    hunt). All now round the log's two-decimal figure half up, as the web page's Math.round."""
    from facesense.cli import _print_photo_faces
    from facesense.runtime.faces import Box
    from facesense.runtime.results import AgeEstimate, whole_years
    from facesense.stream.draw import _label_parts
    from facesense.stream.pipeline import FaceResult

    for years, shown in ((27.497, 28), (26.5, 27), (26.494, 26), (31.47, 31), (float("nan"), "?")):  # a model's nan must not end a live run
        assert whole_years(years) == shown
        assert _label_parts(FaceResult(1, Box(0, 0, 10, 10), age=AgeEstimate(years, 3.0)))[-1] == f"~{shown}y"
        _print_photo_faces([{"track_id": 1, "first_s": 0.0, "photo": "a.jpg", "age_median": round(years, 2)}], None)
        assert capsys.readouterr().out.strip() == f"a.jpg face 1 (#1): age {shown}"


def test_the_summary_names_the_models_that_ran(tmp_path):
    """summary.json said which source and detector, not which models: a run of one's own gender
    model read like one of the default's (found by a bug hunt)."""
    from facesense.cli import main
    from facesense.stream.demo import demo_photo

    cv2.imwrite(str(tmp_path / "p.jpg"), demo_photo())
    for args, names in (([], {"expression": "expression", "gender": "gender_age", "age": "gender_age"}),
                        (["--gender", "gender", "--age", "none", "--expression", "none"], {"expression": None, "gender": "gender", "age": None})):
        assert main(["live", "--source", str(tmp_path / "p.jpg"), "--no-window", "--summary", str(tmp_path / "s.json"), *args]) == 0
        assert json.loads((tmp_path / "s.json").read_text())["models"] == names


def test_a_killed_runs_temp_files_go_even_when_the_next_run_asks_for_other_outputs(tmp_path):
    """Only the temp files of the outputs a rerun wrote again went: a kill -9 during `--out a.mp4`
    left the hidden half-written clip beside a later run's `--out b.mp4` for good."""
    from facesense.runs import host_name

    clip = write_vfr(tmp_path / "clip.mp4", [33 * i for i in range(5)])
    dead = 2**22 + 12345  # above Linux's pid limit: no such process
    out = tmp_path / "out"
    out.mkdir()
    left = [out / f".a.mp4.{dead}.{host_name()}.tmp.mp4", out / f".log.csv.{dead}.{host_name()}.0badf00d.tmp"]
    alive = out / f".c.mp4.{os.getpid()}.{host_name()}.tmp.mp4"  # a run still writing it
    for path in (*left, alive, out / ".notes.txt"):
        path.write_bytes(b"half")
    assert main(["live", "--source", str(clip), "--no-window", *OFF, "--out", str(out / "b.mp4")]) == 0
    assert not any(path.exists() for path in left)
    assert alive.exists() and (out / ".notes.txt").exists() and (out / "b.mp4").is_file()


def test_the_broken_output_goes_first_so_the_others_are_kept_on_a_full_disk():
    """On a full disk the half-written video was removed last: the jsonl log, finished before
    it, found no space and was thrown away without a word (found by a bug hunt)."""
    from facesense.stream.sinks import finish_sinks

    disk = {"full": True}
    done = []

    class Sink:
        def __init__(self, path):
            self.path = path

        def close(self):
            if disk["full"]:
                raise OSError(28, "No space left on device")
            done.append(self.path)

        def discard(self):
            if self.path == "a.mp4":
                disk["full"] = False  # its temp file held the space

    video, csv_log, jsonl = Sink("a.mp4"), Sink("f.csv"), Sink("f.jsonl")
    lost = []
    assert finish_sinks([video, csv_log, jsonl], keep=True, broken=video, lost=lost) is None
    assert done == ["f.jsonl", "f.csv"] and lost == []
    # every sink discarded (a write failed at the first frame): the first made goes last, as its
    # folder holds the others' temp files, and it removes the folder it made (found by a review)
    order = []
    for sink in (video, csv_log, jsonl):
        sink.discard = lambda sink=sink: order.append(sink.path)
    finish_sinks([video, csv_log, jsonl], keep=False, broken=video)
    assert order == ["f.jsonl", "f.csv", "a.mp4"]


def test_one_ctrl_c_as_the_finished_runs_outputs_are_closed_loses_none_of_them(tmp_path, monkeypatch):
    """A single Ctrl-C that landed after the last frame, while the annotated video was being
    closed (its encoder flushed, its index moved to the front) or the summary's figure drawn,
    threw away the whole video and the summary of a run that had processed every frame, and
    the earlier summary had been removed already (found by a bug hunt): they are finished
    first, then the Ctrl-C is taken (exit 130) with every output whole. A second Ctrl-C after
    one that stopped the run still acts at once."""
    from facesense.stream import sinks
    from facesense.stream.demo import make_demo_clip
    from facesense.stream.live import LiveOptions, run_live

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=12, width=320, height=180)
    real_close = sinks.VideoSink.close

    def close(self):  # the user's one Ctrl-C, arriving as the video is closed
        os.kill(os.getpid(), signal.SIGINT)
        real_close(self)

    monkeypatch.setattr(sinks.VideoSink, "close", close)
    opts = LiveOptions(source=str(clip), gender=None, age=None, window=False, video_out=str(tmp_path / "a.mp4"),
                       log_csv=str(tmp_path / "f.csv"), summary_json=str(tmp_path / "s.json"))
    with pytest.raises(KeyboardInterrupt) as stop:
        run_live(opts)
    assert "hold all 12 of its frames" in str(stop.value), str(stop.value)
    with av.open(str(tmp_path / "a.mp4")) as video:
        assert sum(1 for _ in video.decode(video=0)) == 12
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == 12 and (tmp_path / "s_timeline.png").is_file()
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 13
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_folder_where_an_annotated_copy_goes_is_refused_before_any_photo(tmp_path, capsys):
    """A folder in --photos-out at a copy's path (left there, or an album of that name) stopped
    the run only at its photo, after every photo before it had been read and copied (found by a
    bug hunt): it is named before any photo is read."""
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "trip/c.jpg"):
        cv2.imwrite(str(photos / name), demo_photo())
    out = tmp_path / "annotated"
    (out / "trip" / "c.jpg").mkdir(parents=True)
    assert main(["live", "--source", str(photos), "--no-window", *OFF, "--photos-out", str(out), "--log", str(tmp_path / "f.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'trip' / 'c.jpg'}: is a folder, where the annotated copy of {photos / 'trip' / 'c.jpg'} goes" in err, err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file() and "photos" not in p.parts) == []


def test_a_desktop_with_the_headless_opencv_writes_the_asked_outputs_without_a_window(tmp_path, monkeypatch, caplog, capsys):
    """On a desktop (a display) with the default install's headless OpenCV, every live run
    without --no-window stopped with 'no window support', its outputs unwritten (found by a bug
    hunt): with outputs asked for, it writes them, saying there is no window."""
    from facesense.stream import sinks
    from facesense.stream.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=6, width=160, height=90)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sinks, "window_support", lambda: False)
    monkeypatch.setattr(sinks, "WindowSink", None)  # no window may be opened
    assert main(["live", "--source", str(clip), *OFF, "--log", str(tmp_path / "f.csv")]) == 0
    assert "no window: this OpenCV build has none" in caplog.text and (tmp_path / "f.csv").is_file()
    capsys.readouterr()


def test_a_log_may_be_written_inside_the_photo_folder_it_reads(tmp_path, capsys):
    """`cd photos; facesense live --source . --log faces.csv` was refused: 'would be read as a
    photo next time', which a csv never is (found by a bug hunt). A second run passes it over."""
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), demo_photo())
    for run in range(2):
        assert main(["live", "--source", str(photos), "--no-window", *OFF, "--log", str(photos / "faces.csv")]) == 0
        rows = list(csv.DictReader(open(photos / "faces.csv")))
        assert {r["source"] for r in rows} == {str(photos / "a.jpg")}, run
    capsys.readouterr()
