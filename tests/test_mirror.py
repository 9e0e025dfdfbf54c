"""test_time_flip: a model that averages each image with its mirror, in validation, evaluate,
predict and the exported ONNX graph alike."""

import numpy as np
import torch

from facesense.checkpoint import load_model, read_checkpoint
from facesense.config import load_config
from facesense.experiment import train
from facesense.export import onnx_bytes
from facesense.models import MirrorAveraged, build_model


def test_mirror_averaged_is_the_bare_net_in_training_and_the_flip_mean_in_eval():
    torch.manual_seed(0)
    net = build_model("resnet_fer_small", 3, 1, 48)
    wrapped = MirrorAveraged(net)
    x = torch.rand(4, 1, 48, 48)
    x[..., :16] += 2  # a bright left edge: the net must see the mirror as a different image
    net.eval(), wrapped.eval()
    with torch.no_grad():
        expected = (net(x) + net(torch.flip(x, dims=[3]))) / 2
        assert torch.allclose(wrapped(x), expected, atol=1e-5)
        assert not torch.allclose(net(x), expected, atol=1e-4)  # the averaging is not a no-op here
    wrapped.train()
    torch.manual_seed(1)
    a = wrapped(x)
    torch.manual_seed(1)
    assert torch.equal(a, net(x))


def test_a_flip_trained_checkpoint_predicts_the_same_for_an_image_and_its_mirror(tmp_path, folders3):
    cfg = load_config(overrides={"data": str(folders3), "task": "custom", "model": "resnet_fer_small", "epochs": 1, "batch_size": 8,
                                 "runs_dir": str(tmp_path), "train_split": "train", "val_split": "val", "test_time_flip": True})
    run = train(cfg, progress=False)
    state = read_checkpoint(run.best_checkpoint)["model_state"]
    assert not any(k.startswith("module.") for k in state)  # the plain network, loadable by init_from
    loaded = load_model(run.best_checkpoint)
    assert isinstance(loaded.model, MirrorAveraged)
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        p, p_mirror = loaded.model(x), loaded.model(torch.flip(x, dims=[3]))
    assert torch.allclose(p, p_mirror, atol=1e-5)
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes(loaded), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"input": x.numpy()})[0]
    assert np.allclose(probs, torch.softmax(p, 1).numpy(), atol=1e-5)
