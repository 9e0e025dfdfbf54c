"""task=gender_age: stratified held-out split, masked multi-task loss, temperature calibration,
export with two outputs, the runtime class, and `evaluate` of an age model (tiny data)."""

import csv
import json

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facesense.age import age_bins, central_interval, decade, years_and_sd
from facesense.cli import main
from facesense.data.samples import Samples
from facesense.data.split import assign_splits, stratified_fraction
from facesense.eval.age import age_metrics, format_age_report, parse_where, where_mask
from facesense.train.gender_age import fit_temperature, gender_age_loss

from conftest import face_like

RACES = ["A", "B", "C"]


def write_age_manifest(root, n=90, seed=0):
    """Colour faces with gender, age (18-89, plus a few children) and race columns."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        label = ["man", "woman"][i % 2]
        age = int(rng.integers(1, 17)) if i % 15 == 0 else int(18 + (i * 7) % 72)
        Image.fromarray(face_like(i % 2, rng, 32, colour=True)).save(root / "images" / f"f{i}.png")
        rows.append([f"images/f{i}.png", label, age, RACES[i % 3]])
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "age", "race"])
        w.writerows(rows)
    return root


def samples_of(labels, columns):
    n = len(labels)
    return Samples("mem", [str(i) for i in range(n)], labels, [None] * n, columns=columns)


def test_stratified_fraction_takes_each_strata_share_and_is_deterministic():
    keys = ["a"] * 40 + ["b"] * 20 + ["c"] * 3
    pool = np.arange(len(keys))
    keep, held = stratified_fraction(keys, 0.25, 7, pool)
    assert sorted(np.concatenate([keep, held]).tolist()) == pool.tolist()
    counts = {k: sum(keys[i] == k for i in held) for k in "abc"}
    assert counts["a"] == 10 and counts["b"] == 5 and 0 <= counts["c"] <= 1
    keep2, held2 = stratified_fraction(keys, 0.25, 7, pool)
    assert np.array_equal(held, held2)
    assert not np.array_equal(held, stratified_fraction(keys, 0.25, 8, pool)[1])


def test_assign_splits_holds_out_test_first_stratified_by_columns():
    rng = np.random.default_rng(0)
    n = 400
    labels = ["man" if i % 2 else "woman" for i in range(n)]
    races = [RACES[i % 3] for i in range(n)]
    ages = [str(int(a)) for a in rng.integers(1, 90, n)]
    s = samples_of(labels, {"race": races, "age": ages})
    parts = assign_splits(s, val_size=0.1, seed=3, test_size=0.25, stratify=["race", "age"])
    assert len(parts["test"]) == 100
    assert not set(parts["test"]) & set(parts["train"]) and not set(parts["test"]) & set(parts["val"])
    # the test split does not depend on val_size: changing it never moves a test face into training
    again = assign_splits(s, val_size=0.3, seed=3, test_size=0.25, stratify=["race", "age"])
    assert np.array_equal(parts["test"], again["test"])
    for race in RACES:  # each race keeps its share (within rounding)
        share = sum(races[i] == race for i in parts["test"]) / sum(r == race for r in races)
        assert share == pytest.approx(0.25, abs=0.03)


def test_a_split_stratified_by_columns_keeps_the_plain_splits_rules_and_older_runs_keep_theirs():
    """Each class-and-race stratum rounded its own share, so a class of one row could be held out
    (none left to train on) and one of three rows in three races none held out: its validation
    scored it perfect. As `data split --stratify` does (rule 4); a run made under rule 3 draws as it did."""
    from facesense.errors import DataError

    labels = ["a"] * 7 + ["b"] * 7 + ["c"] * 3 + ["d"]
    races = [RACES[i % 3] for i in range(14)] + RACES + ["White"]
    s = samples_of(labels, {"race": races})
    for seed in range(4):
        parts = assign_splits(s, val_size=0.25, seed=seed, stratify=["race"])
        held, kept = {labels[i] for i in parts["val"]}, {labels[i] for i in parts["train"]}
        assert "d" in kept and "d" not in held
        assert {"a", "b", "c"} <= held and {"a", "b", "c"} <= kept
        old = assign_splits(s, val_size=0.25, seed=seed, stratify=["race"], split_rule=3)
        assert np.array_equal(old["val"], stratified_fraction([f"{l}|{r}" for l, r in zip(labels, races)], 0.25, seed + 1, np.arange(len(labels)))[1])

    singles = samples_of(list("abcdef"), {"race": ["x"] * 6})  # every class one row: nothing to hold out, refused (it was an empty split; found by review)
    for settings in ({"test_size": 0.5, "val_size": 0}, {"val_size": 0.5, "stratify": ["race"]}):
        with pytest.raises(DataError, match="every row it would hold out is its class's only sample"):
            assign_splits(singles, seed=0, **settings)
    lone = samples_of(["a"] * 9 + ["b"] * 9 + ["c"], {})  # test_size without columns too: a lone sample stays in training
    assert "c" not in {lone.labels[i] for i in assign_splits(lone, test_size=0.5, val_size=0, seed=0)["test"]}
    assert "c" in {lone.labels[i] for i in assign_splits(lone, test_size=0.5, val_size=0, seed=0, split_rule=3)["test"]}
    with pytest.raises(DataError, match=r"val_size=0.005 with stratify \['race'\]: every class-and-race share of the rows rounds to none held out"):
        assign_splits(s, val_size=0.005, seed=0, stratify=["race"])


def test_stratify_by_a_missing_column_is_a_clear_error():
    from facesense.errors import DataError

    with pytest.raises(DataError, match="no column 'race'"):
        assign_splits(samples_of(["a", "b"] * 5, {}), test_size=0.2, stratify=["race"])


def test_masked_loss_ignores_age_of_rows_without_one():
    bins = torch.as_tensor(age_bins(20), dtype=torch.float32)
    logits = torch.randn(4, 2 + 21, requires_grad=True)
    targets = torch.tensor([[0, 5], [1, -1], [0, -1], [1, 12]])
    loss, expected = gender_age_loss(logits, targets, 2, bins, 2.0)
    loss.backward()
    grad = logits.grad
    assert torch.all(grad[1, 2:] == 0) and torch.all(grad[2, 2:] == 0)  # no age target: no age gradient
    assert torch.any(grad[0, 2:] != 0) and torch.any(grad[1, :2] != 0)  # gender trains on every row
    assert expected.shape == (4,)
    # age only (gender_weight 0): class logits get no gradient
    logits.grad = None
    gender_age_loss(logits, targets, 2, bins, 2.0, gender_weight=0.0)[0].backward()
    assert torch.all(logits.grad[:, :2] == 0)
    # the expectation term adds age_l1 x the summed |expected - true age| of the aged rows / batch
    with torch.no_grad():
        base, expected = gender_age_loss(logits, targets, 2, bins, 2.0, age_l1=0.0)
        heavier = gender_age_loss(logits, targets, 2, bins, 2.0, age_l1=1.0)[0]
    l1 = ((expected[0] - 5).abs() + (expected[3] - 12).abs()) / 4
    assert heavier.item() == pytest.approx(base.item() + l1.item(), rel=1e-5)


def test_years_sd_and_interval_of_known_distributions():
    bins = age_bins(100)
    p = np.zeros((2, 101))
    p[0, 30] = 1
    p[1, [20, 40]] = 0.5
    years, sd = years_and_sd(p, bins)
    assert years.tolist() == [30, 30] and sd.tolist() == [0, 10]
    low, high = central_interval(p, bins, 0.9)
    assert low.tolist() == [30, 20] and high.tolist() == [30, 40]
    assert [decade(a) for a in (3, 18, 45, 79, 80, 116)] == ["0-9", "10-19", "40-49", "70-79", "80+", "80+"]


def test_the_age_head_gives_each_face_its_interval_as_well_as_mean_and_sd():
    """A smoothed two-humped distribution (a child read as 7 or 44): its 90% interval spans both
    humps, which the live logs, predict and the API now carry beside the mean and sd."""
    from facesense.runtime.gender_age import AgeHead, GenderAgeModel
    from facesense.runtime.results import age_fields

    model = GenderAgeModel.__new__(GenderAgeModel)
    model.name, model.spec, model.margin, model.bins = "x", None, 0.0, age_bins(100)
    p = np.zeros(101)
    p[[7, 44]] = [0.6, 0.4]
    estimate = AgeHead(model).result(p * 1.01)  # smoothed sums need not be exactly 1
    assert age_fields(estimate) == {"age_years": 21.8, "age_sd": 18.13, "age_low90": 7.0, "age_high90": 44.0}


def test_temperature_widens_an_overconfident_head():
    rng = np.random.default_rng(0)
    bins = age_bins(60)
    true = rng.integers(10, 50, 500)
    guess = true + rng.normal(0, 6, 500)  # the model is off by ~6 years ...
    logits = -0.5 * ((bins[None] - guess[:, None]) / 1.0) ** 2  # ... but claims sd 1
    t = fit_temperature(logits, true)
    assert t > 10 ** 1.2  # sd scales with sqrt(T): roughly 6^2 = 36
    p = np.exp(logits / t - (logits / t).max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    years, sd = years_and_sd(p, bins)
    within = np.mean(np.abs(years - true) <= sd)
    assert 0.55 < within < 0.8


def test_a_temperature_that_would_raise_the_validation_mae_is_not_used(caplog, monkeypatch):
    """Fitted on few badly predicted ages, the temperature flattened every distribution toward the
    middle of the age range: a user's 2-epoch run went from MAE 6.0 to 8.7 years on validation
    (found by a bug hunt). One that does not move the ages (the test above) is still used."""
    from facesense.train import gender_age

    rng = np.random.default_rng(0)
    bins = age_bins(100)
    true = rng.integers(18, 30, 24)
    logits = -np.abs(bins[None] - (true + rng.normal(0, 2, 24))[:, None])
    with monkeypatch.context() as m:  # as 24 ages of an undertrained run fitted it: flat enough to pull every age toward 50
        m.setattr(gender_age, "fit_temperature", lambda *a: 30.0)
        used, fitted = gender_age.choose_temperature(logits, true, bins)
    assert fitted == 30.0 and used == 1.0 and "so it is not used" in caplog.text
    choose_temperature = gender_age.choose_temperature
    true = rng.integers(30, 70, 500)
    guess = true + rng.normal(0, 6, 500)
    logits = -0.5 * ((bins[None] - guess[:, None]) / 1.0) ** 2
    used, fitted = choose_temperature(logits, true, bins)
    assert used == fitted > 10


def test_age_metrics_tables():
    ages = np.array([25, 27, 45, 85.0])
    years = np.array([26, 30, 40, 70.0])
    sd = np.array([2, 2, 6, 5.0])
    m = age_metrics(years, sd, ages, ["x", "y", "x", "y"])
    assert m["mae"] == pytest.approx((1 + 3 + 5 + 15) / 4)
    assert m["by_decade"]["20-29"] == {"n": 2, "mae": 2.0, "mae_ci95": [0.0, 14.706]}  # errors 1 and 3: 2 +- t(0.975, 1) = 12.706
    assert m["by_group"]["groups"]["x"]["mae"] == 3.0 and m["by_group"]["mae_gap"] == 6.0
    assert m["by_group_within_decade"]["80+"] == {"y": {"n": 1, "mae": 15.0}}
    assert m["uncertainty"]["within_1sd"] == 0.5
    # errors 1, 3, 5, 15: mean 6, sd 6.218; t(0.975, 3) = 3.182 -> 6 +- 9.89, the low end held at 0
    lo, hi = m["mae_ci95"]
    assert lo == 0.0 and hi == pytest.approx(6 + 9.894, abs=0.01)
    assert "95% CI 0.00-15.89" in format_age_report(m)[0]
    one = age_metrics(years[:1], sd[:1], ages[:1])
    assert one["mae_ci95"] is None and "CI" not in format_age_report(one)[0]
    # grouped by another column the table by decade is printed; by age itself it repeats the groups' line (found by a bug hunt)
    assert any(line.startswith("MAE by race within decade") for line in format_age_report(m, "race"))
    by_age = age_metrics(years, sd, ages, ["20-29", "20-29", "40-49", "80+"])
    assert not any("within decade" in line for line in format_age_report(by_age, "age"))
    # the figure without training images is the warning line's, not printed again
    assert not any("without the images" in line for line in format_age_report({**m, "without_training_pixels": {"n": 2, "mae": 3.0}}, "race"))


def test_where_conditions():
    s = samples_of(["man", "woman", "man"], {"age": ["10", "30", "50"], "race": ["A", "B", "A"]})
    assert where_mask(s, ["age>=18"]).tolist() == [False, True, True]
    assert where_mask(s, ["age >= 18", "race==A"]).tolist() == [False, False, True]
    assert where_mask(s, ["label!=man"]).tolist() == [False, True, False]
    assert parse_where("age<18") == ("age", "<", "18")
    from facesense.errors import DataError

    with pytest.raises(DataError, match="no column 'height'"):
        where_mask(s, ["height>3"])
    with pytest.raises(DataError, match="COLUMN OP VALUE"):
        parse_where("adults")
    # mistakes that read as "no rows left" (found by the group-report hunt)
    with pytest.raises(DataError, match="'=>' is not an operator"):
        parse_where("age=>18")
    with pytest.raises(DataError, match="no value after the operator"):
        parse_where("race==")
    for joined in ("age>=18 and race==A", "age>=18, race==A", "age>=18 && race!=B"):  # read as age >= '18 and race==A': not a number (found by a bug hunt)
        with pytest.raises(DataError, match="one condition per --where; give each its own"):
            parse_where(joined)
    assert parse_where("race==Black and White") == ("race", "==", "Black and White") and parse_where("note==a,b") == ("note", "==", "a,b")
    with pytest.raises(DataError, match="no column 'rac' \\(did you mean 'race'\\?\\)"):
        where_mask(s, ["rac==A"])
    with pytest.raises(DataError, match=r"no row's race is 'a' \(text compares exactly, case too\); its values are 'A', 'B'"):
        where_mask(s, ["race==a"])
    assert where_mask(s, ["race=='A'"]).tolist() == [True, False, True]  # quotes are the shell's, not the value's
    blank = samples_of(["man", "woman"], {"race": ["", "B"]})
    assert where_mask(blank, ['race==""']).tolist() == [True, False]


def test_train_export_runtime_and_evaluate_end_to_end(tmp_path, capsys, caplog):
    utk = write_age_manifest(tmp_path / "utk")
    from conftest import write_class_folders

    extra = write_class_folders(tmp_path / "gf", ["man", "woman"], 10, size=40, colour=True)
    args = ["train", "task=gender_age", f"data={utk}", f"extra_data=[{extra}]", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}",
            "image_size=32", "channels=3", "epochs=2", "batch_size=16", "test_size=0.25", "val_size=0.2", "stratify=[race]", "age_max=90",
            f"runs_dir={tmp_path / 'runs'}", "augment.brightness=0.2", "augment.saturation=0.2", "augment.hflip=true", "-q"]
    assert main(args) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(open(f"{run}/train_summary.json").read())
    assert summary["samples"]["test"] == 23 and summary["val"]["age"]["n"] > 0 and summary["val"]["age_temperature"] > 0
    history = list(csv.DictReader(open(f"{run}/history.csv")))
    assert len(history) == 2 and float(history[0]["val_age_mae"]) > 0
    manifest = list(csv.DictReader(open(f"{run}/split_manifest.csv")))
    assert not any(r["split"] == "test" and ":" in r["id"] for r in manifest)  # gender-only data is never test
    assert f"the test split (23 faces) is held out and not scored here: facesense evaluate {run} --data {utk} --split test" in caplog.text

    # another model scored on the extra data's "val" by this run's split: refused for what it is,
    # not with the main data's stratify column ('no column race'; found by a bug hunt)
    capsys.readouterr()
    assert main(["evaluate", "gender", "--data", str(extra), "--split", "val", "--split-from", run, "--out", str(tmp_path / "ev_extra")]) == 2
    assert "trained on all but a validation share of it (extra_data)" in capsys.readouterr().err
    onnx_path = tmp_path / "ga.onnx"
    assert main(["export", run, "--out", str(onnx_path)]) == 0
    assert "never calibrated" not in caplog.text  # best.pt carries its temperature
    # last.pt carries none: exported as it is, its age sd was a third of the calibrated one, without a word (bug hunt)
    assert main(["export", f"{run}/last.pt", "--out", str(tmp_path / "ga_last.onnx")]) == 0
    assert "its age uncertainty was never calibrated" in caplog.text
    from facesense.runtime.gender_age import GenderAgeModel

    model = GenderAgeModel.load(onnx_path)
    assert model.classes == ["man", "woman"] and model.bins[-1] == 90
    faces = [face_like(0, np.random.default_rng(1), 50, colour=True), face_like(1, np.random.default_rng(2), 60, colour=True)]
    results = model.estimate(faces)
    assert len(results) == 2 and all(0 <= r.age.years <= 90 and r.age.sd > 0 and r.age_low <= r.age_high for r in results)
    assert model.predict(faces).shape == (2, 2)
    assert model.estimate([]) == []
    # a plain classifier reads the same file as a gender model (first output)
    from facesense.runtime.classifier import FaceClassifier

    assert FaceClassifier.load(onnx_path).predict(faces).shape == (2, 2)
    # as --gender, with --age left at auto, the network gives its own ages too (they came from the shipped network)
    from facesense.stream.live import load_face_models

    models = load_face_models(None, str(onnx_path))
    assert models.age.model is models.gender and models.gender.name == str(onnx_path)
    assert load_face_models(None, str(onnx_path), "gender_age").age.model.name == "gender_age"  # asked for by name

    out = tmp_path / "eval"
    capsys.readouterr()
    assert main(["evaluate", str(onnx_path), "--data", str(utk), "--split", "test", "--group-by", "race", "--where", "age>=18", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "age MAE" in text and "MAE by race (95% CI): " in text
    m = json.loads((out / "age_metrics.json").read_text())
    for group in m["by_group"]["groups"].values():  # each group's MAE with its interval (one face: none)
        assert ("mae_ci95" in group) == (group["n"] > 1) and (group["n"] < 2 or group["mae_ci95"][0] <= group["mae"] <= group["mae_ci95"][1])
    test_ids = {r["id"] for r in manifest if r["split"] == "test"}
    rows = list(csv.DictReader(open(out / "age_predictions.csv")))
    assert {r["id"] for r in rows} <= test_ids and all(float(r["age"]) >= 18 for r in rows) and len(rows) == m["n"] > 0
    # the checkpoint scores the same rows the same way
    assert main(["evaluate", run, "--data", str(utk), "--split", "test", "--group-by", "race", "--where", "age>=18", "--out", str(tmp_path / "eval_pt")]) == 0
    m_pt = json.loads((tmp_path / "eval_pt" / "age_metrics.json").read_text())
    assert m_pt["n"] == m["n"] and m_pt["mae"] == pytest.approx(m["mae"], abs=1e-3)
    # the run's test rows are its manifest's, even with a face added to the data; a recomputed
    # draw took training rows there (found by review)
    import shutil

    lines = (utk / "labels.csv").read_text().splitlines()
    first = utk / lines[1].split(",")[0]
    shutil.copy(first, first.with_name("added_" + first.name))
    (utk / "labels.csv").write_text("\n".join([*lines, lines[1].replace(first.name, "added_" + first.name)]) + "\n")
    assert main(["evaluate", run, "--data", str(utk), "--split", "test", "--out", str(tmp_path / "eval_added")]) == 0
    assert {r["id"] for r in csv.DictReader(open(tmp_path / "eval_added" / "age_predictions.csv"))} == test_ids
    # the run's extra_data, scored, is its training data (the note was lost once the manifest was matched by file; found by review)
    caplog.clear()
    assert main(["evaluate", run, "--data", str(extra), "--out", str(tmp_path / "eval_extra")]) == 0
    assert "(extra_data): these figures are on its training images" in caplog.text
    # the held-out rows found through a manifest in another layout: the same images, listed from elsewhere
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "labels.csv").write_text("\n".join([lines[0], *(f"{utk / r.split(',', 1)[0]},{r.split(',', 1)[1]}" for r in lines[1:])]) + "\n")
    assert main(["evaluate", run, "--data", str(tmp_path / "other"), "--split", "test", "--out", str(tmp_path / "eval_other")]) == 0
    assert {Path(r["id"]).name for r in csv.DictReader(open(tmp_path / "eval_other" / "age_predictions.csv"))} == {Path(i).name for i in test_ids}
    # every row, some trained on: the figures without them give the gender accuracy too, not the age MAE only (found by a newcomer's trial)
    assert main(["evaluate", run, "--data", str(utk), "--out", str(tmp_path / "eval_all")]) == 0
    rest = json.loads((tmp_path / "eval_all" / "age_metrics.json").read_text())["without_training_pixels"]
    assert 0 < rest["gender_n"] <= rest["n"] and 0 <= rest["gender_accuracy"] <= 1
    assert f"gender accuracy {rest['gender_accuracy']:.4f} ({rest['gender_n']} with a gender label)" in (tmp_path / "eval_all" / "report.md").read_text()
    capsys.readouterr()
    assert main(["compare", run, "--out", str(tmp_path / "cmp")]) == 2  # was a KeyError traceback
    assert "a gender+age run; compare takes classifier runs" in capsys.readouterr().err


def test_evaluate_where_on_a_classifier_and_bad_where_exit_2(tmp_path, capsys):
    utk = write_age_manifest(tmp_path / "utk", n=12)
    assert main(["evaluate", "gender", "--data", str(utk), "--where", "age>=18"]) == 2
    assert "--where" in capsys.readouterr().err


def test_gender_age_config_rejects_what_it_cannot_train():
    from facesense.config import load_config
    from facesense.errors import ConfigError

    with pytest.raises(ConfigError, match="gender_age"):
        load_config(overrides={"task": "gender_age", "loss": "bce"})
    with pytest.raises(ConfigError, match="extra_data"):
        load_config(overrides={"task": "gender", "extra_data": ["x"]})
    with pytest.raises(ConfigError, match="test_size"):
        load_config(overrides={"test_size": 0.9})


def test_live_takes_the_shipped_gender_age_model_as_its_age_model(tmp_path):
    import csv

    from facesense.runtime.assets import shipped_model_path
    from facesense.stream.demo import make_demo_clip
    from facesense.stream.live import LiveOptions, run_live

    if shipped_model_path("gender_age", ".int8.onnx") is None:
        pytest.skip("no shipped gender_age model in this checkout")
    clip = make_demo_clip(tmp_path / "clip.mp4", frames=8)
    log = tmp_path / "frames.csv"
    summary = run_live(LiveOptions(source=str(clip), age="gender_age", log_csv=log))
    rows = list(csv.DictReader(log.open()))
    assert summary["faces"] == len(rows) > 0
    assert all(0 <= float(r["age_years"]) <= 100 and float(r["age_sd"]) > 0 for r in rows)
    assert all(float(r["age_low90"]) <= float(r["age_years"]) <= float(r["age_high90"]) for r in rows)


def test_one_gender_age_model_answers_gender_and_age_in_one_run_per_frame():
    from facesense.runtime.assets import shipped_model_path
    from facesense.stream.live import load_face_models
    from facesense.stream.pipeline import classify_faces
    from facesense.runtime.faces import Box

    if shipped_model_path("gender_age", ".int8.onnx") is None:
        pytest.skip("no shipped gender_age model in this checkout")
    models = load_face_models(None, "gender_age", "age")
    assert models.gender is models.age.model  # shared, not loaded twice
    assert type(load_face_models(None, "gender", "gender_age").gender).__name__ == "FaceClassifier"
    runs = []
    session = models.gender.session
    real_run = session.run

    class Counting:  # onnxruntime sessions cannot be patched in place
        def run(self, *args, **kwargs):
            runs.append(1)
            return real_run(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(session, name)

    models.gender.session = Counting()
    frame = np.full((120, 160, 3), 90, np.uint8)
    boxes = [Box(20, 20, 50, 60), Box(90, 30, 40, 50)]
    out = classify_faces(frame, boxes, [("gender", models.gender), ("age", models.age)], 0.0)
    assert len(runs) == 1 and out["gender"].shape == (2, 2) and out["age"].shape == (2, len(models.age.model.bins))
    classify_faces(frame, boxes, [("gender", models.gender), ("age", models.age)], 0.0)
    assert len(runs) == 2  # a new frame is a new run


def test_one_cycle_schedule_steps_per_batch_in_gender_age_training(tmp_path, capsys):
    utk = write_age_manifest(tmp_path / "utk", n=48)
    args = ["train", "task=gender_age", f"data={utk}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "image_size=32", "channels=3",
            "epochs=3", "batch_size=8", "test_size=0.2", "val_size=0.2", "age_max=90", "lr=0.05", "lr_schedule=onecycle", f"runs_dir={tmp_path / 'runs'}", "-q"]
    assert main(args) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    lrs = [float(r["lr"]) for r in csv.DictReader(open(f"{run}/history.csv"))]
    assert len(set(lrs)) == 3 and max(lrs) <= 0.05  # warm-up, then annealing: every epoch starts at another rate


def test_gender_age_training_sees_the_degraded_faces(tmp_path, capsys, monkeypatch):
    """augment.degrade=1 in gender_age training: every training batch reaches the network
    through the degrader (the same Trainer._degraded as the class tasks)."""
    from facesense.train import loop

    calls = []
    to_degraded = loop.Trainer._degraded

    def spy(self, x):
        out = to_degraded(self, x)
        calls.append((x.shape, (out != x).flatten(1).any(1).all().item()))
        return out

    monkeypatch.setattr(loop.Trainer, "_degraded", spy)
    utk = write_age_manifest(tmp_path / "utk", n=32)
    args = ["train", "task=gender_age", f"data={utk}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "image_size=32", "channels=3",
            "epochs=1", "batch_size=8", "test_size=0.2", "val_size=0.2", "age_max=90", "augment={degrade: 1.0}", f"runs_dir={tmp_path / 'runs'}", "-q"]
    assert main(args) == 0
    assert calls and all(changed for _, changed in calls)


def test_folds_on_extra_folds_the_gender_only_data_and_keeps_the_main_split(tmp_path):
    """Cross-validating the gender head on gender_faces: each fold holds out another fifth of the
    extra data, while the main dataset's test and validation rows stay the same in every fold."""
    from conftest import write_class_folders
    from facesense.config import load_config
    from facesense.data.gender_age import prepare_gender_age
    from facesense.errors import ConfigError

    utk = write_age_manifest(tmp_path / "utk", n=40)
    extra = write_class_folders(tmp_path / "gf", ["man", "woman"], 10, size=32, colour=True)
    base = {"task": "gender_age", "data": str(utk), "extra_data": [str(extra)], "image_size": 32, "channels": 3,
            "test_size": 0.25, "val_size": 0.2, "age_max": 90, "folds": 5, "folds_on": "extra"}
    main_rows, extra_val = set(), []
    for fold in range(5):
        data = prepare_gender_age(load_config(overrides=base | {"fold": fold}))
        held = {(i, s) for i, _, s in data.manifest_rows if ":" not in i and s != "train"}
        main_rows.add(frozenset(held))
        extra_val.append({i for i, _, s in data.manifest_rows if ":" in i and s == "val"})
    assert len(main_rows) == 1 and len(next(iter(main_rows))) > 0
    assert all(len(v) == 4 for v in extra_val) and len(set().union(*extra_val)) == 20  # 5 disjoint fifths of 20
    with pytest.raises(ConfigError, match="folds_on"):
        load_config(overrides={"task": "gender", "folds_on": "extra"})
    with pytest.raises(ConfigError, match="extra_data"):
        load_config(overrides={"task": "gender_age", "folds_on": "extra", "folds": 5})
    with pytest.raises(ConfigError, match="folds >= 2"):
        load_config(overrides={"task": "gender_age", "folds_on": "extra", "extra_data": ["x"]})


