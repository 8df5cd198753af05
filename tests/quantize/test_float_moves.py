"""quantize/float_moves.py: an op that only moves bytes stays float between a float source and float readers (INT8
with float I/O), and runs as an integer kernel as soon as its source or a reader is one. Checked in LiteRT against
TensorFlow running the same function."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.inspect_model import describe
from converter.pipeline import ConversionResult, convert

A_SHAPE, B_SHAPE = (1, 4, 1, 6), (1, 1, 5, 1)


def _int8(tf: Any, tmp_path: Path, fn: Any) -> tuple[ConversionResult, Any, list[np.ndarray]]:  # noqa: ANN401
    module = tf.Module()
    module.f = tf.function(fn, input_signature=[tf.TensorSpec(A_SHAPE, tf.float32, name="a"),
                                                tf.TensorSpec(B_SHAPE, tf.float32, name="b")])
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures=module.f)
    rng = np.random.default_rng(4)
    cal = [rng.standard_normal((32, *s[1:])).astype(np.float32) for s in (A_SHAPE, B_SHAPE)]
    np.savez(tmp_path / "cal.npz", a=cal[0], b=cal[1])
    result = convert(ConversionConfig(
        input_path=tmp_path / "sm", output_path=tmp_path / "m.tflite", input_format=InputFormat.SAVED_MODEL,
        inference_type=InferenceType.INT8, representative_dataset=tmp_path / "cal.npz",
        inference_input_type=InferenceType.FLOAT, inference_output_type=InferenceType.FLOAT))
    held_out = [rng.standard_normal((8, *s[1:])).astype(np.float32) for s in (A_SHAPE, B_SHAPE)]
    return result, module.f, held_out


def _ops(model: bytes) -> Counter[str]:
    return Counter(op.op for op in describe(model).subgraphs[0].operators)


def test_broadcast_between_float_input_and_float_atan2_stays_float(tf: Any, tmp_path: Path,  # noqa: ANN401
                                                                   litert: Any) -> None:  # noqa: ANN401
    """atan2(a, b) with broadcasting: both BROADCAST_TOs (float inputs -> float ATAN2, which has no integer kernel)
    stay float: 2 moved, no QUANTIZE/DEQUANTIZE in the file, and the result is float atan2 (within 1e-6 of
    TensorFlow: the same float32 kernel on the same values; an 8-bit input grid gave 19.7 dB)."""
    result, fn, (a, b) = _int8(tf, tmp_path, lambda a, b: tf.math.atan2(a, b))
    moved = [f for f in result.quantization.float_nodes if f.reason.startswith("moves data")]  # type: ignore[union-attr]
    ops = _ops(result.tflite)
    assert len(moved) == 2 and {f.op for f in moved} == {"broadcast_to"}, moved
    assert ops["BROADCAST_TO"] == 2 and ops["ATAN2"] == 1 and not ops["QUANTIZE"] and not ops["DEQUANTIZE"], ops
    model = litert(result.tflite)
    by_shape = {A_SHAPE: a, B_SHAPE: b}
    got = model.run(*(by_shape[tuple(d["shape"])] for d in model.inputs))[0]
    expected = np.concatenate([fn(a[i:i + 1], b[i:i + 1]).numpy() for i in range(len(a))])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_moves_feeding_an_integer_kernel_stay_integer(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """atan2 -> reshape -> add: the reshape's reader (ADD) runs on int8, so the reshape does too (only the
    broadcasts before the atan2 are moved)."""
    result, _, _ = _int8(tf, tmp_path, lambda a, b: tf.reshape(tf.math.atan2(a, b), [1, 120]) + 1.0)
    moved = [f for f in result.quantization.float_nodes if f.reason.startswith("moves data")]  # type: ignore[union-attr]
    ops = _ops(result.tflite)
    assert [f.op for f in moved] == ["broadcast_to"] * 2 and ops["RESHAPE"] == 1 and ops["ADD"] == 1, (moved, ops)
    info = describe(result.tflite).subgraphs[0]
    reshape = next(op for op in info.operators if op.op == "RESHAPE")
    assert info.tensors[reshape.outputs[0]].dtype == "int8"
