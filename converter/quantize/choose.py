"""Step 1 of the quantizer: the nodes that run integer kernels, at which precision, and the width of their weights.

A node runs the integer kernel of the precision the plan (quantize.precision) asks for when the spec table
(quantize.spec) has a LiteRT kernel for it at that type and its weights and biases are constant; otherwise it stays
float, listed with the reason (an error with --no_float_fallback). Data-moving ops between float ops stay float too
(quantize.float_moves).
"""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError
from ..ir import Graph, Node, Tensor
from .float_moves import moves_between_float
from .options import FLOAT32, FloatNode, QuantizeOptions, QuantizeResult
from .precision import LayerPrecision, Precision, PrecisionPlan
from .range_sharing import is_float as _is_float
from .spec import FLOAT_LOWERINGS, FLOAT_REASONS, In, OpQuantSpec, has_kernel, input_role, node_spec


def has_float_tensors(node: Node) -> bool:
    """Whether ``node`` reads or writes float32 (only such nodes are quantized; integer and bool ops stay as they
    are)."""
    return any(_is_float(t) for t in (*node.inputs, *node.outputs))


def integer_kernel_refusal(node: Node, dtype: np.dtype) -> str | None:
    """Why ``node`` cannot run as a LiteRT integer kernel with ``dtype`` activations (None: it can), by the spec
    table: no rule for the op, no kernel for that type, or a weight/bias input that is not constant."""
    if node.tf_op in FLOAT_LOWERINGS:
        return FLOAT_LOWERINGS[node.tf_op]
    spec = node_spec(node)
    if spec is None and node.op == "custom":
        return f"custom op {getattr(node.attrs, 'code', '?')} takes float data (no _output_quantized)"
    if spec is None:
        return FLOAT_REASONS.get(node.op, f"no integer kernel for {node.op}")
    if not has_kernel(spec, dtype):
        return f"no {np.dtype(dtype).name} kernel for {node.op} in LiteRT"
    for i, t in enumerate(node.inputs):
        if t is not None and input_role(spec, i) in (In.WEIGHT, In.BIAS) and not t.is_const:
            return f"input {i} ({t.name}) is not constant"
    if spec.unique_indices is not None:
        idx = node.inputs[spec.unique_indices]
        if idx is None or idx.data is None:
            return f"its indices are computed at run time: repeated ones would add 8-bit codes ({node.op})"
        rows = idx.data.reshape(-1, idx.data.shape[-1]) if idx.data.ndim else idx.data.reshape(1, 1)
        if len(np.unique(rows, axis=0)) != len(rows):
            return f"its constant indices repeat: the integer kernel would add 8-bit codes ({node.op})"
    return None



class NodeChoice:
    """Step 1, mixed into the quantizer (which owns the state below)."""

    g: Graph
    o: QuantizeOptions
    qnodes: dict[int, OpQuantSpec]
    node_dt: dict[int, np.dtype]  # activation type of each integer node (its precision's), by node id
    int4_nodes: set[int]
    result: QuantizeResult

    def choose_nodes(self) -> None:
        """Each op runs at the precision the plan asks for, or float when LiteRT has no kernel for it there."""
        float_nodes: list[FloatNode] = []
        resolved: dict[str, LayerPrecision] = {}
        for node in self.g.nodes:
            if not has_float_tensors(node):
                continue
            asked = self.o.plan.of(node)
            dt = asked.precision.activation_dtype
            if asked.precision is Precision.FLOAT:
                reason = asked.reason or "kept float"
            else:
                reason = integer_kernel_refusal(node, dt)
            if reason is None:
                spec = node_spec(node)
                self.qnodes[id(node)] = spec  # type: ignore[assignment]
                self.node_dt[id(node)] = dt
                resolved[node.name] = self._weight_width(node, spec, asked)  # type: ignore[arg-type]
            else:
                float_nodes.append(FloatNode(node.name, node.op, reason))
                resolved[node.name] = LayerPrecision(Precision.FLOAT, asked.weight_bits, reason)
            self.result.layer_ops[node.name] = node.op
        for node in moves_between_float(self.g, self.qnodes, self.o.input_dtype == FLOAT32):
            del self.qnodes[id(node)], self.node_dt[id(node)]
            why = "moves data between float ops: 8-bit codes there would only add rounding"
            float_nodes.append(FloatNode(node.name, node.op, why))
            resolved[node.name] = LayerPrecision(Precision.FLOAT, resolved[node.name].weight_bits, why)
        self.result.plan = PrecisionPlan(self.o.plan.default, resolved)
        if float_nodes and not self.o.allow_float_fallback:
            listed = "; ".join(f"{f.name} ({f.op}: {f.reason})" for f in float_nodes[:8])
            more = f" and {len(float_nodes) - 8} more" if len(float_nodes) > 8 else ""
            raise QuantizationError(
                f"{len(float_nodes)} op(s) cannot run as integer kernels: {listed}{more}; "
                "drop --no_float_fallback to keep them float"
            )
        self.result.float_nodes = float_nodes

    def _weight_width(self, node: Node, spec: OpQuantSpec, asked: LayerPrecision) -> LayerPrecision:
        """The plan's entry for an integer node with its weights' width resolved: 4 bits where the kernel reads
        int4 weights at this precision (int8 activations), else 8 (an op without weights: 8, nothing to store)."""
        if asked.weight_bits == 8:
            return asked
        has_weights = any(t is not None and input_role(spec, i) is In.WEIGHT for i, t in enumerate(node.inputs))
        if not has_weights:
            return LayerPrecision(asked.precision, 8, asked.reason)
        if spec.int4 and asked.precision is Precision.INT8:
            self.int4_nodes.add(id(node))
            return asked
        why = (f"no int4 weights for {node.op} in LiteRT" if not spec.int4 else
               f"no int4 weights with {asked.precision.value} activations in LiteRT") + "; weights stay 8-bit"
        self.result.kept_8bit.append(FloatNode(node.name, node.op, why))
        return LayerPrecision(asked.precision, 8, why)

    def tensor_dt(self, t: Tensor) -> np.dtype:
        """The integer type of an activation: its producer's; for a graph input or a float island's output, the
        widest of its integer readers' (the others read a requantized view)."""
        if t.producer is not None and id(t.producer) in self.node_dt:
            return self.node_dt[id(t.producer)]
        readers = [self.node_dt[id(c)] for c in t.consumers if id(c) in self.node_dt]
        if readers:
            return max(readers, key=lambda d: d.itemsize)
        return self.o.plan.default.precision.activation_dtype

