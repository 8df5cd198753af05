"""FFTs and complex numbers (tf.signal.rfft / rfft2d / stft, tf.abs / real / imag of their results).

TF -> IR:
  RFFT(x [..., n], fft_length [L])        -> reshape(x, [..., 1, n]) -> rfft2d(., [1, L]) -> reshape [..., L/2+1]
  RFFT2D(x [..., m, n], fft_length [K, L]) -> rfft2d(x, fft_length)                         (complex64 result)
  ComplexAbs, Real, Imag                  -> complex_abs, real, imag                         (float32 results)
LiteRT has a 2-D real FFT only; a 1-D one runs over a unit axis, as TensorFlow's converter writes it. Its kernel
takes power-of-two FFT lengths (Prepare refuses others), so the importer refuses them with that reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir import Node
from ...ir.attrs import ReshapeAttrs
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference, tf_op


def _fft_lengths(ctx: ImportContext, count: int) -> np.ndarray:
    data = ctx.const_input(1)
    if data is None:
        raise ctx.fail("the FFT length is computed at run time; TFLite's RFFT2D needs it constant (fix the shapes "
                       "with --input_shapes)")
    lengths = np.asarray(data, np.int32).reshape(-1)
    if lengths.size != count or any(n <= 0 or n & (n - 1) for n in lengths.tolist()):
        raise ctx.fail(f"FFT length {lengths.tolist()}: LiteRT's RFFT2D takes power-of-two lengths only")
    return lengths


@tf_op("RFFT")
def rfft(ctx: ImportContext) -> None:
    x = ctx.input(0)
    (n,) = _fft_lengths(ctx, 1)
    lead = tuple(x.shape[:-1])
    planar = ctx.intermediate("planar", x.dtype, (*lead, 1, x.shape[-1]))
    ctx.emit("reshape", [x], ReshapeAttrs(new_shape=planar.shape), outputs=[planar], suffix="planar")
    spectrum = ctx.intermediate("spectrum", np.complex64, (*lead, 1, int(n) // 2 + 1))
    ctx.emit("rfft2d", [planar, ctx.const("fft_length", np.array([1, n], np.int32))], outputs=[spectrum],
             suffix="rfft2d")
    ctx.emit("reshape", [spectrum], ReshapeAttrs(new_shape=(*lead, int(n) // 2 + 1)))


@tf_op("RFFT2D")
def rfft2d(ctx: ImportContext) -> None:
    ctx.emit("rfft2d", [ctx.input(0), ctx.const("fft_length", _fft_lengths(ctx, 2))])


@tf_op("ComplexAbs", "Real", "Imag")
def complex_part(ctx: ImportContext) -> None:
    if ctx.input(0).dtype != np.complex64:
        raise ctx.fail(f"{ctx.input(0).dtype} input; TFLite's {ctx.op_type} kernel takes complex64")
    ctx.emit({"ComplexAbs": "complex_abs", "Real": "real", "Imag": "imag"}[ctx.op_type], [ctx.input(0)])


# ---------------------------------------------------------------- references
@reference("rfft2d")
def ref_rfft2d(node: Node, x: Any, fft_length: Any) -> list[Any]:  # noqa: ANN401
    return [tensorflow().signal.rfft2d(x, fft_length)]


@reference("complex_abs", "real", "imag")
def ref_complex_part(node: Node, z: Any) -> list[Any]:  # noqa: ANN401
    tf = tensorflow()
    return [{"complex_abs": tf.abs, "real": tf.math.real, "imag": tf.math.imag}[node.op](z)]
