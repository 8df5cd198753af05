"""Scale / zero-point arithmetic, against TensorFlow's FakeQuant op and exact math."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.ir import Graph, QuantParams, QuantRange, RangeSource
from converter.quantize.params import activation_params, bias_params, quantize_const, weight_params_int8
from converter.quantize.qmath import INT8, INT32, UINT8, Nudged, nudge, quantize_array, round_half_away


# ---------------------------------------------------------------- nudge == TensorFlow FakeQuant
def check_tf_grid(tf: Any, lo: float, hi: float, num_bits: int, narrow_range: bool, n: Nudged) -> None:  # noqa: ANN401
    """TF's FakeQuant output over a dense sweep lies on n's grid, hits every one of its levels, and its min / max
    are n's nudged min / max (up to the float32 rounding of TF's arithmetic: 2 ulps of the range's end)."""
    levels = (1 << num_bits) - 1 - (1 if narrow_range else 0)
    span = hi - lo
    x = np.concatenate([
        np.linspace(min(lo, 0.0) - span - 1.0, max(hi, 0.0) + span + 1.0, 2001),  # clamping on both sides
        np.linspace(float(n.min) - float(n.scale), float(n.max) + float(n.scale), 8 * levels + 1),  # every level
    ]).astype(np.float32)
    y = tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=num_bits,
                                                      narrow_range=narrow_range).numpy().astype(np.float64)
    ulps = 2 * float(np.spacing(np.float32(max(abs(float(n.min)), abs(float(n.max))))))
    assert abs(y.min() - float(n.min)) <= ulps, (lo, hi, y.min(), float(n.min))
    assert abs(y.max() - float(n.max)) <= ulps, (lo, hi, y.max(), float(n.max))
    k = (y - float(n.min)) / float(n.scale)
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert np.unique(np.round(k)).astype(int).tolist() == list(range(levels + 1))


