"""Per op: a tiny TF graph converted by qconvert, run in LiteRT, compared with TensorFlow: FLOAT within float32
rounding; INT8 calibrated on the very inputs it is evaluated on (so nothing clips and the error is the op's own
8-bit rounding), with SQNR at least the given bound (8-bit rounding of Gaussian data alone gives ~40 dB)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType
from converter.pipeline import convert

RNG = np.random.default_rng(7)


def _w(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)


# name -> (input shape, builder(tf, x) -> output tensor, minimum INT8 SQNR dB or None for float-only checks)
OPS: dict[str, tuple[tuple[int, ...], Callable[[Any, Any], Any], float | None]] = {
    "conv2d_relu6": ((1, 8, 8, 3), lambda tf, x: tf.nn.relu6(tf.nn.conv2d(x, _w(3, 3, 3, 4), 2, "SAME")), 30),
    "depthwise": ((1, 8, 8, 4), lambda tf, x: tf.nn.depthwise_conv2d(x, _w(3, 3, 4, 2), [1, 1, 1, 1], "VALID"), 30),
    "dilated_conv": ((1, 9, 9, 2), lambda tf, x: tf.nn.conv2d(x, _w(3, 3, 2, 3), 1, "SAME", dilations=2), 30),
    "conv_transpose": ((1, 4, 4, 3), lambda tf, x: tf.nn.conv2d_transpose(x, _w(3, 3, 5, 3), [1, 8, 8, 5], 2,
                                                                          "SAME"), 30),
    "matmul_bias": ((1, 12), lambda tf, x: tf.nn.bias_add(tf.matmul(x, _w(12, 7)), _w(7)), 30),
    "batch_matmul": ((1, 4, 6), lambda tf, x: tf.matmul(x, tf.transpose(x, [0, 2, 1])), 30),
    "max_pool": ((1, 8, 8, 3), lambda tf, x: tf.nn.max_pool2d(x, 2, 2, "VALID"), 35),
    "avg_pool_same": ((1, 7, 7, 3), lambda tf, x: tf.nn.avg_pool2d(x, 3, 2, "SAME"), 30),
    "mean": ((1, 6, 6, 4), lambda tf, x: tf.reduce_mean(x, axis=[1, 2]), 30),
    "reduce_max": ((1, 5, 6), lambda tf, x: tf.reduce_max(x, axis=1), 35),
    "concat": ((1, 4, 4, 3), lambda tf, x: tf.concat([x, 2.0 * x], axis=3), 30),
    "add_mul_broadcast": ((1, 4, 4, 3), lambda tf, x: (x + _w(3)) * _w(1, 1, 3), 30),
    "sub_div": ((1, 10), lambda tf, x: (x - 0.5) / 3.0, 35),
    "max_min": ((1, 10), lambda tf, x: tf.minimum(tf.maximum(x, -0.3), 0.7), 35),
    "softmax": ((1, 10), lambda tf, x: tf.nn.softmax(2.0 * x), 30),
    "sigmoid_tanh": ((1, 10), lambda tf, x: tf.sigmoid(x) + tf.tanh(x), 30),
    "leaky_relu": ((1, 10), lambda tf, x: tf.nn.leaky_relu(x, 0.1), 30),
    "hard_swish": ((1, 10), lambda tf, x: x * tf.nn.relu6(x + 3.0) / 6.0, 30),
    "gelu": ((1, 10), lambda tf, x: tf.nn.gelu(x), 30),
    "reshape_transpose": ((1, 4, 6), lambda tf, x: tf.transpose(tf.reshape(x, [1, 6, 4]), [0, 2, 1]), 35),
    "squeeze_expand": ((1, 1, 5), lambda tf, x: tf.expand_dims(tf.squeeze(x, 1), 2), 35),
    "pad": ((1, 4, 4, 2), lambda tf, x: tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]]), 35),
    "strided_slice": ((1, 8, 6), lambda tf, x: x[:, 1:7:2, ::-1], 35),
    "strided_slice_all": ((1, 1, 6), lambda tf, x: x[:, -1], 35),  # takes every element: imported as a reshape
    "split": ((1, 6, 4), lambda tf, x: tf.split(x, 2, axis=1)[1], 35),
    "resize_bilinear": ((1, 4, 4, 2), lambda tf, x: tf.compat.v1.image.resize_bilinear(x, [8, 8]), 30),
    "space_to_depth": ((1, 4, 4, 2), lambda tf, x: tf.nn.space_to_depth(x, 2), 35),
    "layer_norm": ((1, 5, 8), lambda tf, x: (x - tf.reduce_mean(x, -1, keepdims=True)) *
                   tf.math.rsqrt(tf.reduce_mean(tf.square(x - tf.reduce_mean(x, -1, keepdims=True)), -1,
                                                keepdims=True) + 1e-3), 25),
    "log_softmax": ((1, 10), lambda tf, x: tf.nn.log_softmax(2.0 * x), 30),
    "prelu": ((1, 4, 4, 3), lambda tf, x: tf.nn.relu(x) - np.float32([0.1, 0.2, 0.3]) * tf.nn.relu(-x), 35),
    # No convolution in between: the two stay SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND.
    "space_batch_nd": ((1, 4, 6, 2), lambda tf, x: tf.compat.v1.batch_to_space_nd(
        tf.nn.relu(tf.space_to_batch_nd(x, [2, 2], [[0, 0], [1, 1]])), [2, 2], [[0, 0], [1, 1]]), 35),
    "exp_log_sqrt": ((1, 10), lambda tf, x: tf.exp(x) + tf.sqrt(tf.abs(x)) + tf.math.log(tf.abs(x) + 1.0), None),
    "argmax": ((1, 10), lambda tf, x: tf.cast(tf.argmax(x, axis=1), tf.float32), None),
    "select": ((1, 10), lambda tf, x: tf.where(x > 0.0, x, 0.1 * x), None),
    # The condition broadcast over rows and channels; constant, so INT8 runs without float islands.
    "select_broadcast": ((1, 3, 4), lambda tf, x: tf.where(np.array([True, False, False, True]), x, 0.5 * x), 35),
    "reverse": ((1, 5, 3), lambda tf, x: tf.reverse(x, [1]), 35),
    "reverse_two_axes": ((1, 4, 3), lambda tf, x: tf.reverse(x, [-1, 1]), 35),
    # What Keras' Masking and a masked RNN step compute: Any over features, Tile / Reverse / Cast of a bool.
    "mask_any_tile": ((1, 4, 3), lambda tf, x: tf.where(tf.tile(tf.reduce_any(tf.not_equal(x, 0.5), -1, True),
                                                                [1, 1, 3]), x, 0.0), None),
    "reverse_bool_cast": ((1, 4, 3), lambda tf, x: x * tf.cast(tf.reverse(x > 0.0, [1]), tf.float32), None),
    "any_all": ((1, 4, 3), lambda tf, x: tf.cast(tf.reduce_any(x > 1.0, 1), tf.float32) -
                tf.cast(tf.reduce_all(x > -1.0, 1), tf.float32), None),
}


@pytest.fixture(scope="module")
def graphs(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, np.ndarray]]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("ops")
    out = {}
    for name, (shape, build, _) in OPS.items():
        g = tf.Graph()
        with g.as_default():
            x = tf.compat.v1.placeholder(tf.float32, shape, name="x")
            tf.identity(build(tf, x), name="out")
        data = RNG.standard_normal((24, *shape[1:])).astype(np.float32)
        with tf.compat.v1.Session(graph=g) as s:
            expected = np.concatenate([s.run("out:0", {"x:0": data[i:i + 1]}) for i in range(len(data))])
        path = root / f"{name}.pb"
        path.write_bytes(g.as_graph_def().SerializeToString())
        np.save(root / f"{name}.npy", data)
        out[name] = (path, data, expected)
    return out


def _convert(path: Path, **kw: Any) -> bytes:  # noqa: ANN401
    return convert(ConversionConfig(input_path=path, output_path=path.with_suffix(".tflite"), input_arrays=("x",),
                                    output_arrays=("out",), **kw)).tflite


@pytest.mark.parametrize("name", list(OPS))
def test_float(name: str, graphs: dict[str, Any], litert: Any) -> None:  # noqa: ANN401
    path, data, expected = graphs[name]
    got = litert(_convert(path)).run(data)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("name", [n for n, (_, _, s) in OPS.items() if s is not None])
def test_int8(name: str, graphs: dict[str, Any], litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    path, data, expected = graphs[name]
    model = _convert(path, inference_type=InferenceType.INT8, inference_input_type=InferenceType.FLOAT,
                     inference_output_type=InferenceType.FLOAT, representative_dataset=path.with_suffix(".npy"),
                     allow_float_fallback=False)
    got = litert(model).run(data)[0]
    s = sqnr(expected, got)
    assert s >= OPS[name][2], f"{name}: INT8 SQNR {s:.1f} dB"
