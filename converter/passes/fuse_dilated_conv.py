"""A dilated convolution written as SpaceToBatchND -> convolution -> BatchToSpaceND (what tf.nn.convolution and
Keras write for dilation_rate > 1) becomes one CONV_2D / DEPTHWISE_CONV_2D with dilation.

Per spatial axis, with block (= dilation) d, kernel size k, SpaceToBatchND paddings (p0, p1) and BatchToSpaceND
crops (c0, c1): SpaceToBatchND splits the padded input x_p (x with p0 rows before, p1 after) into d phases, the
VALID stride-1 convolution runs on each phase (taps d apart in x_p), and BatchToSpaceND interleaves them back and
crops, so
    y[i] = sum_j w[j] * x_p[i + c0 + d j] = sum_j w[j] * x[i + (c0 - p0) + d j],
the convolution of x with dilation d and padding (p0 - c0) before, (p1 - c1) after. That padding is SAME's
(same_padding with dilation d) or VALID's (zero) in the models TensorFlow writes; anything else (non-negative)
becomes an explicit PAD in front of a VALID convolution.

Between the convolution and BatchToSpaceND may stand per-channel elementwise ops (a bias add, a batch norm, a
multiply by a per-channel constant, relu/relu6): they commute with the reshuffle (it only moves pixels) and move
after the new convolution, where the folding passes fold them into it.
Refuses unless the inner convolution is VALID with stride 1 and no dilation, the block shapes agree, paddings and
crops are constant, the input is 4-D, and every intermediate has no other reader.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node, Tensor
from ..ir.attrs import Padding
from .base import no_match, per_channel_vector, single_consumer
from .fold_pad import same_padding

_CONVS = frozenset({"conv_2d", "depthwise_conv_2d"})
_UNARY = frozenset({"relu", "relu6", "relu_n1_to_1"})
_BINARY = frozenset({"add", "sub", "mul"})


def _data_index(node: Node, channels: int) -> int | None:
    """The index of the activation input of a per-channel elementwise op, or None if it is not one."""
    if node.op in _UNARY:
        return 0
    if node.op == "batch_norm":
        return 0 if all(t is not None and t.is_const for t in node.inputs[1:5]) else None
    if node.op in _BINARY:
        a, b = node.input(0), node.input(1)
        if not a.is_const and per_channel_vector(b, channels) is not None:
            return 0
        if node.op != "sub" and not b.is_const and per_channel_vector(a, channels) is not None:
            return 1
    return None


def _const_ints(t: Tensor, shape: tuple[int, ...]) -> np.ndarray | None:
    if t.data is None or tuple(np.shape(t.data)) != shape:
        return None
    return np.asarray(t.data, dtype=np.int64)


class FuseDilatedConv:
    name = "fuse_dilated_conv"

    def run(self, graph: Graph) -> int:
        fired = 0
        for b2s in graph.nodes:
            if b2s.op == "batch_to_space_nd" and self._fuse(graph, b2s):
                fired += 1
        if fired:
            graph.toposort()
        return fired

    def _fuse(self, graph: Graph, b2s: Node) -> bool:
        y = b2s.output
        if len(y.shape) != 4:
            return no_match(b2s, "not a 4-D BatchToSpaceND")
        chain: list[tuple[Node, int]] = []
        t = b2s.input(0)
        reader: Node = b2s
        while t.producer is not None and t.producer.op not in _CONVS:
            k = _data_index(t.producer, y.shape[-1])
            if k is None or single_consumer(graph, t) is not reader:
                return no_match(b2s, f"{t.producer.name} between the convolution and BatchToSpaceND is not a "
                                     "per-channel elementwise op read only by the next one")
            chain.insert(0, (t.producer, k))
            reader, t = t.producer, t.producer.input(k)
        conv = t.producer
        if conv is None or single_consumer(graph, t) is not reader:
            return no_match(b2s, "not fed by a convolution read only by it")
        a = conv.attrs
        if a.padding is not Padding.VALID or a.stride != (1, 1) or a.dilation != (1, 1):  # type: ignore[union-attr]
            return no_match(b2s, f"{conv.name} is not a VALID stride-1 undilated convolution")
        s2b = conv.input(0).producer
        if s2b is None or s2b.op != "space_to_batch_nd" or single_consumer(graph, conv.input(0)) is not conv:
            return no_match(b2s, f"{conv.name} does not read a SpaceToBatchND of its own")
        block, block2 = _const_ints(s2b.input(1), (2,)), _const_ints(b2s.input(1), (2,))
        pads, crops = _const_ints(s2b.input(2), (2, 2)), _const_ints(b2s.input(2), (2, 2))
        if block is None or block2 is None or pads is None or crops is None or not np.array_equal(block, block2):
            return no_match(b2s, "block shapes differ or block/paddings/crops are not constant")
        before, after = pads[:, 0] - crops[:, 0], pads[:, 1] - crops[:, 1]
        if (before < 0).any() or (after < 0).any():
            return no_match(b2s, "the crops remove more than the paddings added")
        x = s2b.input(0)
        kh, kw = conv.input(1).shape[1:3]
        d = (int(block[0]), int(block[1]))
        out_hw = [x.shape[1 + i] + int(before[i] + after[i]) - d[i] * ((kh, kw)[i] - 1) for i in range(2)]
        if tuple(out_hw) != y.shape[1:3] or x.shape[0] != y.shape[0]:
            return no_match(b2s, f"shapes do not line up ({out_hw} vs {list(y.shape[1:3])})")
        padding = Padding.VALID
        explicit = [(int(before[i]), int(after[i])) for i in range(2)]
        if explicit == [same_padding(x.shape[1], kh, 1, d[0]), same_padding(x.shape[2], kw, 1, d[1])]:
            padding = Padding.SAME
        elif any(explicit[0] + explicit[1]):
            x = self._pad(graph, x, explicit, s2b)
        attrs = dataclasses.replace(a, padding=padding, dilation=d)  # type: ignore[type-var]
        conv_in = [x, *conv.inputs[1:]]
        if not chain:
            graph.replace_node(b2s, conv.op, conv_in, attrs)
        else:
            prev = graph.tensor(f"{conv.name}/dilated", y.dtype, y.shape, tf_name=conv.output.tf_name)
            graph.add_node(conv.op, conv_in, [prev], attrs, name=f"{conv.name}/dilated", tf_op=conv.tf_op)
            for node, k in chain[:-1]:
                out = graph.tensor(f"{node.name}/dilated", y.dtype, y.shape, tf_name=node.output.tf_name)
                ins = [prev if i == k else u for i, u in enumerate(node.inputs)]
                graph.add_node(node.op, ins, [out], node.attrs, name=f"{node.name}/dilated", tf_op=node.tf_op)
                prev = out
            last, k = chain[-1]
            graph.replace_node(b2s, last.op, [prev if i == k else u for i, u in enumerate(last.inputs)], last.attrs)
            for node, _ in reversed(chain):
                graph.remove_node(node)
        graph.remove_node(conv)
        graph.remove_node(s2b)
        return True

    @staticmethod
    def _pad(graph: Graph, x: Tensor, explicit: list[tuple[int, int]], at: Node) -> Tensor:
        p = np.array([[0, 0], *explicit, [0, 0]], dtype=np.int32)
        shape = tuple(int(n + a + b) for n, (a, b) in zip(x.shape, p, strict=True))
        out = graph.tensor(f"{at.name}/pad", x.dtype, shape, tf_name=x.tf_name)
        graph.add_node("pad", [x, graph.const(f"{at.name}/paddings", p)], [out], name=f"{at.name}/pad",
                       tf_op=at.tf_op)
        return out
