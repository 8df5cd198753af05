"""--keras_model_file: tf_keras HDF5 (.h5) and Keras 3 .keras files, read as data, loaded in safe mode by the Keras
that wrote them, traced and frozen. Trained digit classifiers (train / calibration / held-out splits of
scikit-learn's digits): FLOAT within 1e-5 of Keras, INT8 SQNR on held-out digits at least TensorFlow's converter's
- 0.5 dB. And the file is data: crafted files whose Lambda bytecode, custom class module or named function would
run code are refused with one line, and nothing of theirs runs (a marker file they would write stays absent)."""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._support import EXIT_ERROR, EXIT_USAGE, assert_error_line, run_cli
from tests.support.keras_models import digits_data
from tests.support.trained import trained

HELD_OUT = 300  # the last digits; never trained or calibrated on
CALIBRATION = 200


def _tf_keras_digits(tf: Any) -> Any:  # noqa: ANN401
    """A small tf_keras (Keras 2) CNN trained on the first 1400 digits."""
    import tf_keras

    x, y = digits_data()
    tf_keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    inp = tf_keras.Input((8, 8, 1), name="digit")
    h = tf_keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    h = tf_keras.layers.BatchNormalization()(h)
    h = tf_keras.layers.ReLU()(h)
    h = tf_keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = tf_keras.layers.MaxPooling2D()(h)
    h = tf_keras.layers.Flatten()(h)
    h = tf_keras.layers.Dense(32, activation="relu")(h)
    model = tf_keras.Model(inp, tf_keras.layers.Dense(10, activation="softmax", name="probs")(h))
    model.compile(tf_keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x[:1400], y[:1400], epochs=6, batch_size=64, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Any]:  # noqa: ANN401
    """digits.h5 (tf_keras), digits.keras (Keras 3), their models, calibration and held-out digits."""
    root = tmp_path_factory.mktemp("keras_files")
    x, _ = digits_data()
    k2 = _tf_keras_digits(tf)
    k2.save(root / "digits.h5")
    k3 = trained("digits").model
    k3.save(root / "digits.keras")
    np.save(root / "calibration.npy", x[:CALIBRATION])
    return {"root": root, "h5": (root / "digits.h5", k2), "keras": (root / "digits.keras", k3),
            "calibration": root / "calibration.npy", "held_out": x[-HELD_OUT:]}


def _convert(capsys: pytest.CaptureFixture[str], args: list[str], out: Path) -> bytes:
    run = run_cli(capsys, [*args, f"--output_file={out}"])
    assert run.code == 0, run.err
    return out.read_bytes()


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - got).astype(np.float64) ** 2)))


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_float_matches_keras(kind: str, keras_files: dict[str, Any], capsys: pytest.CaptureFixture[str],
                             litert: Callable[[bytes], Any]) -> None:
    path, model = keras_files[kind]
    out = keras_files["root"] / f"float_{kind}.tflite"
    m = litert(_convert(capsys, [f"--keras_model_file={path}", f"--report={out}.json"], out))
    assert m.interpreter.get_signature_list()["serving_default"]["inputs"] == ["digit"]
    x = keras_files["held_out"]
    ref = model.predict(x, verbose=0, batch_size=len(x))
    got = m.run(x)[0]
    print(f"{kind}: float max |diff| {np.abs(got - ref).max():.2e} (max |ref| {np.abs(ref).max():.3f})")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    assert json.loads(Path(f"{out}.json").read_text())["input"]["format"] == "KERAS_MODEL"


