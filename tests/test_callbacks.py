import math

import pytest
import torch

from facesense.train.callbacks import EarlyStopping, KerasPlateau, Monitor, monitor_mode


def drive(stopper, values):
    for epoch, v in enumerate(values, start=1):
        if stopper.step(v, epoch):
            return epoch
    return None


def test_early_stopping_min():
    # best at epoch 2 (0.8); three non-improving epochs -> stop at epoch 5
    assert drive(EarlyStopping(3, "min"), [1.0, 0.8, 0.85, 0.9, 0.81, 0.7]) == 5


def test_early_stopping_resets_on_improvement():
    assert drive(EarlyStopping(2, "min"), [1.0, 1.1, 0.9, 1.0, 0.95, 0.94]) == 5


def test_early_stopping_max_mode():
    s = EarlyStopping(2, "max")
    assert drive(s, [0.5, 0.6, 0.6, 0.55]) == 4
    assert s.monitor.best == 0.6 and s.monitor.best_epoch == 2


def test_monitor_state_roundtrip():
    m = Monitor("max")
    m.update(0.3, 1)
    m2 = Monitor("max")
    m2.load_state_dict(m.state_dict())
    assert not m2.update(0.2, 2) and m2.update(0.4, 3)


def test_monitor_mode():
    assert monitor_mode("val_loss") == "min" and monitor_mode("val_accuracy") == "max"
    with pytest.raises(ValueError):
        Monitor("up")


def test_pytorch_reduce_lr_on_plateau_from_a_list():
    """PyTorch's policy (plateau_policy: torch) waits patience + 1 bad epochs."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
    lrs = []
    for v in [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]:
        sched.step(v)
        lrs.append(opt.param_groups[0]["lr"])
    assert [round(x, 6) for x in lrs] == [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01]
    assert math.isclose(lrs[-1], 0.01)


def lrs_after(policy: KerasPlateau, values: list[float], lr: float = 1.0) -> list[float]:
    """The learning rate in force after each epoch's value, as Keras's callback sets it."""
    out = []
    for v in values:
        lr = policy.step(v, lr)
        out.append(round(lr, 9))
    return out


def test_keras_plateau_reduces_after_patience_epochs_without_improvement():
    # Keras: "if no improvement is seen for a 'patience' number of epochs, the learning rate is
    # reduced": epochs 3 and 4 do not improve on 0.9, so the rate drops after epoch 4 (PyTorch's
    # policy, same list above, after epoch 5)
    values = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]
    assert lrs_after(KerasPlateau("min", patience=2), values) == [1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01]


def test_keras_plateau_min_delta_is_absolute():
    # min_delta 0.01: 0.995 and 0.991 are not improvements on 1.0 (they must go below 0.99)
    assert lrs_after(KerasPlateau("min", patience=2, min_delta=0.01), [1.0, 0.995, 0.991, 0.985]) == [1, 1, 0.1, 0.1]
    # with the default 1e-4 a tiny drop of a large loss counts (PyTorch's default threshold is
    # relative: 1e-4 of 100 = 0.01, so there 99.995 would not count)
    assert lrs_after(KerasPlateau("min", patience=1), [100.0, 99.995, 99.99]) == [1, 1, 1]
    # and so does a rise of an accuracy by more than min_delta
    assert lrs_after(KerasPlateau("max", patience=1, min_delta=0.005), [0.50, 0.504, 0.51, 0.511]) == [1, 0.1, 0.1, 0.01]


def test_keras_plateau_cooldown_pauses_the_count_after_a_reduction():
    # patience 1, cooldown 2, a flat curve: reduce, then two epochs of cooldown (the first of
    # which still counts down), then the next bad epoch reduces again
    assert lrs_after(KerasPlateau("min", patience=1, cooldown=2), [1.0] * 7) == [1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    assert lrs_after(KerasPlateau("min", patience=1), [1.0] * 4) == [1, 0.1, 0.01, 0.001]


def test_keras_plateau_min_lr_is_a_floor():
    assert lrs_after(KerasPlateau("min", patience=1, factor=0.1, min_lr=0.05), [1.0] * 5) == [1, 0.1, 0.05, 0.05, 0.05]
    with pytest.raises(ValueError):
        KerasPlateau("min", patience=1, factor=1.0)


def test_keras_plateau_state_roundtrip_and_pytorch_state():
    a = KerasPlateau("min", patience=3, cooldown=1)
    lrs_after(a, [1.0, 1.1, 1.2])
    b = KerasPlateau("min", patience=3, cooldown=1)
    b.load_state_dict(a.state_dict())
    assert (b.wait, b.monitor.best) == (2, 1.0)
    assert b.step(1.3, 1.0) == pytest.approx(0.1)  # third bad epoch
    c = KerasPlateau("min", patience=3)
    c.load_state_dict({"best": 0.5, "num_bad_epochs": 2, "cooldown_counter": 0})  # a checkpoint written by PyTorch's policy
    assert c.step(0.6, 1.0) == pytest.approx(0.1)


def test_report_settings_lower_the_rate_before_early_stopping_only_with_keras():
    """emotion_model_3: early stopping 3, reduce-LR patience 2 on val_loss. With Keras's policy the
    rate drops once before training stops; with PyTorch's it never does."""
    values = [1.0, 0.9, 0.95, 0.96, 0.97]
    stopper, keras = EarlyStopping(3, "min"), KerasPlateau("min", patience=2)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    pytorch = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
    lr, keras_lrs, torch_lrs = 1e-3, [], []  # the rate each epoch trains with
    for epoch, v in enumerate(values, start=1):
        keras_lrs.append(lr)
        torch_lrs.append(opt.param_groups[0]["lr"])
        stop = stopper.step(v, epoch)
        lr = keras.step(v, lr)
        pytorch.step(v)
        if stop:
            break
    assert epoch == 5
    assert keras_lrs == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3, 1e-4])
    assert torch_lrs == pytest.approx([1e-3] * 5)


