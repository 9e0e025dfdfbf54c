"""What a runtime-only install can do (the serving image, a plain `pip install facesense`):
the live path, the demo, predict, the models listing and the web app run with neither PyTorch (the `train` extra)
nor scikit-learn and scipy (the `eval` extra); commands that need them say so in one line."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from facesense.stream.demo import demo_photo, make_demo_clip

TRAINING = ["torch", "kornia", "onnx", "torchvision"]
EVALUATION = ["sklearn", "scipy"]


def blocker(blocked) -> str:
    """Code that makes the `blocked` top-level packages unimportable, as if not installed."""
    return (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name.split('.')[0])\n"
        "sys.meta_path.insert(0, Block())\n"
    )


def run(argv, blocked, cwd):
    """`facesense ARGV` in a fresh interpreter where the `blocked` packages cannot be imported."""
    code = blocker(blocked) + "from facesense.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime")
    cv2.imwrite(str(folder / "photo.jpg"), demo_photo())
    make_demo_clip(folder / "clip.mp4", frames=10)
    for label in ("man", "woman"):
        (folder / "faces" / label).mkdir(parents=True)
        cv2.imwrite(str(folder / "faces" / label / "a.png"), cv2.resize(demo_photo(), (96, 112)))
    return folder


def test_demo_live_and_predict_need_neither_pytorch_nor_scikit_learn(inputs, tmp_path):
    blocked = TRAINING + EVALUATION
    done = run(["demo", "--out", tmp_path / "demo"], blocked, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "annotated.mp4").is_file() and (tmp_path / "demo" / "summary_timeline.png").is_file()
    done = run(["live", "--source", inputs / "clip.mp4", "--log", tmp_path / "frames.csv", "--age", "gender_age"], blocked, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "frames.csv").read_text().splitlines()) > 10
    done = run(["predict", "expression", inputs / "photo.jpg"], blocked, tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("path,face,x,y,w,h,pred"), done.stderr


def test_the_web_app_needs_neither():
    code = blocker(TRAINING + EVALUATION) + (
        "import cv2\nfrom facesense.serve.analyzer import Analyzer\nfrom facesense.serve.app import create_app\nfrom facesense.stream.demo import demo_photo\n"
        "analyzer = Analyzer(age='gender_age')\ncreate_app(analyzer)\n"
        "result = analyzer.analyze(cv2.imencode('.jpg', demo_photo())[1].tobytes())\n"
        "print(analyzer.health(), len(result['faces']), result['faces'][0]['age'] is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'expression': True" in done.stdout and "'sentiment': True" in done.stdout and done.stdout.strip().endswith("1 True")


def test_evaluation_needs_only_the_eval_extra_and_says_so(inputs, tmp_path):
    done = run(["evaluate", "gender", "--data", inputs / "faces", "--out", tmp_path / "eval"], TRAINING, tmp_path)
    assert done.returncode == 0, done.stderr  # a shipped ONNX model: no PyTorch
    done = run(["evaluate", "gender", "--data", inputs / "faces", "--out", tmp_path / "eval2"], EVALUATION, tmp_path)
    assert done.returncode == 2 and "pip install 'facesense[eval]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "eval2").exists()
    done = run(["train", "configs/gender.yaml"], TRAINING, tmp_path)
    assert done.returncode == 2 and "pip install 'facesense[train]'" in done.stderr and "Traceback" not in done.stderr


def test_the_api_evaluate_names_the_eval_extra_it_needs(inputs, tmp_path):
    """facesense.evaluate on a runtime-only install raised a bare ModuleNotFoundError ("No module
    named 'sklearn'") where `facesense evaluate` names the extra to install (found by a bug hunt)."""
    code = blocker(EVALUATION) + (
        "import facesense\n"
        "try:\n    facesense.evaluate('gender', sys.argv[1], sys.argv[2])\n"
        "except facesense.FacesenseError as exc:\n    print('FacesenseError:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(inputs / "faces"), str(tmp_path / "eval")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("FacesenseError: facesense.evaluate needs scikit-learn and scipy") and "pip install 'facesense[eval]'" in done.stdout
    assert not (tmp_path / "eval").exists()


def test_models_lists_the_shipped_models_without_pytorch(tmp_path):
    """`facesense models` is how a user of the serving image finds the names that --expression,
    --gender and predict take: only its table of trainable architectures needs PyTorch (the
    whole command refused with 'needs PyTorch' before)."""
    done = run(["models"], TRAINING + EVALUATION, tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("expression", "gender_age", "sentiment", "centerface"):
        assert f"\n  {name} " in done.stdout
    assert "Architectures for training" in done.stdout and "pip install 'facesense[train]'" in done.stdout
    assert "resnet_fer" not in done.stdout and not done.stderr
