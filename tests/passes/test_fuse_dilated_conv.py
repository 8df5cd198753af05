"""FuseDilatedConv: SpaceToBatchND -> conv -> [per-channel ops] -> BatchToSpaceND becomes one dilated conv."""

from __future__ import annotations

from typing import Any

import numpy as np

from converter.ir.attrs import Padding
from converter.passes.fuse_dilated_conv import FuseDilatedConv


def test_atrous_conv_same(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        tf.identity(tf.nn.atrous_conv2d(x, const((3, 3, 3, 5)), 2, "SAME"), name="out")

    case = load(build, inputs={"x": (1, 10, 10, 3)})
    before = case.ref()
    assert case.graph.op_counts()["space_to_batch_nd"] == 1

    assert FuseDilatedConv().run(case.graph) == 1

    assert case.graph.op_counts() == {"conv_2d": 1, "transpose": 1} or case.graph.op_counts() == {"conv_2d": 1}
    conv = case.node("conv_2d")
    assert (conv.attrs.dilation, conv.attrs.padding) == ((2, 2), Padding.SAME)
    case.check(before)


def test_depthwise_valid_rate_3(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        tf.identity(tf.nn.depthwise_conv2d(x, const((3, 3, 4, 2)), [1, 1, 1, 1], "VALID", dilations=[3, 3]),
                    name="out")

    case = load(build, inputs={"x": (1, 11, 13, 4)})
    before = case.ref()

    assert FuseDilatedConv().run(case.graph) == 1

    dw = case.node("depthwise_conv_2d")
    assert "batch_to_space_nd" not in case.graph.op_counts()
    assert (dw.attrs.dilation, dw.attrs.padding) == ((3, 3), Padding.VALID)
    case.check(before)


def test_bias_and_batch_norm_between(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    """The per-channel ops between the conv and BatchToSpaceND move after the dilated conv."""
    def build(x: Any) -> None:  # noqa: ANN401
        s = tf.space_to_batch_nd(x, [2, 2], [[2, 2], [2, 2]])
        y = tf.nn.bias_add(tf.nn.conv2d(s, const((3, 3, 3, 4)), 1, "VALID"), const((4,)))
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(y, const((4,), 0.5, 1.5), const((4,)), const((4,)),
                                                   const((4,), 0.5, 2.0), is_training=False)
        tf.identity(tf.compat.v1.batch_to_space_nd(tf.nn.relu(y), [2, 2], [[0, 0], [0, 0]]), name="out")

    case = load(build, inputs={"x": (1, 8, 8, 3)})
    before = case.ref()

    assert FuseDilatedConv().run(case.graph) == 1

    ops = case.graph.op_counts()
    assert "space_to_batch_nd" not in ops and "batch_to_space_nd" not in ops
    assert (ops["conv_2d"], ops["add"], ops["batch_norm"], ops["relu"]) == (1, 1, 1, 1)
    assert case.node("conv_2d").attrs.padding is Padding.SAME
    case.check(before)


def test_uneven_padding_becomes_explicit_pad(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        s = tf.space_to_batch_nd(x, [2, 2], [[2, 2], [0, 2]])  # H: SAME's (2, 2); W: (0, 2), neither SAME nor VALID
        y = tf.nn.conv2d(s, const((3, 3, 3, 4)), 1, "VALID")
        tf.identity(tf.compat.v1.batch_to_space_nd(y, [2, 2], [[0, 0], [0, 0]]), name="out")

    case = load(build, inputs={"x": (1, 8, 8, 3)})
    before = case.ref()

    assert FuseDilatedConv().run(case.graph) == 1

    assert case.node("conv_2d").attrs.padding is Padding.VALID
    np.testing.assert_array_equal(case.node("pad").input(1).data, [[0, 0], [2, 2], [0, 2], [0, 0]])
    case.check(before)


def test_refuses_when_conv_output_is_read_elsewhere(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        s = tf.space_to_batch_nd(x, [2, 2], [[2, 2], [2, 2]])
        y = tf.nn.conv2d(s, const((3, 3, 3, 4)), 1, "VALID")
        tf.identity(tf.compat.v1.batch_to_space_nd(y, [2, 2], [[0, 0], [0, 0]]), name="out")
        tf.identity(y, name="phases")  # the conv's output is also a graph output

    # One sample: with more, TensorFlow orders the phases block-major and the per-sample reference sample-major.
    case = load(build, inputs={"x": (1, 8, 8, 3)}, outputs=("out", "phases"), batch=1)
    before = case.ref()
    assert FuseDilatedConv().run(case.graph) == 0
    case.check(before, exact=True)
