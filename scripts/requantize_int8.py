"""Quantise a shipped int8 ONNX model again with the current export settings, keeping its metadata.

The float32 graph comes from --float (the model's checkpoint, as `facesense export` reads it)
or, for a model that ships no checkpoint (gender_age), from the int8 file itself: each int8
weight dequantised (int8 x scale, exactly the values the int8 graph multiplies by) and each
activation's quantise/dequantise pair removed. That graph is calibrated on --calibration as
`facesense export --int8` calibrates (the model's training rows, aligned where it was trained
on aligned faces) and quantised by `facesense.export.quantize_int8`; every metadata entry of
the old file (classes, input spec, config, training hashes, held-out rows...) is kept.

    python scripts/requantize_int8.py src/facesense/assets/models/gender_age.int8.onnx --calibration ../shared/data/utkface
    python scripts/requantize_int8.py src/facesense/assets/models/expression.int8.onnx --calibration ../shared/data/fer2013/fer2013.csv.gz --float expression
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def dequantised(proto):
    """A QDQ int8 graph as float32: constant DequantizeLinear nodes folded into float weights,
    each activation's QuantizeLinear -> DequantizeLinear pair made a Clip to its range."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}

    def array(name):
        return numpy_helper.to_array(inits[name])

    drop, new_inits, clips, rename = set(), [], [], {}
    producer = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        x = node.input[0]
        if x in inits:  # a weight or bias: fold it
            scale = array(node.input[1]).astype(np.float64)
            zero = array(node.input[2]).astype(np.float64) if len(node.input) > 2 and node.input[2] else 0.0
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            q = array(x).astype(np.float64)
            if np.ndim(scale) == 1 and q.ndim > 1:  # per channel along `axis`
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
            new_inits.append(numpy_helper.from_array(((q - zero) * scale).astype(np.float32), node.output[0]))
            drop.add(node.output[0])
        elif x in producer and producer[x].op_type == "QuantizeLinear":  # an activation's quantisation
            # kept as the clip to its range that it is: the quantiser dropped each ReLU that a
            # zero point of 0 stands for
            scale, zero = float(array(node.input[1])), array(node.input[2])
            info = np.iinfo(zero.dtype)
            low, high = (float(info.min) - float(zero)) * scale, (float(info.max) - float(zero)) * scale
            ranged = f"{producer[x].input[0]}_ranged"  # a new name: the quantiser names its own nodes' outputs as these were
            bounds = [f"{ranged}_min", f"{ranged}_max"]
            new_inits += [numpy_helper.from_array(np.array(v, np.float32), n) for v, n in zip((low, high), bounds)]
            clips.append(helper.make_node("Clip", [producer[x].input[0], *bounds], [ranged]))
            rename[node.output[0]] = ranged
            drop.update((node.output[0], x))
    # nodes by their output's name (protobuf gives no stable objects); each clip where its pair was
    clip_at = {old: clip for old, clip in zip(rename, clips)}
    nodes = [clip_at.get(node.output[0], node) for node in graph.node if node.output[0] not in drop or node.output[0] in clip_at]
    for node in nodes:
        node.input[:] = [rename.get(i, i) for i in node.input]
    outputs = {o.name for o in graph.output}
    nodes += [helper.make_node("Identity", [new], [old]) for old, new in rename.items() if old in outputs]
    used = {i for n in nodes for i in n.input}
    keep = [t for t in graph.initializer if t.name in used] + [t for t in new_inits if t.name in used]
    float_graph = helper.make_graph(nodes, graph.name, list(graph.input), list(graph.output), keep)
    model = helper.make_model(float_graph, opset_imports=list(proto.opset_import), producer_name="facesense requantize")
    model.ir_version = proto.ir_version
    onnx.checker.check_model(model)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an int8 .onnx file (replaced in place, atomically)")
    parser.add_argument("--calibration", required=True, help="the dataset `facesense export --int8 --calibration` was given")
    parser.add_argument("--float", dest="float_model", help="the model's float32 checkpoint or shipped name (default: dequantise the int8 file)")
    args = parser.parse_args()

    import numpy as np
    import onnx

    from facesense.export import calibration_inputs, first_outputs, quantize_int8
    from facesense.onnx_files import onnx_metadata
    from facesense.preprocess import InputSpec
    from facesense.runs import write_bytes

    meta = onnx_metadata(args.model)
    if meta.get("facesense_precision") != "int8":
        sys.exit(f"{args.model}: not an int8 facesense model (facesense_precision={meta.get('facesense_precision')!r})")
    spec = InputSpec.from_dict(json.loads(meta["facesense_input_spec"]))
    config = json.loads(meta["facesense_config"]) if "facesense_config" in meta else None
    classes = json.loads(meta["facesense_classes"]) if "facesense_classes" in meta else None
    if args.float_model:
        from facesense.checkpoint import load_model
        from facesense.export import onnx_bytes

        float_bytes = onnx_bytes(load_model(args.float_model))
    else:
        float_bytes = dequantised(onnx.load(str(args.model))).SerializeToString()
    inputs = calibration_inputs(args.calibration, spec, 500, config=config, classes=classes)
    new = onnx.load_from_string(quantize_int8(float_bytes, inputs))
    del new.metadata_props[:]
    for key, value in meta.items():
        new.metadata_props.add(key=key, value=value)

    new_bytes = new.SerializeToString()
    reference, old, now = (first_outputs(b, inputs) for b in (float_bytes, args.model.read_bytes(), new_bytes))
    agree_old, agree_new = ((reference.argmax(1) == o.argmax(1)).mean() for o in (old, now))
    gap_old, gap_new = (float(np.abs(reference - o).max()) for o in (old, now))
    print(f"{args.model.name}: on {len(inputs)} calibration inputs, this CPU: float32 and the old int8 decide alike on {agree_old:.1%} "
          f"(largest first-output gap {gap_old:.3f}), float32 and the new int8 on {agree_new:.1%} ({gap_new:.3f})")
    write_bytes(args.model, new_bytes)
    print(f"{args.model}: written ({len(new_bytes) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
