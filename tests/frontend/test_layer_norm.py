"""LayerNormalization from tf_keras (which freezes to an NCHW FusedBatchNormV3 in training mode, over each row)
and from Keras 3 (moments and rsqrt ops), in a small model trained on a generated task: FLOAT matches Keras, INT8
(float I/O) keeps at least TensorFlow's converter's SQNR - 0.5 dB on held-out data. Slow (training and SavedModel
export take ~90 s); the default run checks the NCHW and training-mode batch norms as one-op graphs
(test_array_ops.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.pipeline import convert
from tests.support.trained import symbol_sequences

pytestmark = pytest.mark.slow


@functools.cache
def _trained(flavour: str) -> tuple[Any, np.ndarray, np.ndarray]:
    """(model, calibration inputs, held-out inputs): Dense -> LayerNormalization -> Dense per position, fitted for
    a few epochs to count symbol occurrences (symbol_sequences); seeded, with deterministic kernels."""
    import tensorflow as tf

    if flavour == "tf_keras":
        import tf_keras as keras
    else:
        import keras
    keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train = symbol_sequences(1500, 71)
    x_cal, _ = symbol_sequences(64, 72)
    x_held, _ = symbol_sequences(64, 73)
    inp = keras.Input((12, 8))
    h = keras.layers.Dense(16, activation="relu")(inp)
    h = keras.layers.LayerNormalization(epsilon=1e-3)(h)
    out = keras.layers.Reshape((12,))(keras.layers.Dense(1)(h))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(1e-2), "mse", jit_compile=False)
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    return model, x_cal, x_held


def _export(flavour: str, model: Any, path: Path) -> None:  # noqa: ANN401
    if flavour == "tf_keras":
        model.save(path, save_format="tf")
    else:
        model.export(path, verbose=False)


@pytest.fixture(scope="module", params=["tf_keras", "keras3"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    flavour = request.param
    model, x_cal, x_held = _trained(flavour)
    root = tmp_path_factory.mktemp(f"layer_norm_{flavour}")
    _export(flavour, model, root / "saved_model")
    np.save(root / "cal.npy", x_cal)
    return {"flavour": flavour, "dir": root / "saved_model", "cal": root / "cal.npy", "x_cal": x_cal,
            "x_held": x_held, "expected": np.asarray(model.predict(x_held, verbose=0))}


def _convert(ex: dict[str, Any], **kw: Any) -> Any:  # noqa: ANN401
    return convert(ConversionConfig(input_path=ex["dir"], output_path=ex["dir"].parent / "m.tflite",
                                    input_format=InputFormat.SAVED_MODEL, **kw))


def test_float(exported: dict[str, Any], litert: Any) -> None:  # noqa: ANN401
    result = _convert(exported)
    if exported["flavour"] == "tf_keras":  # the form this test is about
        assert result.tf_op_counts.get("FusedBatchNormV3") == 1
    got = litert(result.tflite).run(exported["x_held"])[0]
    expected = exported["expected"]
    # float32 in another order: ~1e-6 relative; LayerNorm's rsqrt of a small variance amplifies it a little.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


def test_int8(exported: dict[str, Any], litert: Any, sqnr: Any, tf: Any) -> None:  # noqa: ANN401
    ours = _convert(exported, inference_type=InferenceType.INT8, inference_input_type=InferenceType.FLOAT,
                    inference_output_type=InferenceType.FLOAT, representative_dataset=exported["cal"]).tflite
    conv = tf.lite.TFLiteConverter.from_saved_model(str(exported["dir"]))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    x_cal = exported["x_cal"]
    conv.representative_dataset = lambda: ([x_cal[i:i + 1]] for i in range(len(x_cal)))
    theirs = conv.convert()
    s_ours = sqnr(exported["expected"], litert(ours).run(exported["x_held"])[0])
    s_tf = sqnr(exported["expected"], litert(theirs).run(exported["x_held"])[0])
    print(f"LayerNormalization {exported['flavour']} INT8 SQNR: qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB")
    assert s_ours >= s_tf - 0.5