@pytest.mark.parametrize("kind", ["h5", "keras"])
def test_int8_sqnr_at_least_tensorflow(kind: str, keras_files: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                       tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    """INT8 calibrated on 200 training digits; SQNR against Keras on the 300 held-out ones, ours and TensorFlow's
    converter's (from the model exported as a SavedModel, the same calibration samples)."""
    path, model = keras_files[kind]
    out = keras_files["root"] / f"int8_{kind}.tflite"
    ours = litert(_convert(capsys, [f"--keras_model_file={path}", "--inference_type=INT8",
                                    f"--representative_dataset={keras_files['calibration']}",
                                    "--inference_input_type=FLOAT", "--inference_output_type=FLOAT"], out))
    saved = keras_files["root"] / f"sm_{kind}"
    if kind == "keras":
        model.export(str(saved), verbose=False)
    else:
        tf.saved_model.save(model, str(saved))
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    cal = np.load(keras_files["calibration"])
    conv.representative_dataset = lambda: ([c[None]] for c in cal)
    theirs = litert(conv.convert())
    x = keras_files["held_out"]
    ref = model.predict(x, verbose=0, batch_size=len(x))
    ours_db, theirs_db = _sqnr(ref, ours.run(x)[0]), _sqnr(ref, theirs.run(x)[0])
    print(f"{kind}: INT8 SQNR on {len(x)} held-out digits: qconvert {ours_db:.2f} dB, TensorFlow {theirs_db:.2f} dB")
    assert ours_db >= theirs_db - 0.5


def test_unknown_dims_need_input_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        litert: Callable[[bytes], Any]) -> None:
    """An input of unknown height and width: the error says --input_shapes; with it the model converts."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((None, None, 3), name="image")
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    model.save(tmp_path / "any_size.keras")
    args = [f"--keras_model_file={tmp_path / 'any_size.keras'}"]
    run = run_cli(capsys, [*args, f"--output_file={tmp_path / 'a.tflite'}"])
    assert_error_line(run, EXIT_ERROR, "'image'", "--input_shapes")
    m = litert(_convert(capsys, [*args, "--input_shapes=1,12,10,3"], tmp_path / "b.tflite"))
    x = np.random.default_rng(0).normal(size=(2, 12, 10, 3)).astype(np.float32)
    np.testing.assert_allclose(m.run(x)[0], model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- a file is data
def _marker_lambda(marker: Path) -> Any:  # noqa: ANN401
    """A lambda whose bytecode writes ``marker`` when the layer runs (at load, Keras calls each layer once)."""
    return eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), t)[1]")  # noqa: S307


def _refused(capsys: pytest.CaptureFixture[str], path: Path, out: Path, *fragments: str,
             code: int = EXIT_ERROR) -> None:
    assert_error_line(run_cli(capsys, [f"--keras_model_file={path}", f"--output_file={out}"]), code, *fragments)
    assert not out.exists()


def test_h5_lambda_bytecode_does_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         litert: Callable[[bytes], Any]) -> None:
    """A tf_keras .h5 whose Lambda layer's marshalled bytecode writes a marker file: refused, the marker is not
    written; --unsafe_keras_lambda (a file the user trusts) lets Keras run it."""
    import tf_keras

    marker = tmp_path / "lambda_ran"
    inp = tf_keras.Input((4,), name="x")
    out = tf_keras.layers.Lambda(_marker_lambda(marker), name="sneaky")(tf_keras.layers.Dense(3)(inp))
    tf_keras.Model(inp, out).save(tmp_path / "lambda.h5")
    marker.unlink()  # building the model ran it once, in this test
    _refused(capsys, tmp_path / "lambda.h5", tmp_path / "m.tflite", "layer 'sneaky' is a Lambda layer",
             "--unsafe_keras_lambda")
    assert not marker.exists()
    model = _convert(capsys, [f"--keras_model_file={tmp_path / 'lambda.h5'}", "--unsafe_keras_lambda"],
                     tmp_path / "m.tflite")
    assert marker.exists()  # the flag, and only the flag, lets the file's code run
    litert(model).run(np.ones((1, 4), np.float32))


def test_keras3_lambda_bytecode_does_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    marker = tmp_path / "lambda_ran"
    inp = keras.Input((4,), name="x")
    out = keras.layers.Lambda(_marker_lambda(marker), name="sneaky")(keras.layers.Dense(3)(inp))
    keras.Model(inp, out).save(tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)
    _refused(capsys, tmp_path / "lambda.keras", tmp_path / "m.tflite", "layer 'sneaky' is a Lambda layer")
    assert not marker.exists()


def _edit_h5_config(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    import h5py

    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config)


def test_h5_named_function_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Lambda naming a function of another module (os.system) instead of carrying bytecode: still a Lambda."""
    import tf_keras

    inp = tf_keras.Input((4,), name="x")
    tf_keras.Model(inp, tf_keras.layers.Lambda(lambda t: t, name="by_name")(inp)).save(tmp_path / "named.h5")

    def to_os_system(config: dict[str, Any]) -> None:
        layer = next(x for x in config["config"]["layers"] if x["class_name"] == "Lambda")
        layer["config"].update(function="system", function_type="function", module="os")

    _edit_h5_config(tmp_path / "named.h5", to_os_system)
    _refused(capsys, tmp_path / "named.h5", tmp_path / "m.tflite", "layer 'by_name' is a Lambda layer")


def test_foreign_module_is_never_imported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A .keras whose Dense layer claims a class from a module that writes a marker when imported (and is on the
    path): refused naming the class and module, and the module is never imported."""
    import keras

    marker = tmp_path / "module_imported"
    (tmp_path / "evil_layers.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                                             "from keras.layers import Dense as EvilDense\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    inp = keras.Input((4,), name="x")
    keras.Model(inp, keras.layers.Dense(3, name="dense_layer")(inp)).save(tmp_path / "clean.keras")
    with zipfile.ZipFile(tmp_path / "clean.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    dense = next(x for x in config["config"]["layers"] if x["class_name"] == "Dense")
    dense.update(module="evil_layers", class_name="EvilDense")
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "evil.keras", "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    _refused(capsys, tmp_path / "evil.keras", tmp_path / "m.tflite", "layer 'dense_layer' uses class EvilDense",
             "from module evil_layers", "--saved_model_dir")
    assert not marker.exists() and "evil_layers" not in sys.modules


def test_custom_layer_class_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="qconvert_test")
    class Scale(keras.layers.Layer):
        def call(self, x: Any) -> Any:  # noqa: ANN401
            return x * 2.0

    inp = keras.Input((4,), name="x")
    keras.Model(inp, Scale(name="scale")(inp)).save(tmp_path / "custom.keras")
    _refused(capsys, tmp_path / "custom.keras", tmp_path / "m.tflite", "layer 'scale' uses class Scale",
             "not part of Keras")


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], keras_files: dict[str, Any]) -> None:
    out = tmp_path / "m.tflite"
    h5 = keras_files["h5"][0]
    assert_error_line(run_cli(capsys, [f"--keras_model_file={h5}", f"--input_file={h5}", f"--output_file={out}"]),
                      EXIT_USAGE, "give one of")
    assert_error_line(run_cli(capsys, [f"--input_file={h5}", "--unsafe_keras_lambda", f"--output_file={out}"]),
                      EXIT_USAGE, "--unsafe_keras_lambda applies to --keras_model_file")
    assert_error_line(run_cli(capsys, [f"--input_file={h5}", f"--output_file={out}"]), EXIT_ERROR,
                      f"--keras_model_file={h5}")
    weights = tmp_path / "weights_only.h5"
    keras_files["h5"][1].save_weights(weights)
    _refused(capsys, weights, out, "holds weights only")
