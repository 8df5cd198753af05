"""FakeQuant nodes: absorbed into tensor ranges, kept as fusion barriers, dropped, or materialized in float models.

A FakeQuant with constant min/max quantizes x onto the nudged grid (see quantize.qmath.nudge). AbsorbFakeQuant
keeps the raw min/max as the tensor's range (marked fake_quant, so quantization applies the same nudge):
  - on constant x (weights): replace the node by the constant FakeQuant(x) -- values exactly on the grid --
    annotated with the nudged range, so quantizing it later is lossless;
  - on an activation x: annotate x with the nudged range and bypass the node (y = x), so the converted model
    computes what the quantization-aware graph simulated. With ``keep_barriers`` (TOCO's default, i.e. without
    --reorder_across_fake_quant) the node stays, as ``fake_quant_barrier`` (y = x), until DropFakeQuantBarriers
    removes it after the fusions: a quantization point of the training graph then stays a tensor of the
    converted model (conv -> FakeQuant -> relu keeps the conv's grid and a separate relu, as training simulated,
    instead of fusing the relu and losing the conv's grid).
DropFakeQuant (--drop_fake_quant) bypasses every FakeQuant without recording anything: plain float weights and
activations, as TOCO's flag did. MaterializeFakeQuant (float models) writes each fake-quant point of an activation
as QUANTIZE + DEQUANTIZE on its nudged uint8 grid: y = s * (clamp(round(x / s) + z, 0, 255) - z), which is
FakeQuant(x) (both round to the nearest grid point; they differ only on exact ties), so the float .tflite computes
what the training graph simulated, as TOCO (FAKE_QUANT) and TensorFlow's converter (QUANTIZE/DEQUANTIZE) do.
"""

from __future__ import annotations

import numpy as np

from ..errors import QuantizationError
from ..frontend.reference import evaluate_node
from ..ir import Graph, Node, QuantRange, RangeSource, Tensor
from ..ir.attrs import FakeQuantAttrs, NoAttrs
from ..quantize.params import activation_params
from ..quantize.qmath import UINT8
from ..quantize.spec import In, Out, spec_for

BARRIER = "fake_quant_barrier"


class AbsorbFakeQuant:
    name = "absorb_fake_quant"

    def __init__(self, keep_barriers: bool = False) -> None:
        self.keep_barriers = keep_barriers

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op != "fake_quant":
                continue
            x = node.input(0)
            lo, hi = _bounds(node)
            a: FakeQuantAttrs = node.attrs  # type: ignore[assignment]
            rng = QuantRange(tuple(float(v) for v in lo.reshape(-1)), tuple(float(v) for v in hi.reshape(-1)),
                             a.axis, a.num_bits, a.narrow_range, fake_quant=True, source=RangeSource.FAKE_QUANT)
            if x.is_const:
                values = evaluate_node(node, [t.data if t is not None else None for t in node.inputs])
                out = node.output
                graph.fold(node, values)
                out.qrange = rng
            else:
                x.qrange = rng
                if self.keep_barriers:
                    graph.replace_node(node, BARRIER, [x], NoAttrs())
                else:
                    graph.bypass(node)
            fired += 1
        return fired


class _BypassAll:
    """y = x for every node of ``op``."""

    op = ""

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op == self.op:
                graph.bypass(node)
                fired += 1
        return fired


class DropFakeQuantBarriers(_BypassAll):
    """y = x: the barriers AbsorbFakeQuant left (their ranges are already on x) go once fusions are done."""

    name = "drop_fake_quant_barriers"
    op = BARRIER


class DropFakeQuant(_BypassAll):
    """--drop_fake_quant: y = x for every FakeQuant (weights keep their float values, no range is recorded)."""

    name = "drop_fake_quant"
    op = "fake_quant"


