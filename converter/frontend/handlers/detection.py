"""Non-max suppression.

TF -> IR:
  NonMaxSuppressionV4(boxes, scores, max_output_size, iou_threshold, score_threshold)
      -> non_max_suppression_v4: selected indices (max_output_size of them, zero-padded), number valid
  NonMaxSuppressionV5(..., soft_nms_sigma)
      -> non_max_suppression_v5: selected indices, their (soft-NMS) scores, number valid
With pad_to_max_output_size=False TensorFlow returns only the valid entries; LiteRT's V4 kernel always pads (so
TensorFlow's converter returns padded indices for it), hence the padded outputs are sliced to the valid count here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import ReshapeAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op
from .common import int32_operand


def _float_scalar(ctx: ImportContext, i: int, name: str) -> Any:  # noqa: ANN401 - IR Tensor
    data = ctx.const_input(i)
    return ctx.input(i) if data is None else ctx.const(name, np.asarray(data, np.float32).reshape(()))


@tf_op("NonMaxSuppressionV4", "NonMaxSuppressionV5")
def non_max_suppression(ctx: ImportContext) -> None:
    v5 = ctx.op_type == "NonMaxSuppressionV5"
    boxes, scores = ctx.input(0), ctx.input(1)
    if len(boxes.shape) != 2 or boxes.shape[-1] != 4 or len(scores.shape) != 1:
        raise ctx.fail(f"boxes {list(boxes.shape)} and scores {list(scores.shape)}: TFLite's kernel takes [N, 4] "
                       "boxes and [N] scores")
    ins = [boxes, scores, int32_operand(ctx, 2, "max_output_size"), _float_scalar(ctx, 3, "iou_threshold"),
           _float_scalar(ctx, 4, "score_threshold")]
    if v5:
        ins.append(_float_scalar(ctx, 5, "soft_nms_sigma"))
    op = "non_max_suppression_v5" if v5 else "non_max_suppression_v4"
    n_out = 3 if v5 else 2
    if bool(ctx.attr("pad_to_max_output_size", False)):
        ctx.emit(op, ins, outputs=[ctx.output(i) for i in range(n_out)])
        return
    count = ctx.output(n_out - 1)
    padded = [ctx.intermediate(f"padded_{i}", ctx.out_info(i).dtype, (-1,)) for i in range(n_out - 1)]
    ctx.emit(op, ins, outputs=[*padded, count], suffix="nms")
    size = ctx.intermediate("valid_size", np.int32, (1,))
    ctx.emit("reshape", [count], ReshapeAttrs(new_shape=(1,)), outputs=[size], suffix="valid_size")
    begin = ctx.const("begin", np.zeros(1, np.int32))
    for i, t in enumerate(padded):
        ctx.emit("slice", [t, begin, size], outputs=[ctx.output(i, (-1,))], suffix=f"valid_{i}")


# ---------------------------------------------------------------- references
@reference("non_max_suppression_v4", "non_max_suppression_v5")
def ref_nms(node: Node, boxes: Any, scores: Any, max_size: Any, iou: Any, score: Any,  # noqa: ANN401
            sigma: Any = None) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    if node.op == "non_max_suppression_v4":
        idx, valid = tf.raw_ops.NonMaxSuppressionV4(boxes=boxes, scores=scores, max_output_size=max_size,
                                                    iou_threshold=iou, score_threshold=score,
                                                    pad_to_max_output_size=True)
        return [idx, valid]
    idx, sel, valid = tf.raw_ops.NonMaxSuppressionV5(boxes=boxes, scores=scores, max_output_size=max_size,
                                                     iou_threshold=iou, score_threshold=score, soft_nms_sigma=sigma,
                                                     pad_to_max_output_size=True)
    return [idx, sel, valid]
