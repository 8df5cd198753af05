"""Recurrent layers as one sequence op (the Keras LSTM loops ``recurrent`` fuses, and TensorFlow's own fused LSTM).

TF -> IR:
  BlockLSTMV2(seq_len_max, x [T, B, F], cs_prev, h_prev, w [F + H, 4H], wci, wcf, wco, b [4H]), output 6 (h)
      -> unidirectional_sequence_lstm(x, W_i, W_f, W_c, W_o [H, F], U_i, U_f, U_c, U_o [H, H], -, -, -,
                                      b_i, b_f, b_c, b_o [H], -, -, h_prev, cs_prev, -, -, -, -)
         SequenceLSTMAttrs(time_major=True, cell_clip)

BlockLSTMV2 (unlike BlockLSTM) orders its gates i, f, c, o, as Keras and TFLite do: gate g is columns
[g H, (g + 1) H) of w and b, rows [0, F) of w hold the input kernel and rows [F, F + H) the recurrent one; TFLite
wants each gate's matrix transposed, [H, in]. The slices and transposes are IR nodes that constant folding turns into
the twelve weight tensors (named w_i ... w_o, u_i ... u_o, b_i ... b_o after the node). Peepholes are refused; the other outputs (gates, cell states) have no TFLite counterpart.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node, Tensor
from ...ir.attrs import Activation, SequenceLSTMAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op

GATES = 4


def _part(ctx: ImportContext, src: Tensor, begin: list[int], size: list[int], name: str, transpose: bool) -> Tensor:
    """src[begin : begin + size], transposed if asked (IR nodes, folded once src is constant)."""
    sliced = ctx.intermediate(f"{name}_t" if transpose else name, src.dtype, size)
    ctx.emit("slice", [src, ctx.const(f"{name}/begin", np.asarray(begin, np.int32)),
                       ctx.const(f"{name}/size", np.asarray(size, np.int32))], outputs=[sliced], suffix=f"{name}/slice")
    if not transpose:
        return sliced
    out = ctx.intermediate(name, src.dtype, size[::-1])
    ctx.emit("transpose", [sliced, ctx.const(f"{name}/perm", np.asarray([1, 0], np.int32))], outputs=[out],
             suffix=name)
    return out


@tf_op("BlockLSTMV2")
def block_lstm(ctx: ImportContext) -> None:
    if ctx.attr("use_peephole", False):
        raise ctx.fail("peephole connections are not supported; build the LSTM without use_peephole")
    clip = float(ctx.attr("cell_clip", 0.0))
    x, c0, h0, w, b = ctx.input(1), ctx.input(2), ctx.input(3), ctx.input(4), ctx.input(8)
    if len(x.shape) != 3 or len(w.shape) != 2:
        raise ctx.fail(f"x {list(x.shape)} and w {list(w.shape)} must be [time, batch, features] and "
                       "[features + units, 4 units]")
    steps, _, features = x.shape
    units = w.shape[1] // GATES
    seq_len = ctx.require_const(0, "seq_len_max")
    if int(seq_len) != steps:
        raise ctx.fail(f"seq_len_max {int(seq_len)} is not the sequence length {steps}; TFLite's sequence LSTM "
                       "runs every step")
    weights = [_part(ctx, w, [0, g * units], [features, units], f"w_{gate}", True) for g, gate in enumerate("ifco")]
    recurrent = [_part(ctx, w, [features, g * units], [units, units], f"u_{gate}", True)
                 for g, gate in enumerate("ifco")]
    biases = [_part(ctx, b, [g * units], [units], f"b_{gate}", False) for g, gate in enumerate("ifco")]
    inputs: list[Tensor | None] = [x, *weights, *recurrent, None, None, None, *biases, None, None, h0, c0,
                                   None, None, None, None]
    ctx.emit("unidirectional_sequence_lstm", inputs, SequenceLSTMAttrs(time_major=True, cell_clip=max(clip, 0.0)),
             outputs=[ctx.output(6)])


@reference("unidirectional_sequence_lstm", internals=("cell_state",))
def ref_sequence_lstm(node: Node, x: Any, *ins: Any) -> list[Any]:  # noqa: ANN401
    """The float LSTM with TensorFlow's BlockLSTMV2 (which also gives the cell state at every step, the internal
    value calibration observes for the integer kernel's 16-bit cell state)."""
    tf = tensorflow()
    a: SequenceLSTMAttrs = node.attrs  # type: ignore[assignment]
    absent = [*ins[8:11], *ins[15:17], *ins[19:23]]
    if a.activation is not Activation.TANH or any(t is not None for t in absent) or any(t is None for t in ins[:8]):
        raise ValueError(f"{node.name}: only the full tanh LSTM without peephole, projection or layer norm has a "
                         "reference")
    weights, recurrent, biases, h0, c0 = ins[0:4], ins[4:8], ins[11:15], ins[17], ins[18]
    w = tf.concat([tf.concat([tf.transpose(m) for m in weights], axis=1),
                   tf.concat([tf.transpose(m) for m in recurrent], axis=1)], axis=0)
    b = tf.concat(list(biases), axis=0)
    xs = x if a.time_major else tf.transpose(x, [1, 0, 2])
    units = int(w.shape[1]) // GATES
    batch = tf.shape(xs)[1]
    zeros = tf.zeros([units], xs.dtype)
    out = tf.raw_ops.BlockLSTMV2(seq_len_max=tf.cast(tf.shape(xs)[0], tf.int64), x=xs,
                                 cs_prev=tf.broadcast_to(tf.reshape(c0, [-1, units]), [batch, units]),
                                 h_prev=tf.broadcast_to(tf.reshape(h0, [-1, units]), [batch, units]), w=w, wci=zeros,
                                 wcf=zeros, wco=zeros, b=b, cell_clip=float(a.cell_clip), use_peephole=False)
    h, cs = out.h, out.cs
    return [h if a.time_major else tf.transpose(h, [1, 0, 2]), cs]
