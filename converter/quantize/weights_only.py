"""Weight-only modes: activations stay float.

dynamic range (--post_training_quantize): weights of conv/depthwise/fully-connected with at least 1024 elements
    become int8 symmetric per output channel; LiteRT's hybrid kernels quantize activations on the fly
    (asymmetrically, for fully connected). Smaller weights stay float (as TensorFlow does). With --weight_bits=4,
    conv and fully-connected weights become int4 in [-7, 7] per output channel (LiteRT has hybrid int4 kernels for
    them); depthwise weights stay int8 (its hybrid kernel reads int8 only).
float16 (--quantize_to_float16): every float32 constant an op reads becomes float16, with a DEQUANTIZE op in
    front of its readers (LiteRT turns it back into float32 once, at load time).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph
from .params import quantize_const, weight_params_int4, weight_params_int8
from .spec import In, input_role, spec_for

MIN_HYBRID_ELEMENTS = 1024
_HYBRID_AXIS = {"conv_2d": 0, "depthwise_conv_2d": 3, "fully_connected": 0}
# Hybrid kernels that read int4 weights (LiteRT's depthwise hybrid kernel takes int8 only).
_HYBRID_INT4 = frozenset({"conv_2d", "fully_connected"})


@dataclass(frozen=True)
class WeightOnlyResult:
    tensors: int
    bytes_before: int
    bytes_after: int  # bytes as stored (int4: two values a byte)
    # With --weight_bits=4: layers whose weights stay 8-bit, (node, op, why).
    kept_8bit: list[tuple[str, str, str]] = field(default_factory=list)
    int4_tensors: int = 0


def dynamic_range(graph: Graph, weight_bits: int = 8) -> WeightOnlyResult:
    """Hybrid weights (module docstring), ``weight_bits`` wide where a hybrid kernel reads them so."""
    count = before = after = int4 = 0
    kept: list[tuple[str, str, str]] = []
    for node in graph.nodes:
        if node.op not in _HYBRID_AXIS:
            continue
        spec = spec_for(node.op)
        for i, t in enumerate(node.inputs):
            if t is None or not t.is_const or t.dtype != np.float32 or spec is None:
                continue
            if input_role(spec, i) is not In.WEIGHT or t.size < MIN_HYBRID_ELEMENTS:
                continue
            four = weight_bits == 4 and node.op in _HYBRID_INT4
            if weight_bits == 4 and not four:
                kept.append((node.name, node.op, f"no hybrid int4 kernel for {node.op} in LiteRT; weights stay 8-bit"))
            p = (weight_params_int4 if four else weight_params_int8)(t, _HYBRID_AXIS[node.op])
            q = graph.const(f"{t.name}/{'int4' if four else 'int8'}", quantize_const(t, p, narrow_range=True),
                            tf_name=t.tf_name)
            q.quant = p
            int4 += four
            graph.set_input(node, i, q)
            if node.op == "fully_connected":
                graph.set_attrs(node, dataclasses.replace(node.attrs, asymmetric_quantize_inputs=True))  # type: ignore[type-var]
            count += 1
            before += t.data.nbytes  # type: ignore[union-attr]
            after += (q.size + 1) // 2 if four else q.data.nbytes  # type: ignore[union-attr]
    return WeightOnlyResult(count, before, after, kept, int4)


def float16(graph: Graph) -> WeightOnlyResult:
    count = before = after = 0
    converted: dict[int, object] = {}
    for node in graph.nodes:
        for i, t in enumerate(node.inputs):
            if t is None or not t.is_const or t.dtype != np.float32 or node.op == "dequantize":
                continue
            if id(t) not in converted:
                half = graph.const(f"{t.name}/fp16", t.data.astype(np.float16), tf_name=t.tf_name)  # type: ignore[union-attr]
                full = graph.tensor(f"{t.name}/fp32", np.float32, t.shape, tf_name=t.tf_name)
                graph.add_node("dequantize", [half], [full], name=f"{t.name}/dequantize", before=node)
                converted[id(t)] = full
                count += 1
                before += t.data.nbytes  # type: ignore[union-attr]
                after += half.data.nbytes  # type: ignore[union-attr]
            graph.set_input(node, i, converted[id(t)])  # type: ignore[arg-type]
    graph.toposort()
    return WeightOnlyResult(count, before, after)
