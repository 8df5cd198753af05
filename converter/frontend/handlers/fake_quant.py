"""Quantization-aware-training fake quant ops.

TF -> IR (absorbed into tensor ranges by the fake_quant pass):
  FakeQuantWithMinMaxVars(x, min, max)            -> fake_quant(x, min, max)
  FakeQuantWithMinMaxVarsPerChannel(x, min, max)  -> fake_quant(x, min, max), axis = last axis of x
  FakeQuantWithMinMaxArgs(x)                      -> fake_quant(x), min/max attributes
  QuantizeAndDequantizeV2/V3/V4(x, min, max)      -> fake_quant(x), min/max attributes: the same grid (below)

QuantizeAndDequantize (range_given, per-tensor, 8 bits) puts x on a grid with zero point 0: codes
[qmin, qmax] = [-128 (-127 narrow), 127] signed, [0, 255] unsigned, and step d = max(min / qmin, max / qmax)
(TensorFlow's kernel: scale 1 / d = min(qmin / min, qmax / max), the coarser side's, so the given range fits; the
other side widens to the grid): y = d * round(clamp(x, d * qmin, d * qmax) / d). That is FakeQuant's grid on
[d * qmin, d * qmax]: its step (max - min) / 255 (254 narrow) is d and its nudged zero point the code of 0, so the
fake-quant machinery applies: FLOAT writes QUANTIZE + DEQUANTIZE on that grid (as TensorFlow's converter does for V2
and V4), INT8 and uint8 take it as the tensor's range. TensorFlow rounds halves to even, LiteRT's QUANTIZE away
from zero: they differ only on exact ties. A range computed at run time (range_given=False), per-channel ranges
and other widths have no such form and are refused. narrow_range's lowest code (-127 d) is a MAXIMUM before it:
FakeQuant's codes stop there, QUANTIZE's uint8 codes one below.
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


@tf_op("QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3", "QuantizeAndDequantizeV4")
def quantize_and_dequantize(ctx: ImportContext) -> None:
    if not ctx.attr("range_given", False):
        raise ctx.fail("range_given=False takes the range from each input at run time; TFLite's QUANTIZE needs a "
                       "fixed range: give the range (range_given=True with constant input_min/input_max)")
    if int(ctx.attr("axis", -1)) != -1:
        raise ctx.fail("a per-channel range (axis != -1) has no TFLite form on an activation; use one range")
    bits = int(ctx.require_const(3, "num_bits")) if ctx.op_type == "QuantizeAndDequantizeV3" else \
        int(ctx.attr("num_bits", 8))
    if bits != 8:
        raise ctx.fail(f"num_bits={bits}: only 8-bit QuantizeAndDequantize converts (TFLite's QUANTIZE and "
                       "DEQUANTIZE hold 8-bit codes)")
    lo = float(np.asarray(ctx.require_const(1, "input_min")).reshape(()))
    hi = float(np.asarray(ctx.require_const(2, "input_max")).reshape(()))
    narrow = bool(ctx.attr("narrow_range", False))
    grid = qdq_grid(lo, hi, bool(ctx.attr("signed_input", True)), narrow)
    if grid is None:
        raise ctx.fail(f"the range [{lo}, {hi}] holds no quantization step (an empty range, or an unsigned one "
                       "with no positive values); give a range around the values")
    x = ctx.input(0)
    if narrow:  # the grid's codes stop at 1 (real -127 d): QUANTIZE's uint8 codes at 0, so clamp first
        low = ctx.intermediate("clamp", x.dtype, x.shape)
        ctx.emit("maximum", [x, ctx.const("lowest", np.asarray(grid[0], x.dtype))], outputs=[low], suffix="clamp")
        x = low
    ctx.emit("fake_quant", [x], FakeQuantAttrs(min=grid[0], max=grid[1], num_bits=8, narrow_range=narrow))


def qdq_grid(lo: float, hi: float, signed: bool, narrow: bool) -> tuple[float, float] | None:
    """The FakeQuant range [step * qmin, step * qmax] whose grid is QuantizeAndDequantize's for the given range
    (None: no step fits it). The step is computed in float32, as TensorFlow's kernel computes it."""
    f32 = np.float32
    qmin, qmax = (-127 if narrow else -128, 127) if signed else (0, 255)
    lo32, hi32 = f32(lo), f32(hi)
    from_min = f32(qmin) / lo32 if qmin * lo32 > 0 else np.inf
    from_max = f32(qmax) / hi32 if qmax * hi32 > 0 else np.inf
    if not np.isfinite(min(from_min, from_max)):
        return None
    step = lo32 / f32(qmin) if from_min < from_max else hi32 / f32(qmax)
    return float(f32(qmin) * step), float(f32(qmax) * step)


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