class MaterializeFakeQuant:
    """Float models: QUANTIZE + DEQUANTIZE (uint8, the nudged grid of the range) after every activation that
    carries a per-tensor fake-quant range, read by everything that read the activation (see the module doc). As in
    TensorFlow's converter, the grid also follows same-scale ops (reshape, pooling, pad ...: the output takes the
    input's grid) and concatenations of inputs on one grid: their outputs are quantized and dequantized again
    (which leaves the values on that grid), as TensorFlow's float model does."""

    name = "materialize_fake_quant"

    def run(self, graph: Graph) -> int:
        on_grid: dict[int, QuantRange] = {}
        fired = 0
        for t in list(graph.inputs):
            if _fake_quant_range(t) is not None:
                on_grid[id(self._qdq(graph, t, t.qrange))] = t.qrange  # type: ignore[arg-type]
                fired += 1
        for node in list(graph.nodes):
            for y in node.outputs:
                r = _fake_quant_range(y) or _propagated(node, on_grid)
                if r is None or y.dtype != np.float32 or (not y.uses and not graph.is_output(y)):
                    continue
                on_grid[id(self._qdq(graph, y, r))] = r
                fired += 1
        return fired

    @staticmethod
    def _qdq(graph: Graph, t: Tensor, r: QuantRange) -> Tensor:
        q = graph.tensor(f"{t.name}/fake_quant", UINT8, t.shape, tf_name=t.tf_name)
        q.quant = activation_params(r, UINT8)
        y = graph.tensor(f"{t.name}/fake_quant/dequantized", t.dtype, t.shape, tf_name=t.tf_name)
        readers = list(t.consumers)
        was_output = graph.is_output(t)
        graph.add_node("quantize", [t], [q], name=f"{t.name}/fake_quant")
        graph.add_node("dequantize", [q], [y], name=f"{t.name}/fake_quant/dequantize")
        for node in readers:
            for i, x in enumerate(node.inputs):
                if x is t:
                    graph.set_input(node, i, y)
        if was_output:
            graph.set_outputs([y if o is t else o for o in graph.outputs])
            name = t.name
            graph.rename(t, f"{name}/float")
            graph.rename(y, name)
        return y


def _fake_quant_range(t: Tensor) -> QuantRange | None:
    r = t.qrange
    if t.is_const or t.dtype != np.float32 or r is None or not r.fake_quant or r.per_channel:
        return None
    return r


def _propagated(node: Node, on_grid: dict[int, QuantRange]) -> QuantRange | None:
    """The grid a node's output inherits: a same-scale op's from its data input, a concatenation's (or pack's)
    from its inputs when they share one."""
    if len(node.outputs) != 1:
        return None
    spec = spec_for(node.op)
    if spec is None:
        return None
    if spec.output is Out.SAME:
        x = node.inputs[spec.data_input]
        return on_grid.get(id(x)) if x is not None else None
    if spec.variadic and spec.inputs[0] is In.SAME_AS_OUT:
        rs = [on_grid.get(id(x)) for x in node.inputs if x is not None and not x.is_const]
        if not rs or any(r is None for r in rs):
            return None
        # Inputs on one grid: the concatenation is on it too. Inputs on different grids stay on theirs (training
        # simulated no rounding after the concatenation).
        return rs[0] if all(r == rs[0] for r in rs) else None
    return None


def _bounds(node: Node) -> tuple[np.ndarray, np.ndarray]:
    a: FakeQuantAttrs = node.attrs  # type: ignore[assignment]
    if a.min is not None and a.max is not None:
        return np.array(a.min), np.array(a.max)
    lo_t, hi_t = node.inputs[1], node.inputs[2]
    if lo_t is None or hi_t is None or not lo_t.is_const or not hi_t.is_const:
        raise QuantizationError(
            f"fake quant node {node.name!r} has non-constant min/max; freeze the graph (variables to constants) "
            "before converting"
        )
    lo = np.asarray(lo_t.data, dtype=np.float32).reshape(-1)
    hi = np.asarray(hi_t.data, dtype=np.float32).reshape(-1)
    if a.axis is None:
        lo, hi = lo.reshape(()), hi.reshape(())
    if np.any(lo > hi):
        raise QuantizationError(f"fake quant node {node.name!r} has min > max ({lo} > {hi}); the QAT graph is broken")
    return lo, hi
