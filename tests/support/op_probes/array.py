"""Shape, layout, gather/scatter and other array ops."""

from __future__ import annotations

import numpy as np

from . import In, Probe

X = In((1, 4, 6))


def _xla():  # noqa: ANN202 - TensorFlow's XLA op wrappers (XlaDynamicUpdateSlice has no tf.raw_ops entry)
    from tensorflow.compiler.tf2xla.python import xla  # noqa: PLC0415

    return xla
IMG = In((1, 4, 4, 2))

PROBES: dict[str, Probe] = {
    "Reshape": Probe(lambda tf, x: tf.reshape(x, [1, 6, 4]), (X,)),
    "ExpandDims": Probe(lambda tf, x: tf.expand_dims(x, 2), (X,)),
    "Squeeze": Probe(lambda tf, x: tf.squeeze(x, 1), (In((1, 1, 6)),)),
    "ConcatV2": Probe(lambda tf, a, b: tf.concat([a, b], axis=2), (X, X), int8=True),
    "Pack": Probe(lambda tf, a, b: tf.stack([a, b], axis=1), (X, X)),
    "Unpack": Probe(lambda tf, x: tf.unstack(x, axis=1), (X,)),
    "Split": Probe(lambda tf, x: tf.split(x, 2, axis=2), (X,)),
    "SplitV": Probe(lambda tf, x: tf.split(x, [1, 2, 3], axis=2), (X,)),
    "Transpose": Probe(lambda tf, x: tf.transpose(x, [0, 2, 1]), (X,)),
    "Slice": Probe(lambda tf, x: tf.slice(x, [0, 1, 2], [1, 2, 3]), (X,)),
    "StridedSlice": Probe(lambda tf, x: x[:, 1:4:2, ::-1], (X,)),
    "Tile": Probe(lambda tf, x: tf.tile(x, [1, 2, 1]), (X,)),
    "Pad": Probe(lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [0, 1]]), (X,)),
    "PadV2": Probe(lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [0, 1]], constant_values=0.5), (X,)),
    "MirrorPad": Probe(lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [0, 1]], mode="REFLECT"), (X,)),
    "GatherV2": Probe(lambda tf, x: tf.gather(x, [3, 0, 2], axis=2), (X,)),
    "Gather": Probe(lambda tf, x: tf.raw_ops.Gather(params=x, indices=[3, 0, 2]), (In((6, 4)),)),
    "GatherNd": Probe(lambda tf, x: tf.gather_nd(x, [[0, 1], [0, 3]]), (X,)),
    "ScatterNd": Probe(lambda tf, x: tf.scatter_nd([[1], [3]], x, [5, 6]), (In((2, 6)),)),
    "TensorScatterUpdate": Probe(lambda tf, x, u: tf.tensor_scatter_nd_update(x, [[1], [3]], u),
                                 (In((5, 6)), In((2, 6)))),
    "TensorScatterAdd": Probe(lambda tf, x, u: tf.tensor_scatter_nd_add(x, [[1], [3]], u),
                              (In((5, 6)), In((2, 6)))),
    "BroadcastTo": Probe(lambda tf, x: tf.broadcast_to(x, [2, 4, 6]), (X,)),
    "BroadcastArgs": Probe(lambda tf, s: tf.raw_ops.BroadcastArgs(s0=s, s1=tf.constant([4, 1], tf.int32)),
                           (In((2,), "int32", "int", 1, 2),)),
    "Fill": Probe(lambda tf, v: tf.fill([2, 3], v), (In((), "float32"),)),
    "ZerosLike": Probe(lambda tf, x: tf.raw_ops.ZerosLike(x=x) + x, (X,), context=("ADD",)),
    "OnesLike": Probe(lambda tf, x: tf.raw_ops.OnesLike(x=x) * x, (X,), context=("MUL",)),
    "Shape": Probe(lambda tf, x: tf.cast(tf.raw_ops.Shape(input=x), tf.float32)[1] * x, (X,), context=("MUL",)),
    "Rank": Probe(lambda tf, x: tf.cast(tf.raw_ops.Rank(input=x), tf.float32) * x, (X,), context=("MUL",)),
    "Size": Probe(lambda tf, x: tf.cast(tf.raw_ops.Size(input=x), tf.float32) * x, (X,), context=("MUL",)),
    "Range": Probe(lambda tf, n: tf.range(0, n, 1), (In((), "int32", "int", 3, 9),)),
    "OneHot": Probe(lambda tf, i: tf.one_hot(i, 5), (In((1, 6), "int32", "int", 0, 5),)),
    "ReverseV2": Probe(lambda tf, x: tf.reverse(x, [1]), (X,)),
    "ReverseSequence": Probe(lambda tf, x: tf.reverse_sequence(x, [3, 1, 4, 2], seq_axis=1, batch_axis=0),
                             (In((4, 5, 3)),)),
    "Roll": Probe(lambda tf, x: tf.roll(x, 2, axis=2), (X,)),
    "SpaceToDepth": Probe(lambda tf, x: tf.nn.space_to_depth(x, 2), (IMG,)),
    "DepthToSpace": Probe(lambda tf, x: tf.nn.depth_to_space(x, 2), (In((1, 2, 2, 8)),)),
    "SpaceToBatchND": Probe(lambda tf, x: tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]), (IMG,)),
    "BatchToSpaceND": Probe(lambda tf, x: tf.batch_to_space(x, [2, 2], [[0, 0], [0, 0]]), (In((4, 2, 2, 2)),)),
    "TopKV2": Probe(lambda tf, x: tf.math.top_k(x, 3), (In((1, 8)),)),
    "Unique": Probe(lambda tf, x: tf.unique(x), (In((8,), "int32", "int", 0, 4),)),
    "Where": Probe(lambda tf, x: tf.where(x), (In((1, 8), "bool", "bool"),)),
    "Bucketize": Probe(lambda tf, x: tf.raw_ops.Bucketize(input=x, boundaries=[-1.0, 0.0, 0.5, 2.0]), (X,)),
    "SparseToDense": Probe(lambda tf, v: tf.raw_ops.SparseToDense(sparse_indices=[[0, 1], [2, 3]], output_shape=[3, 5],
                                                                  sparse_values=v, default_value=0.0),
                           (In((2,)),)),
    "MatrixDiag": Probe(lambda tf, x: tf.raw_ops.MatrixDiag(diagonal=x), (In((2, 5)),)),
    "MatrixDiagV2": Probe(lambda tf, x: tf.raw_ops.MatrixDiagV2(diagonal=x, k=0, num_rows=-1, num_cols=-1,
                                                                padding_value=0.0), (In((2, 5)),)),
    "MatrixDiagV3": Probe(lambda tf, x: tf.linalg.diag(x), (In((2, 5)),)),
    "MatrixSetDiag": Probe(lambda tf, x, d: tf.raw_ops.MatrixSetDiag(input=x, diagonal=d),
                           (In((2, 5, 5)), In((2, 5)))),
    "MatrixSetDiagV2": Probe(lambda tf, x, d: tf.raw_ops.MatrixSetDiagV2(input=x, diagonal=d, k=0),
                             (In((2, 5, 5)), In((2, 5)))),
    "MatrixSetDiagV3": Probe(lambda tf, x, d: tf.linalg.set_diag(x, d), (In((2, 5, 5)), In((2, 5)))),
    "MatrixBandPart": Probe(lambda tf, x: tf.linalg.band_part(x, 1, 0), (In((2, 5, 5)),)),
    "DynamicStitch": Probe(lambda tf, a, b: tf.dynamic_stitch([np.array([0, 2]), np.array([1, 3])], [a, b]),
                           (In((2, 3)), In((2, 3)))),
    "InvertPermutation": Probe(lambda tf, p: tf.math.invert_permutation(p),
                               (In((5,), "int32", "permutation"),)),
    "Bitcast": Probe(lambda tf, x: tf.bitcast(x, tf.int32), (X,)),
    "Cast": Probe(lambda tf, x: tf.cast(x * 4.0, tf.int32), (X,), context=("MUL",)),
    "XlaDynamicUpdateSlice": Probe(lambda tf, x, u: _xla().dynamic_update_slice(x, u, np.array([1, 2], np.int32)),
                                   (In((4, 6)), In((2, 3)))),
    "ApproxTopK": Probe(lambda tf, x: tf.raw_ops.ApproxTopK(input=x, k=3), (In((1, 8)),)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {
    # Batch-1 forms, so that INT8 applies (the rows' probes have batch axes of 2 and 4).
    "SparseToDense": (
        Probe(lambda tf, v: tf.raw_ops.SparseToDense(sparse_indices=[[0, 1, 3]], output_shape=[1, 3, 5],
                                                     sparse_values=tf.reshape(v, [1]), default_value=0.0),
              (In((1,), scale=2.0),), int8=True, name="batch1"),
        Probe(lambda tf, v: tf.raw_ops.SparseToDense(sparse_indices=[[0, 1], [0, 3], [0, 4]], output_shape=[1, 6],
                                                     sparse_values=tf.reshape(v, [3]) * 2.0 + 1.0,
                                                     default_value=-1.5),
              (In((1, 3)),), slow=True, name="default_value", context=("ADD", "MUL", "RESHAPE")),
    ),
    "ReverseSequence": (
        Probe(lambda tf, x: tf.reverse_sequence(x, [2, 4, 1], seq_axis=2, batch_axis=1), (In((1, 3, 5, 2)),),
              slow=True, name="batch1"),
    ),
    # Paddings/crops that are not zero; one spatial axis (3-D, SPACE_TO_BATCH_ND version 3); a 5-D input, which
    # LiteRT's kernels do not take (refused with one line).
    "SpaceToBatchND": (
        Probe(lambda tf, x: tf.space_to_batch_nd(x, [2, 2], [[1, 1], [0, 2]]), (IMG,), int8=True, name="paddings"),
        Probe(lambda tf, x: tf.space_to_batch_nd(x, [2], [[1, 1]]), (X,), name="rank3"),
        Probe(lambda tf, x: tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]), (In((1, 2, 4, 4, 2)),),
              refuse="block dimension", name="rank5"),
    ),
    "BatchToSpaceND": (
        Probe(lambda tf, x: tf.batch_to_space(x, [2, 2], [[1, 0], [0, 1]]), (In((4, 3, 3, 2)),), int8=True,
              name="crops"),
        Probe(lambda tf, x: tf.batch_to_space(x, [2], [[0, 1]]), (In((2, 4, 6)),), name="rank3"),
    ),
    # MATRIX_DIAG and SCATTER_ND fill with the code 0: in INT8 their output grid has zero point 0, so the filled
    # zeros stay zeros also for one-signed data (TensorFlow's converter keeps the input's zero point).
    "MatrixDiag": (
        Probe(lambda tf, x: tf.raw_ops.MatrixDiag(diagonal=x), (In((1, 6)),), int8=True, name="batch1"),
        Probe(lambda tf, x: tf.raw_ops.MatrixDiag(diagonal=x), (In((1, 6), dist="positive", low=0.5),), int8=True,
              name="positive"),
    ),
    "MatrixDiagV3": (
        Probe(lambda tf, x: tf.linalg.diag(x), (In((1, 3, 4)),), slow=True, name="batch1"),
    ),
    "ScatterNd": (
        Probe(lambda tf, x: tf.scatter_nd([[[0, 1], [0, 3]]], x, [1, 5, 6]), (In((1, 2, 6), dist="uniform"),),
              int8=True, name="batch1"),
        # Repeated indices add up: INT8 keeps the op float (8-bit codes would wrap).
        Probe(lambda tf, x: tf.scatter_nd([[[0, 1], [0, 1], [0, 3]]], x, [1, 5, 6]), (In((1, 3, 6)),), slow=True,
              name="repeated"),
    ),
    "TensorScatterUpdate": (
        Probe(lambda tf, x, u: tf.tensor_scatter_nd_update(x, [[[0, 1], [0, 3]]], u),
              (In((1, 5, 6)), In((1, 2, 6))), slow=True, name="batch1"),
    ),
}