def test_gender_age_with_test_time_flip_answers_a_face_and_its_mirror_alike(tmp_path, capsys):
    """test_time_flip: validation, calibration and the exported graph average each face with its
    mirror, so a mirrored copy of a face gets the same gender and age."""
    utk = write_age_manifest(tmp_path / "utk", n=32)
    args = ["train", "task=gender_age", f"data={utk}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "image_size=32", "channels=3",
            "epochs=1", "batch_size=8", "test_size=0.2", "val_size=0.2", "age_max=90", "test_time_flip=true", f"runs_dir={tmp_path / 'runs'}", "-q"]
    assert main(args) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    # the epoch's validation scored the same views as the calibration of the saved checkpoint
    history = list(csv.DictReader(open(f"{run}/history.csv")))
    val = json.loads(open(f"{run}/eval_val/metrics.json").read())
    assert float(history[-1]["val_age_mae"]) == pytest.approx(val["age_before_calibration"]["mae"], abs=1e-4)  # history keeps 6 digits
    onnx_path = tmp_path / "ga.onnx"
    assert main(["export", run, "--out", str(onnx_path)]) == 0
    from facesense.runtime.gender_age import GenderAgeModel

    model = GenderAgeModel.load(onnx_path)
    face = face_like(0, np.random.default_rng(3), 32, colour=True)
    face[:, :10] = 0  # make the face lopsided, so a network without the mirror view would differ
    gender, age = model.run_pixels(np.stack([face.transpose(2, 0, 1), face[:, ::-1].transpose(2, 0, 1)]))
    assert np.allclose(gender[0], gender[1], atol=1e-5) and np.allclose(age[0], age[1], atol=1e-5)


