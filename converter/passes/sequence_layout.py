"""Sequence LSTMs read and write batch-major tensors where the model transposes around a time-major one.

Keras runs its recurrent loop on the time-major transpose of its [B, T, F] input, so the fused LSTM arrives as
``lstm(transpose(x, [1, 0, 2]), time_major)`` and its [T, B, H] output is sliced or transposed back. The kernel takes
either layout, and per step it computes the same, so

    lstm_time_major(transpose(x, [1, 0, 2])) = transpose(lstm_batch_major(x), [1, 0, 2])        (y_tm = y_bm^T)

and reversing the time axis commutes with the transpose (reverse_0(transpose(x)) = transpose(reverse_1(x))), which a
backward layer (go_backwards, the backward half of Bidirectional) puts in between. ``SequenceLSTMBatchMajor`` makes
the LSTM read x (or reverse_1(x)) and write y_bm directly, and rewrites the readers of y_tm onto y_bm:

    transpose(y_tm, [1, 0, 2])                       = y_bm
    strided_slice(y_tm, b, e, s)                     = strided_slice(y_bm, b', e', s')  (axes 0 and 1 swapped)
    gather(y_tm, idx, axis=0)                        = gather(y_bm, idx, axis=1)

the last two only where both results lay out the same values in the same order: the time extent or the batch is 1
(Keras' last output, y_tm[-1], is y_bm[:, -1]). Any other reader keeps a transpose of y_bm. Refuses when the
transpose feeds something else too, or y_tm is a graph output.

``FoldReshapeIntoStridedSlice``: a reshape that only drops unit axes of a strided slice's result is the slice with
those axes shrunk (shrink_axis_mask); the slice then writes the reshape's tensor (one op instead of two)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node, Tensor
from ..ir.attrs import AxisAttrs, StridedSliceAttrs
from .base import no_match

_SWAP = (1, 0, 2)


def _perm(node: Node) -> list[int] | None:
    p = node.inputs[1] if len(node.inputs) > 1 else None
    return None if p is None or p.data is None else [int(v) for v in p.data.reshape(-1)]


class SequenceLSTMBatchMajor:
    name = "sequence_lstm_batch_major"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op == "unidirectional_sequence_lstm" and node.attrs.time_major and self._rewrite(graph, node):  # type: ignore[union-attr]
                fired += 1
        return fired

    def _rewrite(self, graph: Graph, node: Node) -> bool:
        x_tm, y_tm = node.input(0), node.output
        rev = x_tm.producer if x_tm.producer is not None and x_tm.producer.op == "reverse_v2" else None
        if rev is not None and (_perm(rev) != [0] or len(x_tm.uses) != 1 or graph.is_output(x_tm)):
            return no_match(node, "its input is reversed along another axis than time, or read elsewhere")
        t = rev.input(0) if rev is not None else x_tm
        tr = t.producer
        if tr is None or tr.op != "transpose" or _perm(tr) != list(_SWAP):
            return no_match(node, "its input is not a [1, 0, 2] transpose")
        if rev is None and (len(x_tm.uses) != 1 or graph.is_output(x_tm)):
            return no_match(node, "the transposed input has other readers")
        if graph.is_output(y_tm) or len(y_tm.shape) != 3:
            return no_match(node, "its output is a graph output")
        x = tr.input(0)
        if rev is not None:  # reverse_0(transpose(x)) = transpose(reverse_1(x))
            reversed_x = graph.tensor(f"{x_tm.name}/batch_major", x.dtype, x.shape, tf_name=x_tm.tf_name)
            graph.add_node("reverse_v2", [x, graph.const(f"{rev.name}/axis_1", np.asarray([1], np.int32))],
                           [reversed_x], name=f"{rev.name}/batch_major", before=node)
            x = reversed_x
        steps, batch, units = y_tm.shape
        y_bm = graph.tensor(f"{y_tm.name}/batch_major", y_tm.dtype, (batch, steps, units), tf_name=y_tm.tf_name)
        graph.replace_output(node, 0, y_bm)
        graph.set_input(node, 0, x)
        graph.set_attrs(node, dataclasses.replace(node.attrs, time_major=False))  # type: ignore[type-var]
        for reader in list(y_tm.consumers):
            _move_reader(graph, reader, y_tm, y_bm)
        if y_tm.uses:
            perm = graph.const(f"{y_tm.name}/perm", np.asarray(_SWAP, np.int32))
            graph.add_node("transpose", [y_bm, perm], [y_tm], name=f"{y_tm.name}/time_major", after=node)
        return True


def _move_reader(graph: Graph, reader: Node, y_tm: Tensor, y_bm: Tensor) -> None:
    """Make ``reader`` (of y_tm) read y_bm instead where an equivalent form exists; else leave it."""
    if any(t is y_tm for t in reader.inputs[1:]):
        return
    if reader.op == "transpose" and _perm(reader) == list(_SWAP):
        graph.replace_node(reader, "identity", [y_bm])
    elif reader.op == "gather" and reader.input(1).data is not None and reader.attrs.axis == 0:  # type: ignore[union-attr]
        taken = int(reader.input(1).data.size)  # type: ignore[union-attr]
        if 1 in (taken, y_tm.shape[1]) and reader.output.shape == (y_tm.shape[1], taken, y_tm.shape[2]):
            graph.replace_node(reader, "gather", [y_bm, reader.input(1)], AxisAttrs(axis=1))
    elif reader.op == "strided_slice":
        swapped = _swapped_slice(graph, reader, y_tm.shape)
        if swapped is not None:
            graph.replace_node(reader, "strided_slice", [y_bm, *swapped[0]], swapped[1])


def _swapped_slice(graph: Graph, node: Node, shape: tuple[int, ...]) -> tuple[list[Tensor], StridedSliceAttrs] | None:
    """The strided slice of y_bm equivalent to ``node``'s of y_tm (``shape``), or None."""
    a: StridedSliceAttrs = node.attrs  # type: ignore[assignment]
    consts = [node.inputs[k].data if node.inputs[k] is not None else None for k in (1, 2, 3)]
    if a.ellipsis_mask or a.new_axis_mask or a.offset or any(c is None for c in consts):
        return None
    begin, end, strides = (list(np.asarray(c).reshape(-1)) for c in consts)
    n = len(begin)
    masks = [a.begin_mask, a.end_mask, a.shrink_axis_mask]
    # Axes the vectors leave out take their whole extent.
    begin, end, strides = begin + [0] * (3 - n), end + [0] * (3 - n), strides + [1] * (3 - n)
    full = sum(1 << k for k in range(n, 3))
    masks = [masks[0] | full, masks[1] | full, masks[2]]
    extent = [1 if masks[2] >> k & 1 else  # a shrunk axis takes element begin only
              len(range(*slice(None if masks[0] >> k & 1 else int(begin[k]),
                               None if masks[1] >> k & 1 else int(end[k]), int(strides[k])).indices(shape[k])))
              for k in range(3)]
    time_kept = not masks[2] & 1
    if time_kept and 1 not in (extent[0], extent[1]):
        return None  # [t, b, h] and [b, t, h] order the values differently

    def swap(v: list[int]) -> np.ndarray:
        return np.asarray([v[1], v[0], v[2]], np.int32)

    def swap_bits(m: int) -> int:
        return (m & ~3) | (m >> 1 & 1) | (m & 1) << 1

    new = StridedSliceAttrs(begin_mask=swap_bits(masks[0]), end_mask=swap_bits(masks[1]),
                            shrink_axis_mask=swap_bits(masks[2]))
    out_old = [e for k, e in enumerate(extent) if not masks[2] >> k & 1]
    out_new = [extent[k] for k in (1, 0, 2) if not masks[2] >> k & 1]
    if out_new != list(node.output.shape) or out_old != list(node.output.shape):
        return None
    vectors = [graph.const(f"{node.name}/{k}_bm", swap(v)) for k, v in
               (("b", begin), ("e", end), ("s", strides))]
    return vectors, new


