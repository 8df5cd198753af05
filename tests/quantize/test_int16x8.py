"""--inference_type=INT16X8: int16 activations (zero point 0), int8 per-channel weights, int64 biases.

Per op: a tiny TF graph converted with INT16X8, run in LiteRT, compared with TensorFlow. Calibrated on the inputs
it is evaluated on (nothing clips), so the error is the op's own rounding: int16 activations round Gaussian data
(|x| < ~4) with a step of ~1.2e-4, ~90 dB; int8 weights (per channel) bring layers with weights to ~40-45 dB.
Every op the spec table marks as having an int16 kernel is run by some probe, with no float island."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType
from converter.pipeline import ConversionResult, convert
from converter.quantize.spec import SPECS
from tests.support import oneop

RNG = np.random.default_rng(16)
# SQNR bounds (dB). int16 rounding alone gives ~90 dB here; a chain of a few roundings and the kernels' own
# approximations (softmax, logistic, tanh, exp, rsqrt interpolate lookup tables) cost up to ~10 dB: 70 leaves
# margin. int8 weights' rounding (step max|w|/127 per channel) limits layers with weights to ~45-50 dB: 40.
WEIGHTED, PLAIN = 40.0, 70.0


def _w(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)


# name -> (input shape, builder(tf, x) -> output, minimum SQNR in dB)
PROBES: dict[str, tuple[tuple[int, ...], Callable[[Any, Any], Any], float]] = {
    "conv_relu6": ((1, 8, 8, 3), lambda tf, x: tf.nn.relu6(tf.nn.conv2d(x, _w(3, 3, 3, 4), 1, "SAME") + _w(4)),
                   WEIGHTED),
    "depthwise": ((1, 9, 9, 4), lambda tf, x: tf.nn.depthwise_conv2d(x, _w(3, 3, 4, 2), [1, 2, 2, 1], "SAME"),
                  WEIGHTED),
    "conv_transpose": ((1, 4, 4, 3), lambda tf, x: tf.nn.conv2d_transpose(x, _w(3, 3, 5, 3), [1, 8, 8, 5], 2,
                                                                          "SAME"), WEIGHTED),
    "dense": ((1, 12), lambda tf, x: tf.nn.bias_add(tf.matmul(x, _w(12, 7)), _w(7)), WEIGHTED),
    "batch_matmul": ((1, 4, 6), lambda tf, x: tf.matmul(x, tf.transpose(x, [0, 2, 1])), PLAIN),
    "pools": ((1, 8, 8, 3), lambda tf, x: tf.nn.max_pool2d(x, 2, 2, "VALID") + tf.nn.avg_pool2d(x, 2, 2, "VALID"),
              PLAIN),
    "reductions": ((1, 6, 5, 4), lambda tf, x: tf.reduce_mean(x, [1, 2]) + tf.reduce_sum(x, [1, 2]) * 0.1
                   + tf.reduce_max(x, [1, 2]) - tf.reduce_min(x, [1, 2]), PLAIN),
    "concat_pack_unpack": ((1, 4, 4), lambda tf, x: tf.concat([tf.stack(tf.unstack(x, axis=1), axis=2), -x],
                                                              axis=1), PLAIN),
    "add_sub_mul": ((1, 4, 4, 3), lambda tf, x: (x + _w(3)) * _w(1, 1, 3) - x * x, PLAIN),
    "max_min": ((1, 10), lambda tf, x: tf.minimum(tf.maximum(x, -0.3), x * 0.5 + 0.2), PLAIN),
    # Activations read straight from the input, so that nothing fuses them into a producer.
    "relus": ((1, 10), lambda tf, x: tf.nn.relu(x) + tf.nn.relu6(x) * 0.5 + tf.nn.leaky_relu(x, 0.1), PLAIN),
    "softmax": ((1, 10), lambda tf, x: tf.nn.softmax(2.0 * x), PLAIN),
    "sigmoid_tanh": ((1, 10), lambda tf, x: tf.sigmoid(x) + tf.tanh(x), PLAIN),
    "shapes": ((1, 4, 6), lambda tf, x: tf.expand_dims(tf.squeeze(tf.transpose(tf.reshape(x, [1, 6, 4, 1]),
                                                                                [0, 2, 1, 3]), 3), 1), PLAIN),
    "pads": ((1, 4, 4, 2), lambda tf, x: tf.pad(tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]]),
                                                [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=0.5)
             + tf.pad(x, [[0, 0], [3, 2], [2, 1], [0, 0]], mode="REFLECT")
             + tf.pad(x, [[0, 0], [3, 2], [2, 1], [0, 0]], mode="SYMMETRIC"), PLAIN),
    "slices": ((1, 8, 6), lambda tf, x: tf.concat([x[:, 1:7:2, ::-1], tf.slice(x, [0, 2, 1], [1, 3, 5])[:, :, :1],
                                                   tf.split(x, 2, axis=1)[1][:, :3, 1:2],
                                                   tf.split(x, [2, 4], axis=2)[0][:, :3, 1:]], axis=2), PLAIN),
    # The tile is reversed before the add: a tile read by a broadcasting add directly is dropped (SimplifyArithmetic).
    "gather_tile_reverse": ((1, 5, 3), lambda tf, x: tf.gather(x, [4, 0, 2], axis=1)
                            + tf.reverse(tf.tile(x[:, :1], [1, 3, 1]), [2]) + tf.reverse(x, [1])[:, :3], PLAIN),
    "resize": ((1, 4, 4, 2), lambda tf, x: tf.compat.v1.image.resize_bilinear(x, [8, 8])
               + tf.compat.v1.image.resize_nearest_neighbor(x, [8, 8]), PLAIN),
    "select": ((1, 3, 4), lambda tf, x: tf.where(np.array([True, False, False, True]), x, 0.5 * x), PLAIN),
    "rsqrt_exp_gelu": ((1, 10), lambda tf, x: tf.math.rsqrt(x * x + 1.0) + tf.exp(0.5 * x) + tf.nn.gelu(x * 2.0), PLAIN),
    "neg": ((1, 10), lambda tf, x: -x, PLAIN),
    "broadcast_fill": ((1, 10), lambda tf, x: tf.broadcast_to(x[:, None], [1, 3, 10]) + tf.fill([1, 3, 10], x[0, 0]),
                       PLAIN),
    # Ops LiteRT has no int16 kernel for: they run float between DEQUANTIZE and QUANTIZE (the rest stays int16).
    "space_to_depth": ((1, 4, 4, 2), lambda tf, x: tf.nn.space_to_depth(x * 2.0, 2), PLAIN),
    "depth_to_space": ((1, 2, 2, 8), lambda tf, x: tf.nn.depth_to_space(x * 2.0, 2), PLAIN),
    "squared_difference": ((1, 10), lambda tf, x: tf.math.squared_difference(x, 0.3 * x), PLAIN),
    "relu_n1_to_1": ((1, 10), lambda tf, x: tf.clip_by_value(x, -1.0, 1.0), PLAIN),
    "hard_swish": ((1, 10), lambda tf, x: (x * 2.0) * tf.nn.relu6(x * 2.0 + 3.0) / 6.0, PLAIN),
    "elu": ((1, 10), lambda tf, x: tf.nn.elu(x * 2.0), PLAIN),
}


@pytest.fixture(scope="module")
def probes(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[ConversionResult, np.ndarray, np.ndarray, Path]]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("int16")
    out = {}
    for name, (shape, build, _) in PROBES.items():
        data = RNG.standard_normal((16, *shape)).astype(np.float32)
        op = oneop.build(root, name, [oneop.Spec("float32", shape)], lambda x, b=build: b(tf, x), [data])
        res = convert(ConversionConfig(input_path=op.path, output_path=op.path.with_suffix(".tflite"),
                                       input_arrays=op.names, output_arrays=("out",),
                                       inference_type=InferenceType.INT16X8, inference_input_type=InferenceType.FLOAT,
                                       inference_output_type=InferenceType.FLOAT,
                                       representative_dataset=op.path.with_suffix(".npz")))
        out[name] = (res, data[:, 0], np.concatenate(op.expected), op.path)
    return out


def _float_ops(res: ConversionResult) -> set[str]:
    assert res.quantization is not None
    return {f.op for f in res.quantization.float_nodes}


@pytest.mark.parametrize("name", list(PROBES))
def test_op_runs_int16_in_litert(name: str, probes: dict[str, Any], litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    res, data, expected, _ = probes[name]
    floats = _float_ops(res)
    assert not {op for op in floats if SPECS.get(op) is not None and SPECS[op].int16}, floats
    got = litert(res.tflite).run(data)[0]
    s = sqnr(expected, got)
    print(f"{name}: INT16X8 SQNR {s:.1f} dB; float ops {sorted(floats) or 'none'}")
    assert s >= PROBES[name][2], f"{name}: INT16X8 SQNR {s:.1f} dB"


NO_INT16_KERNEL = {"space_to_depth": "space_to_depth", "depth_to_space": "depth_to_space",
                   "squared_difference": "squared_difference", "relu_n1_to_1": "relu_n1_to_1",
                   "hard_swish": "hard_swish", "elu": "elu"}


@pytest.mark.parametrize("name", list(NO_INT16_KERNEL))
def test_op_without_int16_kernel_runs_float(name: str, probes: dict[str, Any]) -> None:  # noqa: ANN401
    """LiteRT refuses int16 tensors in these kernels (checked: Prepare/Eval fail with int16): they stay float, and
    the report says why."""
    res = probes[name][0]
    reasons = {f.op: f.reason for f in res.quantization.float_nodes}
    assert reasons == {NO_INT16_KERNEL[name]: f"no int16 kernel for {NO_INT16_KERNEL[name]} in LiteRT"}


def test_every_int16_kernel_is_probed(probes: dict[str, Any]) -> None:  # noqa: ANN401
    ran: set[str] = set()
    for res, *_ in probes.values():
        assert res.quantization.plan is not None
        ran |= {res.quantization.layer_ops[name] for name, lp in res.quantization.plan.layers.items()
                if lp.precision.value == "int16x8"}
    assert {op for op, spec in SPECS.items() if spec.int16} <= ran


def test_int16_tensors_have_zero_point_0_and_the_fixed_output_scales(probes: dict[str, Any]) -> None:  # noqa: ANN401
    from converter.inspect_model import describe

    for name in ("softmax", "sigmoid_tanh", "conv_relu6"):
        sub = describe(probes[name][0].tflite).subgraphs[0]
        for t in sub.tensors:
            if t.dtype == "int16":
                assert t.quantization is not None and set(t.quantization.zero_point) == {0}, t.name
        for o in sub.operators:
            if o.op in ("SOFTMAX", "LOGISTIC", "TANH"):
                assert list(sub.tensors[o.outputs[0]].quantization.scale) == [1 / 32768], o.op  # type: ignore[union-attr]
            if o.op == "CONV_2D":
                assert sub.tensors[o.inputs[2]].dtype == "int64" and o.version == 8


@pytest.mark.parametrize("flags, message", [
    (["--inference_input_type=INT8"], "--inference_input_type=INT8: an INT16X8 model's inputs and outputs are FLOAT "
                                      "or INT16"),
    (["--inference_output_type=QUANTIZED_UINT8"], "--inference_output_type=QUANTIZED_UINT8: an INT16X8 model's"),
    (["--inference_input_type=INT16", "--mean_values=128", "--std_dev_values=1000"],
     "--mean_values=128: int16 inputs have zero point 0"),
])
def test_int16_io_usage_errors(flags: list[str], message: str, probes: dict[str, Any], tmp_path: Path,  # noqa: ANN401
                               capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    path = probes["dense"][3]
    out = tmp_path / "m.tflite"
    with pytest.raises(SystemExit) as e:
        main([f"--input_file={path}", f"--output_file={out}", "--input_arrays=in0", "--output_arrays=out",
              "--inference_type=INT16X8", f"--representative_dataset={path.with_suffix('.npz')}", *flags])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_int16_io_needs_int16x8(probes: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN401
    from cli.main import main

    path = probes["dense"][3]
    with pytest.raises(SystemExit) as e:
        main([f"--input_file={path}", f"--output_file={tmp_path / 'm.tflite'}", "--input_arrays=in0",
              "--output_arrays=out", "--inference_type=INT8", "--inference_output_type=INT16",
              f"--representative_dataset={path.with_suffix('.npz')}"])
    assert e.value.code == 2
    assert "--inference_output_type=INT16 needs --inference_type=INT16X8" in capsys.readouterr().err
