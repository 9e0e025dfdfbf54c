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


def _checkpoint(path, seed, model="resnet_fer_small", size=48):
    from facesense.checkpoint import save_checkpoint
    from facesense.preprocess import InputSpec

    torch.manual_seed(seed)
    save_checkpoint(path, build_model(model, 3, 1, size), {"model": model, "task": "expression", "model_args": {}}, ["a", "b", "c"], InputSpec(size, 1))
    return path


def test_blended_checkpoint_is_the_weighted_mean_of_the_weights_and_runs(tmp_path):
    from facesense.checkpoint import blend_checkpoints, load_model, read_checkpoint

    a, b = _checkpoint(tmp_path / "a.pt", 0), _checkpoint(tmp_path / "b.pt", 1)
    out = blend_checkpoints([a, b], [1, 3], tmp_path / "blend.pt")
    sa, sb, blend = (read_checkpoint(p)["model_state"] for p in (a, b, out))
    for key, value in blend.items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.25 * sa[key] + 0.75 * sb[key], atol=1e-6), key
        else:  # BatchNorm's batch counter is not averaged
            assert torch.equal(value, sa[key])
    assert [round(s["weight"], 2) for s in read_checkpoint(out)["blended_from"]] == [0.25, 0.75]
    with torch.no_grad():  # the blend loads and runs like any checkpoint
        assert load_model(out).model(torch.rand(2, 1, 48, 48)).shape == (2, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_blend_refuses_other_architectures_and_bad_weights(tmp_path):
    from facesense.checkpoint import blend_checkpoints
    from facesense.errors import FacesenseError

    a, b = _checkpoint(tmp_path / "a.pt", 0), _checkpoint(tmp_path / "b.pt", 1, size=40)
    with pytest.raises(FacesenseError, match="only checkpoints of one model"):
        blend_checkpoints([a, b], [1, 1], tmp_path / "x.pt")
    with pytest.raises(FacesenseError, match="one weight per checkpoint"):
        blend_checkpoints([a, a], [1], tmp_path / "x.pt")
    with pytest.raises(FacesenseError, match="finite"):
        blend_checkpoints([a, a], [float("nan"), 1], tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("args, match", [({"width": "abc"}, r"model_args.width='abc' must be a number \(its default is 16\)"),
                                         ({"dropout": True}, "model_args.dropout=True must be a number")])
def test_a_model_arg_of_the_wrong_type_is_named(args, match):
    """width=abc failed inside the factory: "bad model_args {'width': 'abc'} (not all arguments
    converted during string formatting)" (found by a bug hunt)."""
    from facesense.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        build_model("resnet_fer_small", 3, 1, 48, **args)


def test_bfloat16_autocast_only_on_a_cpu_that_computes_it(monkeypatch):
    """amp=auto turned bfloat16 autocast on for every CPU: emulated on an AVX2-only AMD EPYC, a
    training step ran 8x slower than float32 (found by a newcomer's trial)."""
    from contextlib import nullcontext

    import torch

    from facesense.eval import inference

    monkeypatch.setattr(inference, "cpu_computes_bfloat16", lambda: False)
    assert isinstance(inference.autocast_for(torch.device("cpu"), True), nullcontext)
    monkeypatch.setattr(inference, "cpu_computes_bfloat16", lambda: True)
    with inference.autocast_for(torch.device("cpu"), True):
        assert torch.is_autocast_enabled("cpu")
    assert isinstance(inference.autocast_for(torch.device("cpu"), False), nullcontext)
    assert isinstance(inference.cpu_computes_bfloat16(), bool)
