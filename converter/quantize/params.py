"""From real-valued ranges to TFLite quantization parameters, and quantized constant data."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import QuantizationError
from ..ir import QuantParams, QuantRange, RangeSource, Tensor
from .qmath import (INT4, INT8, INT16, INT32, INT64, UINT8, mse_clip_range, nudge, quantize_array,
                    round_half_away, symmetric_params)

# int8 and uint8 grids are the same grid shifted by 128.
_SHIFT = {UINT8: 0, INT8: -128}


def activation_params(r: QuantRange, dtype: np.dtype) -> QuantParams:
    """Asymmetric per-tensor parameters for an activation range: the range nudged onto the 8-bit grid (FakeQuant's
    rule, which TOCO and TF's converter apply to fake-quant ranges of any num_bits, with its narrow_range);
    int8 uses the uint8 zero point - 128. int16 is symmetric (``int16_params``). Scales stay float64 until
    written, so biases derive from exact products. Computed once per range (its values by their bits: -0.0 is
    not 0.0 here) and type: ``quantize.grids.resolve_grids`` assigns every activation again for each precision
    plan it is asked about, and the nudge was most of its time."""
    return _activation_params(tuple(float(v).hex() for v in r.min), tuple(float(v).hex() for v in r.max),
                              r.fake_quant, r.narrow_range, np.dtype(dtype))


@lru_cache(maxsize=1 << 14)
def _activation_params(mins: tuple[str, ...], maxs: tuple[str, ...], fake_quant: bool, narrow_range: bool,
                       dtype: np.dtype) -> QuantParams:
    lo, hi = min(float.fromhex(v) for v in mins), max(float.fromhex(v) for v in maxs)
    if np.dtype(dtype) == INT16:
        return int16_params(lo, hi)
    if fake_quant:
        n = nudge(np.array(lo), np.array(hi), 8, narrow_range)
    else:
        n = nudge(np.array(min(lo, 0.0)), np.array(max(hi, 0.0)), 8, False)
    zp = int(n.zero_point) + _SHIFT[np.dtype(dtype)]
    return QuantParams(np.dtype(dtype), (float(n.scale),), (zp,), (float(n.min),), (float(n.max),))


def int16_params(lo: float, hi: float) -> QuantParams:
    """int16 activations: zero point 0 (LiteRT's int16 kernels require it), scale = max(|lo|, |hi|) / 32767, as
    TensorFlow's converter computes it; min/max metadata are the range (widened to contain 0). A tensor that is
    always 0 (an RNN's initial state times anything) gets the grid of [-1, 1]: any grid holds 0, and a scale of
    1 would break the int16 ADD's limit on input/output scale ratios (below 2^14), which LiteRT enforces by
    aborting."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    absmax = max(-lo, hi)
    scale = absmax / 32767 if absmax > 0 else 1.0 / 32767
    return QuantParams(INT16, (float(scale),), (0,), (lo,), (hi,))


def power_of_two_int16_params(absmax: float, min_exponent: int = -15, max_exponent: int = -9) -> QuantParams:
    """A 16-bit state (the sequence LSTM's cell state): int16, zero point 0, scale 2^e / 32768 for the smallest
    power of two 2^e >= ``absmax`` (TensorFlow's quantizer's bound), e clamped so the scale stays in
    [2^min_exponent, 2^max_exponent] (the LSTM kernel's tanh takes 0..6 integer bits: 2^-15 .. 2^-9)."""
    e = int(np.ceil(np.log2(absmax))) if absmax > 0 else 0
    scale = 2.0 ** (min(max(e - 15, min_exponent), max_exponent))
    return QuantParams(INT16, (scale,), (0,), (-32768 * scale,), (32767 * scale,))


def retype_params(p: QuantParams, dtype: np.dtype) -> QuantParams:
    """The same real range in another activation type: uint8 <-> int8 exactly (the zero point moves by 128),
    to or from int16 through the real range the parameters cover."""
    dtype = np.dtype(dtype)
    if dtype == p.dtype:
        return p
    if dtype in _SHIFT and p.dtype in _SHIFT:
        return shift_params(p, dtype)
    info = np.iinfo(p.dtype)
    scale, zp = p.scale[0], p.zero_point[0]
    lo, hi = (p.min[0], p.max[0]) if p.min else ((info.min - zp) * scale, (info.max - zp) * scale)
    return activation_params(QuantRange.per_tensor(lo, hi, RangeSource.PROPAGATED), dtype)


def zero_point_zero(p: QuantParams) -> QuantParams:
    """int8 parameters with zero point 0 covering ``p``'s real range: [-128 s, 127 s] with s = max(|min|, |max|)
    / 127 (on uint8's nudge grid its zero point is exactly 128). Other types are returned as they are (int16 has
    zero point 0 already; a uint8 grid with zero point 0 cannot hold negative values)."""
    if p.dtype != INT8 or p.zero_point == (0,):
        return p
    absmax = max(-p.min[0], p.max[0]) if p.min else 0.0
    s = absmax / 127 if absmax > 0 else p.scale[0]
    out = activation_params(QuantRange.per_tensor(-128 * s, 127 * s, RangeSource.PROPAGATED), INT8)
    assert out.zero_point == (0,), out
    return out


def fixed_params(scale: float, zero_point: int, dtype: np.dtype) -> QuantParams:
    info = np.iinfo(dtype)
    lo = (info.min - zero_point) * scale
    hi = (info.max - zero_point) * scale
    return QuantParams(np.dtype(dtype), (float(scale),), (int(zero_point),), (float(lo),), (float(hi),))


def input_stats_params(mean: float, std: float, dtype: np.dtype) -> QuantParams:
    """real = (q - mean) / std  =>  scale = 1 / std, zero point = mean (rounded as TOCO rounds it)."""
    scale = 1.0 / std
    zp = int(round_half_away(np.array(mean)))
    info = np.iinfo(dtype)
    if not info.min <= zp <= info.max:  # plan.check_mean refuses such a mean before any work
        raise QuantizationError(f"mean {mean} is outside the {np.dtype(dtype).name} range")
    return QuantParams(np.dtype(dtype), (float(scale),), (zp,),
                       (float((info.min - zp) * scale),), (float((info.max - zp) * scale),))


def shift_params(p: QuantParams, dtype: np.dtype) -> QuantParams:
    """The same real grid in another 8-bit type (uint8 <-> int8 differ by 128 in the zero point)."""
    delta = _SHIFT[np.dtype(dtype)] - _SHIFT[p.dtype]
    return QuantParams(np.dtype(dtype), p.scale, tuple(z + delta for z in p.zero_point), p.min, p.max, p.axis)


def weight_params_uint8(t: Tensor) -> QuantParams:
    """uint8 weights: asymmetric per-tensor. A fake-quant range is kept (the weights sit on its grid); otherwise the
    range is the MSE-optimal clipping of the data (qmath.mse_clip_range): with one scale for all channels, the full
    min/max would spend the grid on a few outlier channels (e.g. after batch-norm folding) and round the others
    to nothing."""
    r = t.qrange
    if r is not None and not r.per_channel:
        return activation_params(r, UINT8)
    if r is not None:
        lo, hi = min(r.min), max(r.max)
    else:
        lo, hi = mse_clip_range(np.asarray(t.data))
    return activation_params(QuantRange.per_tensor(lo, hi, RangeSource.WEIGHTS), UINT8)


def weight_params_int8(t: Tensor, axis: int | None) -> QuantParams:
    """int8 weights: symmetric, zero point 0, [-127, 127]; per channel along ``axis`` (None: per tensor).

    A fake-quant range that is symmetric on the narrow grid defines the grid itself, at its own granularity (a
    per-tensor range stays per-tensor so the trained values stay exact); otherwise the scale is each channel's
    largest magnitude / 127."""
    data = np.asarray(t.data, dtype=np.float64)
    r = t.qrange
    if r is not None and r.fake_quant:
        fq_axis = r.axis if r.per_channel and len(r.min) > 1 else None
        if fq_axis is None or fq_axis == axis:
            n = nudge(np.asarray(r.min if fq_axis is not None else min(r.min)),
                      np.asarray(r.max if fq_axis is not None else max(r.max)), 8, r.narrow_range)
            if np.all(n.zero_point == 128):
                scale = np.broadcast_to(n.scale, (data.shape[fq_axis],) if fq_axis is not None else ())
                return _int8_weight_params(scale, np.zeros(np.shape(scale), np.int64), fq_axis)
    scale, zp = symmetric_params(_absmax(data, axis))
    return _int8_weight_params(scale, zp, axis)


def weight_params_int4(t: Tensor, axis: int | None) -> QuantParams:
    """int4 weights: symmetric, zero point 0, [-7, 7] (never -8, which LiteRT's optimized hybrid 4-bit kernel reads
    as +8); per channel along ``axis`` (None: per tensor), scale = each channel's largest magnitude / 7."""
    scale, zp = symmetric_params(_absmax(np.asarray(t.data, dtype=np.float64), axis), INT4)
    return _int8_weight_params(scale, zp, axis, INT4)


def _absmax(data: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is None:
        return np.abs(data).max(initial=0.0)
    return np.abs(np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1)).max(axis=1, initial=0.0)


def _int8_weight_params(scale: np.ndarray, zp: np.ndarray, axis: int | None, dtype: np.dtype = INT8) -> QuantParams:
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    # min/max are the tensor's range metadata: one pair for the whole tensor, also when scales are per channel.
    top = float((7 if dtype == INT4 else 127) * scale.max())
    return QuantParams(dtype, tuple(float(s) for s in scale), tuple(int(z) for z in zp.reshape(-1)),
                       (-top,), (top,), axis)


def bias_params(input_p: QuantParams, weight_p: QuantParams) -> QuantParams:
    """int32 bias (int64 for int16 inputs): scale = input_scale * weight_scale[c] from the unrounded float64 scales
    (as TF's converter computes it; the runtime's check allows 2% of the output scale), zero point 0."""
    s = float(input_p.scale[0]) * np.asarray(weight_p.scale, dtype=np.float64)
    axis = 0 if weight_p.axis is not None else None
    dtype = INT64 if input_p.dtype == INT16 else INT32
    return QuantParams(dtype, tuple(float(v) for v in s), (0,) * len(s), (), (), axis)


def quantize_const(t: Tensor, p: QuantParams, narrow_range: bool = False) -> np.ndarray:
    """The constant's data in ``p``'s integer type (round half away from zero, clamped; int8 weights use the
    narrow range [-127, 127])."""
    return quantize_array(np.asarray(t.data), np.asarray(p.scale), np.asarray(p.zero_point), p.dtype, p.axis,
                          narrow_range=narrow_range)
