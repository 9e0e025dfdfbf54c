import math

import pytest
import torch

from facesense.train.callbacks import EarlyStopping, Monitor, monitor_mode


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


def test_reduce_lr_on_plateau_from_a_list():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
    lrs = []
    for v in [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]:
        sched.step(v)
        lrs.append(opt.param_groups[0]["lr"])
    assert [round(x, 6) for x in lrs] == [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01]
    assert math.isclose(lrs[-1], 0.01)
