"""Space <-> batch reshuffles (what tf.nn.convolution writes around a dilated convolution).

TF -> IR:
  SpaceToBatchND(x, block_shape, paddings) -> space_to_batch_nd(x, block_shape int32, paddings int32)
  BatchToSpaceND(x, block_shape, crops)    -> batch_to_space_nd(x, block_shape int32, crops int32)
LiteRT's kernels take a 4-D NHWC input with two block dimensions, or a 3-D NWC input with one (version 3). The
block shape and paddings/crops are passed as tensors, as the kernels read them; constants are written as int32.
The FuseDilatedConv pass turns the pattern around a convolution into one dilated convolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node, Tensor
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op


def _int32_operand(ctx: ImportContext, i: int, what: str) -> Tensor:
    t = ctx.input(i)
    if t.data is not None:
        return ctx.const(what, np.asarray(t.data, dtype=np.int32))
    if t.dtype != np.int32:
        raise ctx.fail(f"{what} (input {i}, {t.tf_name}) is a {t.dtype.name} tensor; LiteRT's kernel reads int32")
    return t


@tf_op("SpaceToBatchND", "BatchToSpaceND")
def space_batch(ctx: ImportContext) -> None:
    x = ctx.input(0)
    rank = len(x.shape)
    block = ctx.input(1)
    n_block = int(block.shape[0]) if block.shape else 0
    if rank not in (3, 4) or n_block != rank - 2:
        raise ctx.fail(f"input of rank {rank} with {n_block} block dimension(s); LiteRT's kernel takes a 4-D input "
                       "with 2 block dimensions or a 3-D input with 1")
    to_batch = ctx.op_type == "SpaceToBatchND"
    second = "paddings" if to_batch else "crops"
    ctx.emit("space_to_batch_nd" if to_batch else "batch_to_space_nd",
             [x, _int32_operand(ctx, 1, "block_shape"), _int32_operand(ctx, 2, second)])


@reference("space_to_batch_nd", "batch_to_space_nd")
def ref_space_batch(node: Node, x: Any, block: Any, pads: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    fn = tf.space_to_batch_nd if node.op == "space_to_batch_nd" else tf.batch_to_space
    return [fn(x, block, pads)]
