"""Array and shape ops, with variants (ranks 0-5, negative axes, operands fed as tensors, broadcasting, every
attribute): each one-op graph converts and its .tflite matches TensorFlow in LiteRT (FLOAT within 1e-5 relative,
integer results exactly). INT8 rows compare SQNR with TensorFlow's converter on the same graph and samples
(slow, but for a few in the default run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.support.oneop import Case, OneOp, Spec, build_all, check_float, qconvert_int8, run_litert, sqnr_db, \
    tf_convert_int8

RNG = np.random.default_rng(23)
F, I = "float32", "int32"
N = 2  # samples per case


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal((N, *shape)).astype(np.float32)


def _same(*values: Any, dtype: str = I) -> np.ndarray:  # noqa: ANN401
    """The same operand value for every sample."""
    return np.stack([np.asarray(values[0] if len(values) == 1 else values, dtype)] * N)


def _rounded(*shape: int) -> np.ndarray:
    """Values with repeats (for Unique)."""
    return np.round(RNG.standard_normal((N, *shape)) * 1.5).astype(np.float32)


X143 = [Spec(F, (1, 4, 3))]
CASES: dict[str, Case] = {
    # BroadcastTo
    "broadcast_to": (X143, [_x(1, 4, 3)], lambda tf, x: tf.broadcast_to(x, [2, 4, 3])),
    "broadcast_to_rank5": ([Spec(F, (1, 3))], [_x(1, 3)], lambda tf, x: tf.broadcast_to(x, [2, 1, 2, 4, 3])),
    "broadcast_to_scalar": ([Spec(F, ())], [_x()], lambda tf, x: tf.broadcast_to(x, [2, 3])),
    # GatherNd, Gather
    "gather_nd": (X143, [_x(1, 4, 3)], lambda tf, x: tf.gather_nd(x, [[0, 1], [0, 3]])),
    "gather_nd_full": (X143, [_x(1, 4, 3)], lambda tf, x: tf.gather_nd(x, [[0, 1, 2], [0, 3, 0]])),
    "gather_nd_indices_input": ([Spec(F, (1, 4, 3)), Spec(I, (2, 2))], [_x(1, 4, 3), _same([[0, 2], [0, 0]])],
                                lambda tf, x, i: tf.gather_nd(x, i)),
    "gather_batch_dims": ([Spec(F, (2, 4, 3))], [_x(2, 4, 3)],
                          lambda tf, x: tf.gather(x, [[1, 3], [0, 0]], axis=1, batch_dims=1)),
    "gather_negative_axis": (X143, [_x(1, 4, 3)], lambda tf, x: tf.gather(x, [2, 0], axis=-1)),
    "gather_embedding": ([Spec(I, (1, 5))], [_same([[3, 1, 0, 3, 2]])],
                         lambda tf, i: tf.nn.embedding_lookup(np.arange(12, dtype=np.float32).reshape(4, 3), i)),
    # ScatterNd, TensorScatter*, SparseToDense
    "scatter_nd": ([Spec(F, (2, 3))], [_x(2, 3)], lambda tf, u: tf.scatter_nd([[1], [3]], u, [5, 3])),
    "scatter_nd_inputs": ([Spec(I, (2, 1)), Spec(F, (2, 3))], [_same([[4], [0]]), _x(2, 3)],
                          lambda tf, i, u: tf.scatter_nd(i, u, [5, 3])),
    "tensor_scatter_update": ([Spec(F, (1, 5, 3)), Spec(F, (2, 3))], [_x(1, 5, 3), _x(2, 3)],
                              lambda tf, x, u: tf.tensor_scatter_nd_update(x, [[0, 1], [0, 4]], u)),
    "tensor_scatter_add": ([Spec(F, (1, 5, 3)), Spec(F, (2, 3))], [_x(1, 5, 3), _x(2, 3)],
                           lambda tf, x, u: tf.tensor_scatter_nd_add(x, [[0, 1], [0, 1]], u)),
    "tensor_scatter_sub": ([Spec(F, (1, 5, 3)), Spec(F, (2, 3))], [_x(1, 5, 3), _x(2, 3)],
                           lambda tf, x, u: tf.tensor_scatter_nd_sub(x, [[0, 2], [0, 0]], u)),
    "tensor_scatter_max": ([Spec(F, (1, 5, 3)), Spec(F, (2,))], [_x(1, 5, 3), _x(2)],
                           lambda tf, x, u: tf.tensor_scatter_nd_max(x, [[0, 2, 1], [0, 0, 2]], u)),
    "tensor_scatter_min": ([Spec(F, (1, 5, 3)), Spec(F, (2,))], [_x(1, 5, 3), _x(2)],
                           lambda tf, x, u: tf.tensor_scatter_nd_min(x, [[0, 2, 1], [0, 0, 2]], u)),
    "tensor_scatter_indices_input": ([Spec(F, (1, 5, 3)), Spec(I, (2, 2)), Spec(F, (2, 3))],
                                     [_x(1, 5, 3), _same([[0, 3], [0, 1]]), _x(2, 3)],
                                     lambda tf, x, i, u: tf.tensor_scatter_nd_update(x, i, u)),
    "sparse_to_dense": ([Spec(F, (3,))], [_x(3)],
                        lambda tf, v: tf.raw_ops.SparseToDense(sparse_indices=[[0, 1], [1, 2], [3, 0]],
                                                               output_shape=[4, 3], sparse_values=v,
                                                               default_value=0.5)),
    # OneHot
    "one_hot": ([Spec(I, (1, 4))], [_same([[0, 3, 1, 4]])], lambda tf, i: tf.one_hot(i, 5)),
    "one_hot_axis1_values": ([Spec(I, (1, 4))], [_same([[2, 0, 7, -1]])],
                             lambda tf, i: tf.one_hot(i, 5, on_value=2.0, off_value=-1.0, axis=1)),
    # Range over constants (folded), Fill
    "range_consts": ([Spec(F, (1, 4))], [_x(1, 4)], lambda tf, x: x + tf.cast(tf.range(4), tf.float32)),
    # ReverseSequence
    "reverse_sequence": ([Spec(F, (2, 5, 3))], [_x(2, 5, 3)],
                         lambda tf, x: tf.reverse_sequence(x, [3, 5], seq_axis=1, batch_axis=0)),
    "reverse_sequence_lengths_input": ([Spec(F, (2, 5, 3)), Spec(I, (3,))], [_x(2, 5, 3), _same([2, 0, 5])],
                                       lambda tf, x, n: tf.reverse_sequence(x, n, seq_axis=1, batch_axis=2)),
    # Matrices
    "matrix_band_part": ([Spec(F, (1, 4, 5))], [_x(1, 4, 5)], lambda tf, x: tf.linalg.band_part(x, 1, 2)),
    "matrix_band_part_lower_all": ([Spec(F, (1, 4, 5))], [_x(1, 4, 5)], lambda tf, x: tf.linalg.band_part(x, -1, 0)),
    "matrix_band_part_bounds_input": ([Spec(F, (1, 4, 5)), Spec(I, ()), Spec(I, ())],
                                      [_x(1, 4, 5), _same(0), _same(-1)],
                                      lambda tf, x, lo, hi: tf.linalg.band_part(x, lo, hi)),
    "matrix_diag": ([Spec(F, (1, 4))], [_x(1, 4)], lambda tf, d: tf.linalg.diag(d)),
    "matrix_diag_v1": ([Spec(F, (2, 3))], [_x(2, 3)], lambda tf, d: tf.raw_ops.MatrixDiag(diagonal=d)),
    "matrix_set_diag": ([Spec(F, (1, 4, 4)), Spec(F, (1, 4))], [_x(1, 4, 4), _x(1, 4)],
                        lambda tf, x, d: tf.linalg.set_diag(x, d)),
    "matrix_set_diag_v1": ([Spec(F, (2, 3, 3)), Spec(F, (2, 3))], [_x(2, 3, 3), _x(2, 3)],
                           lambda tf, x, d: tf.raw_ops.MatrixSetDiag(input=x, diagonal=d)),
    # TopK, Unique, Where, Bucketize
    "topk_values": ([Spec(F, (1, 6))], [_x(1, 6)], lambda tf, x: tf.math.top_k(x, 3).values),
    "topk_indices": ([Spec(F, (2, 6))], [_x(2, 6)], lambda tf, x: tf.math.top_k(x, 2).indices),
    "topk_k_input": ([Spec(F, (1, 6)), Spec(I, ())], [_x(1, 6), np.array([4, 1], np.int32)],
                     lambda tf, x, k: tf.math.top_k(x, k).values),
    "unique_values": ([Spec(F, (8,))], [_rounded(8)], lambda tf, x: tf.unique(x).y),
    "unique_indices": ([Spec(F, (8,))], [_rounded(8)], lambda tf, x: tf.unique(x).idx),
    "where_coordinates": ([Spec(F, (2, 3))], [_x(2, 3)], lambda tf, x: tf.where(x > 0.0)),
    "bucketize": ([Spec(F, (1, 6))], [_x(1, 6)],
                  lambda tf, x: tf.raw_ops.Bucketize(input=x, boundaries=[-1.0, 0.0, 0.5])),
    # Roll
    "roll": (X143, [_x(1, 4, 3)], lambda tf, x: tf.roll(x, 2, axis=1)),
    "roll_two_axes_negative": (X143, [_x(1, 4, 3)], lambda tf, x: tf.roll(x, [-1, 5], axis=[-1, 1])),
    "roll_shift_input": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), np.array([1, -6], np.int32)],
                         lambda tf, x, s: tf.roll(x, s, axis=1)),
    # Select (v1) with a condition per row, single-input ConcatV2, other forms of existing ops
    "select_rows": ([Spec("bool", (2,)), Spec(F, (2, 3)), Spec(F, (2, 3))],
                    [np.array([[True, False], [False, True]]), _x(2, 3), _x(2, 3)],
                    lambda tf, c, a, b: tf.compat.v1.where(c, a, b)),
    "select_scalar_cond": ([Spec("bool", ()), Spec(F, (2, 3))], [np.array([True, False]), _x(2, 3)],
                           lambda tf, c, a: tf.raw_ops.Select(condition=c, x=a, y=-a)),
    "concat_single_input": (X143, [_x(1, 4, 3)], lambda tf, x: tf.concat([x], 1)),  # an Identity as the output
    "expand_dims_negative": (X143, [_x(1, 4, 3)], lambda tf, x: tf.expand_dims(x, -2)),
    "expand_dims_scalar": ([Spec(F, ())], [_x()], lambda tf, x: tf.expand_dims(x, 0)),
    "squeeze_negative": ([Spec(F, (1, 4, 1, 3))], [_x(1, 4, 1, 3)], lambda tf, x: tf.squeeze(x, -2)),
    "pack_negative_axis": (X143, [_x(1, 4, 3)], lambda tf, x: tf.stack([x, -x], axis=-1)),
    "unpack_negative_axis": (X143, [_x(1, 4, 3)], lambda tf, x: tf.unstack(x, axis=-2)[3]),
    "split_v_minus_one": ([Spec(F, (1, 7, 2))], [_x(1, 7, 2)], lambda tf, x: tf.split(x, [2, -1, 1], axis=-2)[1]),
    "transpose_rank5": ([Spec(F, (1, 2, 3, 2, 2))], [_x(1, 2, 3, 2, 2)],
                        lambda tf, x: tf.transpose(x, [0, 4, 2, 1, 3])),
    "tile_rank5": ([Spec(F, (1, 2, 1, 2, 2))], [_x(1, 2, 1, 2, 2)], lambda tf, x: tf.tile(x, [1, 1, 3, 1, 2])),
    "slice_size_minus_one": (X143, [_x(1, 4, 3)], lambda tf, x: tf.slice(x, [0, 1, 1], [-1, -1, 2])),
    "strided_slice_shrink_negative": ([Spec(F, (1, 6, 4))], [_x(1, 6, 4)], lambda tf, x: x[0, ::-2, -1]),
    "strided_slice_ellipsis": ([Spec(F, (1, 2, 6, 4))], [_x(1, 2, 6, 4)], lambda tf, x: x[..., 1:5:2, 0]),
    "strided_slice_new_axis": (X143, [_x(1, 4, 3)], lambda tf, x: x[:, tf.newaxis, 1:, tf.newaxis]),
    "strided_slice_ellipsis_new_axis": (X143, [_x(1, 4, 3)], lambda tf, x: x[tf.newaxis, ..., 1]),
    "reverse_negative_axes": (X143, [_x(1, 4, 3)], lambda tf, x: tf.reverse(x, [-1, -2])),
    "depth_to_space": ([Spec(F, (1, 2, 2, 8))], [_x(1, 2, 2, 8)], lambda tf, x: tf.nn.depth_to_space(x, 2)),
    "mirror_pad_symmetric": (X143, [_x(1, 4, 3)], lambda tf, x: tf.pad(x, [[0, 0], [2, 1], [1, 1]],
                                                                       mode="SYMMETRIC")),
    "padv2_constant": (X143, [_x(1, 4, 3)], lambda tf, x: tf.pad(x, [[0, 0], [1, 0], [0, 2]], constant_values=1.5)),
    "rank_of_input": (X143, [_x(1, 4, 3)], lambda tf, x: x * tf.cast(tf.rank(x), tf.float32)),
    "zeros_like_static": (X143, [_x(1, 4, 3)], lambda tf, x: tf.zeros_like(x) + x),
    # FusedBatchNorm forms that the IR's batch_norm does not take: NCHW (tf_keras LayerNormalization: each row of
    # [1, rows, features, 1] normalized by its own statistics, training mode), NCHW with given statistics.
    "batch_norm_nchw_training": ([Spec(F, (1, 5, 8, 1))], [_x(1, 5, 8, 1)],
                                 lambda tf, x: tf.compat.v1.nn.fused_batch_norm(
                                     x, np.ones(5, np.float32), np.zeros(5, np.float32), epsilon=1e-3,
                                     data_format="NCHW")[0]),
    "batch_norm_nchw_inference": ([Spec(F, (1, 3, 4, 4))], [_x(1, 3, 4, 4)],
                                  lambda tf, x: tf.compat.v1.nn.fused_batch_norm(
                                      x, np.float32([1.5, 0.5, 2.0]), np.float32([0.1, -0.2, 0.3]),
                                      mean=np.float32([0.2, -0.1, 0.0]), variance=np.float32([1.2, 0.8, 2.0]),
                                      epsilon=1e-3, data_format="NCHW", is_training=False)[0]),
    "batch_norm_nhwc_training": ([Spec(F, (1, 4, 4, 3))], [_x(1, 4, 4, 3)],
                                 lambda tf, x: tf.compat.v1.nn.fused_batch_norm(
                                     x, np.float32([1.5, 0.5, 2.0]), np.float32([0.1, -0.2, 0.3]))[0]),
}

# INT8 rows: the op's integer kernel (or its float fallback) against TensorFlow's converter on the same data.
INT8_DEFAULT = ("gather_nd", "matrix_band_part", "topk_values", "batch_norm_nchw_training")
INT8_SLOW = ("broadcast_to", "gather_batch_dims", "matrix_set_diag", "roll", "select_rows", "reverse_sequence",
             "tensor_scatter_update", "strided_slice_ellipsis", "strided_slice_new_axis", "matrix_diag")


@pytest.fixture(scope="module")
def models(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, OneOp]:  # noqa: ANN401
    return build_all(tmp_path_factory.mktemp("array_ops"), CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_float(name: str, models: dict[str, OneOp]) -> None:
    check_float(models[name])


# Where TensorFlow's converter keeps the op float (its SQNR is float roundoff, > 100 dB) or writes a model LiteRT
# cannot run (int8 REVERSE_SEQUENCE), ours must still hold the 8-bit grid: moving Gaussian data through one int8
# grid spanning its range (~6 sigma / 255 steps) gives ~43 dB; 30 dB leaves room for two requantizations.
FLOOR_DB = 30.0


def _int8(op: OneOp) -> None:
    """SQNR within 0.5 dB of TensorFlow's converter where it quantizes the op: both calibrate on these samples and
    are scored on them, so the difference is only the integer kernels and the scales chosen."""
    ours = sqnr_db(run_litert(qconvert_int8(op), op), op.expected)
    try:
        theirs = sqnr_db(run_litert(tf_convert_int8(op), op), op.expected)
    except RuntimeError:  # LiteRT refuses TensorFlow's model
        theirs = float("inf")
    if theirs > 100.0:
        assert ours >= FLOOR_DB, f"qconvert {ours:.2f} dB (TensorFlow's model: float or not runnable)"
    else:
        assert ours >= theirs - 0.5, f"qconvert {ours:.2f} dB, TensorFlow {theirs:.2f} dB"


@pytest.mark.parametrize("name", INT8_DEFAULT)
def test_int8(name: str, models: dict[str, OneOp]) -> None:
    _int8(models[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", INT8_SLOW)
def test_int8_more(name: str, models: dict[str, OneOp]) -> None:
    _int8(models[name])
