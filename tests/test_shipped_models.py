"""What ships with facesense: the model files' size, and what evaluation needs of them."""

from facesense.data.digests import METADATA_KEY, unpacked
from facesense.onnx_files import onnx_metadata
from facesense.runtime.assets import shipped_runtime_path

MODELS = ("expression", "gender", "gender_age", "sentiment")


def test_shipped_model_files_stay_small():
    folder = shipped_runtime_path("expression").parent
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total <= 40_000_000, f"{folder}: {total:,} bytes of shipped files (at most 40 MB)"


def test_shipped_models_carry_their_training_images_hashes():
    """So that evaluating one on its training images, under any name, says so."""
    for name in MODELS:
        digests = unpacked(onnx_metadata(shipped_runtime_path(name)).get(METADATA_KEY, ""))
        assert len(digests) > 500, name


def test_shipped_models_name_their_data_not_the_trainers_paths():
    """A shipped config naming /work/shared/data/... made evaluate answer differently on the
    machine that trained it (where that path exists) than on any user's machine."""
    import json
    from pathlib import Path

    import torch

    for name in MODELS:
        configs = [json.loads(onnx_metadata(shipped_runtime_path(name))["facesense_config"])]
        checkpoint = shipped_runtime_path(name).with_name(f"{name}.pt")
        if checkpoint.exists():
            configs.append(torch.load(checkpoint, map_location="cpu", weights_only=False)["config"])
        for config in configs:
            paths = [config.get("data"), config.get("runs_dir"), config.get("init_from"), *(config.get("extra_data") or []), *(config.get("teacher") or [])]
            assert not [p for p in paths if p and Path(str(p)).is_absolute()], (name, paths)


def test_the_shipped_models_that_chose_epochs_on_validation_rows_carry_their_hashes():
    """So that their validation rows under other names (FER2013's image-folder copies hold
    PublicTest) are said to be the rows that chose their best epoch."""
    from facesense.data.digests import VALIDATION_METADATA_KEY

    for name, at_least in (("expression", 3000), ("gender_age", 1000)):
        assert len(unpacked(onnx_metadata(shipped_runtime_path(name)).get(VALIDATION_METADATA_KEY, ""))) > at_least, name
