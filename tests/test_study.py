import json
import os
import re
from pathlib import Path

import pytest

from facesense.cli import main
from facesense.errors import ConfigError
from facesense.study import difference, load_study, mean_ci


def test_mean_ci_and_difference_by_hand():
    m, s, lo, hi = mean_ci([0.5, 0.6, 0.7])
    assert m == pytest.approx(0.6) and s == pytest.approx(0.1)
    assert hi - m == pytest.approx(4.302653 * 0.1 / 3**0.5, rel=1e-5)  # t(0.975, 2) = 4.3027
    d, lo, hi = difference([0.5, 0.6, 0.7], [0.8, 0.9, 1.0])
    assert d == pytest.approx(0.3) and lo > 0


def write_study(tmp_path, folders3):
    configs = []
    for name, model in (("small", "resnet_fer_small"), ("big", "emotion_model_3")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"task: custom\nmodel: {model}\nbatch_size: 8\nepochs: 1\n")
        configs.append(path.name)
    study = tmp_path / "study.yaml"
    study.write_text(f"name: tiny\nconfigs: {configs}\nepochs: [1, 2]\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}}}\n")
    return study


def test_study_runs_resumes_and_answers(tmp_path, folders3, capsys, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    study = write_study(tmp_path, folders3)
    out = tmp_path / "st"
    with caplog.at_level("INFO", logger="facesense"):
        assert main(["study", str(study), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # a line per epoch of each run (it said only "NAME: training" for runs that take hours; found by a bug hunt)
    assert re.search(r"big-e2-s1: epoch 2 of 2, train loss \d\.\d{4}, val accuracy \d\.\d{4} \(\d+ s\)", caplog.text), caplog.text[-2000:]
    # (these tiny cells often score alike on every seed: then the answer says it cannot be told)
    assert "Does a more complex model predict better?" in printed and ("95% CI" in printed or "cannot be told" in printed)
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 12
    result = json.loads((out / "study.json").read_text())
    assert len(result["rows"]) == 4 and all(r["seeds"] == 3 for r in result["rows"])
    assert len(result["answers"]) == 3  # complexity + epochs for each config
    # folders without a split: each seed drew its own validation rows, shared by that seed's runs
    # of every cell, so the answers compare the cells seed by seed (found by an audit)
    assert all("cannot be told" in a or "paired by seed" in a for a in result["answers"]), result["answers"]
    assert (out / "study.md").is_file() and (out / "compare" / "compare.csv").is_file()
    # half-finish the study: one run interrupted after its checkpoint, one never started
    interrupted, kept = out / "runs" / "big-e2-s1", out / "runs" / "small-e1-s0"
    (interrupted / "train_summary.json").unlink()
    import shutil

    shutil.rmtree(out / "runs" / "small-e2-s2")
    stamp = os.stat(kept / "best.pt").st_mtime_ns
    # a run an older version made records its own hold-out rule: still kept (it was refused as changed)
    saved = (kept / "config.yaml").read_text()
    assert "split_rule: 4" in saved
    (kept / "config.yaml").write_text(saved.replace("split_rule: 4", "split_rule: 2"))
    assert main(["study", str(study), "--out", str(out)]) == 2  # refuses without --resume
    capsys.readouterr()
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 0
    assert os.stat(kept / "best.pt").st_mtime_ns == stamp  # finished runs are not redone
    assert (interrupted / "train_summary.json").is_file() and (out / "runs" / "small-e2-s2" / "train_summary.json").is_file()
    # Ctrl-C while the summary is written: the study's files stay one set (found by a bug hunt)
    import facesense.study as study_module

    for name in ("study.csv", "study.md", "study.json"):  # marked, so that a rewrite with the same figures shows
        (out / name).write_text((out / name).read_text() + "\n")
    before = {name: (out / name).read_bytes() for name in ("study.csv", "study.md", "study.json")}
    real_write = study_module.write_text

    def stopped_at_the_page(path, text):
        if Path(path).name == "study.md":
            raise KeyboardInterrupt
        real_write(path, text)

    monkeypatch.setattr(study_module, "write_text", stopped_at_the_page)
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 130
    assert {name: (out / name).read_bytes() for name in before} == before and not [p for p in out.iterdir() if p.name.startswith(".")]


def test_study_needs_three_seeds(tmp_path):
    (tmp_path / "c.yaml").write_text("task: custom\n")
    (tmp_path / "s.yaml").write_text("configs: [c.yaml]\nseeds: [0, 1]\n")
    with pytest.raises(ConfigError, match="3 different seeds"):
        load_study(tmp_path / "s.yaml")


def test_study_overrides_read_like_a_config_file(tmp_path):
    (tmp_path / "c.yaml").write_text("task: custom\n")
    study = tmp_path / "study.yaml"
    study.write_text("name: s\nconfigs: [c.yaml]\nepochs: [1]\nseeds: [0, 1, 2]\noverrides: {amp: off, optimizer: sgd}\n")
    assert load_study(study).overrides == {"amp": "off", "optimizer": "sgd"}
    study.write_text("name: s\nconfigs: [c.yaml\n")
    with pytest.raises(ConfigError, match=r"study.yaml: not valid YAML at line \d+"):
        load_study(study)


@pytest.mark.parametrize("spec,match", [
    ("seeds: [0, 0, 0]", "3 different seeds"),  # was one run counted three times, with a CI
    ("seeds: [0, 1, 2, 2]", "repeat a seed"),
    ("seeds: [0, 1, '1']", "must be whole numbers"),  # '1' became 1: a repeat the check above missed
    ("seeds: [[0, 1, 2]]", "must be whole numbers"),  # was a TypeError traceback
    ("seeds: [0, 1, 2]\nepochs: [0]", "whole numbers >= 1"),  # was trained at the config's epochs, reported as 0
    ("seeds: [0, 1, 2]\nepochs: [2, 2]", "whole numbers >= 1"),
    ("seeds: [0, 1, 2]\noverrides: {epochz: 1}", "epochz"),
    ("seeds: [0, 1, 2]\nepochs: [1]\noverrides: {epochs: 5, seed: 7}", "overrides ['epochs', 'seed'] are set by the study itself for each run"),  # silently replaced by the grid's
    # each was a TypeError traceback (or a run trained before torch refused the seed)
    ("seeds: 5", "`seeds` must be a non-empty list"),
    ("seeds: [0, 1, 2]\nepochs: 1", "`epochs` must be a list"),
    ("seeds: [0, 1, 2]\noverrides: [a, b]", "`overrides` must be a mapping"),
    ("seeds: [0, 1, 99999999999999999999]", "in [0, 2**32)"),
    ("seeds: [0, 1, 2]\noverrides: {data: nowhere.csv}", "nowhere.csv not found"),  # after the first config's runs
    ("seeds: [0, 1, 2]\noverrides: {augment.hflip: true}", "nest it: augment: {hflip: true}"),  # "unknown config key" (found by a bug hunt)
])
def test_study_refuses_a_grid_that_would_mislead_before_making_its_folder(tmp_path, capsys, spec, match):
    (tmp_path / "c.yaml").write_text("task: custom\n")
    (tmp_path / "s.yaml").write_text(f"configs: [c.yaml]\n{spec}\n")
    assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_folder_given_as_a_study_config_is_called_a_folder(tmp_path, folders3, capsys):
    """It was "config ... not found" of a folder that is there (found by a bug hunt)."""
    (tmp_path / "s.yaml").write_text(f"configs: [{folders3}]\nseeds: [0, 1, 2]\n")
    assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert "is a folder; `configs` lists config files" in capsys.readouterr().err


def test_study_config_names_need_not_be_plain_and_out_stays_outside_the_data(tmp_path, folders3, capsys):
    """A cell's runs are named after its config file ('small+aug.yaml' -> small+aug-s0); an --out
    inside the (folder) dataset is refused before anything is made, as train's runs_dir is."""
    (tmp_path / "small+aug.yaml").write_text("task: custom\nmodel: resnet_fer_small\nbatch_size: 8\nepochs: 1\n")
    study = tmp_path / "study.yaml"
    study.write_text(f"name: plus\nconfigs: ['small+aug.yaml']\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}}}\n")
    assert main(["study", str(study), "--out", str(folders3 / "study")]) == 2
    assert "is inside the dataset folder" in capsys.readouterr().err and not (folders3 / "study").exists()
    assert main(["study", str(study), "--out", str(tmp_path / "st")]) == 0
    assert sorted(p.name for p in (tmp_path / "st" / "runs").iterdir()) == ["small+aug-s0", "small+aug-s1", "small+aug-s2"]
    # the study changed since: its kept runs are not the runs it asks for now
    study.write_text(f"name: plus\nconfigs: ['small+aug.yaml']\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}, lr: 0.5}}\n")
    capsys.readouterr()
    assert main(["study", str(study), "--out", str(tmp_path / "st"), "--resume"]) == 2
    assert "made with other settings than its cell has now (lr: 0.001 -> 0.5)" in capsys.readouterr().err
    # a run kept from an older version, whose config lacks a key added since, is the same run
    study.write_text(f"name: plus\nconfigs: ['small+aug.yaml']\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}}}\n")
    saved = tmp_path / "st" / "runs" / "small+aug-s0" / "config.yaml"
    saved.write_text("".join(line for line in saved.read_text().splitlines(keepends=True) if "blur:" not in line))
    assert main(["study", str(study), "--out", str(tmp_path / "st"), "--resume"]) == 0


@pytest.mark.parametrize("files,match", [
    ({"s.yaml": "configs: [a/c.yaml, b/c.yaml]\nseeds: [0, 1, 2]\n"}, "make the same cell 'c'"),  # one set of runs for both, answered exit 0
    ({"s.yaml": "configs: [c.yaml, g.yaml]\nseeds: [0, 1, 2]\n"}, "different tasks ['custom', 'gender']"),  # failed after training the first
    ({"s.yaml": "configs: [1, 2]\nseeds: [0, 1, 2]\n"}, "must be config file paths"),
    # it trained the first run, then stopped asking for a new --out (found by a bug hunt)
    ({"s.yaml": "configs: [c.yaml]\nseeds: [0, 1, 2]\noverrides: {val_size: 0}\n"}, "would train without a validation split (val_size 0, and no 'val' split in its data)"),
    # 2-class accuracy beside 3-class accuracy answered "does a more complex model help?" (found by a bug hunt)
    ({"s.yaml": "configs: [c.yaml, m.yaml]\nseeds: [0, 1, 2]\n", "m.yaml": "task: custom\nlabel_map: {sad: null}\n"}, "score on other data or classes"),
    ({"s.yaml": "hello\n"}, "expected a mapping of study keys"),
    ({"s.yaml": "configs: [c.yaml, t.yaml]\nseeds: [0, 1, 2]\n", "t.yaml": "task: custom\nmodel: resnet_fer_smal\n"}, "t.yaml: unknown model 'resnet_fer_smal'"),  # after c.yaml's three runs
    # what the run's data preparation refuses was found after the earlier cells' runs had trained (found by a bug hunt)
    ({"s.yaml": "configs: [c.yaml, v.yaml]\nseeds: [0, 1, 2]\noverrides: {val_size: 0.01}\n", "v.yaml": "task: custom\nmodel: emotion_model_3\n"}, "val_size=0.01 holds out 1 of 48 samples"),
    ({"s.yaml": "configs: [c.yaml, v.yaml]\nseeds: [0, 1, 2]\noverrides: {stratify: [age]}\n", "v.yaml": "task: custom\nmodel: emotion_model_3\n"}, "no column 'age' to stratify by"),
    # configs holding out other shares validated on other rows, one training on more: answered as if alike (found by a bug hunt)
    ({"s.yaml": "configs: [c.yaml, v.yaml]\nseeds: [0, 1, 2]\n", "v.yaml": "task: custom\nval_size: 0.3\n"}, "split the data otherwise (seed 0: "),
    ({"s.yaml": "configs: [c.yaml]\nseeds: [0, 1, 2]\noverrides: {task: expression}\n"}, "have no training samples"),
])
def test_study_refuses_cells_that_cannot_work_before_any_training(tmp_path, folders3, capsys, files, match):
    for name in ("c.yaml", "a/c.yaml", "b/c.yaml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"task: custom\ndata: {folders3}\n")
    (tmp_path / "g.yaml").write_text(f"task: gender\ndata: {folders3}\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text if name == "s.yaml" else text + f"data: {folders3}\n")
    assert main(["study", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cells_without_spread_cannot_answer_a_question():
    """Every seed at 0.5 against every seed at 0.5833 was called a firm "yes" with a zero-wide
    interval (a tiny validation set; found by a bug hunt)."""
    from facesense.study import answer

    said = answer("Q?", "a", "b", [0.5] * 3, [0.5833] * 3)
    assert said.startswith("Q? cannot be told") and "excludes" not in said


def test_a_study_stops_at_a_run_it_cannot_use_and_leaves_no_empty_run(tmp_path, folders3, capsys, monkeypatch):
    """A study without a validation split trained every run, then failed summarising; a run
    that diverged left a folder without a checkpoint, which blocked --resume (bug hunt)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "small.yaml").write_text("task: custom\nmodel: resnet_fer_small\nbatch_size: 8\nepochs: 1\n")
    study = tmp_path / "noval.yaml"
    study.write_text(f"name: noval\nconfigs: [small.yaml]\nepochs: [1]\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}, val_size: 0}}\n")
    assert main(["study", str(study), "--out", str(tmp_path / "a")]) == 2
    assert "small.yaml: would train without a validation split" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()  # said before training (it trained the first run, then stopped)
    study.write_text(f"name: wild\nconfigs: [small.yaml]\nepochs: [1]\nseeds: [0, 1, 2]\noverrides: {{data: {folders3}, lr: 1.0e+12, optimizer: sgd}}\n")
    assert main(["study", str(study), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "small-e1-s0: training diverged" in err, err
    assert not (tmp_path / "b").exists()  # nor the study's folders, made for it (found by a bug hunt)


def test_a_study_name_that_is_a_path_is_refused(tmp_path):
    """name: ../../escape wrote the study outside studies/ (found by a bug hunt)."""
    (tmp_path / "c.yaml").write_text("task: custom\n")
    (tmp_path / "s.yaml").write_text("name: ../../escape\nconfigs: [c.yaml]\nseeds: [0, 1, 2]\n")
    with pytest.raises(ConfigError, match="name '../../escape' is a path"):
        load_study(tmp_path / "s.yaml")


def test_paired_answers_take_out_the_seeds_draw_and_a_shared_validation_set_keeps_runs_independent():
    """Each seed draws the validation rows when the data has no split of its own: the two cells'
    runs of one seed share them, and Welch's unpaired interval said "no clear difference" to a
    gain every seed showed (found by an audit). With one validation set for every run (FER2013's
    PublicTest), the seed changes only each run's start: they stay independent."""
    from scipy import stats

    from facesense.study import answer, pairs_by_seed, paired_difference

    low, high = [0.600, 0.640, 0.580], [0.610, 0.652, 0.591]
    diff, lo, hi = paired_difference(low, high)
    ref = stats.ttest_rel(high, low).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high)) and diff == pytest.approx(0.011)
    assert answer("Q?", "a", "b", low, high, paired=True).startswith("Q? yes:") and "paired by seed" in answer("Q?", "a", "b", low, high, paired=True)
    assert "no clear difference" in answer("Q?", "a", "b", low, high)  # Welch: the seeds' spread swamps the gain
    cell_a, cell_b = [Path(f"runs/a-s{i}") for i in range(3)], [Path(f"runs/b-s{i}") for i in range(3)]
    drawn = {**{str(d): "ABC"[i] for i, d in enumerate(cell_a)}, **{str(d): "ABC"[i] for i, d in enumerate(cell_b)}}
    assert pairs_by_seed(cell_a, cell_b, drawn) == list(zip(cell_a, cell_b))
    assert pairs_by_seed(cell_a, cell_b, {d: "A" for d in drawn}) is None  # one validation set for all
    assert pairs_by_seed(cell_a, cell_b[:2] + [Path("runs/b-s7")], drawn) is None  # seeds not shared


def test_summarise_pairs_the_cells_by_seed_where_each_seed_drew_its_validation_rows(tmp_path, monkeypatch):
    """The end-to-end study's tiny cells all answer "cannot be told", so the wiring from compare's
    validation sets to a paired answer needs runs whose accuracies vary (found by review)."""
    import facesense.study as study_module
    from facesense.study import Study, summarise

    accuracy = {"small-e1": [0.600, 0.640, 0.580], "small-e2": [0.610, 0.652, 0.591], "big-e1": [0.62, 0.60, 0.66], "big-e2": [0.63, 0.61, 0.672]}
    cells = {cell: [tmp_path / "runs" / f"{cell}-s{seed}" for seed in range(3)] for cell in accuracy}

    def row(run_dir):
        cell, seed = run_dir.name.rsplit("-s", 1)
        return {"run": run_dir.name, "model": cell.split("-")[0], "parameters": 10 if cell.startswith("small") else 20, "epochs_run": 1, "train_min": 0.1,
                "val_accuracy": accuracy[cell][int(seed)], "val_macro_f1": 0.5, "val_set": "ABC"[int(seed)],
                "_val_accuracy": accuracy[cell][int(seed)], "_val_macro_f1": 0.5}

    def compare_stub(roots, out, same_classes=True):
        return [row(Path(r)) for r in roots], None

    monkeypatch.setattr(study_module, "compare_runs", compare_stub)
    study = Study("s", [Path("small.yaml"), Path("big.yaml")], [1, 2], [0, 1, 2], {})
    answers = summarise(study, cells, tmp_path / "out")["answers"]
    epochs_small = next(a for a in answers if "(small)" in a)
    assert epochs_small.startswith("Does training for more epochs predict better (small)? yes:") and "paired by seed" in epochs_small
    # one validation set for every run: two configs' runs of a seed share nothing (Welch); a seed's two epoch budgets share their start (paired)
    monkeypatch.setattr(study_module, "compare_runs", lambda roots, out, same_classes=True: ([{**row(Path(r)), "val_set": "A"} for r in roots], None))
    answers = summarise(study, cells, tmp_path / "out2")["answers"]
    assert "paired" not in next(a for a in answers if "more complex" in a)
    assert "paired by seed" in next(a for a in answers if "(small)" in a)
    # paired, and every seed gave the same difference: no spread to judge by, not a zero-wide interval (found by review)
    from facesense.study import answer

    assert "cannot be told" in answer("Q?", "a", "b", [0.60, 0.65, 0.70], [0.62, 0.67, 0.72], paired=True)
    # one more right answer of 3 on every seed (found by review)
    assert "cannot be told" in answer("Q?", "a", "b", [1 / 3, 0.0, 2 / 3], [2 / 3, 1 / 3, 1.0], paired=True)
    assert "(n = 3 seeds, paired)" in answer("Q?", "a", "b", [1 / 3, 0.0, 2 / 3], [2 / 3, 1 / 3, 1.0], paired=True)


def test_a_kept_run_must_have_trained_on_the_data_the_new_runs_will(tmp_path, folders3, capsys):
    """A seed added after the dataset changed trained on the new data, and the answer compared
    it with runs of the old data, "paired by seed" (found by a bug hunt)."""
    import shutil

    from conftest import write_class_folders

    data = shutil.copytree(folders3, tmp_path / "data")
    (tmp_path / "small.yaml").write_text("task: custom\nmodel: resnet_fer_small\nbatch_size: 16\nepochs: 1\n")
    study = tmp_path / "s.yaml"
    study.write_text(f"name: grow\nconfigs: [small.yaml]\nseeds: [0, 1, 2]\noverrides: {{data: {data}}}\n")
    out = tmp_path / "st"
    assert main(["study", str(study), "--out", str(out)]) == 0
    more = write_class_folders(tmp_path / "more", ["angry", "happy", "sad"], 4, seed=7)
    for image in more.rglob("*.png"):
        shutil.copy(image, data / image.parent.name / f"new_{image.name}")
    study.write_text(f"name: grow\nconfigs: [small.yaml]\nseeds: [0, 1, 2, 3]\noverrides: {{data: {data}}}\n")
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 2
    assert "small-s0: trained on other samples or another split than the data gives now" in capsys.readouterr().err
    assert not (out / "runs" / "small-s3").exists()
    study.write_text(f"name: grow\nconfigs: [small.yaml]\nseeds: [0, 1, 2]\noverrides: {{data: {data}}}\n")
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 0  # nothing to train: the kept runs' figures stand as they are


def test_a_kept_skip_bad_run_is_refused_when_its_fixed_split_grew(tmp_path, capsys):
    """With skip_bad, any kept run missing rows passed as 'those were unreadable': on data with
    its own split, images added since were taken for unreadable ones (found by review)."""
    import shutil

    from conftest import write_class_folders

    data = tmp_path / "data"
    for split, n in (("train", 12), ("val", 6)):
        write_class_folders(data / split, ["angry", "happy", "sad"], n, seed=len(split))
    (data / "train" / "sad" / "broken.png").write_bytes(b"not a png")  # unreadable from the start: its run skipped it
    (tmp_path / "small.yaml").write_text("task: custom\nmodel: resnet_fer_small\nbatch_size: 16\nepochs: 1\nskip_bad: true\n")
    study = tmp_path / "s.yaml"
    study.write_text(f"name: grow\nconfigs: [small.yaml]\nseeds: [0, 1, 2]\noverrides: {{data: {data}}}\n")
    out = tmp_path / "st"
    assert main(["study", str(study), "--out", str(out)]) == 0
    study.write_text(f"name: grow\nconfigs: [small.yaml]\nseeds: [0, 1, 2, 3]\noverrides: {{data: {data}}}\n")
    shutil.rmtree(out / "runs" / "small-s2")  # (a run to train again: the kept ones are checked)
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 0  # only the unreadable image is missing from the kept runs
    more = write_class_folders(tmp_path / "more", ["angry", "happy", "sad"], 2, seed=9)
    for image in more.rglob("*.png"):
        shutil.copy(image, data / "train" / image.parent.name / f"new_{image.name}")
    shutil.rmtree(out / "runs" / "small-s3")
    assert main(["study", str(study), "--out", str(out), "--resume"]) == 2
    assert "small-s0: trained on other samples or another split than the data gives now (" in capsys.readouterr().err


def test_study_figures_come_from_unrounded_accuracies_and_a_lone_cell_says_there_is_no_question(tmp_path, monkeypatch):
    """Means and intervals were computed from compare's 4-decimal table: the mean of 1/3, 2/3,
    1/3, 1/3 read 0.4166 (found by a bug hunt)."""
    import csv

    import facesense.study as study_module
    from facesense.study import Study, summarise

    accuracy = [1 / 3, 2 / 3, 1 / 3, 1 / 3]
    cells = {"small": [tmp_path / "runs" / f"small-s{seed}" for seed in range(4)]}

    def compare_stub(roots, out, same_classes=True):
        return [{"run": Path(r).name, "model": "m", "parameters": 10, "epochs_run": 1, "train_min": 0.1, "val_accuracy": round(accuracy[i], 4),
                 "val_macro_f1": round(accuracy[i], 4), "val_set": "A", "_val_accuracy": accuracy[i], "_val_macro_f1": accuracy[i]} for i, r in enumerate(roots)], None

    monkeypatch.setattr(study_module, "compare_runs", compare_stub)
    summarise(Study("s", [Path("small.yaml")], [0], [0, 1, 2, 3], {}), cells, tmp_path / "out")
    row = next(csv.DictReader(open(tmp_path / "out" / "study.csv")))
    mean, _, low, _ = mean_ci(accuracy)
    assert row["val_accuracy_mean"] == "0.4167" == f"{mean:.4f}" and float(row["ci95_low"]) == round(max(0.0, low), 4)
    page = (tmp_path / "out" / "study.md").read_text()
    assert "No question to answer: the study has one config and one epoch budget" in page
    # a study without `epochs` trains each config's own: its page said "epoch budgets [0]"
    assert "epoch budgets [0]" not in page and "each config's own epochs" in page


def test_runs_that_gave_every_image_one_class_are_said_to_have_learnt_nothing(tmp_path, monkeypatch):
    """Twelve runs that each predicted a single class were answered "no clear difference" and
    "the validation set is likely too small" (found by an audit)."""
    import facesense.study as study_module
    from facesense.eval.compare import _one_class_predicted, one_class_note
    from facesense.study import Study, summarise

    assert _one_class_predicted({"classes": ["man", "woman"], "confusion": [[0, 28], [0, 32]]}) == "woman"
    assert _one_class_predicted({"classes": ["man", "woman"], "confusion": [[20, 8], [3, 29]]}) is None
    assert _one_class_predicted({"classes": ["man", "woman"], "confusion": [[0, 0], [0, 32]]}) is None  # one class in the labels: nothing to collapse from
    cells = {f"{m}-e{e}": [tmp_path / "runs" / f"{m}-e{e}-s{seed}" for seed in range(3)] for m in ("a", "b") for e in (1, 3)}
    collapsed, on_test = {"a-e1", "a-e3", "b-e1", "b-e3"}, False

    def compare_stub(roots, out, same_classes=True):
        rows = []
        for i, r in enumerate(roots):
            cell = Path(r).name.rsplit("-s", 1)[0]
            one = "woman" if cell in collapsed else None
            rows.append({"run": Path(r).name, "model": cell[0], "parameters": 10, "epochs_run": 1, "train_min": 0.1, "val_accuracy": 0.5, "val_macro_f1": 0.3,
                         "val_set": "A", "_val_accuracy": 0.5 + 0.01 * (i % 3), "_val_macro_f1": 0.3, "_one_class": None if on_test else one})
            if on_test:  # every run held out a test split, on which the answers are: its one class is the test rows'
                rows[-1].update(_test_accuracy=0.5 + 0.01 * (i % 3), _test_ids="T", _test_one_class=one)
        return rows, None

    monkeypatch.setattr(study_module, "compare_runs", compare_stub)
    result = summarise(Study("s", [Path("a.yaml"), Path("b.yaml")], [1, 3], [0, 1, 2], {}), cells, tmp_path / "out")
    assert all("cannot be told: each run of" in a and "gave all its validation images one class ('woman')" in a for a in result["answers"])
    collapsed = {"a-e1"}  # one cell of four: answered, with a caution
    result = summarise(Study("s", [Path("a.yaml"), Path("b.yaml")], [1, 3], [0, 1, 2], {}), cells, tmp_path / "out2")
    epochs_a = next(a for a in result["answers"] if "(a)" in a)
    assert "but 3 of these 6 runs gave every validation image one class" in epochs_a and "cannot be told: each run" not in epochs_a
    assert one_class_note([{"run": "x", "_one_class": "woman"}, {"run": "y", "_one_class": None}]).startswith("1 of the 2 runs gave every validation image one class: x ('woman')")
    # answers on the test split look at the test rows' predictions (validation's were looked at: a
    # run that gave every test image one class went unsaid; found by a bug hunt)
    on_test, collapsed = True, {"a-e1", "a-e3", "b-e1", "b-e3"}
    result = summarise(Study("s", [Path("a.yaml"), Path("b.yaml")], [1, 3], [0, 1, 2], {}), cells, tmp_path / "out3")
    assert all("gave all its test images one class ('woman')" in a for a in result["answers"]), result["answers"]


def test_configs_are_compared_by_the_rows_they_split_into_not_by_their_settings(tmp_path, fer_csv):
    """Settings were compared: val_size 0.1 beside none was refused on data with its own
    validation split, where it changes nothing, and test_split was not compared at all (found by
    a review). The rows each config's first seed trains, validates and tests on are compared."""
    from facesense.study import Study, check_cells

    (tmp_path / "a.yaml").write_text(f"task: expression\ndata: {fer_csv}\n")
    (tmp_path / "b.yaml").write_text(f"task: expression\ndata: {fer_csv}\nval_size: 0.1\nmodel: emotion_model_3\n")  # PublicTest validates either way
    (tmp_path / "c.yaml").write_text(f"task: expression\ndata: {fer_csv}\ntest_size: 0.2\n")  # draws test rows out of Training
    check_cells(Study("s", [tmp_path / "a.yaml", tmp_path / "b.yaml"], [1], [0, 1, 2], {}), tmp_path / "out", tmp_path)
    with pytest.raises(ConfigError, match=r"c.yaml and .*a.yaml split the data otherwise \(seed 0: \d+ rows in another split"):
        check_cells(Study("s", [tmp_path / "a.yaml", tmp_path / "c.yaml"], [1], [0, 1, 2], {}), tmp_path / "out", tmp_path)


def test_epoch_answers_come_from_the_test_split_where_every_run_held_one_out(tmp_path, monkeypatch):
    """Each run's validation figure is its best epoch's, picked on those rows: a longer budget,
    the best over more epochs from the same start, could only gain, and the study said 'yes'
    where the same runs' test accuracy fell (found by a bug hunt). A cell whose seeds all scored
    alike had a zero-wide 95% interval."""
    import csv

    import facesense.study as study_module
    from facesense.study import Study, summarise

    cells = {f"a-e{e}": [tmp_path / "runs" / f"a-e{e}-s{seed}" for seed in range(3)] for e in (1, 8)}
    val = {"a-e1": [0.50, 0.50, 0.50], "a-e8": [0.52, 0.53, 0.51]}
    test = {"a-e1": [0.50, 0.49, 0.51], "a-e8": [0.45, 0.43, 0.48]}

    def stub(with_test):
        def compare_stub(roots, out, same_classes=True):
            rows = []
            for r in roots:
                cell, seed = Path(r).name.rsplit("-s", 1)
                rows.append({"run": Path(r).name, "model": "m", "parameters": 10, "epochs_run": 1, "train_min": 0.1, "val_accuracy": 0.5, "val_macro_f1": 0.4,
                             "val_set": "A", "_val_accuracy": val[cell][int(seed)], "_val_macro_f1": 0.4,
                             "_test_accuracy": test[cell][int(seed)] if with_test else None,
                             "_test_ids": frozenset({(f"row{seed}", "man")}) if with_test else None})  # each seed drew its own test rows
            return rows, None
        return compare_stub

    monkeypatch.setattr(study_module, "compare_runs", stub(True))
    said = summarise(Study("s", [Path("a.yaml")], [1, 8], [0, 1, 2], {}), cells, tmp_path / "t")["answers"][0]
    # paired by seed: each seed's runs share the test rows it drew, though every run validated on one set (found by a review)
    assert said.startswith("Does training for more epochs predict better (a)? no, it predicts worse: a-e8 vs a-e1, test accuracy difference -0.0467") and "paired by seed" in said
    assert "on the test split, which every run held out" in (tmp_path / "t" / "study.md").read_text()
    rows = {r["cell"]: r for r in csv.DictReader(open(tmp_path / "t" / "study.csv"))}
    assert rows["a-e8"]["test_accuracy_mean"] == "0.4533" and rows["a-e1"]["ci95_low"] == "" and "| - | - |" in (tmp_path / "t" / "study.md").read_text()
    monkeypatch.setattr(study_module, "compare_runs", stub(False))
    said = summarise(Study("s", [Path("a.yaml")], [1, 8], [0, 1, 2], {}), cells, tmp_path / "v")["answers"][0]
    assert "validation accuracy difference +0.0200" in said and "which favours the longer budget" in said and "give the configs test_size" in said
    # one validation set for every run, yet a seed's two budgets share their start: paired by seed (Welch's took them as independent; found by a bug hunt)
    assert "paired by seed, each seed's runs validated on the same rows; n = 3 seeds" in said


def test_validation_sets_past_z_are_named_as_spreadsheet_columns():
    """The 27th set was '[' and the 28th a backslash (found by a bug hunt)."""
    from facesense.eval.compare import set_label

    assert [set_label(i) for i in (0, 25, 26, 27, 51, 52, 701, 702)] == ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_compare_plots_tell_twelve_runs_apart(tmp_path, monkeypatch):
    """With more than 10 runs, runs 1 and 11 had the same colour and marker in the learning
    curves (a one-epoch run shows too little line for its dash), and runs at one point of the
    accuracy plots printed their names over each other (found by a bug hunt)."""
    from facesense.eval import compare

    figures = []
    monkeypatch.setattr(compare, "_save", lambda fig, path: figures.append(fig) or path)
    rows = []
    for i in range(12):
        history = tmp_path / f"history{i}.csv"
        history.write_text("epoch,val_accuracy\n1,0.5\n")
        rows.append({"run": f"run{i}", "parameters": 1000, "epochs_run": 1, "val_accuracy": 0.5 if i < 3 else 0.4 + i / 1000, "_history": history})
    compare._plots(rows, tmp_path)
    lines = figures[-1].axes[0].get_lines()
    styles = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(set(styles)) == 12 and lines[0].get_marker() != lines[10].get_marker()
    labels = [t.get_text() for t in figures[1].axes[0].texts]
    assert "run0\nrun1\nrun2" in labels and len(labels) == 10
