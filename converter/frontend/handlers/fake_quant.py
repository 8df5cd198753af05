"""Quantization-aware-training fake quant ops.

TF -> IR (absorbed into tensor ranges by the fake_quant pass):
  FakeQuantWithMinMaxVars(x, min, max)            -> fake_quant(x, min, max)
  FakeQuantWithMinMaxVarsPerChannel(x, min, max)  -> fake_quant(x, min, max), axis = last axis of x
  FakeQuantWithMinMaxArgs(x)                      -> fake_quant(x), min/max attributes
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import FakeQuantAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op


def _common(ctx: ImportContext) -> dict[str, Any]:
    bits = int(ctx.attr("num_bits", 8))
    if not 2 <= bits <= 8:
        raise ctx.fail(f"num_bits={bits}; only 2..8-bit fake quantization converts to 8-bit TFLite")
    return {"num_bits": bits, "narrow_range": bool(ctx.attr("narrow_range", False))}


@tf_op("FakeQuantWithMinMaxVars")
def fake_quant_vars(ctx: ImportContext) -> None:
    ctx.emit("fake_quant", ctx.inputs()[:3], FakeQuantAttrs(**_common(ctx)))


@tf_op("FakeQuantWithMinMaxVarsPerChannel")
def fake_quant_per_channel(ctx: ImportContext) -> None:
    axis = len(ctx.input(0).shape) - 1
    ctx.emit("fake_quant", ctx.inputs()[:3], FakeQuantAttrs(axis=axis, **_common(ctx)))


@tf_op("FakeQuantWithMinMaxArgs")
def fake_quant_args(ctx: ImportContext) -> None:
    attrs = FakeQuantAttrs(min=float(ctx.attr("min", -6.0)), max=float(ctx.attr("max", 6.0)), **_common(ctx))
    ctx.emit("fake_quant", [ctx.input(0)], attrs)


@reference("fake_quant_barrier")
def ref_fake_quant_barrier(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    """A fake-quant point kept as a fusion barrier (passes/fake_quant.py): its range is on x, y = x."""
    return [x]


@reference("fake_quant")
def ref_fake_quant(node: Node, x: Any, lo: Any = None, hi: Any = None) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    a: FakeQuantAttrs = node.attrs  # type: ignore[assignment]
    q = tf.quantization
    if a.min is not None and a.max is not None:
        return [q.fake_quant_with_min_max_args(x, a.min, a.max, num_bits=a.num_bits, narrow_range=a.narrow_range)]
    if a.axis is not None:
        return [q.fake_quant_with_min_max_vars_per_channel(x, lo, hi, num_bits=a.num_bits,
                                                           narrow_range=a.narrow_range)]
    return [q.fake_quant_with_min_max_vars(x, lo, hi, num_bits=a.num_bits, narrow_range=a.narrow_range)]


@reference("quantize")
def ref_quantize(node: Node, x: Any) -> list[Any]:  # noqa: ANN401
    """QUANTIZE as LiteRT computes it: q = clamp(round_half_away(real / s) + z) in the output's integer type (an
    integer input is requantized from its own parameters)."""
    tf = tensorflow()
    src, out = node.input(0), node.output
    p = out.quant
    if p is None or p.per_channel:
        raise ValueError(f"{node.name}: quantize needs per-tensor parameters on its output")
    real = tf.cast(x, tf.float64)
    if src.quant is not None:
        real = (real - float(src.quant.zero_point[0])) * float(src.quant.scale[0])
    scaled = real / float(np.float32(p.scale[0]))
    q = tf.sign(scaled) * tf.floor(tf.abs(scaled) + 0.5) + float(p.zero_point[0])
    info = np.iinfo(out.dtype)
    return [tf.cast(tf.clip_by_value(q, float(info.min), float(info.max)), tf.as_dtype(out.dtype))]


@reference("dequantize")
def ref_dequantize(node: Node, q: Any) -> list[Any]:  # noqa: ANN401
    """DEQUANTIZE: real = s * (q - z)."""
    tf = tensorflow()
    p = node.input(0).quant
    if p is None or p.per_channel:
        raise ValueError(f"{node.name}: dequantize needs per-tensor parameters on its input")
    real = (tf.cast(q, tf.float32) - float(p.zero_point[0])) * float(np.float32(p.scale[0]))
    return [tf.cast(real, tf.as_dtype(node.output.dtype))]
