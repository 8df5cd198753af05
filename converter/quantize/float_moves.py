"""Data movement between float ops stays float.

An op that only moves bytes (its output reuses its input's grid: reshape, transpose, broadcast_to, gather ...; no
weights) computes the same in float and in 8 bits, except that 8 bits round. Between a float source (an op that
runs float, or a model input fed as float) and readers that all run float, the integer kernel would add a QUANTIZE
before it, a DEQUANTIZE after it and the rounding in between, and nothing else: such ops stay float (the
BROADCAST_TO qconvert puts before a float ATAN2 lost 20 dB of SQNR as an int8 kernel)."""

from __future__ import annotations

from collections.abc import Mapping

from ..ir import Graph, Node
from .range_sharing import is_float
from .spec import In, OpQuantSpec, Out, input_role


def _moves_bytes(node: Node, spec: OpQuantSpec) -> bool:
    return (spec.output is Out.SAME and len(node.outputs) == 1
            and not any(input_role(spec, i) in (In.WEIGHT, In.BIAS) for i in range(len(node.inputs))))


def moves_between_float(graph: Graph, integer: Mapping[int, OpQuantSpec], float_inputs: bool) -> list[Node]:
    """The nodes of ``integer`` (chosen integer kernels, by node id) that move bytes from a float source to float
    readers only, and so should run float; chains of them too (repeated until none is left). ``float_inputs``:
    the model's inputs are fed as float."""
    moved: list[Node] = []
    gone: set[int] = set()

    def runs_float(n: Node | None) -> bool:
        return n is not None and (id(n) not in integer or id(n) in gone) and any(
            is_float(t) for t in (*n.inputs, *n.outputs))

    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            spec = integer.get(id(node))
            if spec is None or id(node) in gone or not _moves_bytes(node, spec):
                continue
            x, y = node.inputs[spec.data_input], node.output
            if x is None or x.is_const or not is_float(x):
                continue
            source = runs_float(x.producer) if x.producer is not None else (
                float_inputs and any(x is t for t in graph.inputs))
            if source and y.uses and not graph.is_output(y) and all(runs_float(u) for u in y.uses):
                moved.append(node)
                gone.add(id(node))
                changed = True
    return moved
