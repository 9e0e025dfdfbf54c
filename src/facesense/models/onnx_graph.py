"""A small ONNX CNN as a trainable PyTorch module, so that a permissively licensed network that a
registry package ships as ONNX (dlib's CC0 gender and age networks) can be fine-tuned.

The graph's nodes run in their stored (topological) order as the matching torch ops; every float
initializer with a shape becomes a parameter. Only the plain CNN ops those networks use are
supported: anything else is refused by name. (onnx2torch does this in general, but it imports
torchvision, which this project does not install.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .registry import register


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pool_padding(a: dict) -> int:
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1:
        raise ConfigError(f"asymmetric pooling pads {pads} are not supported")
    return pads[0]


def _conv(x, w, b=None, **a):
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        pads = [0, 0]
    return F.conv2d(x, w, b, stride=tuple(a.get("strides", [1, 1])), padding=tuple(pads[:2]), dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))


def _gemm(x, w, b=None, **a):
    w = w.t() if a.get("transB", 0) else w
    x = x.t() if a.get("transA", 0) else x
    y = a.get("alpha", 1.0) * (x @ w)
    return y if b is None else y + a.get("beta", 1.0) * b


def _pad(x, pads, value=None, **a):
    if a.get("mode", b"constant") not in (b"constant", "constant"):
        raise ConfigError(f"Pad mode {a['mode']} is not supported")
    p = [int(v) for v in pads.tolist()]
    n = len(p) // 2
    begin, end = p[:n], p[n:]
    torch_pads = []
    for axis in reversed(range(n)):  # F.pad takes the last axis first
        torch_pads += [begin[axis], end[axis]]
    return F.pad(x, torch_pads, value=float(value) if value is not None else 0.0)


OPS = {
    "Conv": _conv,
    "Gemm": _gemm,
    "Add": lambda x, y, **a: x + y,
    "Mul": lambda x, y, **a: x * y,
    "Relu": lambda x, **a: F.relu(x),
    "Flatten": lambda x, **a: torch.flatten(x, a.get("axis", 1)),
    "GlobalAveragePool": lambda x, **a: x.mean(dim=(2, 3), keepdim=True),
    "AveragePool": lambda x, **a: F.avg_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), _pool_padding(a), bool(a.get("ceil_mode", 0)), bool(a.get("count_include_pad", 0))),
    "MaxPool": lambda x, **a: F.max_pool2d(x, tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), _pool_padding(a), ceil_mode=bool(a.get("ceil_mode", 0))),
    "Softmax": lambda x, **a: F.softmax(x, dim=a.get("axis", -1)),
    "Pad": _pad,
}


class OnnxGraph(nn.Module):
    """Runs `path`'s graph up to the tensor `output` (e.g. the logits before a final softmax).

    `num_outputs` different from the last Gemm's width resizes that layer: its first rows are
    kept and new rows copy the last one (for ordered bins such as ages, a new top bin starts
    as the old top bin)."""

    def __init__(self, path: str | Path, output: str, num_outputs: int | None = None):
        super().__init__()
        from onnx import numpy_helper

        from ..onnx_files import read_onnx

        graph = read_onnx(path, weights=True).graph
        self.input_name = graph.input[0].name
        dims = graph.input[0].type.tensor_type.shape.dim
        self.input_shape = tuple(d.dim_value or None for d in dims)  # None: a symbolic (batch) axis
        nodes, needed = [], {output}
        for node in reversed(graph.node):  # keep only what `output` depends on
            if any(o in needed for o in node.output):
                nodes.append(node)
                needed.update(node.input)
        if not nodes:
            raise ConfigError(f"{path}: no node computes {output!r}")
        nodes.reverse()
        unknown = sorted({n.op_type for n in nodes} - set(OPS))
        if unknown:
            raise ConfigError(f"{path}: ONNX ops {unknown} are not supported for training")
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in nodes]
        self.output = output
        self.params = nn.ParameterDict()
        self.names: dict[str, str] = {}  # ONNX initializer name -> parameter/buffer key
        for init in graph.initializer:
            if init.name not in needed:
                continue
            value = torch.from_numpy(np.array(numpy_helper.to_array(init)))
            key = init.name.replace(".", "_")
            self.names[init.name] = key
            if value.is_floating_point() and value.dim() > 0 and value.numel() > 1:
                self.params[key] = nn.Parameter(value.float())
            else:
                self.register_buffer(key, value)
        if num_outputs is not None:
            self._resize_head(num_outputs)

    def check_input(self, channels: int, size: int) -> None:
        """A graph with a global pooling takes any input size its strides can reduce (the
        fine-tune adapts it to the new scale); otherwise the stored size is required."""
        want = self.input_shape[1:]
        any_size = any(op == "GlobalAveragePool" for op, *_ in self.nodes)
        if want[0] != channels or (not any_size and want[1:] != (size, size)):
            fix = f"set channels: {want[0]}" + ("" if any_size else f" and image_size: {want[1]}")
            raise ConfigError(f"the ONNX network takes {want[0]} x {want[1]} x {want[2]} inputs: {fix}")
        if want[1:] != (size, size):
            try:  # a size the graph's strides cannot take fails here, not mid-training
                with torch.no_grad():
                    self(torch.zeros(1, channels, size, size))
            except RuntimeError as exc:
                reason = str(exc).splitlines()[0]
                raise ConfigError(f"this ONNX network (stored size {want[1]}) cannot take image_size={size}: {reason}") from None

    def _head(self) -> tuple[str, str, bool]:
        """The last Gemm's weight and bias keys, and whether its weight is stored out x in."""
        gemms = [n for n in self.nodes if n[0] == "Gemm"]
        if not gemms:
            raise ConfigError("the ONNX graph has no Gemm (fully connected) layer to resize")
        _, inputs, _, attrs = gemms[-1]
        return self.names[inputs[1]], self.names[inputs[2]], bool(attrs.get("transB", 0))

    def _set_head(self, rows: torch.Tensor, zero_first: int = 0) -> None:
        """Rebuild the last layer from the old rows `rows` (indices), after `zero_first` new zero rows."""
        w_key, b_key, out_first = self._head()
        w, b = self.params[w_key].detach(), self.params[b_key].detach()
        w = w if out_first else w.t()  # now out x in
        new_w = torch.cat([w.new_zeros(zero_first, w.shape[1]), w[rows]])
        new_b = torch.cat([b.new_zeros(zero_first), b[rows]])
        self.params[w_key] = nn.Parameter((new_w if out_first else new_w.t()).contiguous())
        self.params[b_key] = nn.Parameter(new_b)

    def _resize_head(self, num_outputs: int) -> None:
        w_key, _, out_first = self._head()
        rows = self.params[w_key].shape[0 if out_first else 1]
        if rows != num_outputs:
            self._set_head(torch.arange(num_outputs).clamp(max=rows - 1))

    def prepend_rows(self, count: int) -> None:
        w_key, _, out_first = self._head()
        self._set_head(torch.arange(self.params[w_key].shape[0 if out_first else 1]), zero_first=count)

    def _tensor(self, name: str, values: dict):
        if name in values:
            return values[name]
        key = self.names[name]
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for op, inputs, outputs, attrs in self.nodes:
            args = [self._tensor(name, values) if name else None for name in inputs]
            values[outputs[0]] = OPS[op](*args, **attrs)
        return values[self.output]