def test_config_chooses_the_plateau_policy():
    from facesense.config import load_config
    from facesense.train.loop import PlateauScheduler, build_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    keras = build_scheduler(load_config(overrides={"reduce_lr_patience": 2, "reduce_lr_factor": 0.1}), opt, "min")
    assert isinstance(keras, PlateauScheduler)
    for v in [1.0, 0.9, 0.95, 0.95]:
        keras.step(v)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    explicit = build_scheduler(load_config(overrides={"reduce_lr_patience": 2, "plateau_policy": "torch"}), opt, "min")
    assert isinstance(explicit, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_onecycle_is_stepped_per_batch_peaks_at_lr_and_ends_near_zero():
    from facesense.config import load_config
    from facesense.train.loop import build_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
    sched = build_scheduler(load_config(overrides={"lr_schedule": "onecycle", "lr": 0.2, "epochs": 4, "optimizer": "sgd"}), opt, "min", steps_per_epoch=25)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(100), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(0.2 / 25) and lrs[peak] == pytest.approx(0.2, rel=1e-3)
    assert 25 <= peak <= 35 and lrs[-1] < 1e-4


def test_training_logs_a_progress_line_a_minute_where_no_bar_is_shown(caplog, monkeypatch, tmp_path, fer_csv):
    """`facesense train ... > train.log` showed nothing until the first epoch ended, 13 minutes on a
    2-core CPU (the bar is for terminals only; found by a newcomer's trial): off a terminal,
    training logs how far each epoch is once a minute."""
    import logging

    from facesense import experiment
    from facesense.cli import main
    from facesense.train.loop import PROGRESS_LINES, progress_lines

    times = iter(range(0, 1000, 25))  # 25 s a batch
    with caplog.at_level(logging.INFO):
        assert list(progress_lines(list(range(10)), "epoch 1/3", clock=lambda: next(times))) == list(range(10))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 1/3: batch")]
    assert lines == ["epoch 1/3: batch 3 of 10 (30%), 75 s so far, about 175 s left", "epoch 1/3: batch 6 of 10 (60%), 150 s so far, about 100 s left",
                     "epoch 1/3: batch 9 of 10 (90%), 225 s so far, about 25 s left"]
    asked = []
    monkeypatch.setattr(experiment, "train", lambda cfg, **kw: asked.append(kw["progress"]) or (_ for _ in ()).throw(KeyboardInterrupt))
    for quiet, shown in (([], PROGRESS_LINES), (["-q"], False)):  # pytest's stderr is no terminal
        main(["train", "task=expression", f"data={fer_csv}", f"runs_dir={tmp_path}", "epochs=1", *quiet])
        assert asked.pop() == shown


def test_a_model_that_meets_onednns_strided_1x1_fault_trains_in_the_default_memory_format(tmp_path, caplog, fer_csv):
    """A strided 1x1 convolution of 4 input channels (resnet_fer_small at width 4) in channels_last:
    oneDNN's weight gradient was 49% off on an AVX2 CPU, and a 2-thread test run hung for over 15
    minutes (oneDNN issue 6035). Such a model trains without channels_last, and says so; the
    shipped widths (16 channels and more there) keep it."""
    import logging

    import torch

    from facesense.cli import main
    from facesense.models.registry import build_model
    from facesense.train.loop import _channels_last_breaks

    cpu = torch.device("cpu")
    assert _channels_last_breaks(build_model("resnet_fer_small", num_outputs=7, in_channels=1, image_size=48, width=4, stem_stride=2), cpu)
    assert not _channels_last_breaks(build_model("resnet_fer_small", num_outputs=7, in_channels=1, image_size=48), cpu)
    with caplog.at_level(logging.INFO):
        assert main(["train", "task=expression", f"data={fer_csv}", "model=resnet_fer_small", "model_args={width: 4, stem_stride: 2}", "epochs=1", "batch_size=16",
                     f"runs_dir={tmp_path}", "-q"]) == 0
    assert "channels_last off: " in caplog.text and "oneDNN issue 6035" in caplog.text