def test_evaluate_age_names_the_shipped_age_model_as_predict_does(tmp_path, capsys, monkeypatch):
    """`predict age` and `live --age age` take 'age' for the shipped gender+age network; evaluate
    took it for a missing file ('did you mean age?'). A blank group cell is a named group. Each
    crop is aligned, as predict and live align it (age evaluation scored unaligned crops), and
    gender accuracy comes per group too."""
    from facesense.runtime import align

    aligned = []
    monkeypatch.setattr(align, "align_crop", lambda face, spec, original=align.align_crop: aligned.append(1) or original(face, spec))
    utk = write_age_manifest(tmp_path / "utk", n=12)
    lines = (utk / "labels.csv").read_text().splitlines()
    race = lines[0].split(",").index("race")
    blank = [",".join("" if j == race and i % 3 == 0 else v for j, v in enumerate(line.split(","))) for i, line in enumerate(lines[1:])]
    (utk / "labels.csv").write_text("\n".join([lines[0], *blank]) + "\n")
    assert main(["evaluate", "age", "--data", str(utk), "--group-by", "race", "--out", str(tmp_path / "e")]) == 0
    m = json.loads((tmp_path / "e" / "age_metrics.json").read_text())
    assert m["n"] == 12 and "(blank)" in m["by_group"]["groups"] and len(aligned) == 12
    assert set(m["gender_by_group"]["groups"]) == set(m["by_group"]["groups"]) and 0 <= m["gender_by_group"]["accuracy_gap"] <= 1
    assert "gender accuracy by race (95% CI): " in capsys.readouterr().out
    # a report.md beside the numbers, as a classifier's evaluation has (a newcomer found only JSON and CSV)
    report = (tmp_path / "e" / "report.md").read_text()
    assert report.startswith("# Age evaluation: gender_age on utk") and "## By decade" in report and "## By race" in report and "MAE gap" in report
    assert "## Gender" in report and f"{m['mae']:.2f}" in report
    # gender labels the network does not know are counted and said, and the predictions file
    # carries each row's gender so that the accuracy can be checked by hand (found by the group-report hunt)
    lines = (utk / "labels.csv").read_text().splitlines()
    label = lines[0].split(",").index("label")
    odd = [",".join("unknown" if j == label and i < 4 else v for j, v in enumerate(line.split(","))) for i, line in enumerate(lines[1:])]
    (utk / "labels.csv").write_text("\n".join([lines[0], *odd]) + "\n")
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(tmp_path / "e2")]) == 0
    m = json.loads((tmp_path / "e2" / "age_metrics.json").read_text())
    assert m["n"] == 12 and m["gender_n"] == 8 and "8 of these rows: those with a gender label" in capsys.readouterr().out
    with open(tmp_path / "e2" / "age_predictions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] != "unknown"]
    assert len(rows) == 8 and sum(r["label"] == r["gender_pred"] for r in rows) / 8 == m["gender_accuracy"]
    # UTKFace's own files say 0 and 1: --label-map renames them for the gender accuracy (it was
    # read by nothing in an age evaluation, without a word); a map key no label has is refused
    coded = [",".join({"man": "0", "woman": "1"}.get(v, v) if j == label else v for j, v in enumerate(line.split(","))) for line in odd]
    (utk / "labels.csv").write_text("\n".join([lines[0], *coded]) + "\n")
    (tmp_path / "map.yaml").write_text("'0': man\n'1': woman\nunknown: null\n")
    capsys.readouterr()
    assert main(["evaluate", "age", "--data", str(utk), "--label-map", str(tmp_path / "map.yaml"), "--out", str(tmp_path / "e3")]) == 0
    mapped = json.loads((tmp_path / "e3" / "age_metrics.json").read_text())
    assert mapped["gender_n"] == 8 and mapped["gender_accuracy"] == m["gender_accuracy"]
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(tmp_path / "e4")]) == 0
    assert "gender_n" not in json.loads((tmp_path / "e4" / "age_metrics.json").read_text())  # 0 and 1 name no class
    (tmp_path / "typo.yaml").write_text("'2': man\n")
    assert main(["evaluate", "age", "--data", str(utk), "--label-map", str(tmp_path / "typo.yaml"), "--out", str(tmp_path / "e5")]) == 2
    assert "the label map renames ['2'], which is no label of the data" in capsys.readouterr().err and not (tmp_path / "e5").exists()


