"""FusePRelu: every form Keras and TensorFlow write for a parametric ReLU becomes one prelu node."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.passes.canonicalize import CanonicalizeArithmetic
from converter.passes.fold_constants import FoldConstants
from converter.passes.fuse_prelu import FusePRelu
from converter.passes.remove_identity import RemoveIdentity

PREP = [RemoveIdentity(), FoldConstants(), CanonicalizeArithmetic(), FoldConstants()]


def _forms(tf: Any, x: Any, alpha: Any) -> dict[str, Any]:  # noqa: ANN401
    return {
        "keras": tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x),  # tf_keras and Keras 3 PReLU
        "keras_swapped": tf.nn.relu(-x) * -alpha + tf.nn.relu(x),
        "sub": tf.nn.relu(x) - alpha * tf.nn.relu(-x),
        "keras1_abs": tf.nn.relu(x) + alpha * (x - tf.abs(x)) * 0.5,
        "max_min": tf.maximum(x, 0.0) + alpha * tf.minimum(x, 0.0),
    }


# alpha per element (Keras' default), shared over H and W (shared_axes=[1, 2]) or one scalar.
@pytest.mark.parametrize(("form", "alpha_shape"), [("keras", (6, 6, 4)), ("keras_swapped", (1, 1, 4)), ("sub", ()),
                                                   ("keras1_abs", (1, 1, 4)), ("max_min", (6, 6, 4))])
def test_prelu_forms(form: str, alpha_shape: tuple[int, ...], tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        y = tf.nn.conv2d(x, const((1, 1, 3, 4)), 1, "SAME")
        tf.identity(_forms(tf, y, const(alpha_shape, 0.05, 0.5))[form], name="out")

    case = load(build, inputs={"x": (1, 6, 6, 3)}, prep=PREP)
    before = case.ref()

    assert FusePRelu().run(case.graph) == 1

    assert case.graph.op_counts() == {"conv_2d": 1, "prelu": 1}
    alpha = case.node("prelu").input(1)
    # Written with x's full shape when it has as many elements (LiteRT's non-broadcasting path), else x's rank.
    assert alpha.shape == {(6, 6, 4): (1, 6, 6, 4), (1, 1, 4): (1, 1, 1, 4), (): (1, 1, 1, 1)}[alpha_shape]
    case.check(before)


def test_prelu_refuses_when_a_branch_is_read_elsewhere(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        neg = tf.nn.relu(-x)
        tf.identity(tf.nn.relu(x) - 0.25 * neg + neg, name="out")

    case = load(build, inputs={"x": (1, 8)}, prep=PREP)
    assert FusePRelu().run(case.graph) == 0


def test_prelu_refuses_when_alpha_would_broadcast_x(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    # alpha of shape (3, 8) against x (1, 8): the "PReLU" output would be (3, 8), not x's shape.
    def build(x: Any) -> None:  # noqa: ANN401
        tf.identity(tf.nn.relu(x) + const((3, 8), -0.5, -0.1) * tf.nn.relu(-x), name="out")

    case = load(build, inputs={"x": (1, 8)}, prep=PREP)
    before = case.ref()
    assert FusePRelu().run(case.graph) == 0
    np.testing.assert_array_equal(case.ref()[0], before[0])
