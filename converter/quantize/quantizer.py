"""Quantize an IR graph whose activations carry ranges (from fake quant, calibration or defaults).

Steps, each driven by the spec table (quantize.spec), each in its own module:
 1. choose the nodes that run integer kernels; the rest stay float (listed, or an error without fallback)
    (quantize.choose);
 2. give every activation its parameters: fixed by the kernel, shared with the input (same-scale ops), or from
    its range (quantize.assign); before that, a range on a same-scale op's output flows back to its input when the
    input has none, and addends computed only to be summed share the sum's range (quantize.range_sharing);
 3. quantize constants (weights, int32 biases with scale = input scale x weight scale, constant operands);
 4. insert QUANTIZE / DEQUANTIZE where float and integer regions meet, at the graph's inputs and outputs for the
    requested I/O types, and requantize where a kernel needs its input at the output's scale (3 and 4:
    quantize.rewrite).
Each step is a mixin of ``_Quantizer``, which owns the state they share; the options and result types are in
quantize.options (imported from here by callers).
"""

from __future__ import annotations

from ..ir import Graph
from .choose import has_float_tensors, integer_kernel_refusal
from .options import FLOAT32, FloatNode, QuantizeOptions, QuantizeResult
from .rewrite import Rewriting

__all__ = ["FLOAT32", "FloatNode", "QuantizeOptions", "QuantizeResult", "has_float_tensors",
           "integer_kernel_refusal", "quantize_graph"]


class _Quantizer(Rewriting):
    """The state steps 1-4 share (see the mixins' modules for each field's meaning)."""

    def __init__(self, graph: Graph, opts: QuantizeOptions) -> None:
        self.g = graph
        self.o = opts
        self.params = {}
        # Quantization of what users feed, per graph input, when it differs from the input's own (mean/std given
        # for an input that also has a fake-quant range: a QUANTIZE op requantizes onto the trained grid).
        self.feed_params = {}
        self.qnodes = {}
        # Activation type of each integer node (its precision's), by node id.
        self.node_dt = {}
        # Width of each integer node's weights, where it is 4 bits (the plan's, where the kernel has int4 weights).
        self.int4_nodes = set()
        self.result = QuantizeResult()
        self._quantized_view = {}
        self._dequantized = {}
        self._const_cache = {}
        self._integer_inputs = set()

    def decide(self) -> None:
        """Steps 1 and 2: the nodes that run integer kernels and the parameters of every activation (this sets
        ranges on tensors: propagated, shared by sums, defaults)."""
        self.choose_nodes()
        self.propagate_back()
        self.union_concat_ranges()
        self.cover_same_input_ranges()
        self.share_sum_ranges()
        self.assign_params()
        self.unify_same_scale_inputs()


def quantize_graph(graph: Graph, opts: QuantizeOptions) -> QuantizeResult:
    """Quantize ``graph`` in place (see the module docstring)."""
    q = _Quantizer(graph, opts)
    q.decide()
    q.rewrite()
    q.finish()
    return q.result
