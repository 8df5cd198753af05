"""FoldPadIntoConv: an explicit zero pad equal to SAME's padding in front of a VALID conv becomes SAME padding."""

from __future__ import annotations

from typing import Any

import pytest

from converter.ir.attrs import Padding
from converter.passes.fold_pad import FoldPadIntoConv, same_padding


@pytest.mark.parametrize(("n", "k", "s", "expected"), [(8, 3, 2, (0, 1)), (9, 3, 2, (1, 1)), (8, 3, 1, (1, 1)),
                                                       (8, 1, 1, (0, 0)), (7, 5, 2, (2, 2))])
def test_same_padding_matches_tensorflow_rule(n: int, k: int, s: int, expected: tuple[int, int]) -> None:
    assert same_padding(n, k, s) == expected


def test_keras_zero_padding_then_strided_conv(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        y = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
        y = tf.nn.depthwise_conv2d(y, const((3, 3, 3, 1)), [1, 2, 2, 1], "VALID")
        z = tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]])  # not SAME for a 1x1 kernel: must stay
        tf.nn.conv2d(z, const((1, 1, 3, 4)), 1, "VALID", name="out")

    case = load(build)
    g = case.graph
    before = case.ref()

    assert FoldPadIntoConv().run(g) == 1

    assert g.op_counts() == {"conv_2d": 1, "depthwise_conv_2d": 1, "pad": 1}
    assert case.node("depthwise_conv_2d").attrs.padding is Padding.SAME
    assert case.node("conv_2d").attrs.padding is Padding.VALID
    case.check(before)


def test_pad_shared_by_two_convs_folds_into_both(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    """Common-subexpression elimination leaves one pad read by each branch's strided depthwise conv (NASNet)."""
    def build(x: Any) -> None:  # noqa: ANN401
        y = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
        a = tf.nn.depthwise_conv2d(y, const((3, 3, 3, 1)), [1, 2, 2, 1], "VALID")
        b = tf.nn.depthwise_conv2d(y, const((3, 3, 3, 2)), [1, 2, 2, 1], "VALID")
        tf.concat([a, b], axis=3, name="out")

    case = load(build)
    g = case.graph
    before = case.ref()

    assert FoldPadIntoConv().run(g) == 1

    assert g.op_counts() == {"concatenation": 1, "depthwise_conv_2d": 2}
    assert all(n.attrs.padding is Padding.SAME for n in case.ops("depthwise_conv_2d"))
    case.check(before)


def test_shared_pad_stays_when_one_reader_cannot_take_it(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        y = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
        a = tf.nn.depthwise_conv2d(y, const((3, 3, 3, 1)), [1, 2, 2, 1], "VALID")
        m = tf.nn.max_pool2d(y, 3, 2, "VALID")  # SAME max pooling ignores padding; a zero pad does not
        tf.add(a, m, name="out")

    case = load(build)
    before = case.ref()

    assert FoldPadIntoConv().run(case.graph) == 0

    assert case.graph.op_counts() == {"add": 1, "depthwise_conv_2d": 1, "max_pool_2d": 1, "pad": 1}
    case.check(before, exact=True)
