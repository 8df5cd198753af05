"""Random ops LiteRT has kernels for. They draw new numbers on every run, so nothing folds, merges or evaluates
them at conversion time (ir.node.STATEFUL_OPS). Their references draw exactly what LiteRT's kernels draw, call after
call (see below), and a graph with one runs one sample per call (reference.batch_axes), so that each sample has its
own draws, as each LiteRT invocation does: calibration sees the numbers the model will draw.

TF -> IR:
  RandomUniform(shape), RandomStandardNormal(shape)  -> random_uniform / random_standard_normal(shape int32)
  Multinomial(logits, num_samples)                   -> multinomial(logits, num_samples int32)
The op's seed and seed2 go to RandomOptions (both 0: a fresh seed each run, in both TensorFlow and LiteRT; the
reference then draws as with seeds 0, 0). TensorFlow's own stateful kernels use the same generator and agree with
LiteRT's on the first call only: they move on further in the stream per call than the numbers they use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import RandomAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..reference import draw_offset
from ..registry import reference, tf_op
from .common import int32_operand


def _seeds(ctx: ImportContext) -> RandomAttrs:
    return RandomAttrs(seed=int(ctx.attr("seed", 0)), seed2=int(ctx.attr("seed2", 0)))


@tf_op("RandomUniform", "RandomStandardNormal")
def random_tensor(ctx: ImportContext) -> None:
    if ctx.out_info(0).dtype != np.float32:
        raise ctx.fail(f"{ctx.out_info(0).dtype} samples; LiteRT's kernel draws float32")
    op = "random_uniform" if ctx.op_type == "RandomUniform" else "random_standard_normal"
    ctx.emit(op, [int32_operand(ctx, 0, "shape")], _seeds(ctx))


@tf_op("Multinomial")
def multinomial(ctx: ImportContext) -> None:
    ctx.emit("multinomial", [ctx.input(0), int32_operand(ctx, 1, "num_samples")], _seeds(ctx))


# ---------------------------------------------------------------- references
# LiteRT's kernels (lite/kernels/random_ops.cc) draw from Philox-4x32-10 keyed by ``seed`` with ``seed2`` as the high
# half of the counter, as TensorFlow's stateless V2 kernels do with key [seed] and counter [offset, seed2]; each
# invocation continues where the one before stopped, one 128-bit block per 4 numbers (unused numbers of a block
# dropped). The references draw the same blocks (reference.draw_offset keeps each op's place in its stream), so
# calibration sees the numbers the model draws at run time in the first invocations of a fresh interpreter, and
# further numbers of the same distribution after them.
_PHILOX = 1  # TensorFlow's RNG algorithm id for Philox


def _key_counter(node: Node, offset: Any) -> tuple[Any, Any]:  # noqa: ANN401
    tf = tensorflow()
    a: RandomAttrs = node.attrs  # type: ignore[assignment]
    key = tf.constant([a.seed % 2**64], tf.uint64)
    counter = tf.stack([tf.cast(offset, tf.uint64), tf.constant(a.seed2 % 2**64, tf.uint64)])
    return key, counter


@reference("random_uniform", "random_standard_normal")
def ref_random_tensor(node: Node, shape: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    shape = tf.cast(shape, tf.int32)
    blocks = (tf.cast(tf.reduce_prod(shape), tf.int64) + 3) // 4
    key, counter = _key_counter(node, draw_offset(node, blocks))
    fn = tf.raw_ops.StatelessRandomUniformV2 if node.op == "random_uniform" else tf.raw_ops.StatelessRandomNormalV2
    return [fn(shape=shape, key=key, counter=counter, alg=_PHILOX, dtype=tf.float32)]


@reference("multinomial")
def ref_multinomial(node: Node, logits: Any, num_samples: Any) -> list[Any]:  # noqa: ANN401
    """LiteRT's sampling: per row, the cumulative sum (float64) of exp(logit - max finite logit) over the finite
    logits; sample j of row b is the number of entries <= u * total, u in [0, 1) made of the 52 bits of the
    stream's uint32 pair b * num_samples + j (the pairs run on across rows). An invocation skips
    rows * (num_samples rounded up to 4) * 512 blocks past where it starts."""
    tf = tensorflow()
    logits = tf.cast(logits, tf.float32)
    rows, n = tf.shape(logits)[0], tf.reshape(tf.cast(num_samples, tf.int32), [])
    skip = tf.cast(rows, tf.int64) * tf.cast((n + 3) // 4 * 4, tf.int64) * 512
    key, counter = _key_counter(node, draw_offset(node, skip))
    bits = tf.raw_ops.StatelessRandomUniformFullIntV2(shape=tf.reshape(2 * rows * n, [1]), key=key,
                                                       counter=counter, alg=_PHILOX, dtype=tf.uint32)
    pairs = tf.reshape(bits, [rows, n, 2])
    high = tf.cast(tf.bitwise.bitwise_and(pairs[..., 0], tf.constant(0xFFFFF, tf.uint32)), tf.float64)
    u = (high * 2.0**32 + tf.cast(pairs[..., 1], tf.float64)) / 2.0**52
    finite = tf.math.is_finite(logits)
    top = tf.reduce_max(tf.where(finite, logits, tf.float32.min), axis=1, keepdims=True)
    shifted = tf.exp(tf.cast(logits, tf.float64) - tf.cast(top, tf.float64))
    weights = tf.where(finite, shifted, tf.zeros_like(shifted))
    cdf = tf.cumsum(weights, axis=1)
    picks = tf.searchsorted(cdf, u * cdf[:, -1:], side="right", out_type=tf.int32)
    return [tf.cast(picks, tf.as_dtype(node.output.dtype))]
