"""Scale / zero-point arithmetic of TFLite's 8-bit quantization: real = scale * (q - zero_point).

All functions are vectorised over channels and work in float64; scales are rounded to float32 where they are
written, since that is what the runtime reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

UINT8 = np.dtype(np.uint8)
INT4 = np.dtype(ml_dtypes.int4)  # TFLite INT4; packed two per byte by the writer
INT8 = np.dtype(np.int8)
INT16 = np.dtype(np.int16)
INT32 = np.dtype(np.int32)
INT64 = np.dtype(np.int64)


@dataclass(frozen=True)
class Nudged:
    """A range moved onto the quantization grid so that 0.0 is exactly representable."""

    min: np.ndarray
    max: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray  # in [quant_min, quant_max] of the num_bits grid


def quant_bounds(num_bits: int, narrow_range: bool) -> tuple[int, int]:
    """Integer grid of TensorFlow's FakeQuant: [0, 2^bits - 1], or [1, 2^bits - 1] with narrow_range."""
    return (1 if narrow_range else 0), (1 << num_bits) - 1


def nudge(lo: np.ndarray, hi: np.ndarray, num_bits: int = 8, narrow_range: bool = False) -> Nudged:
    """TensorFlow FakeQuant's nudging (fake_quant_ops_functor.h):

        scale = (hi - lo) / (qmax - qmin)
        zp_from_min = qmin - lo / scale
        zp = clamp(round_half_away(zp_from_min), qmin, qmax)
        nudged_lo = (qmin - zp) * scale,  nudged_hi = (qmax - zp) * scale

    The zero point is computed in float32 exactly as the kernel does, so the grid is the one the training graph
    simulated (in float64 it moves by a whole step when lo / scale is an exact half, e.g. for [-1, 1]). The scale
    is kept in float64, as TensorFlow's converter keeps it; it differs from the kernel's float32 scale by at most
    an ulp, and is rounded to float32 when written."""
    f32 = np.float32
    qmin_i, qmax_i = quant_bounds(num_bits, narrow_range)
    lo32, hi32 = np.asarray(lo, dtype=f32), np.asarray(hi, dtype=f32)
    span32 = (hi32 - lo32).astype(f32)
    scale32 = np.where(span32 > 0, span32 / f32(qmax_i - qmin_i), f32(1.0)).astype(f32)
    zp_from_min = (f32(qmin_i) - lo32 / scale32).astype(f32)
    zp = np.clip(round_half_away(zp_from_min), qmin_i, qmax_i).astype(np.int64)
    lo64, hi64 = lo32.astype(np.float64), hi32.astype(np.float64)
    span = hi64 - lo64
    scale = np.where(span > 0, span / (qmax_i - qmin_i), 1.0)
    return Nudged(min=(qmin_i - zp) * scale, max=(qmax_i - zp) * scale, scale=scale, zero_point=zp)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's std::round: halves go away from zero (numpy's round goes to even)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def asymmetric_params(lo: np.ndarray, hi: np.ndarray, dtype: np.dtype,
                      narrow_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point mapping [lo, hi] (widened to contain 0) onto ``dtype``'s range."""
    lo = np.minimum(np.asarray(lo, dtype=np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, dtype=np.float64), 0.0)
    info = np.iinfo(dtype)
    qmin, qmax = int(info.min) + (1 if narrow_range else 0), int(info.max)
    span = hi - lo
    scale = np.where(span > 0, span / (qmax - qmin), 1.0)
    zp = np.clip(round_half_away(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return scale, zp


def symmetric_params(absmax: np.ndarray, dtype: np.dtype = INT8) -> tuple[np.ndarray, np.ndarray]:
    """Scale mapping [-absmax, absmax] onto [-qmax, qmax] (weights: zero point 0, narrow range): int8 [-127, 127],
    int4 [-7, 7]."""
    absmax = np.asarray(absmax, dtype=np.float64)
    qmax = 7 if np.dtype(dtype) == INT4 else np.iinfo(dtype).max
    scale = np.where(absmax > 0, absmax / qmax, 1.0)
    return scale, np.zeros(scale.shape, dtype=np.int64)


def _along(scale: np.ndarray, zero_point: np.ndarray, ndim: int,
           axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point shaped to broadcast against an ndim-array: per channel along ``axis``, or scalars."""
    scale = np.asarray(scale, dtype=np.float64)
    zp = np.asarray(zero_point, dtype=np.int64)
    if axis is None:
        return scale.reshape(()), zp.reshape(())
    shape = [1] * ndim
    shape[axis] = -1
    return scale.reshape(shape), zp.reshape(shape)


def quantize_array(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, dtype: np.dtype,
                   axis: int | None = None, narrow_range: bool = False) -> np.ndarray:
    """q = clamp(round_half_away(x / scale + zero_point)) in ``dtype``; per-channel along ``axis`` if given.
    The zero point is added before rounding, as TF's converter does (it matters for exact halves)."""
    x = np.asarray(x)
    if np.dtype(dtype) == INT4:  # int4 weights: [-7, 7] (an optimized 4-bit kernel of LiteRT reads -8 as +8)
        return quantize_array(x, scale, zero_point, INT8, axis, narrow_range).clip(-7, 7).astype(INT4)
    scale, zp = _along(scale, zero_point, x.ndim, axis)
    info = np.iinfo(dtype)
    lo = int(info.min) + (1 if narrow_range else 0)
    # In place on one float64 array (weights can be large): round half away = sign(v) * floor(|v| + 0.5).
    q = np.asarray(np.divide(x, scale, dtype=np.float64))
    q += zp
    negative = np.signbit(q)
    np.abs(q, out=q)
    q += 0.5
    np.floor(q, out=q)
    np.negative(q, out=q, where=negative)
    np.clip(q, lo, int(info.max), out=q)
    return q.astype(dtype)


def dequantize_array(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray,
                     axis: int | None = None) -> np.ndarray:
    """real = scale * (q - zero_point); per-channel along ``axis`` if given."""
    scale, zp = _along(scale, zero_point, q.ndim, axis)
    return (q.astype(np.int64) - zp) * scale


def mse_clip_range(x: np.ndarray, candidates: int = 64, min_fraction: float = 0.2) -> tuple[float, float]:
    """The range [f*lo, f*hi] (lo/hi: the data's min/max widened to 0, f in [min_fraction, 1]) whose asymmetric
    8-bit quantization (nudged as the runtime will use it) gives the smallest mean squared error on ``x``,
    clipping included."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    lo0, hi0 = min(float(x.min(initial=0.0)), 0.0), max(float(x.max(initial=0.0)), 0.0)
    if hi0 <= lo0:
        return lo0, hi0
    best, best_err = (lo0, hi0), np.inf
    q, sign = np.empty_like(x), np.empty_like(x)  # in place: the same operations as round_half_away and the
    for f in np.linspace(1.0, min_fraction, candidates):  # error's formula, bit for bit, without allocations
        n = nudge(np.array(lo0 * f), np.array(hi0 * f), 8, False)
        np.divide(x, n.scale, out=q)
        q += n.zero_point
        np.sign(q, out=sign)
        np.abs(q, out=q)
        q += 0.5
        np.floor(q, out=q)
        q *= sign
        np.clip(q, 0, 255, out=q)
        q -= n.zero_point
        q *= n.scale
        q -= x
        np.square(q, out=q)
        err = float(np.mean(q))
        if err < best_err:
            best, best_err = (lo0 * f, hi0 * f), err
    return best


def entropy_clip(x: np.ndarray, levels: int = 128, bins: int = 2048, stride: int = 16) -> float:
    """The threshold T on |x| minimising KL(P || Q): P is the histogram of |x| over [0, T] (``bins`` bins over
    [0, max|x|]) with the values above T folded into its last bin; Q is the same histogram without them, merged
    into ``levels`` equal groups and spread back evenly over each group's non-empty bins (what a ``levels``-step
    quantizer clipping at T keeps). Candidates: every ``stride``-th bin edge from ``levels`` bins up (Migacz 2017,
    'Calibration of 8-bit inference', TensorRT), Q smoothed where it is empty and P is not."""
    a = np.abs(np.asarray(x, dtype=np.float64).reshape(-1))
    top = float(a.max(initial=0.0))
    if top == 0.0:
        return 0.0
    hist = np.histogram(a, bins=bins, range=(0.0, top))[0].astype(np.float64)
    best, best_kl = bins, np.inf
    for i in range(levels, bins + 1, stride):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        live = hist[:i] > 0
        starts = np.linspace(0, i, levels + 1).astype(int)[:-1]
        group = np.searchsorted(starts, np.arange(i), side="right") - 1
        mass = np.add.reduceat(hist[:i], starts)
        count = np.add.reduceat(live.astype(np.float64), starts)
        q = np.where(live, mass[group] / np.maximum(count[group], 1), 0.0)
        keep = p > 0
        if not q.any():
            continue  # every value beyond the candidate: nothing of P kept
        ps, qs = p[keep] / p.sum(), q[keep] / q.sum()
        qs = np.maximum(qs, 1e-4 / keep.sum())  # Q empty where P is not (folded outliers): smoothed, not infinite
        kl = float(np.sum(ps * np.log(ps / qs)))
        if kl < best_kl:
            best, best_kl = i, kl
    return best * top / bins
