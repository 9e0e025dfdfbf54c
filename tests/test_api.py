"""The Python API: importable without side effects, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import facesense
from conftest import write_class_folders

ROOT = Path(__file__).resolve().parents[1]


def test_import_loads_nothing_heavy():
    code = "import sys, facesense; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2', 'onnxruntime', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")}, check=True).stdout
    assert out.strip() == "[]"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    import matplotlib.cbook

    from facesense.stream.demo import make_demo_clip

    block = re.search(r"## Python API\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        (tmp_path / "photo.jpg").write_bytes(f.read())
    make_demo_clip(tmp_path / "clip.mp4")
    write_class_folders(tmp_path / "faces", ["man", "woman"], 4, colour=True, size=64)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("{'x': ") and len(lines) >= 1 + 30 + 1
    assert (tmp_path / "eval" / "gender-faces" / "metrics.json").is_file()


def test_analyse_image_array_and_errors():
    import matplotlib.cbook
    import cv2

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    analyser = facesense.FaceAnalyser(gender=None, age=None)
    [face] = analyser.analyse(image)
    assert set(face) == {"track_id", "box", "expression"} and abs(sum(face["expression"]["probs"].values()) - 1) < 1e-3
    # by default one gender+age network answers both: Grace Hopper, 77 in this 1984 photo
    [face] = facesense.FaceAnalyser().analyse(image)
    assert face["gender"]["label"] in ("man", "woman") and 65 <= face["age"]["years"] <= 90 and face["age"]["sd"] > 0
    with pytest.raises(facesense.FacesenseError, match="expected H x W x 3 uint8"):
        analyser.analyse(np.zeros((4, 4), np.float32))
    with pytest.raises(facesense.FacesenseError, match="is a gender model"):
        facesense.FaceAnalyser(expression="gender", gender=None)
