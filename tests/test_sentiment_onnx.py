"""The shipped sentiment model runs as ONNX with its cross-validated threshold folded into the
graph: 'positive' exactly when the original p(positive) >= t."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def ship_script():
    spec = importlib.util.spec_from_file_location("ship_sentiment_onnx", ROOT / "scripts" / "ship_sentiment_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_folded_threshold_moves_the_decision_exactly_there():
    onnx = pytest.importorskip("onnx", reason="onnx (training extra) builds the test graph")
    import onnxruntime as ort
    from onnx import TensorProto, helper

    # a graph that passes its input through as the 'probabilities' output
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["probabilities"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folded = ship_script().fold_in_threshold(model.SerializeToString(), 0.78)
    p_pos = np.array([0.1, 0.5, 0.77, 0.779, 0.781, 0.9, 0.999], np.float32)
    out = ort.InferenceSession(folded).run(None, {"input": np.stack([1 - p_pos, p_pos], 1)})[0]
    assert np.allclose(out.sum(1), 1, atol=1e-5)
    assert list(out[:, 1] >= 0.5) == list(p_pos >= 0.78)
    assert np.all(np.diff(out[:, 1]) > 0)  # scores keep their order
    meta = {p.key: p.value for p in onnx.load_from_string(folded).metadata_props}
    assert json.loads(meta["facesense_decision_threshold"])["positive"] == 0.78


def test_the_shipped_sentiment_model_is_onnx_with_its_threshold():
    from facesense.runtime.loading import load_classifier, resolve
    from facesense.stream.demo import demo_photo

    assert resolve("sentiment").name == "sentiment.onnx"
    model = load_classifier("sentiment")
    meta = model.session.get_modelmeta().custom_metadata_map
    assert 0.5 < json.loads(meta["facesense_decision_threshold"])["positive"] < 0.9
    probs = model.predict([demo_photo()])[0]
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1, abs=1e-4)
