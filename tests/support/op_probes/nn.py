"""Convolutions, matrix products, normalization and pooling."""

from __future__ import annotations

import numpy as np

from . import In, Probe

_RNG = np.random.default_rng(11)


def w(*shape: int) -> np.ndarray:
    """Weights scaled so that a layer keeps unit variance (fan-in = all but the last axis)."""
    return (_RNG.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)


IMG = In((1, 8, 8, 3))
VOL = In((1, 4, 6, 6, 2))
CONV_W = w(3, 3, 3, 4)
DW_W = w(3, 3, 3, 2)
TCONV_W = w(3, 3, 5, 3)          # [h, w, out, in]
CONV3D_W = w(2, 3, 3, 2, 4)
TCONV3D_W = w(2, 3, 3, 4, 2)     # [d, h, w, out, in]
FC_W = w(12, 7)
BN = [np.abs(w(3)) + 0.5, w(3), w(3), np.abs(w(3)) + 0.5]  # scale, offset, mean, variance
BIAS = w(4)

PROBES: dict[str, Probe] = {
    "Conv2D": Probe(lambda tf, x: tf.nn.conv2d(x, CONV_W, 1, "SAME"), (IMG,), int8=True),
    "DepthwiseConv2dNative": Probe(lambda tf, x: tf.nn.depthwise_conv2d(x, DW_W, [1, 1, 1, 1], "VALID"), (IMG,)),
    "Conv2DBackpropInput": Probe(lambda tf, x: tf.nn.conv2d_transpose(x, TCONV_W, [1, 8, 8, 5], 2, "SAME"),
                                 (In((1, 4, 4, 3)),)),
    "Conv3D": Probe(lambda tf, x: tf.nn.conv3d(x, CONV3D_W, [1, 1, 1, 1, 1], "SAME"), (VOL,)),
    "Conv3DBackpropInputV2": Probe(
        lambda tf, x: tf.nn.conv3d_transpose(x, TCONV3D_W, [1, 4, 8, 8, 4], [1, 1, 2, 2, 1], "SAME"),
        (In((1, 4, 4, 4, 2)),)),
    "MatMul": Probe(lambda tf, x: tf.matmul(x, FC_W), (In((1, 12)),)),
    "BatchMatMul": Probe(lambda tf, a, b: tf.raw_ops.BatchMatMul(x=a, y=b), (In((1, 3, 4)), In((1, 4, 5)))),
    "BatchMatMulV2": Probe(lambda tf, a, b: tf.matmul(a, b), (In((1, 3, 4)), In((1, 4, 5)))),
    "BatchMatMulV3": Probe(lambda tf, a, b: tf.raw_ops.BatchMatMulV3(x=a, y=b, Tout=tf.float32),
                           (In((1, 3, 4)), In((1, 4, 5)))),
    "BiasAdd": Probe(lambda tf, x: tf.nn.bias_add(x, BIAS), (In((1, 5, 4)),)),
    "FusedBatchNorm": Probe(lambda tf, x: tf.raw_ops.FusedBatchNorm(x=x, scale=BN[0], offset=BN[1], mean=BN[2],
                                                                    variance=BN[3], is_training=False)[0], (IMG,)),
    "FusedBatchNormV2": Probe(lambda tf, x: tf.raw_ops.FusedBatchNormV2(x=x, scale=BN[0], offset=BN[1], mean=BN[2],
                                                                        variance=BN[3], is_training=False)[0],
                              (IMG,)),
    "FusedBatchNormV3": Probe(lambda tf, x: tf.raw_ops.FusedBatchNormV3(x=x, scale=BN[0], offset=BN[1], mean=BN[2],
                                                                        variance=BN[3], is_training=False)[0],
                              (IMG,)),
    "MaxPool": Probe(lambda tf, x: tf.nn.max_pool2d(x, 2, 2, "VALID"), (IMG,)),
    "AvgPool": Probe(lambda tf, x: tf.nn.avg_pool2d(x, 3, 2, "SAME"), (IMG,)),
    "LRN": Probe(lambda tf, x: tf.nn.local_response_normalization(x, 2, 1.0, 0.5, 0.75), (In((1, 4, 4, 6)),)),
    "Einsum": Probe(lambda tf, a, b: tf.einsum("bij,bjk->bik", a, b), (In((1, 3, 4)), In((1, 4, 5)))),
    "SparseMatMul": Probe(lambda tf, a: tf.raw_ops.SparseMatMul(a=a, b=FC_W), (In((1, 12)),)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}

# Variants (slow run): padding, strides and dilation modes; transposed operands; broadcast batch products.
VARIANTS.update({
    "Conv2D": (Probe(lambda tf, x: tf.nn.conv2d(x, CONV_W, 2, "VALID"), (IMG,), slow=True, name="valid_stride2"),
               Probe(lambda tf, x: tf.nn.conv2d(x, CONV_W, 1, "SAME", dilations=2), (IMG,), slow=True,
                     name="dilated")),
    "DepthwiseConv2dNative": (
        Probe(lambda tf, x: tf.nn.depthwise_conv2d(x, DW_W, [1, 2, 2, 1], "SAME"), (IMG,), slow=True,
              name="same_stride2"),
        Probe(lambda tf, x: tf.nn.depthwise_conv2d(x, DW_W, [1, 1, 1, 1], "SAME", dilations=[2, 2]), (IMG,),
              slow=True, name="dilated")),
    "Conv2DBackpropInput": (
        Probe(lambda tf, x: tf.nn.conv2d_transpose(x, TCONV_W, [1, 9, 9, 5], 2, "VALID"), (In((1, 4, 4, 3)),),
              slow=True, name="valid"),),
    "Conv3D": (Probe(lambda tf, x: tf.nn.conv3d(x, CONV3D_W, [1, 1, 2, 2, 1], "VALID"), (VOL,), slow=True,
                     name="valid_stride2"),),
    "MaxPool": (Probe(lambda tf, x: tf.nn.max_pool2d(x, 3, 1, "SAME"), (IMG,), slow=True, name="same"),),
    "AvgPool": (Probe(lambda tf, x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), (IMG,), slow=True, name="valid"),),
    "MatMul": (Probe(lambda tf, x: tf.matmul(x, np.ascontiguousarray(FC_W.T), transpose_b=True), (In((1, 12)),),
                     slow=True, name="transpose_b"),
               Probe(lambda tf, x: tf.matmul(x, FC_W, transpose_a=True), (In((12, 1)),), slow=True,
                     name="transpose_a")),
    "BatchMatMulV2": (
        Probe(lambda tf, a, b: tf.matmul(a, b), (In((1, 2, 3, 4)), In((1, 1, 4, 5))), slow=True, name="broadcast"),
        Probe(lambda tf, a, b: tf.matmul(a, b, adjoint_b=True), (In((1, 3, 4)), In((1, 5, 4))), slow=True,
              name="adjoint_b"),
        Probe(lambda tf, a: tf.matmul(a, w(4, 5)), (In((1, 3, 4)),), slow=True, name="constant_rhs")),
    "BiasAdd": (Probe(lambda tf, x: tf.nn.bias_add(x, BIAS), (In((1, 2, 3, 2, 4)),), slow=True, name="rank5"),),
    "LRN": (Probe(lambda tf, x: tf.nn.local_response_normalization(x, 1, 2.0, 1.0, 0.5), (In((1, 4, 4, 6)),),
                  slow=True, name="radius1"),),
})
