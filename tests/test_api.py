"""The Python API: importable without side effects, and the README's example runs as written."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facesense
from facesense.predict import predict_files
from conftest import write_class_folders
from facesense.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_import_loads_nothing_heavy():
    code = "import sys, facesense; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2', 'onnxruntime', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")}, check=True).stdout
    assert out.strip() == "[]"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    import matplotlib.cbook

    from facesense.stream.demo import make_demo_clip

    block = re.search(r"## Python API\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        (tmp_path / "photo.jpg").write_bytes(f.read())
    make_demo_clip(tmp_path / "clip.mp4")
    write_class_folders(tmp_path / "faces", ["man", "woman"], 4, colour=True, size=64)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("{'x': ") and len(lines) >= 1 + 30 + 1 + 1
    assert re.fullmatch(r"(negative|positive) 0\.\d+", lines[-1]), lines[-1]
    assert (tmp_path / "eval" / "gender-faces" / "metrics.json").is_file()


def test_a_photos_sentiment_is_read_as_predict_reads_it_and_face_models_are_refused(tmp_path, capsys):
    """The API had no sentiment at all: the web page and `predict sentiment` read a photo's
    mood, a program embedding facesense could not (found by a review of the API)."""
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.dstack([np.tile(np.arange(160, dtype=np.uint8), (120, 1))] * 3))
    assert main(["predict", "sentiment", str(photo), "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    mood = facesense.image_sentiment(photo)
    assert mood["label"] == row["pred"] and mood["probs"] == pytest.approx({c: row[f"p_{c}"] for c in ("negative", "positive")}, abs=1e-4)
    analyser = facesense.SentimentAnalyser()
    assert analyser.score(cv2.imread(str(photo))) == mood and analyser.score(str(photo)) == mood
    for model, said in (("gender", "model=gender: is a gender model"), ("expression", "use this one as FaceAnalyser(expression='expression')"),
                        ("dlib-age", "FaceAnalyser(age='dlib-age')"), (3, "model=3: give a sentiment model's name")):
        with pytest.raises(facesense.FacesenseError, match=re.escape(said)):
            facesense.SentimentAnalyser(model)


def test_analyse_image_array_and_errors(tmp_path):
    import matplotlib.cbook
    import cv2

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    analyser = facesense.FaceAnalyser(gender=None, age=None)
    [face] = analyser.analyse(image)
    assert set(face) == {"track_id", "box", "expression"} and abs(sum(face["expression"]["probs"].values()) - 1) < 1e-3
    # by default one gender+age network answers both: Grace Hopper, 77 in this 1984 photo
    [face] = facesense.FaceAnalyser().analyse(image)
    assert face["gender"]["label"] in ("man", "woman") and 65 <= face["age"]["years"] <= 90 and face["age"]["sd"] > 0
    with pytest.raises(facesense.FacesenseError, match="expected H x W x 3 uint8"):
        analyser.analyse(np.zeros((4, 4), np.float32))
    # a face crop read whole, as predict --crops reads it: a tight crop the detector missed came back [] (found by a bug hunt)
    crop = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[60:420, 110:420], (48, 48))
    cv2.imwrite(str(tmp_path / "crop.png"), crop)
    [row] = predict_files("expression", [tmp_path / "crop.png"], crops=True).rows
    whole = analyser.classify(tmp_path / "crop.png")
    assert whole["box"] == {"x": 0, "y": 0, "w": 48, "h": 48} and whole["expression"]["p"] == pytest.approx(row["p_" + row["pred"]], abs=1e-4)
    assert whole == analyser.classify(crop) and whole["expression"]["label"] == row["pred"]
    # grey and BGRA arrays, as OpenCV reads such files, are read as those files are (they were refused)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert analyser.analyse(grey) == analyser.analyse(grey[:, :, None]) == analyser.analyse(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert analyser.analyse(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)) == analyser.analyse(image)
    with pytest.raises(facesense.FacesenseError, match="is a gender model"):
        facesense.FaceAnalyser(expression="gender", gender=None)
    # a folder of videos given as a photo folder, said in the caller's terms (it said `facesense live --source VIDEO`)
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    class Place:  # any os.PathLike, as analyse() takes one (stream refused it; found by review)
        def __fspath__(self):
            return str(videos)

    with pytest.raises(facesense.FacesenseError, match=re.escape("give each to `FaceAnalyser().stream('VIDEO')`")):
        list(analyser.stream(Place()))
    # in the caller's terms: it said "(--age age)" to a Python caller (found by a bug hunt)
    with pytest.raises(facesense.FacesenseError, match=re.escape("expression=age: estimates ages, not classes; use it as an age model (age=age)")):
        facesense.FaceAnalyser(expression="age", gender=None)


@pytest.mark.parametrize("call,match", [
    # each used to be a TypeError from pathlib, a ZeroDivisionError, an AttributeError or nothing at all
    (lambda a: a.analyse(None), "image=None: give a photo's file path"),
    (lambda a: a.analyse(5), "image=5"),
    (lambda a: a.analyse(""), "image=''"),
    (lambda a: a.analyse(np.zeros((0, 0, 3), np.uint8)), "has no pixels"),
    (lambda a: a.analyse(np.zeros((8, 8, 3), np.uint8), margin=float("nan")), "margin=nan: must be a finite number"),
    (lambda a: a.analyse(np.zeros((8, 8, 3), np.uint8), margin=-1), "margin=-1: must be >= 0 and <= 1"),
    (lambda a: a.stream("x.mp4", stride=0), "stride=0: must be >= 1"),  # by the call itself, not at the first next() (found by a bug hunt)
    (lambda a: a.stream("x.mp4", max_frames=-1), "max_frames=-1: must be >= 1"),
    (lambda a: a.stream("x.mp4", stall_timeout=-1), "stall_timeout=-1: must be > 0"),
    (lambda a: a.stream("x.mp4", settings={"smoothin": 1}), "settings: .*smoothin"),
    (lambda a: a.stream("x.mp4", settings=[1]), "settings=\\[1\\]: give a PipelineSettings"),
    (lambda a: facesense.FaceAnalyser(expression=123), "expression=123: give a model name or a file path"),
    (lambda a: facesense.FaceAnalyser(detect_width=-5), "detect_width=-5: must be >= 0"),
    (lambda a: facesense.evaluate("expression", None, "out"), "data=None"),
    (lambda a: facesense.evaluate("expression", "d.csv", "out", label_map=["a"]), "label_map=\\['a'\\]: give a dict"),
    (lambda a: facesense.evaluate("expression", "d.csv", "out", split=3), "split=3: give a name"),  # an AttributeError
    (lambda a: facesense.evaluate("expression", "d.csv", "out", skip_bad="no"), "skip_bad='no': give True or False"),  # read as True
    (lambda a: a.stream("x.mp4", settings={"smoothing": "0.5"}), "smoothing='0.5': must be a finite number"),  # '<' not supported
    (lambda a: facesense.face_dict(None), "face=None: give one face of a result"),
    (lambda a: facesense.analyse_image(np.zeros((480, 640, 3)).tolist()), "^image=<list of length 480>: give a photo's file path"),  # printed all 5 million characters
    # found by a bug hunt: "" was the working folder (its files scored, the report written there);
    # an int past 64 bits was numpy's TypeError; a camera past OpenCV's int was cv2.error
    (lambda a: facesense.evaluate("expression", "", "out"), "data='': is empty"),
    (lambda a: facesense.evaluate("expression", "d.csv", ""), "out_dir='': is empty"),
    (lambda a: a.stream("x.mp4", stall_timeout=10**400), "stall_timeout=.*: too large"),
    (lambda a: a.analyse(np.zeros((8, 8, 3), np.uint8), margin=10**400), "margin=.*: too large"),
    (lambda a: a.stream("x.mp4", stall_timeout=float("inf")), "stall_timeout=inf: must be a finite number"),
    (lambda a: a.stream(2**31), "source=2147483648: must be >= 0 and <= 2,147,483,647"),  # by the call (found by review)
    (lambda a: next(a.stream("99999999999")), "camera 99999999999: no camera has such an index"),
])
def test_api_mistakes_raise_facesense_error_naming_the_value(call, match):
    analyser = facesense.FaceAnalyser(gender=None, age=None)
    with pytest.raises(facesense.FacesenseError, match=match):
        call(analyser)


def test_api_stream_takes_settings_as_a_dict(tmp_path):
    from facesense.stream.demo import make_demo_clip

    clip = make_demo_clip(tmp_path / "clip.mp4")
    analyser = facesense.FaceAnalyser(gender=None, age=None)
    results = list(analyser.stream(str(clip), max_frames=3, settings={"smoothing": 1, "detect_every": np.int64(2)}))  # numpy numbers too
    assert len(results) == 3 and results[0].faces

    # a setting changed after the checks ran: smoothing 0 froze every label for good (found by a bug hunt)
    import dataclasses

    settings = facesense.PipelineSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.smoothing = 0
    with pytest.raises(facesense.FacesenseError, match="smoothing=0.0: must be in"):
        dataclasses.replace(settings, smoothing=0)


def test_api_stream_warns_of_a_truncated_video_as_live_does(tmp_path, caplog):
    """live warned that a cut file ended early; stream() said nothing (found by a bug hunt)."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(60):
        writer.write(np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    (tmp_path / "cut.avi").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    analyser = facesense.FaceAnalyser(expression=None, gender=None, age=None)
    assert 10 < sum(1 for _ in analyser.stream(str(tmp_path / "cut.avi"))) < 50
    assert "its header declares" in caplog.text and "truncated or damaged" in caplog.text
    caplog.clear()
    assert sum(1 for _ in analyser.stream(str(path))) == 60 and "truncated" not in caplog.text


def test_api_evaluate_guards_its_outputs_and_scores_ages(tmp_path):
    """As the CLI: no report inside a folder dataset (its files would be read as faces next
    time), no file as the report folder; an age model gives age metrics."""
    from conftest import write_class_folders

    data = write_class_folders(tmp_path / "faces", ["man", "woman"], 3, colour=True, size=64)
    with pytest.raises(facesense.FacesenseError, match="is inside the dataset folder"):
        facesense.evaluate("gender", data, data / "report")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(facesense.FacesenseError, match="is a file"):
        facesense.evaluate("gender", data, tmp_path / "afile")
    rows = [f"{p.relative_to(data)},{p.parent.name},{30 + i}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,age\n" + "\n".join(rows) + "\n")
    m = facesense.evaluate("age", data, tmp_path / "age")
    assert m["n"] == 6 and m["mae"] >= 0 and (tmp_path / "age" / "age_metrics.json").is_file()
    # labels coded 0/1 (UTKFace's own files): label_map renames them for the gender accuracy, as
    # --label-map does (the API refused it: "an age model is scored on the age column")
    coded = [f"{p.relative_to(data)},{'01'[p.parent.name == 'woman']},{30 + i}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,age\n" + "\n".join(coded) + "\n")
    mapped = facesense.evaluate("gender_age", data, tmp_path / "age01", label_map={"0": "man", "1": "woman"})
    assert mapped["gender_n"] == 6 and mapped["gender_accuracy"] == m["gender_accuracy"]


def test_api_takes_none_as_the_cli_does_and_face_dict_takes_analyse_output():
    """A wrong-task message suggests 'none', which the API refused as a model name; face_dict
    refused the dicts .analyse returns, naming .analyse as what to give it."""
    from facesense.stream.demo import demo_photo

    analyser = facesense.FaceAnalyser(gender="none", age="none")
    assert analyser.models.gender is None and analyser.models.age is None
    faces = analyser.analyse(demo_photo())
    assert faces and facesense.face_dict(faces[0]) == faces[0]


def test_cli_and_api_read_the_off_words_alike():
    """The command line took only lower-case 'none'/'off' while the API took any case: `--gender
    None` was looked up as a model named None. Both now use one rule."""
    from facesense.runtime.assets import model_or_off

    for word in ("none", "None", "OFF", "", " none "):
        assert model_or_off(word) is None
    assert model_or_off(None) is None
    assert model_or_off("expression") == "expression"
    assert model_or_off(Path("nonexistent/none.onnx")) == Path("nonexistent/none.onnx")


def test_the_web_app_decodes_uploads_as_files_are_decoded(tmp_path):
    """The web app decoded uploads with OpenCV: a float TIFF that predict and live read was
    refused, and CMYK JPEGs came out a little different."""
    import io

    from PIL import Image

    from facesense.data.images import read_image
    from facesense.serve.analyzer import decode_image

    grey = (np.linspace(0, 1, 64 * 48, dtype=np.float32)).reshape(48, 64)
    Image.fromarray(grey, mode="F").save(tmp_path / "float.tif")
    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    for name in ("float.tif", "cmyk.jpg"):
        upload = decode_image((tmp_path / name).read_bytes())
        from_file = read_image(tmp_path / name)
        expected = np.repeat(from_file[..., None], 3, axis=2) if from_file.ndim == 2 else from_file[..., ::-1]
        assert np.array_equal(upload, expected), name


def test_a_bgra_array_is_read_as_its_file_is_over_white(tmp_path):
    """A cut-out PNG (a face kept, the rest transparent and stored black) read with
    cv2.IMREAD_UNCHANGED gave classify() 'woman 0.79' where the file itself gave 'man 0.96': the
    array's alpha was dropped (the black showed) where a file's is laid over white."""
    from facesense.api import _as_bgr

    bgra = np.zeros((40, 60, 4), np.uint8)
    bgra[10:30, 15:45, :3] = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    bgra[10:30, 15:45, 3] = 255
    bgra[30:35, 15:45, :3], bgra[30:35, 15:45, 3] = 90, 128  # half transparent too
    cv2.imwrite(str(tmp_path / "cutout.png"), bgra)
    array = cv2.imread(str(tmp_path / "cutout.png"), cv2.IMREAD_UNCHANGED)
    assert array.shape == (40, 60, 4)
    from_file = _as_bgr(tmp_path / "cutout.png")
    assert np.array_equal(_as_bgr(array), from_file) and (from_file[0, 0] == 255).all()
    grey = cv2.cvtColor(bgra[:, :, :3], cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    assert np.array_equal(_as_bgr(grey), _as_bgr(tmp_path / "grey.png")) and np.array_equal(_as_bgr(grey[:, :, None]), _as_bgr(grey))


def test_a_video_given_as_a_photo_points_to_stream(tmp_path):
    from facesense.errors import FacesenseError

    (tmp_path / "clip.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + bytes(100))
    with pytest.raises(FacesenseError, match=r"a video, not a photo; use FaceAnalyser\(\).stream"):
        facesense.analyse_image(tmp_path / "clip.mov", gender=None, age=None)

    (tmp_path / "album").mkdir()  # a folder was called "not a readable image (IsADirectoryError...)"
    with pytest.raises(FacesenseError, match=r"album: a folder, not a photo; use FaceAnalyser\(\).stream"):
        facesense.analyse_image(tmp_path / "album", gender=None, age=None)

    # an address: "https:/example.com/a.jpg: file not found", and a file:// one that stream() takes refused (found by a bug hunt)
    with pytest.raises(FacesenseError, match=r"^https://example.com/a.jpg: analyse\(\) reads a file or an array, not an address; download the photo first"):
        facesense.analyse_image("https://example.com/a.jpg", gender=None, age=None)
    cv2.imwrite(str(tmp_path / "a photo.png"), np.full((40, 40, 3), 128, np.uint8))
    assert facesense.analyse_image((tmp_path / "a photo.png").as_uri(), expression=None, gender=None, age=None) == []
    # blank, another machine's file:// and a Windows drive path (found by a review)
    with pytest.raises(FacesenseError, match="is blank; give a photo's file path"):
        facesense.analyse_image("   ", gender=None, age=None)
    with pytest.raises(FacesenseError, match="a file on otherhost, not this machine"):
        facesense.analyse_image("file://otherhost/tmp/x.jpg", gender=None, age=None)
    with pytest.raises(FacesenseError, match=r"C://photos/a.jpg: not found|C:/photos/a.jpg"):
        facesense.analyse_image("C://photos/a.jpg", gender=None, age=None)


def test_stream_of_a_folder_with_no_readable_photo_raises_and_names_why(tmp_path, caplog):
    """stream() over a folder of unreadable files yielded nothing and returned, where `live`
    exits 2; and a photo folder's skipped photos were only counted, never named with why."""
    from facesense.errors import FacesenseError
    from facesense.stream.frames import open_source

    (tmp_path / "a.jpg").write_text("not a photo")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(FacesenseError, match="no photo could be read"):
        list(facesense.FaceAnalyser(gender=None, age=None).stream(tmp_path))
    assert "a.jpg: not a readable image" in caplog.text and "remove or replace it; skipped" in caplog.text
    source = open_source(str(tmp_path))
    assert list(source) == [] and [photo for photo, _ in source.skipped] == [str(tmp_path / "a.jpg"), str(tmp_path / "b.png")]
    with pytest.raises(FacesenseError, match=r"stride 3 \(--stride, stride=\) is for video files: photos are each read once"):
        open_source(str(tmp_path), stride=3)
    with pytest.raises(FacesenseError, match=r"stride 2 \(--stride, stride=\) is for video files: a camera or stream"):
        open_source("rtsp://example.invalid/x", stride=2)


def test_a_photo_format_that_cannot_be_read_is_not_called_a_video(tmp_path):
    from facesense.errors import FacesenseError

    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(100))
    with pytest.raises(FacesenseError, match=r"IMG_0001.HEIC: not a readable image") as raised:
        facesense.analyse_image(tmp_path / "IMG_0001.HEIC", gender=None, age=None)
    assert "stream" not in str(raised.value)


def test_pipeline_settings_come_with_the_api():
    """stream(settings=...) took a PipelineSettings that only facesense.stream.pipeline exported."""
    from facesense.stream.pipeline import PipelineSettings

    assert facesense.PipelineSettings is PipelineSettings and "PipelineSettings" in dir(facesense)


def test_the_api_names_its_own_arguments_in_a_wrong_model_message():
    """FaceAnalyser(expression="gender") said "--expression gender: is a gender model": the
    command line's option, not the argument the caller wrote."""
    import pytest

    from facesense import FaceAnalyser
    from facesense.errors import FacesenseError
    from facesense.runtime.assets import shipped_model_path

    with pytest.raises(FacesenseError, match=r"^expression=gender: is a gender model"):
        FaceAnalyser(expression="gender")
    gender = str(shipped_model_path("gender", ".int8.onnx"))
    with pytest.raises(FacesenseError, match=r"^age=.*gender.int8.onnx: not a gender\+age network \(its task is gender\)"):
        FaceAnalyser(age=gender)


def test_a_folder_named_like_a_shipped_model_does_not_hide_it(tmp_path, monkeypatch):
    """From runs/ (which holds runs/gender_age/, runs/expression/...), every command failed with
    "gender_age: no best.pt or last.pt in this folder", the demo included (found by a bug hunt)."""
    from facesense.runtime.assets import names_a_local_model
    from facesense.runtime.loading import load_classifier, resolve

    monkeypatch.chdir(tmp_path)
    for name in ("gender_age", "expression", "gender"):
        (tmp_path / name / "x-1").mkdir(parents=True)
    assert not names_a_local_model("gender") and resolve("gender").name.startswith("gender.")
    assert load_classifier("expression").classes[0] == "angry"
    assert len(facesense.analyse_image(np.full((64, 64, 3), 90, np.uint8))) == 0  # the default gender_age model loads
    (tmp_path / "gender" / "last.pt").write_bytes(b"")  # a run folder of that name is the user's own
    assert names_a_local_model("gender") and resolve("gender") == Path("gender")


def test_stream_refuses_sources_it_cannot_read_before_opencv_sees_them():
    """stream(-1) crashed the interpreter inside OpenCV; stream(True) and stream(array) raised
    ValueError and OSError (found by a bug hunt)."""
    from facesense.errors import FacesenseError

    analyser = facesense.FaceAnalyser(expression=None, gender=None, age=None)
    for bad, said in ((-1, "source=-1: must be >= 0"), (True, "source=True"), (np.zeros((4, 4, 3), np.uint8), "for an image array use analyse")):
        with pytest.raises(FacesenseError, match=re.escape(said)):
            next(analyser.stream(bad))


def test_init_from_and_teachers_see_through_a_folder_named_like_a_shipped_model(tmp_path, monkeypatch):
    """The rule reached predict and evaluate but not train: init_from=gender in a folder holding
    an empty gender/ became that folder's absolute path and failed (found by review)."""
    from facesense.config import load_config, resolve_paths
    from facesense.runtime.assets import shipped_model_path
    from facesense.train.init import existing_weights_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "gender").mkdir()
    cfg = resolve_paths(load_config(overrides={"task": "gender", "init_from": "gender", "teacher": ["expression", "gender"]}), tmp_path)
    assert cfg.init_from == "gender" and cfg.teacher == ["expression", "gender"]
    assert existing_weights_file("gender") == shipped_model_path("gender")


def test_an_uncalibrated_age_checkpoint_is_told_its_own_fix(tmp_path):
    """The warning sent a stopped run's best.pt to 'train with a validation split' and its
    last.pt to an equally uncalibrated best.pt (found by review)."""
    import json

    from facesense.checkpoint import _calibration_fix

    run = tmp_path / "ga-1"
    run.mkdir()
    assert "finish it with `facesense train --resume" in _calibration_fix(run / "best.pt")
    (run / "train_summary.json").write_text(json.dumps({"val": {"n": 10}}))
    assert "no validation split" in _calibration_fix(run / "best.pt")
    (run / "train_summary.json").write_text(json.dumps({"val": {"age_temperature": 1.1}}))
    assert "use the run's best.pt" in _calibration_fix(run / "last.pt")


def test_one_analyser_serves_a_thread_pool_and_refuses_an_empty_model_name():
    """One FaceAnalyser with a Haar detector shared by 4 threads raised OpenCV's errors and gave
    other boxes than one at a time; FaceAnalyser(expression='') switched the model off without a
    word (found by a bug hunt)."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    sizes = [cv2.resize(image, None, fx=s, fy=s) for s in (0.5, 0.7, 1.0, 1.3)] * 5
    analyser = facesense.FaceAnalyser(detector="haar", gender=None, age=None)
    alone = [[f["box"] for f in analyser.analyse(im)] for im in sizes]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda im: [f["box"] for f in analyser.analyse(im)], sizes))
    assert together == alone
    with pytest.raises(facesense.FacesenseError, match="expression=.. is empty"):
        facesense.FaceAnalyser(expression="")


def test_an_unreadable_photo_is_said_without_command_line_advice(tmp_path):
    """analyse('trunc.jpg') suggested 'skip_bad=true in a training config, --skip-bad for
    evaluate...' to a Python caller (found by a bug hunt)."""
    broken = tmp_path / "trunc.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(facesense.FacesenseError) as raised:
        facesense.FaceAnalyser(gender=None, age=None).analyse(broken)
    assert "not a readable image" in str(raised.value) and "skip" not in str(raised.value)


def test_evaluate_borrows_another_models_split_and_stream_refuses_a_source_when_called(tmp_path):
    """The API's advice named --split-from, which facesense.evaluate did not take; stream('')
    and a stride on a photo folder were refused only at the first next() (found by a bug hunt)."""
    from conftest import write_class_folders

    data = write_class_folders(tmp_path / "faces", ["man", "woman"], 20, colour=True, size=64)
    rows = [f"{p.relative_to(data)},{p.parent.name},{20 + i},{'ab'[i % 2]}" for i, p in enumerate(sorted(data.rglob("*.png")))]
    (data / "labels.csv").write_text("path,label,age,race\n" + "\n".join(rows) + "\n")  # gender_age's split is stratified by race
    with pytest.raises(facesense.FacesenseError, match=r"split_from=MODEL"):
        facesense.evaluate("gender", data, tmp_path / "e0", split="test")
    with pytest.raises(facesense.FacesenseError, match=r"give split= too"):
        facesense.evaluate("gender", data, tmp_path / "e0", split_from="gender_age")
    with pytest.raises(facesense.FacesenseError, match=r"split_from='nosuch'"):
        facesense.evaluate("gender", data, tmp_path / "e0", split="test", split_from="nosuch")
    assert main(["train", f"data={data}", "task=gender", "model=resnet_fer_small", "epochs=1", "batch_size=8", f"runs_dir={tmp_path / 'runs'}", "-q"]) == 0
    run = str(next((tmp_path / "runs").rglob("train_summary.json")).parent)
    m = facesense.evaluate("gender", data, tmp_path / "e1", split="val", split_from=run)
    assert m["split_from"] == run and 0 < m["n"] < 40
    assert main(["evaluate", "gender", "--data", str(data), "--split", "val", "--split-from", run, "--out", str(tmp_path / "e2")]) == 0
    cli = {r["id"] for r in csv.DictReader(open(tmp_path / "e2" / "predictions.csv"))}
    assert {r["id"] for r in csv.DictReader(open(tmp_path / "e1" / "predictions.csv"))} == cli
    analyser = facesense.FaceAnalyser(expression=None, gender=None, age=None)
    with pytest.raises(facesense.FacesenseError, match=r"\(--source, source=\) is empty"):
        analyser.stream("")
    with pytest.raises(facesense.FacesenseError, match="photos are each read once"):
        analyser.stream(data / "man", stride=2)
    with pytest.raises(facesense.FacesenseError, match="is for stream URLs"):
        analyser.stream(0, reconnect=5)


def test_the_detector_runs_on_the_device_asked_for_and_a_bad_device_is_refused(monkeypatch):
    """FaceAnalyser(device='cpu') ran the classifiers on the CPU but left the CenterFace detector
    on 'auto' (the GPU where onnxruntime-gpu sees one); with every classifier off, device='gpu'
    and device='cuda' without CUDA were taken without a word (found by a bug hunt)."""
    from facesense.runtime import faces

    asked = []
    make_session = faces.make_session
    monkeypatch.setattr(faces, "make_session", lambda model, name, threads=0, device="auto", **kw: (asked.append(device), make_session(model, name, threads, device, **kw))[1])
    facesense.FaceAnalyser(expression=None, gender=None, age=None, device="cpu")
    assert asked == ["cpu"]
    for device in ("gpu", None):
        with pytest.raises(facesense.FacesenseError, match=re.escape(f"device={device!r}: choose one of auto, cpu, cuda")):
            facesense.FaceAnalyser(expression=None, gender=None, age=None, detector="haar", device=device)


def test_checkpoints_load_in_several_threads_at_once(tmp_path):
    """A thread pool calling analyse_image (or making FaceAnalysers) with a run's checkpoint
    failed with torch's "AssertionError: GLOBALS.in_onnx_export must be True": each load exports
    the checkpoint to ONNX, and torch.onnx.export is not thread-safe (found by a bug hunt)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from facesense.checkpoint import save_checkpoint
    from facesense.models import build_model
    from facesense.preprocess import InputSpec

    torch.manual_seed(0)
    classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    ckpt = tmp_path / "expr.pt"
    save_checkpoint(ckpt, build_model("resnet_fer_small", len(classes), 1, 48), {"model": "resnet_fer_small", "task": "expression", "model_args": {}}, classes, InputSpec(48, 1))
    start = threading.Barrier(4)

    def load(_):
        start.wait()
        return facesense.FaceAnalyser(expression=ckpt, gender=None, age=None, detector="haar").models.expression.classes

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(load, range(4))) == [classes] * 4