def _build(num_outputs: int, in_channels: int, image_size: int, onnx: str | None = None, output: str = "logits", new_rows: int = 0) -> OnnxGraph:
    """model: onnx_graph, model_args: {onnx: FILE or package:MODULE/path, output: TENSOR,
    new_rows: N}. The last layer gets `num_outputs` rows: `new_rows` fresh ones (zero weights:
    a new head, e.g. gender beside a pretrained age head) first, then the graph's own rows,
    extended by copies of its last row when more are needed (e.g. age bins past the old cap)."""
    from ..packaged import resolve_packaged_path

    if onnx is None:
        raise ConfigError("model onnx_graph needs model_args.onnx: the network's .onnx file or package:MODULE/path/inside/it")
    path = resolve_packaged_path(onnx, "model_args.onnx")
    if not path.is_file():
        raise ConfigError(f"model_args.onnx={onnx}: file not found")
    if not 0 <= new_rows < num_outputs:
        raise ConfigError(f"model_args.new_rows={new_rows} must be in [0, {num_outputs})")
    net = OnnxGraph(path, output, num_outputs - new_rows)
    net.check_input(in_channels, image_size)
    if new_rows:
        net.prepend_rows(new_rows)
    return net


register("onnx_graph", "a small ONNX CNN fine-tuned as PyTorch (model_args.onnx; dlib's CC0 age/gender nets)", 64, 3, 2)(_build)
