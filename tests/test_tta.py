"""test_time_flip / test_time_zoom: a model that averages each image over its mirror and zoomed
copies, in validation, evaluate, predict and the exported ONNX graph alike."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facesense.checkpoint import load_model, read_checkpoint
from facesense.config import load_config
from facesense.errors import ConfigError
from facesense.experiment import train
from facesense.export import onnx_bytes
from facesense.models import ViewAveraged, build_model
from facesense.models.tta import zoom_matrix


@pytest.mark.parametrize("zoom", [0.8, 1.0, 1.1, 1.25])
def test_zoom_matrix_resamples_like_grid_sample_with_border_padding(zoom):
    torch.manual_seed(0)
    x = torch.rand(2, 1, 20, 20)
    theta = torch.tensor([[1 / zoom, 0.0, 0.0], [0.0, 1 / zoom, 0.0]]).expand(2, 2, 3)
    expected = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), padding_mode="border", align_corners=False)
    r = zoom_matrix(20, zoom)
    assert torch.allclose(r @ x @ r.T, expected, atol=1e-5)


def test_test_time_averaged_is_the_bare_net_in_training_and_the_view_mean_in_eval():
    torch.manual_seed(0)
    net = build_model("resnet_fer_small", 3, 1, 48)
    x = torch.rand(4, 1, 48, 48)
    x[..., :16] += 2  # a bright left edge: the net must see the mirror as a different image
    flip_only, zoomed = ViewAveraged(net, 48), ViewAveraged(net, 48, zooms=[1.1])
    assert (flip_only.views, zoomed.views) == (2, 4)
    net.eval(), flip_only.eval(), zoomed.eval()
    r = zoom_matrix(48, 1.1)
    with torch.no_grad():
        mirrored = (net(x) + net(torch.flip(x, dims=[3]))) / 2
        assert torch.allclose(flip_only(x), mirrored, atol=1e-5)
        assert not torch.allclose(net(x), mirrored, atol=1e-4)  # the averaging is not a no-op here
        z = r @ x @ r.T
        assert torch.allclose(zoomed(x), (mirrored + (net(z) + net(torch.flip(z, dims=[3]))) / 2) / 2, atol=1e-5)
    zoomed.train()
    torch.manual_seed(1)
    a = zoomed(x)
    torch.manual_seed(1)
    assert torch.equal(a, net(x))
    assert not any(k.startswith("zoom") for k in zoomed.state_dict())  # checkpoints never carry the matrices


def test_a_flip_trained_checkpoint_predicts_the_same_for_an_image_and_its_mirror(tmp_path, folders3):
    cfg = load_config(overrides={"data": str(folders3), "task": "custom", "model": "resnet_fer_small", "epochs": 1, "batch_size": 8,
                                 "runs_dir": str(tmp_path), "train_split": "train", "val_split": "val", "test_time_flip": True})
    run = train(cfg, progress=False)
    state = read_checkpoint(run.best_checkpoint)["model_state"]
    assert not any(k.startswith("module.") for k in state)  # the plain network, loadable by init_from
    loaded = load_model(run.best_checkpoint)
    assert isinstance(loaded.model, ViewAveraged)
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        p, p_mirror = loaded.model(x), loaded.model(torch.flip(x, dims=[3]))
    assert torch.allclose(p, p_mirror, atol=1e-5)
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes(loaded), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"input": x.numpy()})[0]
    assert np.allclose(probs, torch.softmax(p, 1).numpy(), atol=1e-5)


def test_zoom_views_reach_validation_the_checkpoint_and_the_onnx_graph(tmp_path, folders3):
    overrides = {"data": str(folders3), "task": "custom", "model": "resnet_fer_small", "epochs": 1, "batch_size": 8,
                 "runs_dir": str(tmp_path), "train_split": "train", "val_split": "val", "test_time_flip": True, "test_time_zoom": [0.9, 1.1]}
    run = train(load_config(overrides=overrides), progress=False)
    loaded = load_model(run.best_checkpoint)
    assert isinstance(loaded.model, ViewAveraged) and loaded.model.views == 6
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        p = torch.softmax(loaded.model(x), 1)
        bare = torch.softmax(loaded.model.module(x), 1)
    assert not torch.allclose(p, bare, atol=1e-4)  # the views change the answer
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes(loaded), providers=["CPUExecutionProvider"])
    assert np.allclose(session.run(None, {"input": x.numpy()})[0], p.numpy(), atol=1e-5)


def test_bad_zoom_factors_are_refused_by_name():
    with pytest.raises(ConfigError, match="test_time_zoom"):
        load_config(overrides={"test_time_zoom": [1.1, 3]})
    with pytest.raises(ConfigError, match=r"test_time_zoom\[0\]"):
        load_config(overrides={"test_time_zoom": ["big"]})


def test_the_shipped_expression_model_scores_with_the_views_its_config_names():
    """The card's numbers are 4-view numbers: the checkpoint, configs/expression.yaml and the int8
    copy the live pipeline runs must all agree on the views."""
    from pathlib import Path

    from facesense.checkpoint import shipped_model_path
    from facesense.runtime.classifier import FaceClassifier

    repo_config = Path(__file__).resolve().parents[1] / "configs" / "expression.yaml"
    if shipped_model_path("expression", ".pt") is None or not repo_config.is_file():
        pytest.skip("no shipped expression model or repo config in this install")
    cfg = load_config(repo_config)
    loaded = load_model("expression")
    assert (loaded.config["test_time_flip"], loaded.config["test_time_zoom"]) == (cfg.test_time_flip, cfg.test_time_zoom)
    assert isinstance(loaded.model, ViewAveraged) and loaded.model.views == (1 + len(cfg.test_time_zoom)) * (2 if cfg.test_time_flip else 1)
    faces = [np.random.default_rng(i).integers(0, 255, (60, 60, 3), dtype=np.uint8) for i in range(3)]
    int8 = FaceClassifier.load("expression")
    fp32 = FaceClassifier(onnx_bytes(loaded), name="expression fp32")
    np.testing.assert_allclose(int8.predict(faces), fp32.predict(faces), atol=0.03)  # a one-view int8 copy is off by ~0.1
    bare = FaceClassifier(onnx_bytes(type(loaded)(loaded.model.module, loaded.classes, loaded.spec, {}, loaded.path, False)), name="bare")
    assert np.abs(bare.predict(faces) - fp32.predict(faces)).max() > 1e-3  # the views change the answer
