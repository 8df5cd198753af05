"""--allow_custom_ops: TF ops with no TFLite builtin become CUSTOM operators, the TF op type as custom code and the
node's attributes as FlexBuffer options (TOCO's mapping), with their TF types and shapes.

The graph is a speech front end, the one TOCO's speech-commands example converted: AudioSpectrogram -> Mfcc (both
TF ops without a TFLite builtin, both custom kernels LiteRT's builtin resolver registers) -> a dense layer. So the
converted model runs in LiteRT and is compared with TensorFlow, and with TensorFlow's own converter: float, and
INT8 calibrated through the custom ops (run by TensorFlow's kernels), where they stay float behind DEQUANTIZE and
before QUANTIZE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SAMPLES = 4000
ATTRS = {"AudioSpectrogram": {"window_size": 512, "stride": 128, "magnitude_squared": True},
         "Mfcc": {"upper_frequency_limit": 4000.0, "lower_frequency_limit": 20.0, "filterbank_channel_count": 20,
                  "dct_coefficient_count": 13}}


def _audio(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` [SAMPLES] clips: a tone of random pitch and loudness plus noise."""
    t = np.linspace(0, 1, SAMPLES, dtype=np.float64)
    clips = [rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * rng.uniform(100, 3000) * t / 4) + rng.normal(0, 0.05, SAMPLES)
             for _ in range(n)]
    return np.asarray(clips, np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Any]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("speech")
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, SAMPLES], name="audio")
        spec = tf.raw_ops.AudioSpectrogram(input=tf.reshape(x, [SAMPLES, 1]), name="spectrogram",
                                           **ATTRS["AudioSpectrogram"])
        mfcc = tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=tf.constant(16000, tf.int32), name="mfcc", **ATTRS["Mfcc"])
        h = tf.reshape(mfcc, [1, -1])
        w = tf.constant(rng.normal(0, 0.1, (int(h.shape[1]), 5)).astype(np.float32))
        tf.identity(tf.nn.relu(tf.matmul(h, w)), name="out")
    path = root / "speech.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    calibration, held_out = _audio(rng, 16), _audio(rng, 8)
    np.save(root / "calibration.npy", calibration)
    with tf.compat.v1.Session(graph=g) as sess:
        ref = np.concatenate([sess.run("out:0", {"audio:0": c[None]}) for c in held_out])
    return {"graph": path, "calibration": root / "calibration.npy", "calibration_data": calibration,
            "held_out": held_out, "ref": ref, "root": root}


def _cli(args: list[str]) -> None:
    from cli.main import main

    try:
        main([*args, "-q"])
    except SystemExit as e:
        raise AssertionError(f"qconvert exited with {e.code}") from None


def _tf_converter(tf: Any, speech: dict[str, Any], int8: bool) -> bytes:  # noqa: ANN401
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(speech["graph"]), ["audio"], ["out"])
    conv.allow_custom_ops = True
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([c[None]] for c in speech["calibration_data"])
    return conv.convert()


def _custom_ops(model: bytes) -> dict[str, Any]:
    from converter.inspect_model import describe

    info = describe(model)
    tensors = info.subgraphs[0].tensors
    return {op.op: (op.builtin, op.custom_options, [tensors[i].dtype for i in op.inputs],
                    [(tensors[i].dtype, tensors[i].shape) for i in op.outputs])
            for op in info.subgraphs[0].operators if op.builtin == "CUSTOM"}