class FoldReshapeIntoStridedSlice:
    name = "fold_reshape_into_strided_slice"

    def run(self, graph: Graph) -> int:
        fired = 0
        for node in graph.nodes:
            if node.op == "strided_slice" and len(node.output.consumers) == 1 and self._fold(graph, node):
                fired += 1
        return fired

    def _fold(self, graph: Graph, node: Node) -> bool:
        reshape = node.output.consumers[0]
        a: StridedSliceAttrs = node.attrs  # type: ignore[assignment]
        if reshape.op != "reshape" or graph.is_output(node.output) or reshape.inputs[0] is not node.output:
            return False
        if a.ellipsis_mask or a.new_axis_mask or a.offset:
            return no_match(node, "ellipsis or new-axis mask")
        begin = node.inputs[1]
        rank = len(node.input(0).shape)
        if begin is None or begin.data is None or begin.data.size != rank:
            return no_match(node, "begin does not name every axis")
        kept = [k for k in range(rank) if not a.shrink_axis_mask >> k & 1]  # input axes of the slice's output
        target = list(reshape.output.shape)
        shrink, j = a.shrink_axis_mask, 0
        for k, d in zip(kept, node.output.shape, strict=True):
            if j < len(target) and target[j] == d:
                j += 1
            elif d == 1:
                shrink |= 1 << k
            else:
                return no_match(node, "the reshape does more than drop unit axes")
        if j != len(target):
            return no_match(node, "the reshape does more than drop unit axes")
        graph.set_attrs(node, dataclasses.replace(a, shrink_axis_mask=shrink))
        graph.absorb(node, reshape)
        return True
