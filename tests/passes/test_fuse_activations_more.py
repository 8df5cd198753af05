"""FuseL2Normalization, FuseSoftmax, FuseLogSoftmax, FuseSquaredDifference, FuseLeakyRelu, SimplifyArithmetic:
rewrite counts, the ops left, and the outputs before/after the pass (and TensorFlow's) on the reference executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from converter.passes.canonicalize import CanonicalizeArithmetic
from converter.passes.cse import EliminateCommonSubexpressions
from converter.passes.dce import DeadCodeElimination
from converter.passes.fold_constants import FoldConstants
from converter.passes.fuse_l2_norm import FuseL2Normalization
from converter.passes.fuse_leaky_relu import FuseLeakyRelu
from converter.passes.fuse_softmax import FuseLogSoftmax, FuseSoftmax
from converter.passes.fuse_squared_difference import FuseSquaredDifference
from converter.passes.remove_identity import RemoveIdentity
from converter.passes.simplify_arithmetic import SimplifyArithmetic

# As the cleanup phase leaves the graph: two tf.exp(x) calls are one exp after common-subexpression elimination.
PREP = [RemoveIdentity(), FoldConstants(), CanonicalizeArithmetic(), FoldConstants(), EliminateCommonSubexpressions()]

# name -> (input shape, TF builder, passes to run in order, rewrites expected, op counts after)
CASES: dict[str, tuple[tuple[int, ...], Callable[[Any, Any], Any], list[Any], int, dict[str, int]]] = {
    "l2_normalize": ((1, 3, 8), lambda tf, x: tf.math.l2_normalize(x, -1), [FuseL2Normalization()], 1,
                     {"l2_normalization": 1}),
    "l2_add_eps_div_sqrt": ((1, 8), lambda tf, x: x / tf.sqrt(tf.reduce_sum(tf.square(x), -1, keepdims=True) + 1e-9),
                            [FuseL2Normalization()], 1, {"l2_normalization": 1}),
    "softmax_exp_sum": ((1, 2, 10), lambda tf, x: tf.exp(x) / tf.reduce_sum(tf.exp(x), -1, keepdims=True),
                        [FuseSoftmax()], 1, {"softmax": 1}),
    "softmax_minus_max": ((1, 10), lambda tf, x: tf.nn.softmax(x - tf.reduce_max(x, -1, keepdims=True)),
                          [FuseSoftmax()], 1, {"softmax": 1}),
    "log_of_softmax": ((1, 10), lambda tf, x: tf.math.log(tf.nn.softmax(x)), [FuseLogSoftmax()], 1,
                       {"log_softmax": 1}),
    "log_exp_over_sum": ((1, 10), lambda tf, x: tf.math.log(tf.exp(x) / tf.reduce_sum(tf.exp(x), -1, keepdims=True)),
                         [FuseSoftmax(), FuseLogSoftmax()], 2, {"log_softmax": 1}),
    "square_of_sub": ((1, 10), lambda tf, x: tf.square(x - tf.reverse(x, [1])), [FuseSquaredDifference()], 1,
                      {"squared_difference": 1, "reverse_v2": 1}),
    "square_minus_const_relu": ((1, 10), lambda tf, x: tf.nn.relu(tf.square(x - 0.5)), [FuseSquaredDifference()], 2,
                                {"squared_difference": 1}),
    "leaky_max": ((1, 10), lambda tf, x: tf.maximum(x, 0.2 * x), [FuseLeakyRelu()], 1, {"leaky_relu": 1}),
    "leaky_max_swapped": ((1, 10), lambda tf, x: tf.maximum(x * -0.3, x), [FuseLeakyRelu()], 1, {"leaky_relu": 1}),
    "silu_times_one": ((1, 10), lambda tf, x: x * tf.sigmoid(1.0 * x) + 0.0, [SimplifyArithmetic()], 2,
                       {"logistic": 1, "mul": 1}),
    "pow_2_1_half": ((1, 10), lambda tf, x: tf.pow(x, 2.0) + tf.pow(tf.abs(x), 0.5) * tf.pow(x, 1.0),
                     [SimplifyArithmetic()], 3, {"mul": 2, "add": 1, "sqrt": 1, "abs": 1}),
    "tile_broadcast": ((1, 1, 6), lambda tf, x: tf.tile(x, [1, 4, 1]) + tf.ones((1, 4, 6)) * 0.5,
                       [SimplifyArithmetic()], 1, {"add": 1}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fusion(name: str, tf: Any, load: Any) -> None:  # noqa: ANN401
    shape, build, passes, fired, ops = CASES[name]

    def graph(x: Any) -> None:  # noqa: ANN401
        tf.identity(build(tf, x), name="out")

    case = load(graph, inputs={"x": shape}, prep=PREP)
    before = case.ref()

    assert sum(p.run(case.graph) for p in passes) == fired
    DeadCodeElimination().run(case.graph)

    assert case.graph.op_counts() == ops
    case.check(before)


@pytest.mark.parametrize("name", ["l2_big_eps", "l2_not_last_axis", "leaky_alpha_above_1", "softmax_shared_exp"])
def test_refusals(name: str, tf: Any, load: Any) -> None:  # noqa: ANN401
    """eps above the kernel's floor, a sum over another axis, max(x, 2x) (not a leaky ReLU), exp(x) read again."""
    build, passes = {
        "l2_big_eps": (lambda x: tf.math.l2_normalize(x, -1, epsilon=1e-3), [FuseL2Normalization()]),
        "l2_not_last_axis": (lambda x: tf.math.l2_normalize(x, 1), [FuseL2Normalization()]),
        "leaky_alpha_above_1": (lambda x: tf.maximum(x, 2.0 * x), [FuseLeakyRelu()]),
        "softmax_shared_exp": (lambda x: tf.exp(x) / tf.reduce_sum(tf.exp(x), -1, keepdims=True) + tf.exp(x),
                               [FuseSoftmax()]),
    }[name]

    def graph(x: Any) -> None:  # noqa: ANN401
        tf.identity(build(x), name="out")

    case = load(graph, inputs={"x": (1, 3, 8)}, prep=PREP)
    before = case.ref()
    assert sum(p.run(case.graph) for p in passes) == 0
    case.check(before, exact=True)
