"""Two quantizer rules, against TensorFlow's converter and exact float math on the same model and data.

* A clamp (tf.clip_by_value = minimum(maximum(x, lo), hi), or one side of it) is quantized on its clamped output
  range, not on its input's: the input is requantized onto it (the saturation is the clamp) or written at it by
  its producer.
* The model's inputs and outputs have the types asked, also when an input feeds an op whose inputs must share its
  output's scale (concatenation, pack, minimum, maximum, select, padv2): with float inputs asked, the input's
  QUANTIZE writes that scale directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.pipeline import convert
from converter.quantize.spec import SPECS, In

RNG_SEED = 11


def _clamp_model(kind: str) -> Any:  # noqa: ANN401
    """'one_op': y = clip(x, -0.5, 2) alone; 'mlp': Dense -> clip -> Dense trained briefly on a synthetic task."""
    import keras

    keras.utils.set_random_seed(RNG_SEED)
    inp = keras.Input((8,))
    if kind == "one_op":
        return keras.Model(inp, keras.ops.clip(inp, -0.5, 2.0)), None
    h = keras.ops.clip(keras.layers.Dense(32)(inp), -0.5, 2.0)
    model = keras.Model(inp, keras.layers.Dense(4)(h))
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(0.0, 2.0, (512, 8)).astype(np.float32)
    y = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2], np.abs(x[:, 3]), x[:, 4] - x[:, 5]], 1).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.fit(x, y, epochs=15, batch_size=64, verbose=0, shuffle=False)
    return model, x


# The trained MLP (14 s: training and TensorFlow's converter) runs with -m slow; the one-op clamp by default.
@pytest.mark.parametrize("kind", ["one_op", pytest.param("mlp", marks=pytest.mark.slow)])
def test_clamp_gets_clamped_range(kind: str, tf: Any, tmp_path: Path, litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    model, _ = _clamp_model(kind)
    model.export(str(tmp_path / "sm"), verbose=False)
    rng = np.random.default_rng(RNG_SEED + 1)
    cal = rng.normal(0.0, 2.0, (64, 8)).astype(np.float32)
    held_out = rng.normal(0.0, 2.0, (256, 8)).astype(np.float32)
    np.save(tmp_path / "cal.npy", cal)
    ours = convert(ConversionConfig(
        input_path=tmp_path / "sm", output_path=tmp_path / "m.tflite", input_format=InputFormat.SAVED_MODEL,
        inference_type=InferenceType.INT8, representative_dataset=tmp_path / "cal.npy",
        inference_input_type=InferenceType.FLOAT, inference_output_type=InferenceType.FLOAT)).tflite
    conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    theirs = conv.convert()
    ref = np.asarray(model.predict(held_out, verbose=0))
    s_ours, s_tf = sqnr(ref, litert(ours).run(held_out)[0]), sqnr(ref, litert(theirs).run(held_out)[0])
    print(f"clamp {kind} INT8 SQNR: qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB")
    # At least TensorFlow's; 0.01 dB is far below one LSB's effect and covers float rounding in the dequantized
    # outputs when both converters pick the same grid (the MLP: 25.568448 vs 25.568453 dB).
    assert s_ours >= s_tf - 0.01


# One builder per op whose integer kernel needs an input at the output's scale, fed the two graph inputs directly.
SAME_SCALE_BUILDERS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "concatenation": lambda tf, x, y: tf.concat([x, y], -1),
    "pack": lambda tf, x, y: tf.stack([x, y], 1),
    "maximum": lambda tf, x, y: tf.maximum(x, y),
    "minimum": lambda tf, x, y: tf.minimum(x, y),
    "select_v2": lambda tf, x, y: tf.where(np.array([True, False, True, True, False, True]), x, y),
    "padv2": lambda tf, x, y: tf.pad(x, [[0, 0], [1, 2]], constant_values=0.25) + tf.pad(y, [[0, 0], [2, 1]]),
    "select": lambda tf, x, y: tf.compat.v1.where(np.array([True]), x, y),  # a condition per row: SELECT (v1)
    "matrix_set_diag": lambda tf, x, y: tf.reshape(tf.linalg.set_diag(tf.reshape(x, [1, 2, 3]), y[:, :2]), [1, 6]),
    # Zero fills (int8 only: uint8 keeps them float): their output grid has zero point 0.
    "matrix_diag": lambda tf, x, y: tf.concat([tf.reshape(tf.raw_ops.MatrixDiag(diagonal=x), [1, 36]), y], -1),
    "scatter_nd": lambda tf, x, y: tf.concat([tf.reshape(tf.scatter_nd([[0]], x, [2, 6]), [1, 12]), y], -1),
    # Values and default value copied at the output's scale.
    "sparse_to_dense": lambda tf, x, y: tf.concat([tf.reshape(tf.raw_ops.SparseToDense(
        sparse_indices=[[0, 0], [0, 2], [0, 4], [1, 1], [1, 3], [1, 5]], output_shape=[2, 6],
        sparse_values=tf.reshape(x, [6]), default_value=0.0), [1, 12]), y], -1),
    # x as 3 steps of 2 features, y clipped to (-1, 1) (where an LSTM's hidden state lies) the initial hidden
    # state, which the kernel reads on the output's grid.
    "unidirectional_sequence_lstm": lambda tf, x, y: tf.reshape(tf.raw_ops.BlockLSTMV2(
        seq_len_max=np.int64(3), x=tf.reshape(x, [3, 1, 2]), cs_prev=tf.zeros([1, 6]),
        h_prev=tf.clip_by_value(y, -1.0, 1.0),
        w=np.random.default_rng(5).normal(0, 0.3, (8, 24)).astype(np.float32), wci=tf.zeros([6]), wcf=tf.zeros([6]),
        wco=tf.zeros([6]), b=tf.zeros([24]), cell_clip=0.0, use_peephole=False).h, [1, 18]),
}


def test_every_same_scale_op_is_covered() -> None:
    same = {op for op, spec in SPECS.items() if In.SAME_AS_OUT in spec.inputs}
    assert same == set(SAME_SCALE_BUILDERS), "add a builder for each op with SAME_AS_OUT inputs"


@pytest.fixture(scope="module")
def same_scale_graphs(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("same_scale_io")
    rng = np.random.default_rng(RNG_SEED)
    feeds = {"x": rng.standard_normal((32, 6)).astype(np.float32),
             "y": 3.0 * rng.standard_normal((32, 6)).astype(np.float32)}
    np.savez(root / "cal.npz", **feeds)
    out = {}
    for op, build in SAME_SCALE_BUILDERS.items():
        g = tf.Graph()
        with g.as_default():
            x = tf.compat.v1.placeholder(tf.float32, (1, 6), name="x")
            y = tf.compat.v1.placeholder(tf.float32, (1, 6), name="y")
            tf.identity(build(tf, x, y), name="out")
        with tf.compat.v1.Session(graph=g) as s:
            expected = np.concatenate([s.run("out:0", {"x:0": feeds["x"][i:i + 1], "y:0": feeds["y"][i:i + 1]})
                                       for i in range(len(feeds["x"]))])
        path = root / f"{op}.pb"
        path.write_bytes(g.as_graph_def().SerializeToString())
        out[op] = (path, expected)
    return {"graphs": out, "feeds": feeds, "cal": root / "cal.npz"}


@pytest.mark.parametrize("mode", [InferenceType.INT8, InferenceType.QUANTIZED_UINT8])
@pytest.mark.parametrize("io", [InferenceType.FLOAT, None], ids=["float_io", "integer_io"])
@pytest.mark.parametrize("op", list(SAME_SCALE_BUILDERS))
def test_io_types_are_the_ones_asked(op: str, io: InferenceType | None, mode: InferenceType,
                                     same_scale_graphs: dict[str, Any], litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    path, expected = same_scale_graphs["graphs"][op]
    feeds = same_scale_graphs["feeds"]
    model = convert(ConversionConfig(
        input_path=path, output_path=path.with_suffix(".tflite"), input_arrays=("x", "y"), output_arrays=("out",),
        inference_type=mode, inference_input_type=io, inference_output_type=io,
        representative_dataset=same_scale_graphs["cal"])).tflite
    m = litert(model)
    want = np.float32 if io is InferenceType.FLOAT else (np.int8 if mode is InferenceType.INT8 else np.uint8)
    assert [d["dtype"] for d in m.inputs] == [want, want]
    assert [d["dtype"] for d in m.outputs] == [want]
    if io is InferenceType.FLOAT:
        # 8-bit rounding of Gaussian data alone gives ~40 dB; the output range covers both inputs' (y is 3x x).
        s = sqnr(expected, m.run(feeds["x"], feeds["y"])[0])
        assert s >= 30, f"{op} {mode.name}: SQNR {s:.1f} dB"


def test_clamp_input_read_elsewhere_keeps_its_range(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """A clamp's input that another op also reads (x in min(max(x, -0.3), 0.5 x + 0.2)) keeps its own grid: written
    on the clamp's, the other reader would see it clipped (INT8 SQNR was 11.1 dB that way; TensorFlow's converter
    clips it too, ~13 dB). 8-bit rounding of Gaussian data alone gives ~40 dB; three roundings in a chain, >= 35."""
    from tests.support import oneop

    data = np.random.default_rng(RNG_SEED).standard_normal((32, 1, 10)).astype(np.float32)
    op = oneop.build(tmp_path, "clamp_shared", [oneop.Spec("float32", (1, 10))],
                     lambda x: tf.minimum(tf.maximum(x, -0.3), x * 0.5 + 0.2), [data])
    ours = oneop.sqnr_db(oneop.run_litert(oneop.qconvert_int8(op), op), op.expected)
    theirs = oneop.sqnr_db(oneop.run_litert(oneop.tf_convert_int8(op), op), op.expected)
    print(f"clamp with a shared input: INT8 SQNR qconvert {ours:.2f} dB, TensorFlow {theirs:.2f} dB")
    assert ours >= max(theirs - 0.5, 35.0)
