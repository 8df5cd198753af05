"""SequenceLSTMBatchMajor and FoldReshapeIntoStridedSlice: rewrite counts, the ops left, and the same outputs on the
reference executor before and after (the rewrites move data, they compute nothing new: exact equality)."""

from __future__ import annotations

import numpy as np

from converter.frontend.reference import ReferenceExecutor
from converter.ir import Graph, Tensor
from converter.ir.attrs import ReshapeAttrs, SequenceLSTMAttrs, StridedSliceAttrs
from converter.passes.dce import DeadCodeElimination
from converter.passes.remove_identity import RemoveIdentity
from converter.passes.sequence_layout import FoldReshapeIntoStridedSlice, SequenceLSTMBatchMajor

T, F, H = 7, 3, 5
rng = np.random.default_rng(3)


def _const(g: Graph, name: str, shape: tuple[int, ...], scale: float = 0.5) -> Tensor:
    return g.const(name, (rng.standard_normal(shape) * scale).astype(np.float32))


def _time_major_lstm(backward: bool = False) -> tuple[Graph, Tensor]:
    """x [1, T, F] -> transpose -> (reverse along time) -> time-major LSTM -> y [T, 1, H], read as Keras reads it:
    y[-1] (the last output) and transpose(y) (the sequence); returns the graph and the transposed input."""
    g = Graph()
    x = g.tensor("x", np.float32, (1, T, F))
    g.add_input(x)
    x_tm = g.tensor("x_tm", np.float32, (T, 1, F))
    g.add_node("transpose", [x, g.const("perm", np.array([1, 0, 2], np.int32))], [x_tm])
    if backward:
        rev = g.tensor("x_rev", np.float32, (T, 1, F))
        g.add_node("reverse_v2", [x_tm, g.const("axis", np.array([0], np.int32))], [rev])
        x_tm = rev
    weights = [_const(g, f"w{k}", (H, F)) for k in range(4)] + [_const(g, f"u{k}", (H, H)) for k in range(4)]
    biases = [_const(g, f"b{k}", (H,)) for k in range(4)]
    zeros = g.const("zeros", np.zeros((1, H), np.float32))
    y = g.tensor("y", np.float32, (T, 1, H))
    g.add_node("unidirectional_sequence_lstm", [x_tm, *weights, None, None, None, *biases, None, None, zeros, zeros,
                                                None, None, None, None], [y], SequenceLSTMAttrs(time_major=True))
    last, seq = g.tensor("last", np.float32, (1, H)), g.tensor("seq", np.float32, (1, T, H))
    g.add_node("strided_slice", [y, g.const("b", np.array([-1], np.int32)), g.const("e", np.array([0], np.int32)),
                                 g.const("s", np.array([1], np.int32))], [last], StridedSliceAttrs(shrink_axis_mask=1))
    g.add_node("transpose", [y, g.const("perm_out", np.array([1, 0, 2], np.int32))], [seq])
    g.set_outputs([last, seq])
    return g, x


def _run(g: Graph, x: np.ndarray) -> list[np.ndarray]:
    return ReferenceExecutor(g, batched=False)([x])


def test_lstm_reads_and_writes_batch_major() -> None:
    for backward in (False, True):
        g, _ = _time_major_lstm(backward)
        x = rng.standard_normal((2, T, F)).astype(np.float32)
        before = _run(g, x)
        assert SequenceLSTMBatchMajor().run(g) == 1
        RemoveIdentity().run(g)
        DeadCodeElimination().run(g)
        g.validate()
        # No transpose left: the LSTM reads x (reversed along time for the backward one) and both readers of its
        # output read the batch-major result.
        ops = sorted(n.op for n in g.nodes)
        assert ops == ["reverse_v2"] * backward + ["strided_slice", "unidirectional_sequence_lstm"]
        lstm = next(n for n in g.nodes if n.op == "unidirectional_sequence_lstm")
        assert not lstm.attrs.time_major and lstm.input(0).shape == (1, T, F)  # type: ignore[union-attr]
        for a, b in zip(before, _run(g, x), strict=True):
            np.testing.assert_array_equal(a, b)


def test_lstm_layout_left_alone_when_the_transpose_is_shared() -> None:
    g, x = _time_major_lstm()
    other = g.tensor("other", np.float32, (T, 1, F))
    transpose = next(n for n in g.nodes if n.op == "transpose")
    g.add_node("relu", [transpose.output], [other])
    g.set_outputs([*g.outputs, other])
    assert SequenceLSTMBatchMajor().run(g) == 0


def test_reshape_dropping_unit_axes_folds_into_the_slice() -> None:
    g = Graph()
    x = g.tensor("x", np.float32, (1, T, H))
    g.add_input(x)
    sliced, flat = g.tensor("sliced", np.float32, (1, 1, H)), g.tensor("flat", np.float32, (1, H))
    g.add_node("strided_slice", [x, g.const("b", np.array([0, T - 1, 0], np.int32)),
                                 g.const("e", np.array([1, T, H], np.int32)), g.const("s", np.array([1, 1, 1], np.int32))],
               [sliced], StridedSliceAttrs(begin_mask=5, end_mask=5))
    g.add_node("reshape", [sliced], [flat], ReshapeAttrs(new_shape=(1, H)))
    g.set_outputs([flat])
    data = rng.standard_normal((1, T, H)).astype(np.float32)
    before = _run(g, data)
    assert FoldReshapeIntoStridedSlice().run(g) == 1
    g.validate()
    (node,) = g.nodes
    assert node.op == "strided_slice" and node.output is flat and node.attrs.shrink_axis_mask == 2  # type: ignore[union-attr]
    np.testing.assert_array_equal(before[0], _run(g, data)[0])


def test_reshape_that_merges_axes_is_left_alone() -> None:
    g = Graph()
    x = g.tensor("x", np.float32, (1, T, H))
    g.add_input(x)
    sliced, flat = g.tensor("sliced", np.float32, (1, 2, H)), g.tensor("flat", np.float32, (2 * H,))
    g.add_node("strided_slice", [x, g.const("b", np.array([0, 0, 0], np.int32)),
                                 g.const("e", np.array([1, 2, H], np.int32)), g.const("s", np.array([1, 1, 1], np.int32))],
               [sliced], StridedSliceAttrs())
    g.add_node("reshape", [sliced], [flat], ReshapeAttrs(new_shape=(2 * H,)))
    g.set_outputs([flat])
    assert FoldReshapeIntoStridedSlice().run(g) == 0