def test_age_evaluation_refuses_what_training_refuses(tmp_path, capsys):
    """A blank age is named (was a float() traceback); nothing readable under --skip-bad is exit 2
    (was exit 0 with a NaN MAE in the JSON); compare and study take classifier runs only."""
    utk = write_age_manifest(tmp_path / "utk", n=12)
    text = (utk / "labels.csv").read_text().splitlines()
    first = text[1].split(",")
    first[2] = ""
    (utk / "labels.csv").write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(tmp_path / "e")]) == 2
    assert "age '' of images/f0.png is not an age in years (a number from 0 to 130)" in capsys.readouterr().err
    # a negative age (a typo) was scored: it moved the MAE and made a decade '-10--1' (found by a bug hunt)
    first[2] = "-3"
    (utk / "labels.csv").write_text("\n".join([text[0], ",".join(first), *text[2:]]) + "\n")
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(tmp_path / "e")]) == 2
    assert "age '-3' of images/f0.png is not an age in years" in capsys.readouterr().err and not (tmp_path / "e").exists()
    bad = write_age_manifest(tmp_path / "bad", n=4)
    for image in (bad / "images").iterdir():
        image.write_text("not an image")
    assert main(["evaluate", "age", "--data", str(bad), "--skip-bad", "--out", str(tmp_path / "e2")]) == 2
    assert "no readable images to evaluate" in capsys.readouterr().err and not (tmp_path / "e2" / "age_metrics.json").exists()