def random_ranges(rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    """(min, max) pairs as float32 values: straddling zero, all positive, all negative, tiny and wide."""
    out = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            lo, hi = -rng.uniform(0, 10), rng.uniform(0.01, 10)
        elif kind == 1:
            lo, hi = sorted(rng.uniform(0.1, 5, 2))
        elif kind == 2:
            lo, hi = sorted(-rng.uniform(0.1, 5, 2))
        elif kind == 3:
            lo = -rng.uniform(0, 1e-3)
            hi = lo + rng.uniform(1e-3, 1e-2)
        else:
            lo, hi = -rng.uniform(10, 300), rng.uniform(10, 300)
        out.append((float(np.float32(lo)), float(np.float32(hi))))
    return out


@pytest.mark.parametrize("narrow_range", [False, True])
@pytest.mark.parametrize("num_bits", [8, 4])
def test_nudge_matches_tf_fake_quant_on_random_ranges(tf: Any, num_bits: int,  # noqa: ANN401
                                                      narrow_range: bool) -> None:
    rng = np.random.default_rng(num_bits * 2 + narrow_range)
    for lo, hi in random_ranges(rng, 40):
        n = nudge(np.float32(lo), np.float32(hi), num_bits, narrow_range)
        check_tf_grid(tf, lo, hi, num_bits, narrow_range, n)


# Ranges people write by hand in QAT graphs. For several, min / scale is an exact half in real arithmetic
# (-1, 1: 127.5), and TF's float32 Nudge rounds it the other way (127.49999 -> zero point 127).
COMMON_RANGES = [(-1.0, 1.0), (-0.5, 0.5), (-2.0, 2.0), (-0.1, 0.9), (0.0, 6.0), (-6.0, 6.0), (-3.0, 5.0),
                 (0.0, 1.0), (-8.0, 7.9375)]


@pytest.mark.parametrize("narrow_range", [False, True])
@pytest.mark.parametrize(("lo", "hi"), COMMON_RANGES)
def test_nudge_matches_tf_fake_quant_on_common_ranges(tf: Any, lo: float, hi: float,  # noqa: ANN401
                                                      narrow_range: bool) -> None:
    check_tf_grid(tf, lo, hi, 8, narrow_range, nudge(np.float32(lo), np.float32(hi), 8, narrow_range))


def test_nudge_clamps_zero_point_for_one_sided_ranges() -> None:
    """All-positive ranges start at 0 (zero point qmin), all-negative ones end at 0 (zero point qmax)."""
    n = nudge(np.array([2.0, -5.1]), np.array([7.1, -2.0]), 8, False)
    np.testing.assert_array_equal(n.zero_point, [0, 255])
    # FakeQuant ranges are float32 values: the span is computed from them exactly (in float64).
    span = np.float64(np.float32(7.1)) - 2.0, -2.0 - np.float64(np.float32(-5.1))
    np.testing.assert_allclose(n.scale, [span[0] / 255, span[1] / 255], rtol=1e-15)
    np.testing.assert_allclose(n.min, [0.0, -span[1]], rtol=1e-15)
    np.testing.assert_allclose(n.max, [span[0], 0.0], rtol=1e-15, atol=1e-15)
    nr = nudge(np.array(2.0), np.array(7.1), 8, True)
    assert int(nr.zero_point) == 1 and float(nr.min) == 0.0


# ---------------------------------------------------------------- rounding
@pytest.mark.parametrize(("x", "expected"), [
    (-2.5, -3.0), (2.5, 3.0), (-1.5, -2.0), (1.5, 2.0), (-0.5, -1.0), (0.5, 1.0), (0.49999997, 0.0),
    (2.4999999, 2.0), (-2.5000001, -3.0), (0.0, 0.0), (125.5, 126.0), (-125.5, -126.0),
])
def test_round_half_away_from_zero(x: float, expected: float) -> None:
    """C's std::round (what TF's and TFLite's kernels use), unlike numpy's round half to even."""
    assert float(round_half_away(np.array(x))) == expected


def test_round_half_away_vectorised() -> None:
    x = np.arange(-5, 6) + 0.5
    np.testing.assert_array_equal(round_half_away(x), np.where(x > 0, np.ceil(x), np.floor(x)))


# ---------------------------------------------------------------- quantize_array
@pytest.mark.parametrize(("ratio", "zp", "dtype", "narrow", "expected"), [
    (-2.5, 128, UINT8, False, 126),   # round(125.5) = 126, not round(-2.5) + 128 = 125
    (2.5, -128, INT8, False, -126),   # round(-125.5) = -126, not 3 - 128 = -125
    (2.5, 0, INT8, False, 3),
    (-0.5, 0, INT8, False, -1),
    (0.4, 3, UINT8, False, 3),
    (300.0, 0, UINT8, False, 255),    # clamped
    (-300.0, 0, INT8, False, -128),
    (-300.0, 0, INT8, True, -127),    # narrow range
    (-5.0, 10, UINT8, False, 5),
])
def test_quantize_array_adds_zero_point_before_rounding(ratio: float, zp: int, dtype: np.dtype, narrow: bool,
                                                        expected: int) -> None:
    scale = 0.25  # a power of two: x / scale is exactly ratio
    q = quantize_array(np.array([ratio * scale]), np.array(scale), np.array(zp), dtype, narrow_range=narrow)
    assert q.dtype == dtype and q.tolist() == [expected]


def test_quantize_array_per_channel() -> None:
    x = np.array([[1.0, -1.0, 0.375], [1.0, -1.0, 0.375]])
    q = quantize_array(x, np.array([0.5, 0.125]), np.array([0, 10]), UINT8, axis=0)
    assert q.dtype == UINT8
    np.testing.assert_array_equal(q, [[2, 0, 1], [18, 2, 13]])  # 0.375 / 0.5 = 0.75 -> 1; -1 / 0.5 clamps at 0


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(("shape", "axis"), [((4, 3, 3, 2), 0), ((1, 3, 3, 6), 3), ((5, 7), 0), ((4, 3, 3, 2), None)])
def test_symmetric_int8_weight_params(shape: tuple[int, ...], axis: int | None) -> None:
    rng = np.random.default_rng(7)
    data = rng.standard_normal(shape).astype(np.float32)
    if axis is not None:
        np.moveaxis(data, axis, 0)[1] = 0.0  # an all-zero channel must not give scale 0
    t = Graph().const("w", data)

    p = weight_params_int8(t, axis)

    channels = np.moveaxis(data, axis, 0).reshape(shape[axis], -1) if axis is not None else data.reshape(1, -1)
    absmax = np.abs(channels.astype(np.float64)).max(axis=1)
    expected = np.where(absmax > 0, absmax / 127, 1.0)
    assert p.dtype == INT8 and p.axis == axis
    np.testing.assert_array_equal(p.scale, expected)
    assert p.zero_point == (0,) * len(expected)
    # min / max are the tensor's range metadata: one pair for the whole tensor, also with per-channel scales.
    assert p.min == (-127 * expected.max(),) and p.max == (127 * expected.max(),)

    q = quantize_const(t, p, narrow_range=True)
    assert q.dtype == INT8 and q.shape == shape and q.min() >= -127
    bshape = [1] * len(shape)
    if axis is not None:
        bshape[axis] = -1
    s = expected.reshape(bshape)
    np.testing.assert_array_equal(q, np.sign(data / s) * np.floor(np.abs(data / s) + 0.5))
    q_channels = np.abs(np.moveaxis(q.astype(np.int64), axis, 0).reshape(len(expected), -1) if axis is not None
                        else q.astype(np.int64).reshape(1, -1)).max(axis=1)
    np.testing.assert_array_equal(q_channels, np.where(absmax > 0, 127, 0))
    assert np.all(np.abs(q * s - data) <= s / 2 + 1e-7)


def test_int8_weights_keep_symmetric_fake_quant_grid() -> None:
    """A symmetric narrow-range per-channel fake-quant range fixes the scale to max / 127 (not the data's max)."""
    data = np.array([[0.5, -0.25], [0.1, 0.2]], np.float32)
    t = Graph().const("w", data)
    t.qrange = QuantRange((-1.0, -0.5), (1.0, 0.5), 0, 8, True, True, RangeSource.FAKE_QUANT)
    p = weight_params_int8(t, 0)
    np.testing.assert_array_equal(p.scale, [1.0 / 127, 0.5 / 127])
    assert p.zero_point == (0, 0) and p.axis == 0


@pytest.mark.parametrize("narrow_range", [False, True])
@pytest.mark.parametrize(("lo", "hi"), [(-3.7, 5.2), (0.0, 6.0), (-6.0, 6.0), (-1.0, 1.0), (0.3, 2.0)])
def test_activation_params_for_fake_quant_range(tf: Any, lo: float, hi: float,  # noqa: ANN401
                                                narrow_range: bool) -> None:
    lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    r = QuantRange.per_tensor(lo32, hi32, RangeSource.FAKE_QUANT, fake_quant=True, narrow_range=narrow_range)
    n = nudge(np.array(lo32), np.array(hi32), 8, narrow_range)

    u8, i8 = activation_params(r, UINT8), activation_params(r, INT8)

    assert u8.dtype == UINT8 and i8.dtype == INT8 and u8.axis is None
    assert u8.scale == i8.scale == (float(n.scale),)
    assert u8.zero_point == (int(n.zero_point),) and i8.zero_point == (int(n.zero_point) - 128,)
    assert u8.min == i8.min == (float(n.min),) and u8.max == i8.max == (float(n.max),)
    # The parameters describe TF FakeQuant's grid: real = scale * (q - zero_point) for q on the 8-bit grid.
    check_tf_grid(tf, lo32, hi32, 8, narrow_range, n)


def test_activation_params_for_calibrated_range_include_zero() -> None:
    r = QuantRange.per_tensor(0.5, 2.0, RangeSource.CALIBRATION)
    u8, i8 = activation_params(r, UINT8), activation_params(r, INT8)
    assert u8.scale == i8.scale == (2.0 / 255,)
    assert u8.zero_point == (0,) and i8.zero_point == (-128,)
    assert u8.min == (0.0,) and u8.max == (2.0,)


@pytest.mark.parametrize("per_channel", [True, False])
def test_bias_params_scale_is_input_times_weight_scale(per_channel: bool) -> None:
    in_p = QuantParams(UINT8, (0.0235,), (131,))
    w_scales = (0.00123, 0.0021, 0.000517) if per_channel else (0.0042,)
    w_p = QuantParams(INT8, w_scales, (0,) * len(w_scales), axis=0 if per_channel else None)

    b = bias_params(in_p, w_p)

    assert b.dtype == INT32
    assert b.scale == tuple(0.0235 * s for s in w_scales)  # the exact float64 products
    assert b.zero_point == (0,) * len(w_scales)
    assert b.axis == (0 if per_channel else None)
    # A bias of real value v quantizes to round(v / (s_in * s_w)) with zero point 0.
    v = np.array([0.1, -0.2, 0.05][: len(w_scales)])
    q = quantize_array(v, np.array(b.scale), np.array(b.zero_point), INT32, axis=0 if per_channel else None)
    np.testing.assert_array_equal(q, round_half_away(v / np.array(b.scale)))


@pytest.mark.parametrize(("lo", "hi"), [(0.5, 2.0), (-3.0, 1.0), (-0.2, 7.0), (-1.0, 1.0)])
def test_zero_point_zero_covers_the_range(lo: float, hi: float) -> None:
    """Kernels that fill with the code 0 (MATRIX_DIAG, SCATTER_ND) get int8 parameters with zero point 0 that
    still cover the grid of the calibrated range: scale = max(|min|, |max|) / 127 of that grid, so the code 127 is
    its largest magnitude."""
    from converter.quantize.params import zero_point_zero

    p0 = activation_params(QuantRange.per_tensor(lo, hi, RangeSource.CALIBRATION), INT8)
    p = zero_point_zero(p0)
    assert p.zero_point == (0,)
    absmax = max(-p0.min[0], p0.max[0])
    # nudge computes in float32, as TensorFlow's FakeQuant does: a few float32 ulp (1.2e-7 each)
    np.testing.assert_allclose(p.scale[0], absmax / 127, rtol=1e-6)
    assert p.min[0] <= p0.min[0] * (1 - 1e-6) and p.max[0] >= p0.max[0] * (1 - 1e-6)
    u8 = activation_params(QuantRange.per_tensor(lo, hi, RangeSource.CALIBRATION), UINT8)
    assert zero_point_zero(u8) is u8  # no uint8 kernel relies on it


@pytest.mark.parametrize(("indices", "refused"), [([[1], [3]], False), ([[1], [1]], True), (None, True)])
def test_scatter_nd_with_repeated_or_runtime_indices_stays_float(indices: list[list[int]] | None,
                                                                 refused: bool) -> None:
    """SCATTER_ND adds the updates that land on one cell: in 8-bit codes that wraps around, so only constant,
    distinct indices run the int8 kernel."""
    from converter.quantize.quantizer import integer_kernel_refusal

    g = Graph()
    idx = g.tensor("idx", np.int32, (2, 1)) if indices is None else g.const("idx", np.array(indices, np.int32))
    upd = g.tensor("upd", np.float32, (2, 6))
    out = g.tensor("out", np.float32, (5, 6))
    node = g.add_node("scatter_nd", [idx, upd, g.const("shape", np.array([5, 6], np.int32))], [out])
    why = integer_kernel_refusal(node, INT8)
    assert (why is not None) == refused, why


@pytest.mark.parametrize("dtype", [INT8, UINT8, np.dtype(np.int16)])
@pytest.mark.parametrize("lo, hi", [(-4.0, 6.0), (0.0, 1.0), (-3.0, 0.0)])
def test_on_grid_is_quantize_then_dequantize_bit_for_bit(dtype: np.dtype, lo: float, hi: float) -> None:
    """The simulation's fast on_grid (float64 throughout, in chunks) equals dequantize_array(quantize_array(x)) in
    every bit (the sign of zero too), on random values, values beyond the range and exact halves of a step,
    across more than one chunk."""
    from converter.quantize import sensitivity
    from converter.quantize.qmath import dequantize_array

    p = activation_params(QuantRange.per_tensor(lo, hi, RangeSource.CALIBRATION), dtype)
    scale, zp = np.asarray(p.scale[0]), np.asarray(p.zero_point[0])
    rng = np.random.default_rng(0)
    halves = (np.arange(-600, 601) / 2.0 - int(zp)) * scale  # (k/2 - zp) * scale: x/scale + zp lands on halves
    x = np.concatenate([rng.uniform(2 * lo - 1, 2 * hi + 1, sensitivity.CHUNK + 1000), halves, [-0.0, 0.0]])
    for arr in (x.astype(np.float32), x):
        want = dequantize_array(quantize_array(arr, scale, zp, dtype), scale, zp)
        got = sensitivity.on_grid(arr.reshape(1, -1), p).reshape(-1)
        assert got.dtype == want.dtype
        assert np.array_equal(got.view(np.int64), want.view(np.int64))