def test_float_custom_ops_run_in_litert(speech: dict[str, Any], tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    out = speech["root"] / "float.tflite"
    _cli([f"--input_file={speech['graph']}", f"--output_file={out}", "--allow_custom_ops"])
    ours = _custom_ops(out.read_bytes())
    assert set(ours) == {"AudioSpectrogram", "Mfcc"}
    for code, attrs in ATTRS.items():
        builtin, options, _, outputs = ours[code]
        assert builtin == "CUSTOM"
        # Every attribute of the node, with its TF value (floats as float32), nothing else a kernel reads.
        assert {k: v for k, v in options.items() if k in attrs} == pytest.approx(attrs)
        assert all(dtype == "float32" for dtype, _ in outputs)
    assert ours["AudioSpectrogram"][3] == [("float32", (1, 28, 257))]  # TF's shape inference: channels, frames, bins
    assert ours["Mfcc"][2] == ["float32", "int32"] and ours["Mfcc"][3] == [("float32", (1, 28, 13))]
    theirs = _custom_ops(_tf_converter(tf, speech, int8=False))
    for code in ATTRS:  # TensorFlow's converter writes the same options (it drops only '_' attributes)
        assert theirs[code][1] == {k: v for k, v in ours[code][1].items() if not k.startswith("_")}
    got = litert(out.read_bytes()).run(speech["held_out"])[0]
    # float32 FFT and mel filterbank: TensorFlow's and LiteRT's kernels agree to float32 rounding.
    np.testing.assert_allclose(got, speech["ref"], rtol=1e-5, atol=1e-5 * np.abs(speech["ref"]).max())


def test_int8_keeps_custom_ops_float(speech: dict[str, Any], tf: Any, litert: Callable[[bytes], Any]) -> None:  # noqa: ANN401
    """INT8: calibration runs the custom ops with TensorFlow's kernels; they stay float, fed by float ops
    and followed by a QUANTIZE (their nodes do not say they take quantized data), and the model matches
    TensorFlow's converter."""
    out = speech["root"] / "int8.tflite"
    _cli([f"--input_file={speech['graph']}", f"--output_file={out}", "--allow_custom_ops", "--inference_type=INT8",
          f"--representative_dataset={speech['calibration']}", "--inference_input_type=FLOAT",
          "--inference_output_type=FLOAT"])
    ours = _custom_ops(out.read_bytes())
    assert ours["AudioSpectrogram"][2] == ["float32"] and ours["Mfcc"][2] == ["float32", "int32"]
    from converter.inspect_model import describe

    ops = [o.op for o in describe(out.read_bytes()).subgraphs[0].operators]
    # The float input reaches AudioSpectrogram through float ops only (its RESHAPE stays float: quantizing it
    # would need a QUANTIZE/DEQUANTIZE round trip for nothing); Mfcc's float output is quantized for the dense head.
    before = ops[:ops.index("AudioSpectrogram")]
    assert "QUANTIZE" not in before and "DEQUANTIZE" not in before, ops
    assert ops[ops.index("Mfcc") + 1] == "QUANTIZE", ops
    assert "FULLY_CONNECTED" in ops
    got = litert(out.read_bytes()).run(speech["held_out"])[0]
    tf_got = litert(_tf_converter(tf, speech, int8=True)).run(speech["held_out"])[0]
    ref = speech["ref"]
    sqnr = 10 * np.log10(np.sum(ref**2) / np.sum((got - ref) ** 2))
    tf_sqnr = 10 * np.log10(np.sum(ref**2) / np.sum((tf_got - ref) ** 2))
    print(f"int8 with float custom ops on 8 held-out clips: SQNR {sqnr:.2f} dB (TensorFlow's converter {tf_sqnr:.2f} dB)")
    assert sqnr >= tf_sqnr - 0.5


def test_without_the_flag_the_error_names_it(speech: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from tests.errors._support import EXIT_ERROR, assert_error_line, run_cli

    run = run_cli(capsys, [f"--input_file={speech['graph']}", f"--output_file={speech['root'] / 'x.tflite'}"])
    assert_error_line(run, EXIT_ERROR, "AudioSpectrogram x1 (spectrogram)", "Mfcc x1 (mfcc)", "--allow_custom_ops")
    assert not (speech["root"] / "x.tflite").exists()


def test_unknown_op_needs_types(tmp_path: Path, tf: Any, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN401
    """An op TensorFlow does not know, without _output_types, cannot be typed: the error says how to register it."""
    from tests.errors._support import EXIT_ERROR, assert_error_line, run_cli

    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
    gd = g.as_graph_def()
    node = gd.node.add()
    node.name, node.op = "mystery", "QconvertMysteryOp"
    node.input.append("x")
    path = tmp_path / "mystery.pb"
    path.write_bytes(gd.SerializeToString())
    run = run_cli(capsys, [f"--input_file={path}", f"--output_file={tmp_path / 'm.tflite'}", "--allow_custom_ops",
                           "--output_arrays=mystery"])
    assert_error_line(run, EXIT_ERROR, "QconvertMysteryOp", "--custom_opdefs")


def test_static_values_cut_ops_tensorflow_does_not_register(tf: Any) -> None:  # noqa: ANN401
    """Constant folding runs the graph in TensorFlow, which refuses op types it does not register: such a node (and
    everything reading it) is cut out and never static; the constant branch beside it still evaluates exactly."""
    from converter.frontend.static_values import StaticValues

    w = np.array([[2.0, 1.0], [1.0, 3.0]], np.float32)
    g = tf.Graph()
    with g.as_default():
        inv = tf.linalg.inv(tf.constant(w, name="w"), name="inv")
        tf.identity(inv, name="inv_out")
    gd = g.as_graph_def()
    mystery = gd.node.add()
    mystery.name, mystery.op = "mystery", "QconvertMysteryOp"
    mystery.input.append("w")
    below = gd.node.add()
    below.CopyFrom(next(n for n in gd.node if n.name == "inv_out"))
    below.name = "below"
    below.input[:] = ["mystery"]
    with StaticValues(gd) as sv:
        assert not sv.is_static("mystery") and not sv.is_static("below:0")
        assert sv.static_shape("below") is None and "mystery" not in sv.topological()
        assert sv.is_static("inv_out")
        np.testing.assert_allclose(sv.evaluate(["inv_out"])[0], np.linalg.inv(w), rtol=1e-6)  # float32 inverse
