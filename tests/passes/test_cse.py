"""EliminateCommonSubexpressions: repeated computations on the same inputs become one (NASNet's ReLU per branch),
so that FuseActivation can fuse the remaining ReLU into the layer before it."""

from __future__ import annotations

from typing import Any

from converter.ir.attrs import Activation
from converter.passes.cse import EliminateCommonSubexpressions
from converter.passes.fuse_activation import FuseActivation


def test_relu_per_branch_merged_then_fused(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        h = tf.nn.conv2d(x, const((3, 3, 3, 4)), 1, "SAME")
        a = tf.nn.conv2d(tf.nn.relu(h), const((1, 1, 4, 4)), 1, "SAME")
        b = tf.nn.conv2d(tf.nn.relu(h), const((1, 1, 4, 4)), 1, "SAME")
        p = tf.nn.avg_pool2d(tf.nn.relu(h), 3, 1, "SAME")
        q = tf.nn.avg_pool2d(tf.nn.relu(h), 3, 1, "SAME")  # the same pool as p: merged too
        tf.concat([a + b, p, q], axis=3, name="out")

    case = load(build)
    g = case.graph
    assert len(case.ops("relu")) == 4
    before = case.ref()

    assert EliminateCommonSubexpressions().run(g) == 4  # three relus, then the second pool on the merged relu

    assert g.op_counts() == {"add": 1, "average_pool_2d": 1, "concatenation": 1, "conv_2d": 3, "relu": 1}
    case.check(before, exact=True)
    assert FuseActivation().run(g) == 1
    first = g.nodes[0]
    assert first.op == "conv_2d" and first.attrs.activation is Activation.RELU
    case.check(before)


def test_different_attributes_or_constants_are_not_merged(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        a = tf.nn.avg_pool2d(x, 3, 1, "SAME")
        b = tf.nn.avg_pool2d(x, 2, 1, "SAME")
        c = tf.nn.conv2d(x, const((1, 1, 3, 2)), 1, "SAME")
        d = tf.nn.conv2d(x, const((1, 1, 3, 2)), 1, "SAME")  # other weights
        e = tf.nn.conv2d(x, tf.constant(c.op.inputs[1].op.get_attr("value")), 1, "SAME")  # c's weights, copied
        tf.concat([a, b, c + d + e], axis=3, name="out")

    case = load(build)
    g = case.graph
    before = case.ref()

    assert EliminateCommonSubexpressions().run(g) == 1  # only e, whose weights equal c's byte for byte

    assert sorted(p.attrs.filter for p in case.ops("average_pool_2d")) == [(2, 2), (3, 3)]
    assert len(case.ops("conv_2d")) == 2
    case.check(before, exact=True)


def test_graph_outputs_keep_their_nodes(tf: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        tf.nn.relu(x, name="out")
        tf.nn.relu(x, name="out2")

    case = load(build, outputs=("out", "out2"))
    before = case.ref()

    assert EliminateCommonSubexpressions().run(case.graph) == 0

    assert len(case.ops("relu")) == 2
    case.check(before, exact=True)