def test_gender_age_on_gender_only_data_and_its_training_data_checks(tmp_path, capsys, caplog):
    """A gender+age network on data without ages is scored as the gender classifier it also is
    (it said 'no age column'); extra_data that is the main dataset is refused (its test rows
    trained); ages above age_max are said to count as age_max."""
    from conftest import write_class_folders
    from facesense.config import load_config
    from facesense.data.gender_age import prepare_gender_age
    from facesense.errors import DataError

    faces = write_class_folders(tmp_path / "faces", ["man", "woman"], 3, colour=True, size=64)
    assert main(["evaluate", "gender_age", "--data", str(faces), "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 6
    assert main(["evaluate", "age", "--data", str(faces), "--out", str(tmp_path / "e3")]) == 2  # asked for ages by name
    assert "no `age` column" in capsys.readouterr().err
    utk = write_age_manifest(tmp_path / "utk", n=24)
    with pytest.raises(DataError, match="is the main dataset itself"):
        prepare_gender_age(load_config(overrides={"task": "gender_age", "data": str(utk), "extra_data": [str(utk)], "image_size": 32, "channels": 3}))
    with pytest.raises(DataError, match="given twice"):  # each of its images counted twice
        prepare_gender_age(load_config(overrides={"task": "gender_age", "data": str(utk), "extra_data": [str(faces), str(faces) + "/"], "image_size": 32, "channels": 3}))
    prepare_gender_age(load_config(overrides={"task": "gender_age", "data": str(utk), "age_max": 30, "image_size": 32, "channels": 3}))
    assert "are above age_max=30" in caplog.text


def test_age_predictions_keep_the_age_apart_from_its_decade_group(tmp_path, capsys):
    """--group-by age wrote two `age` columns, the second in decades, and a csv reader kept the
    decade as the age (found by review)."""
    utk = write_age_manifest(tmp_path / "utk", n=12)
    assert main(["evaluate", "age", "--data", str(utk), "--group-by", "age", "--out", str(tmp_path / "e")]) == 0
    with open(tmp_path / "e" / "age_predictions.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames.count("age") == 1 and "age_group" in reader.fieldnames
    assert all(float(r["age"]) >= 0 and r["age_group"].endswith(("9", "+")) for r in rows)


def test_one_report_per_folder_and_skipped_rows_listed(tmp_path, capsys):
    """An age report written where a classifier report was (or the other way) left the other's
    files beside it; --skip-bad said how many rows it skipped but not which; a blank age could
    not be skipped (found by a bug hunt)."""
    utk = write_age_manifest(tmp_path / "utk", n=12)
    lines = (utk / "labels.csv").read_text().splitlines()
    age = lines[0].split(",").index("age")
    lines[1] = ",".join("" if j == age else v for j, v in enumerate(lines[1].split(",")))
    (utk / "labels.csv").write_text("\n".join(lines) + "\n")
    first = lines[1].split(",")[0]
    out = tmp_path / "e"
    assert main(["evaluate", "gender", "--data", str(utk), "--out", str(out)]) == 0
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(out)]) == 2
    assert f"of {first} is not an age in years" in capsys.readouterr().err
    assert main(["evaluate", "age", "--data", str(utk), "--skip-bad", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["age_metrics.json", "age_predictions.csv", "report.md", "skipped.csv"]
    assert (out / "report.md").read_text().startswith("# Age evaluation")  # the classifier's report.md was replaced, not kept
    assert "1 row(s) skipped (--skip-bad" in (out / "report.md").read_text()
    with open(out / "skipped.csv", newline="") as f:
        assert [(r["id"], r["reason"]) for r in csv.DictReader(f)] == [(first, "age '' is not an age in years")]
    (utk / first).write_text("not an image")
    assert main(["evaluate", "gender", "--data", str(utk), "--skip-bad", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "age_metrics.json" not in names and "age_predictions.csv" not in names and "metrics.json" in names
    with open(out / "skipped.csv", newline="") as f:
        assert [r["id"] for r in csv.DictReader(f)] == [first]
    assert "listed with why in skipped.csv" in (out / "report.md").read_text()


def test_a_report_removes_another_reports_files_only_where_that_report_is_there(tmp_path):
    """An age evaluation deleted a user's own predictions.csv and metrics.json (files named as a
    classifier report's) from --out though no report had been written there (found by a bug hunt)."""
    utk = write_age_manifest(tmp_path / "utk", n=12)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "predictions.csv").write_text("customer,score\nalice,3\n")
    (out / "metrics.json").write_text('{"my": "numbers"}')
    (out / "roc.png").write_bytes(b"my plot")
    assert main(["evaluate", "age", "--data", str(utk), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["age_metrics.json", "age_predictions.csv", "metrics.json", "predictions.csv", "report.md", "roc.png"]
    assert (out / "metrics.json").read_text() == '{"my": "numbers"}'
    (out / "age_metrics.json").unlink()
    (out / "age_metrics.json").write_text("[1, 2]")  # a user's file again: the gender report leaves age_predictions.csv too
    assert main(["evaluate", "gender", "--data", str(utk), "--out", str(out)]) == 0
    assert (out / "age_predictions.csv").exists() and (out / "age_metrics.json").read_text() == "[1, 2]"


def test_a_moved_gender_age_run_resumes_and_its_export_scores_the_rows_it_held_out(tmp_path, capsys):
    """Two gaps found by review: a gender+age run whose datasets moved could not be resumed
    (extra_data counted as a changed setting), and an export of a run whose label_map dropped
    rows refused its own test split (the draw was recomputed over the dropped rows too)."""
    import shutil

    import yaml

    from conftest import write_class_folders

    store = tmp_path / "store"
    utk = write_age_manifest(store / "utk", n=48)
    rows = list(csv.reader(open(utk / "labels.csv")))
    for row in rows[1:][::6]:
        row[1] = "unknown"
    csv.writer(open(utk / "labels.csv", "w", newline="")).writerows(rows)
    for row in rows[1:][2::5]:  # unreadable faces, left out by skip_bad
        (utk / row[0]).write_bytes(b"not an image")
    extra = write_class_folders(store / "gf", ["man", "woman"], 4, size=32, colour=True)
    from facesense.config import load_config
    from facesense.experiment import train

    settings = {"task": "gender_age", "data": str(utk), "extra_data": [str(extra)], "model": "resnet_fer_small", "model_args": {"width": 4, "stem_stride": 2},
                "image_size": 32, "channels": 3, "epochs": 2, "batch_size": 16, "test_size": 0.25, "val_size": 0.2, "age_max": 90,
                "label_map": {"unknown": None}, "skip_bad": True, "runs_dir": str(tmp_path / "runs")}
    run = train(load_config(overrides=settings), progress=False, stop_after=1).root
    moved = shutil.move(store, tmp_path / "moved")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"], config["extra_data"] = str(Path(moved) / "utk"), [str(Path(moved) / "gf")]
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["train", "--resume", str(run), "-q"]) == 0
    assert json.loads((run / "train_summary.json").read_text())["epochs_run"] == 2
    onnx_path = tmp_path / "ga.onnx"
    assert main(["export", str(run), "--out", str(onnx_path)]) == 0
    assert main(["evaluate", str(onnx_path), "--data", str(Path(moved) / "utk"), "--split", "test", "--skip-bad", "--out", str(tmp_path / "ev")]) == 0
    test_ids = {r["id"] for r in csv.DictReader(open(run / "split_manifest.csv")) if r["split"] == "test"}
    assert {r["id"] for r in csv.DictReader(open(tmp_path / "ev" / "age_predictions.csv"))} == test_ids
    # with --where too: the unreadable rows it leaves out are still the draw's (refused before; found by review)
    for race in RACES:
        assert main(["evaluate", str(onnx_path), "--data", str(Path(moved) / "utk"), "--split", "test", "--skip-bad", "--where", f"race={race}", "--out", str(tmp_path / f"ev_{race}")]) == 0


def test_where_on_ages_applies_after_the_rows_without_a_number_are_skipped(tmp_path, capsys):
    """`--where age>=18 --skip-bad` on data with one blank age was refused ('>= needs numbers'),
    though --skip-bad leaves such rows out (found by a bug hunt)."""
    utk = write_age_manifest(tmp_path / "utk", n=20)
    rows = list(csv.reader(open(utk / "labels.csv")))
    rows[3][2] = ""
    csv.writer(open(utk / "labels.csv", "w", newline="")).writerows(rows)
    out = tmp_path / "ev"
    assert main(["evaluate", "gender_age", "--data", str(utk), "--skip-bad", "--where", "age>=18", "--out", str(out)]) == 0, capsys.readouterr().err
    scored = list(csv.DictReader(open(out / "age_predictions.csv")))
    assert scored and all(float(r["age"]) >= 18 for r in scored) and len(scored) == sum(1 for r in rows[1:] if r[2] and float(r[2]) >= 18)
    # another column with a blank cell: the cell is named, and a condition before it that leaves
    # such rows out lets the number one through (each condition was checked on every row; found by a bug hunt)
    rows[0].append("quality")
    for i, row in enumerate(rows[1:]):
        row.append("" if i == 5 else str(i % 10))
    rows[3][2] = "30"
    csv.writer(open(utk / "labels.csv", "w", newline="")).writerows(rows)
    capsys.readouterr()
    assert main(["evaluate", "gender_age", "--data", str(utk), "--where", "quality>=5", "--out", str(tmp_path / "q")]) == 2
    assert f"--where 'quality>=5': >= needs numbers, and {rows[6][0]}'s quality is ''; --where 'quality!=\"\"' given before it leaves such rows out" in capsys.readouterr().err
    assert main(["evaluate", "gender_age", "--data", str(utk), "--where", 'quality!=""', "--where", "quality>=5", "--out", str(tmp_path / "q")]) == 0
    assert main(["evaluate", "gender_age", "--data", str(utk), "--where", "quality>=high", "--out", str(tmp_path / "q2")]) == 2  # the value, not a cell, is to blame (found by a review)
    assert "--where 'quality>=high': >= needs numbers, and 'high' is not one" in capsys.readouterr().err
    # --skip-bad that leaves out every row blamed a --where nobody gave (found by a bug hunt)
    for row in rows[1:]:
        row[2] = "20-29"
    csv.writer(open(utk / "labels.csv", "w", newline="")).writerows(rows)
    assert main(["evaluate", "gender_age", "--data", str(utk), "--skip-bad", "--out", str(tmp_path / "r")]) == 2
    assert "no row has an age in years (a number from 0 to" in capsys.readouterr().err


def test_training_images_of_an_aligned_model_are_known_whatever_cpu_found_their_landmarks(tmp_path, capsys, monkeypatch):
    """The shipped gender_age model knew 17 of 60 of its own training images on another CPU: an
    aligned chip's pixels, so its digest, follow landmarks that differ in their last digits from
    one CPU to another (found by a bug hunt). Its images' own digests do not."""
    import shutil

    import facesense.runtime.align as align

    utk = write_age_manifest(tmp_path / "utk", n=40)
    assert main(["train", "task=gender_age", f"data={utk}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "align=dlib_chip",
                 "image_size=32", "channels=3", "epochs=1", "batch_size=16", "test_size=0.25", "val_size=0.2", "age_max=90", f"runs_dir={tmp_path / 'runs'}", "-q"]) == 0
    run = capsys.readouterr().out.strip().splitlines()[-1]
    trained = sum(r["split"] == "train" for r in csv.DictReader(open(f"{run}/split_manifest.csv")))
    assert all(r["unaligned_digest"] for r in csv.DictReader(open(f"{run}/split_manifest.csv")))
    assert main(["export", run, "--out", str(tmp_path / "ga.onnx")]) == 0
    copy = shutil.copytree(utk, tmp_path / "elsewhere")  # other ids: only the pixels can tell
    found = align.crop_landmarks
    monkeypatch.setattr(align, "crop_landmarks", lambda face: found(face) + np.float32(0.37))  # another CPU's landmarks
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "ga.onnx"), "--data", str(copy), "--out", str(tmp_path / "ev")]) == 0
    note = json.loads((tmp_path / "ev" / "age_metrics.json").read_text())["training_data"]
    assert f"trained on {trained} of the 40 images scored here (the same pixels as its training images)" in note


def test_an_age_report_of_one_face_says_it_has_no_interval():
    """`--where age==43 --where race==White` on a small set left one face: 'MAE 12.11' with no
    interval and no word why (found by an audit)."""
    from facesense.eval.age import format_age_report

    one = {"n": 1, "mae": 12.11, "median_abs_error": 12.11, "bias": -12.11, "by_decade": {"40-49": {"n": 1, "mae": 12.11}},
           "uncertainty": {"within_1sd": 0.0, "within_2sd": 1.0, "mean_sd": 7.0}}
    assert "age MAE 12.11 years (one face: no interval; median" in format_age_report(one)[0]
    two = {**one, "n": 2, "mae_ci95": [1.0, 20.0]}
    assert "(95% CI 1.00-20.00; median" in format_age_report(two)[0]


def test_a_head_trained_with_weight_0_is_refused_where_its_answers_would_be_shown(monkeypatch):
    """A gender+age network trained with age_weight 0 (gender only) was taken as --age, and one
    trained with gender_weight 0 (ages only) as --gender, without a word: every face got the
    untrained head's answer (30 +- 17.6 years for everyone). --age auto already took the shipped
    ages beside a gender-only network (found by a bug hunt of serve with one's own models)."""
    from types import SimpleNamespace

    from facesense.errors import FacesenseError
    from facesense.runtime import gender_age, loading
    from facesense.stream import live

    def network(**weights):
        return SimpleNamespace(task="gender_age", classes=["man", "woman"], name="own.onnx", config={"task": "gender_age", **weights})

    monkeypatch.setattr(gender_age.GenderAgeModel, "load", classmethod(lambda cls, name, *a, **k: network(age_weight=0.0)))
    with pytest.raises(FacesenseError, match=r"^--age own\.onnx: was trained without ages \(age_weight 0\)"):
        live.load_face_models(None, None, "own.onnx")
    with pytest.raises(FacesenseError, match=r"^age=own\.onnx: was trained without ages"):  # the Python API's wording
        live.load_face_models(None, None, "own.onnx", style=live.API_ARGUMENT)

    monkeypatch.setattr(live, "load_classifier", lambda name, device="auto": network(gender_weight=0.0))
    with pytest.raises(FacesenseError, match=r"^--gender own\.onnx: was trained for ages only \(gender_weight 0\).*--age own\.onnx"):
        live.load_face_models(None, "own.onnx", None)

    monkeypatch.setattr(live, "load_classifier", lambda name, device="auto": network(age_weight=0.0))
    monkeypatch.setattr(live, "same_model", lambda a, b: a == b)  # (no file to resolve)
    with pytest.raises(FacesenseError, match=r"^--age own\.onnx: was trained without ages"):  # given as both
        live.load_face_models(None, "own.onnx", "own.onnx")
    monkeypatch.setattr(live, "load_age_model", lambda name, device="auto": SimpleNamespace(name=name))
    models = live.load_face_models(None, "own.onnx")  # auto: the shipped network's ages beside it, as before
    assert models.gender.name == "own.onnx" and models.age.name == "gender_age"
    monkeypatch.setattr(live, "load_classifier", lambda name, device="auto": network(age_weight=1.0, gender_weight=2.0))
    assert live.load_face_models(None, "own.onnx", None).gender.name == "own.onnx"  # trained heads pass


def _one_headed_run(tmp_path, capsys, weight: str):
    """A one-epoch gender+age run with one head's weight 0 (`weight`: "age_weight=0") -> (its data, the run, one face)."""
    utk = write_age_manifest(tmp_path / "utk", n=24)
    args = ["train", "task=gender_age", f"data={utk}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "image_size=32", "channels=3",
            "epochs=1", "batch_size=8", "val_size=0.25", "age_max=90", weight, f"runs_dir={tmp_path / 'runs'}", "-q"]
    assert main(args) == 0
    return utk, capsys.readouterr().out.strip().splitlines()[-1], next((utk / "images").iterdir())


def test_predict_with_a_network_trained_without_ages_gives_gender_only(tmp_path, capsys, caplog):
    """`predict RUN` of a gender+age network trained with age_weight 0 printed age columns from
    its untrained age head (found by a bug hunt of serve with one's own models)."""
    utk, run, face = _one_headed_run(tmp_path, capsys, "age_weight=0")
    assert main(["predict", run, "--crops", str(face)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "path,pred,p_man,p_woman,schema_version" and "trained without ages (age_weight 0): its rows give gender only" in caplog.text
    # evaluate scored the untrained age head's MAE on data with ages (found by review): its gender only
    assert main(["evaluate", run, "--data", str(utk), "--out", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "metrics.json").is_file() and not (tmp_path / "ev" / "age_metrics.json").exists()
    assert "scored as the gender classifier it is" in caplog.text


def test_predict_with_a_network_trained_for_ages_only_gives_ages_only(tmp_path, capsys, caplog):
    """`predict RUN` of a gender+age network trained with gender_weight 0 gave each face the
    untrained gender head's answer as its `pred` ('woman 0.52' for every face), where live and
    serve refuse that network as --gender."""
    _, run, face = _one_headed_run(tmp_path, capsys, "gender_weight=0")
    assert main(["predict", run, "--crops", str(face)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert header == "path,pred,age_years,age_sd,age_low90,age_high90,schema_version", header
    assert row.split(",")[1].isdigit() and "trained for ages only (gender_weight 0): its rows give ages only" in caplog.text
