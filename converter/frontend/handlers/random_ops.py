"""Random ops LiteRT has kernels for. They draw new numbers on every run, so nothing folds, merges or evaluates
them at conversion time (ir.node.STATEFUL_OPS); calibration draws from TensorFlow's stateless generator, seeded
with the op's seeds and the number of draws made so far, so that each batch sees new numbers (ranges only;
stateful draws without a seed fail when op determinism is on).

TF -> IR:
  RandomUniform(shape), RandomStandardNormal(shape)  -> random_uniform / random_standard_normal(shape int32)
  Multinomial(logits, num_samples)                   -> multinomial(logits, num_samples int32)
The op's seed and seed2 go to RandomOptions (both 0: a fresh seed each run, in both TensorFlow and LiteRT).
LiteRT's generator is not TensorFlow's: the same seeds draw different numbers from the same distribution.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import RandomAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
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
@reference("random_uniform", "random_standard_normal")
def ref_random_tensor(node: Node, shape: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = tf.random.stateless_uniform if node.op == "random_uniform" else tf.random.stateless_normal
    return [fn(tf.cast(shape, tf.int32), seed=_seed_pair(node), dtype=tf.float32)]


_DRAWS = itertools.count()


def _seed_pair(node: Node) -> list[int]:
    a: RandomAttrs = node.attrs  # type: ignore[assignment]
    return [a.seed, (a.seed2 + next(_DRAWS)) % 2**31]


@reference("multinomial")
def ref_multinomial(node: Node, logits: Any, num_samples: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [tf.random.stateless_categorical(logits, tf.reshape(num_samples, []), seed=_seed_pair(node),
                                            dtype=tf.as_dtype(node.output.dtype))]
