"""ONNX Runtime sessions: one place that decides threads and the execution provider."""

from __future__ import annotations

from ..errors import FacesenseError

DEVICES = ("auto", "cpu", "cuda")


def providers_for(device: str = "auto") -> list[str]:
    """auto: the CUDA provider when onnxruntime-gpu sees a GPU, else the CPU; cuda: the GPU or an
    error saying what to install."""
    import onnxruntime as ort

    if device not in DEVICES:
        raise FacesenseError(f"device {device!r}: choose one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise FacesenseError("device 'cuda': this onnxruntime has no CUDA provider; pip install onnxruntime-gpu (and a CUDA-capable GPU), or run on device 'cpu'")
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(model: bytes | str, name: str, threads: int = 0, device: str = "auto", sizes_vary: bool = False):
    """An inference session for an ONNX file or its bytes; a clear error for anything else.
    `sizes_vary`: inputs of many sizes (a detector's frames and photos), run without ONNX
    Runtime's memory arena, which keeps what its largest input took and grows with each new
    size: a 24 MP photo left the web server 580 MB larger, and the next one 340 MB more (without
    it: 200 MB, then 10; its peak 740 MB over idle against 400; no slower on 720p frames)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = not sizes_vary
    # 0 = ONNX Runtime's default (one thread per physical core): measured 1.4 ms vs 2.2 ms with
    # one thread for expression + gender on one face, on a 2-core CPU
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no busy-waiting between runs: the detector and the video decoder need those cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = providers_for(device)
    try:
        return ort.InferenceSession(model, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise FacesenseError(f"{name}: not a loadable ONNX model ({str(exc).splitlines()[0][:200]})") from None
