"""Elementwise arithmetic, unary math, comparisons, reductions and segment ops."""

from __future__ import annotations

import numpy as np

from . import In, Probe

X = In((1, 8))
X2 = (In((1, 8)), In((1, 8)))
POS = In((1, 8), dist="positive", low=0.25)
I32 = In((1, 8), "int32", "int", -20, 20)
BOOL = In((1, 8), "bool", "bool")
SPECIAL = In((1, 8), dist="special")
# A denominator with exact zeros (the *NoNan ops' case) and small integers.
ZEROS = In((1, 8), dist="int", low=-2, high=3)
SEG_IDS = np.array([0, 0, 1, 1, 1, 2, 2, 3], np.int32)  # sorted and consecutive (LiteRT's SEGMENT_SUM needs that)
UNSORTED_IDS = np.array([2, 0, 1, 2, 0, 3, 3, 1], np.int32)

PROBES: dict[str, Probe] = {
    # ---- binary arithmetic (two activations)
    "Add": Probe(lambda tf, a, b: tf.raw_ops.Add(x=a, y=b), X2),
    "AddV2": Probe(lambda tf, a, b: a + b, X2),
    "Sub": Probe(lambda tf, a, b: a - b, X2),
    "Mul": Probe(lambda tf, a, b: a * b, X2),
    "RealDiv": Probe(lambda tf, a, b: a / b, (X, POS)),
    "Div": Probe(lambda tf, a, b: tf.raw_ops.Div(x=a, y=b), (X, POS)),
    "Maximum": Probe(lambda tf, a, b: tf.maximum(a, b), X2),
    "Minimum": Probe(lambda tf, a, b: tf.minimum(a, b), X2),
    "SquaredDifference": Probe(lambda tf, a, b: tf.math.squared_difference(a, b), X2),
    "Pow": Probe(lambda tf, a, b: tf.pow(a, b), (POS, In((1, 8), scale=0.5))),
    "FloorDiv": Probe(lambda tf, a, b: tf.math.floordiv(a, b), (In((1, 8), scale=4.0), POS)),
    "FloorMod": Probe(lambda tf, a, b: tf.math.floormod(a, b), (In((1, 8), scale=4.0), POS)),
    "TruncateDiv": Probe(lambda tf, a, b: tf.truncatediv(a, b),
                         (I32, In((1, 8), "int32", "int", 1, 6))),
    "DivNoNan": Probe(lambda tf, a, b: tf.math.divide_no_nan(a, b), (X, ZEROS), int8=True),
    "MulNoNan": Probe(lambda tf, a, b: tf.math.multiply_no_nan(a, b), (X, ZEROS)),
    "Xdivy": Probe(lambda tf, a, b: tf.math.xdivy(a, b), (ZEROS, POS)),
    "Xlogy": Probe(lambda tf, a, b: tf.math.xlogy(a, b), (ZEROS, POS)),
    "Xlog1py": Probe(lambda tf, a, b: tf.math.xlog1py(a, b), (ZEROS, POS)),
    "Atan2": Probe(lambda tf, a, b: tf.math.atan2(a, b), X2),
    "AddN": Probe(lambda tf, a, b, c: tf.add_n([a, b, c]), (X, X, X)),
    "BitwiseXor": Probe(lambda tf, a, b: tf.bitwise.bitwise_xor(a, b), (I32, I32)),
    "RightShift": Probe(lambda tf, a, b: tf.bitwise.right_shift(a, b), (I32, In((1, 8), "int32", "int", 0, 4))),
    # ---- unary math
    "Abs": Probe(lambda tf, x: tf.abs(x)),
    "Neg": Probe(lambda tf, x: tf.negative(x)),
    "Exp": Probe(lambda tf, x: tf.exp(x)),
    "Log": Probe(lambda tf, x: tf.math.log(x), (POS,)),
    "Log1p": Probe(lambda tf, x: tf.math.log1p(x), (In((1, 8), dist="uniform", low=-0.9, high=4.0),)),
    "Expm1": Probe(lambda tf, x: tf.math.expm1(x)),
    "Sqrt": Probe(lambda tf, x: tf.sqrt(x), (POS,)),
    "Rsqrt": Probe(lambda tf, x: tf.math.rsqrt(x), (POS,)),
    "Square": Probe(lambda tf, x: tf.square(x)),
    "Reciprocal": Probe(lambda tf, x: tf.math.reciprocal(x), (POS,)),
    "Inv": Probe(lambda tf, x: tf.raw_ops.Inv(x=x), (POS,)),
    "Floor": Probe(lambda tf, x: tf.floor(x), (In((1, 8), scale=3.0),)),
    "Ceil": Probe(lambda tf, x: tf.math.ceil(x), (In((1, 8), scale=3.0),)),
    "Round": Probe(lambda tf, x: tf.round(x), (In((1, 8), scale=3.0),)),
    "Rint": Probe(lambda tf, x: tf.math.rint(x), (In((1, 8), scale=3.0),)),
    "Sign": Probe(lambda tf, x: tf.sign(x), (ZEROS,)),
    "Sin": Probe(lambda tf, x: tf.sin(x)),
    "Cos": Probe(lambda tf, x: tf.cos(x)),
    "IsFinite": Probe(lambda tf, x: tf.math.is_finite(x), (SPECIAL,)),
    "IsInf": Probe(lambda tf, x: tf.math.is_inf(x), (SPECIAL,)),
    "IsNan": Probe(lambda tf, x: tf.math.is_nan(x), (SPECIAL,)),
    "Lgamma": Probe(lambda tf, x: tf.math.lgamma(x), (POS,)),
    # ---- comparisons and logic
    "Less": Probe(lambda tf, a, b: tf.less(a, b), X2),
    "LessEqual": Probe(lambda tf, a, b: tf.less_equal(a, b), (ZEROS, ZEROS)),
    "Greater": Probe(lambda tf, a, b: tf.greater(a, b), X2),
    "GreaterEqual": Probe(lambda tf, a, b: tf.greater_equal(a, b), (ZEROS, ZEROS)),
    "Equal": Probe(lambda tf, a, b: tf.equal(a, b), (ZEROS, ZEROS)),
    "NotEqual": Probe(lambda tf, a, b: tf.not_equal(a, b), (ZEROS, ZEROS)),
    "LogicalAnd": Probe(lambda tf, a, b: tf.logical_and(a, b), (BOOL, BOOL)),
    "LogicalOr": Probe(lambda tf, a, b: tf.logical_or(a, b), (BOOL, BOOL)),
    "LogicalNot": Probe(lambda tf, a: tf.logical_not(a), (BOOL,)),
    "Select": Probe(lambda tf, c, a, b: tf.raw_ops.Select(condition=c, x=a, y=b), (BOOL, X, X)),
    "SelectV2": Probe(lambda tf, c, a, b: tf.where(c, a, b), (BOOL, X, X)),
    # ---- reductions (constant axes)
    "Mean": Probe(lambda tf, x: tf.reduce_mean(x, axis=[1, 2]), (In((1, 4, 5, 3)),)),
    "Sum": Probe(lambda tf, x: tf.reduce_sum(x, axis=1), (In((1, 4, 5)),)),
    "Max": Probe(lambda tf, x: tf.reduce_max(x, axis=-1, keepdims=True), (In((1, 4, 5)),)),
    "Min": Probe(lambda tf, x: tf.reduce_min(x, axis=1), (In((1, 4, 5)),)),
    "Prod": Probe(lambda tf, x: tf.reduce_prod(x, axis=1), (In((1, 4, 5), dist="uniform", low=0.5, high=1.5),)),
    "Any": Probe(lambda tf, x: tf.reduce_any(x, axis=1), (In((1, 4, 5), "bool", "bool"),)),
    "All": Probe(lambda tf, x: tf.reduce_all(x, axis=1), (In((1, 4, 5), "bool", "bool"),)),
    "ArgMax": Probe(lambda tf, x: tf.argmax(x, axis=1), (In((1, 6, 5)),)),
    "ArgMin": Probe(lambda tf, x: tf.argmin(x, axis=1), (In((1, 6, 5)),)),
    "Cumsum": Probe(lambda tf, x: tf.cumsum(x, axis=1), (In((1, 6, 5)),)),
    # ---- segment reductions (segment ids constant)
    "SegmentSum": Probe(lambda tf, x: tf.math.segment_sum(x, SEG_IDS), (In((8, 3)),)),
    "UnsortedSegmentSum": Probe(lambda tf, x: tf.math.unsorted_segment_sum(x, UNSORTED_IDS, 4), (In((8, 3)),)),
    "UnsortedSegmentProd": Probe(lambda tf, x: tf.math.unsorted_segment_prod(x, UNSORTED_IDS, 4),
                                 (In((8, 3), dist="uniform", low=0.5, high=1.5),)),
    "UnsortedSegmentMax": Probe(lambda tf, x: tf.math.unsorted_segment_max(x, UNSORTED_IDS, 4), (In((8, 3)),)),
    "UnsortedSegmentMin": Probe(lambda tf, x: tf.math.unsorted_segment_min(x, UNSORTED_IDS, 4), (In((8, 3)),)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {
    # A comparison with a constant: INT8 quantizes the constant on the other input's grid (LiteRT's comparison
    # kernels abort on a scale >= 1, which a lone 0 would get on its own).
    "Equal": (Probe(lambda tf, x: tf.equal(x, 0.0), (ZEROS,), name="zero_constant", int8=True),),
    "Greater": (Probe(lambda tf, x: tf.greater(x, 0.5), (X,), name="constant_threshold"),),
}


# ---- variants (slow run): ranks 0 and 5, broadcasting, a constant operand; reductions over negative axes, all axes
# and rank 5; argmin/argmax and cumsum modes.
R0, R5 = (), (1, 2, 3, 2, 4)
_BINARY = {  # op: (builder, distribution of a, distribution of b)
    "AddV2": (lambda tf, a, b: a + b, {}, {}),
    "Sub": (lambda tf, a, b: a - b, {}, {}),
    "Mul": (lambda tf, a, b: a * b, {}, {}),
    "RealDiv": (lambda tf, a, b: a / b, {}, {"dist": "positive", "low": 0.25}),
    "Maximum": (lambda tf, a, b: tf.maximum(a, b), {}, {}),
    "Minimum": (lambda tf, a, b: tf.minimum(a, b), {}, {}),
    "SquaredDifference": (lambda tf, a, b: tf.math.squared_difference(a, b), {}, {}),
    "Pow": (lambda tf, a, b: tf.pow(a, b), {"dist": "positive", "low": 0.25}, {"scale": 0.5}),
    "FloorDiv": (lambda tf, a, b: tf.math.floordiv(a, b), {"scale": 4.0}, {"dist": "positive", "low": 0.25}),
    "FloorMod": (lambda tf, a, b: tf.math.floormod(a, b), {"scale": 4.0}, {"dist": "positive", "low": 0.25}),
    "Atan2": (lambda tf, a, b: tf.math.atan2(a, b), {}, {}),
    "DivNoNan": (lambda tf, a, b: tf.math.divide_no_nan(a, b), {}, {"dist": "int", "low": -2, "high": 3}),
    "Less": (lambda tf, a, b: tf.less(a, b), {}, {}),
    "Equal": (lambda tf, a, b: tf.equal(a, b), {"dist": "int", "low": -2, "high": 3},
              {"dist": "int", "low": -2, "high": 3}),
}
_UNARY = {  # op: (builder, input distribution)
    "Abs": (lambda tf, x: tf.abs(x), {}),
    "Neg": (lambda tf, x: tf.negative(x), {}),
    "Exp": (lambda tf, x: tf.exp(x), {}),
    "Log": (lambda tf, x: tf.math.log(x), {"dist": "positive", "low": 0.25}),
    "Sqrt": (lambda tf, x: tf.sqrt(x), {"dist": "positive", "low": 0.25}),
    "Rsqrt": (lambda tf, x: tf.math.rsqrt(x), {"dist": "positive", "low": 0.25}),
    "Square": (lambda tf, x: tf.square(x), {}),
    "Reciprocal": (lambda tf, x: tf.math.reciprocal(x), {"dist": "positive", "low": 0.25}),
    "Floor": (lambda tf, x: tf.floor(x), {"scale": 3.0}),
    "Ceil": (lambda tf, x: tf.math.ceil(x), {"scale": 3.0}),
    "Round": (lambda tf, x: tf.round(x), {"scale": 3.0}),
    "Sign": (lambda tf, x: tf.sign(x), {"dist": "int", "low": -2, "high": 3}),
    "Sin": (lambda tf, x: tf.sin(x), {}),
    "Cos": (lambda tf, x: tf.cos(x), {}),
    "Log1p": (lambda tf, x: tf.math.log1p(x), {"dist": "uniform", "low": -0.9, "high": 4.0}),
    "Expm1": (lambda tf, x: tf.math.expm1(x), {}),
}
_REDUCE = {
    "Mean": lambda tf, x, axis, keep: tf.reduce_mean(x, axis=axis, keepdims=keep),
    "Sum": lambda tf, x, axis, keep: tf.reduce_sum(x, axis=axis, keepdims=keep),
    "Max": lambda tf, x, axis, keep: tf.reduce_max(x, axis=axis, keepdims=keep),
    "Min": lambda tf, x, axis, keep: tf.reduce_min(x, axis=axis, keepdims=keep),
    "Prod": lambda tf, x, axis, keep: tf.reduce_prod(x, axis=axis, keepdims=keep),
}
_PROD_IN = {"dist": "uniform", "low": 0.5, "high": 1.5}


# LiteRT's ATAN2 takes equal shapes only: qconvert broadcasts its operands first (TensorFlow's converter fails); in
# INT8 the BROADCAST_TOs stay float beside the float ATAN2 (quantize/float_moves.py).
def _binary_variants(build, a, b):  # noqa: ANN001, ANN202 - builder and In keyword arguments
    return (
        Probe(build, (In(R0, **a), In(R0, **b)), slow=True, name="rank0"),
        Probe(build, (In(R5, **a), In(R5, **b)), slow=True, name="rank5"),
        Probe(build, (In((1, 4, 1, 6), **a), In((1, 1, 5, 1), **b)), slow=True, name="broadcast"),
        Probe(lambda tf, x: build(tf, x, np.asarray(In((6,), **b).sample(np.random.default_rng(5), 1)[0])),
              (In((1, 3, 6), **a),), slow=True, name="constant_operand"),
    )


def _reduce_variants(build, dist):  # noqa: ANN001, ANN202
    return (
        Probe(lambda tf, x: build(tf, x, [-1, -3], True), (In((1, 4, 5, 3), **dist),), slow=True, name="neg_axes"),
        Probe(lambda tf, x: build(tf, x, None, False), (In((1, 4, 5), **dist),), slow=True, name="all_axes"),
        Probe(lambda tf, x: build(tf, x, [2, 4], False), (In(R5, **dist),), slow=True, name="rank5"),
    )


_MORE: dict[str, tuple[Probe, ...]] = {
    op: _binary_variants(*spec) for op, spec in _BINARY.items()}
_MORE.update({op: (Probe(lambda tf, x, f=f: f(tf, x), (In(R0, **d),), slow=True, name="rank0"),
                   Probe(lambda tf, x, f=f: f(tf, x), (In(R5, **d),), slow=True, name="rank5"))
              for op, (f, d) in _UNARY.items()})
_MORE.update({op: _reduce_variants(f, _PROD_IN if op == "Prod" else {}) for op, f in _REDUCE.items()})
_MORE.update({
    # x < 1/2 through the reflection formula; the poles 0, -1, -2 ... (+inf), +-inf and NaN.
    "Lgamma": (Probe(lambda tf, x: tf.math.lgamma(x), (In((1, 16), scale=3.0),), name="reflection"),
               Probe(lambda tf, x: tf.math.lgamma(x), (In((1, 8), "float32", "int", low=-4, high=3),), slow=True,
                     name="poles"),
               Probe(lambda tf, x: tf.math.lgamma(x), (SPECIAL,), slow=True, name="special")),
    "ArgMax": (Probe(lambda tf, x: tf.argmax(x, axis=-1, output_type=tf.int32), (In(R5),), slow=True,
                     name="neg_axis_int32"),),
    "ArgMin": (Probe(lambda tf, x: tf.argmin(x, axis=-2), (In((1, 6, 5)),), slow=True, name="neg_axis"),),
    "Cumsum": (Probe(lambda tf, x: tf.cumsum(x, axis=-1, exclusive=True), (In((1, 6, 5)),), slow=True,
                     name="exclusive"),
               Probe(lambda tf, x: tf.cumsum(x, axis=1, reverse=True), (In((1, 6, 5)),), slow=True, name="reverse"),
               Probe(lambda tf, x: tf.cumsum(x, axis=2, exclusive=True, reverse=True), (In((1, 2, 4, 3)),),
                     slow=True, name="exclusive_reverse_rank4")),
})
for _op, _vs in _MORE.items():
    VARIANTS[_op] = VARIANTS.get(_op, ()) + _vs
