"""What a quantization would do, without doing it: which nodes run integer kernels, and the grid every activation
is read on. The quantizer's own decisions (its steps 1 and 2, ``_Quantizer.decide``) on the float graph, which is
left as it was; used to simulate a precision plan (``quantize.sensitivity``) without rewriting a copy of the graph.

A grid is the ``QuantParams`` a tensor is rounded (and clipped) to where it is read:
  * an integer node reads each activation input on its producer's grid, or on the one its kernel needs (the
    output's, for same-scale ops; its own type's, for an input of another precision);
  * a float node reads an input produced in the integer region on the producer's grid (through a DEQUANTIZE),
    and an input produced in float as it is;
  * a graph output leaves on its producer's grid when the integer region produces it or when it is delivered
    quantized; otherwise exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, QuantParams
from .quantizer import QuantizeOptions, _Quantizer
from .range_sharing import is_float as _is_float
from .spec import In, input_role


@dataclass(frozen=True)
class Grids:
    """The grids of one quantization of a graph (see the module docstring)."""

    integer: Mapping[str, np.dtype]  # node name -> activation type, for the nodes that run integer kernels
    reads: Mapping[tuple[str, int], QuantParams]  # (node name, input index) -> grid an activation is read on
    outputs: Mapping[str, QuantParams]  # graph output tensor name -> grid it leaves the model on
    produced: Mapping[str, QuantParams]  # tensor name -> grid an integer node writes it on

    def read(self, node: str, index: int) -> QuantParams | None:
        return self.reads.get((node, index))


def resolve_grids(graph: Graph, opts: QuantizeOptions) -> Grids:
    """The grids ``quantize_graph(graph, opts)`` would use. The graph (its tensors' ranges included) is unchanged."""
    saved = [(t, t.qrange) for t in graph.tensors()]
    q = _Quantizer(graph, opts)
    try:
        q.decide()
        reads: dict[tuple[str, int], QuantParams] = {}
        for node in graph.nodes:
            spec = q.qnodes.get(id(node))
            out_p = q.params.get(id(node.outputs[0])) if node.outputs else None
            for i, t in enumerate(node.inputs):
                if t is None or t.is_const or not _is_float(t) or id(t) not in q.params:
                    continue
                if spec is not None:
                    if input_role(spec, i) is not In.INDEX:
                        reads[(node.name, i)] = q.wanted(node, spec, i, t, out_p) or q.params[id(t)]
                elif t.producer is not None and id(t.producer) in q.qnodes:
                    reads[(node.name, i)] = q.params[id(t)]
        outputs = {t.name: q.params[id(t)] for t in graph.outputs if id(t) in q.params and _is_float(t) and (
            (t.producer is not None and id(t.producer) in q.qnodes) or np.dtype(opts.output_dtype).kind in "iu")}
        integer = {n.name: q.node_dt[id(n)] for n in graph.nodes if id(n) in q.qnodes}
        produced = {t.name: q.params[id(t)] for n in graph.nodes if id(n) in q.qnodes for t in n.outputs
                    if id(t) in q.params and _is_float(t)}
        return Grids(integer, reads, outputs, produced)
    finally:
        for t, r in saved:
            t.qrange = r
