"""Per-layer quantization error: every quantized activation of the converted model, run in LiteRT, against the
same tensor of the float model (the IR after the passes, run by the reference executor), on representative data.

The float values are recorded before quantization (tensor names survive quantization), the quantized model runs
with all intermediate tensors preserved, and each tensor's SQNR and largest error are reported, worst first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import QConvertError
from .ir import Graph, Tensor


class DebugUnavailableError(QConvertError):
    """The per-layer report needs LiteRT (pip install 'qconvert[debug]')."""


@dataclass(frozen=True)
class LayerError:
    tensor: str
    tf_name: str
    op: str
    sqnr_db: float
    max_abs_error: float
    scale: float  # quantization step of the tensor; max_abs_error / scale is the error in LSBs

    @property
    def max_error_lsb(self) -> float:
        return self.max_abs_error / self.scale if self.scale else float("inf")


@dataclass
class FloatTrace:
    """Float values of the activations of the IR, by tensor name, on a few samples."""

    values: dict[str, np.ndarray]
    producers: dict[str, tuple[str, str]]  # tensor name -> (op, TF name)
    inputs: list[np.ndarray]


def trace_float(graph: Graph, inputs: Sequence[np.ndarray]) -> FloatTrace:
    """Run the float IR on ``inputs`` (one array per graph input) and keep every float activation."""
    from .frontend.reference import ReferenceExecutor, can_run  # noqa: PLC0415 (TensorFlow)

    targets: list[Tensor] = [t for n in graph.nodes if can_run(n) for t in n.outputs if t.dtype == np.float32]
    values = ReferenceExecutor(graph, fetch=targets)(list(inputs))
    return FloatTrace(
        values={t.name: v for t, v in zip(targets, values, strict=True)},
        producers={t.name: (t.producer.op if t.producer else "", t.tf_name) for t in targets},
        inputs=list(inputs),
    )


def compare(trace: FloatTrace, tflite: bytes) -> list[LayerError]:
    """Run the quantized model in LiteRT (builtin kernels) and compare each quantized activation, worst first."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415
    except ImportError:
        raise DebugUnavailableError(
            "the per-layer report runs the model in LiteRT, which is not installed; pip install 'qconvert[debug]'"
        ) from None
    it = Interpreter(model_content=tflite, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    details = [d for d in it.get_tensor_details() if d["name"] in trace.values]
    inputs = it.get_input_details()
    n = trace.inputs[0].shape[0]
    got: dict[str, list[np.ndarray]] = {d["name"]: [] for d in details}
    for i in range(n):
        for det, arr in zip(inputs, trace.inputs, strict=True):
            x = arr[i:i + 1]
            scale, zp = det["quantization"]
            if det["dtype"] != np.float32 and scale:
                x = np.clip(np.round(x / scale + zp), np.iinfo(det["dtype"]).min, np.iinfo(det["dtype"]).max)
            it.set_tensor(det["index"], x.astype(det["dtype"]))
        it.invoke()
        for d in details:
            got[d["name"]].append(it.get_tensor(d["index"]).copy())
    rows = []
    for d in details:
        scale, zp = d["quantization"]
        if d["dtype"] == np.float32 or not scale:
            continue
        q = np.concatenate(got[d["name"]]).astype(np.float64)
        deq = (q - zp) * scale
        ref = trace.values[d["name"]].astype(np.float64).reshape(deq.shape)
        noise = ref - deq
        signal, err = float(np.sum(ref**2)), float(np.sum(noise**2))
        sqnr = float("inf") if err == 0 else float(10 * np.log10(max(signal, 1e-30) / err))
        op, tf_name = trace.producers[d["name"]]
        rows.append(LayerError(d["name"], tf_name, op, sqnr, float(np.abs(noise).max()), float(scale)))
    return sorted(rows, key=lambda r: r.sqnr_db)
