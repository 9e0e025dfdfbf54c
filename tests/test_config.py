import pytest

from facesense.config import load_config, parse_overrides
from facesense.errors import ConfigError

from pathlib import Path

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        load_config(overrides=["epoch=3"])
    with pytest.raises(ConfigError, match="augment.hflipp.*Did you mean 'augment.hflip'"):  # it named 'hflip'
        load_config(overrides=["augment.hflipp=true"])
    # a study's overrides are a mapping: a command line's dotted key there is told how to nest
    with pytest.raises(ConfigError, match=r"'augment.hflip': in a mapping, nest it: augment: \{hflip: true\}"):
        load_config(overrides={"augment.hflip": True})


@pytest.mark.parametrize("pairs, match", [
    (["epochs=2", "epochs.x=3"], "epochs and epochs.x are both given"),  # a traceback (found by a bug hunt)
    (["augment=1", "augment.hflip=true"], "augment and augment.hflip are both given"),
    (["augment.hflip=true", "augment={}"], "augment.hflip and augment are both given"),
    (["epochs=1", "epochs=3"], "epochs is given twice, with 'epochs=1' before it"),  # the last one won without a word
])
def test_an_override_given_twice_is_refused(pairs, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides(pairs)
    assert parse_overrides(["augment.hflip=true", "augment.vflip=false"]) == {"augment": {"hflip": True, "vflip": False}}


def test_overrides_are_typed():
    cfg = load_config(overrides=["task=custom", "epochs=3", "lr=0.01", "augment.hflip=true", "val_split=null", "classes=[a, b]"])
    assert cfg.epochs == 3 and cfg.lr == 0.01 and cfg.augment.hflip is True and cfg.val_split is None
    assert cfg.classes == ["a", "b"]
    assert parse_overrides(["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize("bad,match", [(["epochs=two"], "integer"), (["optimizer=rmsprop"], "adam"), (["channels=2"], "channels"), (["noequals"], "key=value"), (["augment=3"], "mapping")])
def test_bad_values(bad, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=bad)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.name == cfg.model or cfg.name


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "x.yaml")


def test_on_off_yes_no_are_words_for_text_keys(tmp_path):
    # YAML 1.1 reads a bare `off` as false; amp's documented choice is the word
    assert load_config(overrides=["amp=off"]).amp == "off"
    path = tmp_path / "c.yaml"
    path.write_text("amp: off\n")
    assert load_config(path).amp == "off"
    assert load_config(overrides=["amp=auto"]).amp == "auto"
    with pytest.raises(ConfigError, match="amp='on'"):
        load_config(overrides=["amp=on"])
    # text stays the word typed; boolean keys still take YAML 1.1's words
    cfg = load_config(overrides=["task=custom", "name=no", "classes=[yes, no]", "augment.hflip=yes", "skip_bad=off", "test_time_flip=true"])
    assert (cfg.name, cfg.classes) == ("no", ["yes", "no"])
    assert cfg.augment.hflip is True and cfg.skip_bad is False and cfg.test_time_flip is True


def test_label_map_words_and_bad_yaml_in_one_line(tmp_path, capsys):
    from facesense.cli import main
    from facesense.config import read_yaml

    assert read_yaml("yes: positive\nno: null\n", "map.yaml") == {"yes": "positive", "no": None}
    bad = tmp_path / "map.yaml"
    bad.write_text("a: [unclosed\n")
    assert main(["evaluate", "expression", "--data", str(tmp_path), "--label-map", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --label-map {bad}: not valid YAML at line") and "\n" not in err


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    # an override of the same key reads the same, so the file is what tells them apart
    path = tmp_path / "mine.yaml"
    path.write_text("epochs: abc\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml: epochs must be an integer, got 'abc'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^epochs must be an integer, got 'abc'"):
        load_config(overrides=["epochs=abc"])


def test_an_unknown_task_is_refused():
    # a typo used to train as a custom task under runs/<typo>/
    with pytest.raises(ConfigError, match=r"task='age2' is not one of \['expression', 'gender', 'sentiment', 'custom', 'gender_age'\]"):
        load_config(overrides=["task=age2"])


def test_config_paths_resolve_against_the_folder_they_were_given_from(tmp_path):
    """One rule for `train` (the working folder) and a study (its own base): relative paths made
    absolute, a packaged init_from and a shipped teacher's name left as they are."""
    from facesense.config import load_config, resolve_paths

    cfg = resolve_paths(load_config(overrides={"data": "d", "runs_dir": "r", "init_from": "package:facesense/x.pt", "teacher": ["expression", "t.pt"]}), tmp_path)
    assert (cfg.data, cfg.runs_dir) == (str(tmp_path / "d"), str(tmp_path / "r"))
    assert cfg.init_from == "package:facesense/x.pt" and cfg.teacher == ["expression", str(tmp_path / "t.pt")]
    extra = resolve_paths(load_config(overrides={"task": "gender_age", "data": "d", "extra_data": ["e"]}), tmp_path)
    assert extra.extra_data == [str(tmp_path / "e")]


def test_init_from_takes_a_shipped_name_and_a_list_key_takes_one_string(tmp_path):
    """init_from=gender was made a path under the working folder ('file not found'), though
    teacher, predict and evaluate take shipped names; teacher=runs/x-1 was 'must be a list'."""
    from facesense.config import load_config, resolve_paths
    from facesense.train.init import existing_weights_file

    cfg = resolve_paths(load_config(overrides={"task": "gender", "init_from": "gender", "teacher": "gender", "data": "d"}), tmp_path)
    assert cfg.init_from == "gender" and cfg.teacher == ["gender"]
    assert existing_weights_file("gender").name == "gender.pt"


def test_a_key_given_twice_is_refused(tmp_path):
    """`epochs: 1` then `epochs: 2` trained 2 epochs without a word (found by a bug hunt)."""
    (tmp_path / "dup.yaml").write_text("task: gender\nepochs: 1\naugment:\n  hflip: true\nepochs: 2\n")
    with pytest.raises(ConfigError, match=r"key 'epochs' is given twice \(lines 2 and 5\)"):
        load_config(tmp_path / "dup.yaml")


def test_a_network_too_large_for_memory_is_refused_by_its_size(monkeypatch):
    """image_size=2000 with baseline_vgg (2 billion dense weights) got the process killed by the
    system, leaving a half-made run folder (found by a bug hunt): counted on the meta device."""
    import os

    from facesense.experiment import check_before_data

    with pytest.raises(ConfigError, match=r"model 'baseline_vgg' at image_size=2000 has 2,048 million weights"):
        check_before_data(load_config(overrides={"task": "gender", "model": "baseline_vgg", "image_size": 2000, "channels": 3}))
    real = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 256 if name == "SC_PHYS_PAGES" else real(name))  # a 1 MB machine
    with pytest.raises(ConfigError, match="lower image_size"):
        check_before_data(load_config(overrides={"task": "gender", "model": "resnet_fer_small", "image_size": 48}))


def test_plateau_settings_under_another_schedule_are_said(caplog):
    """lr_schedule=cosine reduce_lr_patience=1 dropped the plateau settings without a word (bug
    hunt); said, not refused, so that runs saved with both still resume."""
    load_config(overrides={"task": "gender", "lr_schedule": "cosine", "reduce_lr_patience": 1})
    assert "reduce_lr_patience=1 lowers the rate on a plateau, which lr_schedule=cosine does not do: it has no effect here" in caplog.text
    assert load_config(overrides={"task": "gender", "reduce_lr_patience": 1}).lr_schedule == "auto"


def test_options_that_need_another_are_said(caplog):
    """distill_weight=5, teacher_mode=cached, soft_label_weight and augment.grayscale on grey
    faces trained silently with no effect (found by a bug hunt); said as the run starts, not
    refused (a run saved with them must still resume; found by review)."""
    from facesense.config import warn_of_idle_options

    with pytest.raises(ConfigError, match="distill_weight must be in"):
        load_config(overrides={"task": "gender", "distill_weight": 5, "teacher": ["t.pt"]})
    warn_of_idle_options(load_config(overrides={"task": "gender", "distill_weight": 5, "teacher_mode": "cached", "distill_flip": True, "soft_label_weight": 0.9,
                                                "channels": 1, "augment": {"grayscale": 0.5}}))
    assert "distill_weight=5.0, teacher_mode=cached, distill_flip=True: no effect without teacher" in caplog.text
    assert "soft_label_weight=0.9: no effect without soft_labels" in caplog.text
    assert "augment.grayscale=0.5: no effect on grey input (channels 1)" in caplog.text
    caplog.clear()
    warn_of_idle_options(load_config(overrides={"task": "gender", "channels": 3, "augment": {"grayscale": 0.5}}))  # defaults, and colour: nothing to say
    assert "no effect" not in caplog.text
    # cached teacher targets average each image and its mirror already (found by a bug hunt)
    warn_of_idle_options(load_config(overrides={"task": "gender", "teacher": ["t.pt"], "teacher_mode": "cached", "distill_flip": True}))
    assert "distill_flip=true: no effect with teacher_mode=cached" in caplog.text


def test_amp_false_is_answered_in_the_words_it_takes():
    """amp=false said "amp='False' is not one of ['auto', 'off']", a value the user never typed (bug hunt)."""
    with pytest.raises(ConfigError, match=r"amp=false: write amp=off \(one of \['auto', 'off'\]\)"):
        load_config(overrides={"task": "gender", "amp": False})


def test_classes_of_its_own_are_for_a_custom_task():
    """classes=[woman, man] with task=gender reordered the gender classes, and classes=[man] made
    'woman' an unknown label (found by a bug hunt)."""
    with pytest.raises(ConfigError, match=r"task=gender has its own classes \(man, woman\); leave classes out, or use task=custom"):
        load_config(overrides={"task": "gender", "classes": ["woman", "man"]})
    assert load_config(overrides={"task": "gender", "classes": ["man", "woman"]}).classes == ["man", "woman"]
    assert load_config(overrides={"task": "gender", "classes": ["male", "Female"]}).classes == ["male", "Female"]  # other spellings of its own (review)


def test_a_misspelt_config_file_name_gets_the_file_meant(tmp_path):
    """`facesense train configs/emotion_modl_3.yaml` said only "not found", where commands, models
    and config keys get a "did you mean" (found by a newcomer's trial)."""
    (tmp_path / "emotion_model_3.yaml").write_text("task: expression\n")
    with pytest.raises(ConfigError, match=f"did you mean {tmp_path / 'emotion_model_3.yaml'}"):
        load_config(tmp_path / "emotion_modl_3.yaml")
    with pytest.raises(ConfigError, match=r"not found \(see configs/ for examples\)"):
        load_config(tmp_path / "nothing_like_it.yaml")


def test_a_dotted_override_sets_one_key_of_a_mapping_and_keeps_the_others(tmp_path):
    """model_args.width=8 on a config with model_args {width: 16, dropout: 0.2} trained without
    dropout, the whole mapping replaced by {width: 8} without a word (found by a bug hunt); a
    whole mapping given still replaces it, and the result is a plain dict (config.yaml's dump)."""
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: resnet_fer\nmodel_args: {width: 16, dropout: 0.2}\ntask: custom\nlabel_map: {a: x, b: y}\n")
    c = load_config(cfg, ["model_args.width=8", "label_map.b=null"])
    assert c.model_args == {"width": 8, "dropout": 0.2} and c.label_map == {"a": "x", "b": None}
    assert type(c.model_args) is dict and "width: 8" in yaml.safe_dump(c.to_dict())
    assert load_config(cfg, ["model_args={width: 8}"]).model_args == {"width": 8}
    # a mapping keyed by numbers (a csv's class ids): label_map.1 names the key 1, not a new "1"
    cfg.write_text("model: resnet_fer\ntask: custom\nlabel_map: {0: man, 1: woman}\n")
    assert load_config(cfg, ["label_map.1=null"]).label_map == {0: "man", 1: None}


def test_a_run_folder_given_as_the_config_is_answered_with_resume(tmp_path):
    """`facesense train RUN` advised training on the run folder as data (`facesense train
    configs/gender.yaml data=RUN`); `--resume RUN/last.pt` said only 'not a run directory'
    (found by a bug hunt)."""
    from facesense.errors import FacesenseError
    from facesense.experiment import train

    run = tmp_path / "expression_small-1"
    run.mkdir()
    (run / "config.yaml").write_text("task: expression\n")
    (run / "last.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"is a training run, not a config file; `facesense train --resume \S*expression_small-1` continues it"):
        load_config(run)
    (run / "train_summary.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"it has finished: `facesense train \S*config.yaml init_from=\S*best.pt epochs=N` trains on"):
        load_config(run)
    with pytest.raises(FacesenseError, match=r"not a run directory \(no config.yaml\); give the run's folder: --resume \S*expression_small-1$"):
        train(None, resume=run / "last.pt")


def test_train_help_names_the_common_settings_with_their_defaults(capsys):
    """`train --help` said only "YAML config (see configs/)": no key was named (found by a newcomer's trial)."""
    import dataclasses

    from facesense.cli import main
    from facesense.config import Config

    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"epochs={Config().epochs} batch_size={Config().batch_size}" in text and "early_stopping=null" in text
    assert f"all {len(dataclasses.fields(Config))} (augment.*" in text
