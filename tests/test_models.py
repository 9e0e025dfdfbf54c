import pytest
import torch

from facesense.errors import ConfigError
from facesense.models import build_model, list_models

NAMES = [m.name for m in list_models()]
BUILT_FROM_ARGS = {"onnx_graph"}  # built from the file its model_args name: tests/test_onnx_graph.py


def test_registry_has_the_source_models_and_a_stronger_one():
    for name in ("emotion_model_1", "emotion_model_2", "emotion_model_3", "gender_model", "baseline_vgg", "resnet_fer"):
        assert name in NAMES


@pytest.mark.parametrize("name", [n for n in NAMES if n not in BUILT_FROM_ARGS])
@pytest.mark.parametrize("channels,size", [(1, 48), (3, 64)])
def test_every_model_builds_for_3_classes(name, channels, size):
    model = build_model(name, 3, channels, size).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.shape == (2, 3)
    model.train()
    out = model(torch.rand(4, channels, size, size))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unknown_model_suggests():
    with pytest.raises(ConfigError, match="emotion_model_1"):
        build_model("emotion_modle_1", 3, 1, 48)
