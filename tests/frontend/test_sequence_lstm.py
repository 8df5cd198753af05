"""A Keras LSTM with ``unroll=False`` over 100 time steps becomes one UNIDIRECTIONAL_SEQUENCE_LSTM (two for a
Bidirectional LSTM), in FLOAT and INT8, for Keras 3 and tf_keras alike; checked in LiteRT against Keras and against
TensorFlow's converter, which fuses tf_keras' LSTM (Keras 3's it cannot convert at all), on the same weights.

The weights are the trained LSTM of ``tests/support/trained.py`` (two-tone frequency/amplitude estimation, trained on
16-step sequences); an LSTM's weights do not depend on the sequence length, so the same cell runs here over 100 steps
of the same signal family, on held-out sequences (seeds the training never saw)."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.inspect_model import describe
from converter.pipeline import ConversionResult, convert
from tests.support.trained import trained, two_tone_sequences

T, F = 100, 4
# Ops an unrolled cell leaves behind; none of them may remain beside the fused op.
_CELL_OPS = {"LOGISTIC", "TANH", "SPLIT", "MUL", "ADD", "UNPACK", "PACK"}


@dataclass
class Models:
    keras3: Path  # Keras 3 SavedModel (model.export)
    twin: Any  # the same weights in tf_keras, batch 1 (what TensorFlow's converter fuses)
    calibration: Path
    x: np.ndarray  # held-out
    expected: np.ndarray  # Keras on x

    @functools.cached_property
    def tf_keras(self) -> Path:
        """The tf_keras model's SavedModel (its LSTM function as tf_keras writes it), saved on first use without
        Keras' own (slow) serialization: a module holding its variables."""
        import tensorflow as tf

        path = self.keras3.with_name(self.keras3.name + "_tf_keras")
        module = tf.Module()
        module.weights_ = list(self.twin.weights)
        twin = self.twin
        module.serve = tf.function(lambda x: {"output": twin(x)},
                                   input_signature=[tf.TensorSpec([1, T, F], tf.float32, name="series")])
        tf.saved_model.save(module, str(path), signatures=module.serve)
        return path


def _build(root: Path, name: str, layers: Any, weights: list[np.ndarray]) -> Models:  # noqa: ANN401
    """``layers(keras_module, input)`` -> output, built in Keras 3 (exported) and tf_keras, same weights."""
    import keras
    import tf_keras

    inp = keras.Input((T, F), name="series")
    model = keras.Model(inp, layers(keras, inp))
    model.set_weights(weights)
    model.export(str(root / name), verbose=False)
    tinp = tf_keras.Input((T, F), batch_size=1, name="series")
    twin = tf_keras.Model(tinp, layers(tf_keras, tinp))
    twin.set_weights(weights)
    x, _ = two_tone_sequences(48, 1001, steps=T)
    cal, _ = two_tone_sequences(32, 1002, steps=T)
    np.save(root / f"{name}_cal.npy", cal)
    return Models(root / name, twin, root / f"{name}_cal.npy", x, np.asarray(model(x)))


@pytest.fixture(scope="module")
def lstm(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """The trained LSTM(32) + Dense(4) over 100 steps."""
    weights = trained("lstm").model.get_weights()
    return _build(tmp_path_factory.mktemp("lstm100"), "lstm",
                  lambda k, i: k.layers.Dense(4)(k.layers.LSTM(32)(i)), weights)


@pytest.fixture(scope="module")
def bilstm(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """Bidirectional(LSTM(32, return_sequences=True)): the trained cell in both directions; the outputs are every
    step's hidden states, forward and backward."""
    w = trained("lstm").model.get_weights()[:3]
    return _build(tmp_path_factory.mktemp("bilstm100"), "bilstm",
                  lambda k, i: k.layers.Bidirectional(k.layers.LSTM(32, return_sequences=True))(i), w + w)


def _ours(m: Models, saved_model: Path | None = None, **kw: Any) -> ConversionResult:  # noqa: ANN401
    if kw.get("inference_type", InferenceType.FLOAT) is not InferenceType.FLOAT:
        kw.update(representative_dataset=m.calibration, inference_input_type=InferenceType.FLOAT,
                  inference_output_type=InferenceType.FLOAT)
    path = saved_model or m.keras3
    return convert(ConversionConfig(input_path=path, output_path=path.with_suffix(".tflite"),
                                    input_format=InputFormat.SAVED_MODEL, input_shapes=((1, T, F),), **kw))


def _tensorflow(m: Models, tf: Any, int8: bool) -> bytes:  # noqa: ANN401
    conv = tf.lite.TFLiteConverter.from_keras_model(m.twin)
    if int8:
        cal = np.load(m.calibration)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    return conv.convert()


def _ops(model: bytes) -> Counter[str]:
    return Counter(op.op for sg in describe(model).subgraphs for op in sg.operators)


def _max_rel(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def _fresh_each_run(model: bytes, x: np.ndarray) -> np.ndarray:
    """``model`` on each sample of ``x`` from the zero state: TensorFlow's converter leaves the LSTM state in
    variable tensors that carry over from one run to the next, so they are reset before every run."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for i in range(len(x)):
        it.reset_all_variables()
        it.set_tensor(inp["index"], x[i:i + 1])
        it.invoke()
        rows.append(it.get_tensor(out["index"]).copy())
    return np.concatenate(rows)


def _quantized_without_min_max(model: bytes) -> list[str]:
    """The quantized tensors of ``model`` that lack the min/max metadata DESIGN.md has qconvert write on every
    quantized tensor (TensorFlow's converter writes none)."""
    from schema.tflite.Model import Model

    sg = Model.GetRootAs(model, 0).Subgraphs(0)
    tensors = (sg.Tensors(i) for i in range(sg.TensorsLength()))
    return [t.Name().decode() for t in tensors if (q := t.Quantization()) is not None and q.ScaleLength()
            and not (q.MinLength() and q.MaxLength())]


def test_float_lstm_is_one_fused_op(lstm: Models, litert: Any) -> None:  # noqa: ANN401
    """One UNIDIRECTIONAL_SEQUENCE_LSTM for the 100 steps, from Keras 3 and from tf_keras, within 1e-5 of Keras
    (float32 throughout; observed ~2e-7); stateless: run after run in one interpreter, each starts from the zero
    state (the two state tensors are refilled by FILL before the op)."""
    for source in (lstm.keras3, lstm.tf_keras):
        ours = _ours(lstm, saved_model=source)
        ops = _ops(ours.tflite)
        model = litert(ours.tflite)
        got = model.run(lstm.x)[0]
        again = model.run(lstm.x[:1])[0]
        print(f"FLOAT from {source.name}: vs Keras {_max_rel(lstm.expected, got):.1e}; {len(ours.tflite):,} bytes; "
              f"ops {dict(ops)}")
        assert ops["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 1 and not set(ops) & _CELL_OPS, ops
        assert any("fused into one UNIDIRECTIONAL_SEQUENCE_LSTM" in n for n in ours.notes)
        assert _max_rel(lstm.expected, got) <= 1e-5
        assert np.array_equal(again, got[:1])
        variables = [t for t in describe(ours.tflite).subgraphs[0].tensors if t.is_variable]
        assert len(variables) == 2 and ops["FILL"] == 2  # h and c, refilled before every run


@pytest.mark.slow(reason="TensorFlow's converter takes ~10 s on this model; the INT8 test compares with it by default")
def test_float_lstm_matches_tensorflows_model(lstm: Models, tf: Any, litert: Any) -> None:  # noqa: ANN401
    """Within 1e-5 of TensorFlow's fused model (the same float32 kernel computes both: observed bit-identical), whose
    state carries over from run to run unless the caller resets its variables; file (same tf_keras source) no
    bigger than TensorFlow's."""
    theirs = _tensorflow(lstm, tf, int8=False)
    tf_got = _fresh_each_run(theirs, lstm.x)
    tf_stateful = litert(theirs).run(lstm.x)[0]
    ours = _ours(lstm, saved_model=lstm.tf_keras)
    got = litert(ours.tflite).run(lstm.x)[0]
    print(f"FLOAT vs TensorFlow's model {_max_rel(tf_got, got):.1e} (its state not reset between runs: "
          f"{_max_rel(tf_got, tf_stateful):.1e}); bytes {len(ours.tflite):,} vs TensorFlow {len(theirs):,}")
    assert _max_rel(tf_got, got) <= 1e-5
    assert len(ours.tflite) <= len(theirs)


def test_int8_lstm_keeps_tensorflow_accuracy(lstm: Models, tf: Any, litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    """INT8 with float I/O: the fused op runs LiteRT's 8x8_16 integer kernel (int8 weights per gate, int32 biases at
    input x weight scale, int16 cell state on a power-of-two scale covering the calibrated cell values of every
    step). SQNR on held-out sequences >= TensorFlow's - 0.5 dB, from both Keras versions. The file (same tf_keras
    source) is no bigger than TensorFlow's, min/max metadata on every quantized tensor and the FILL ops that zero
    the state each run included (identical vectors and tables are stored once: observed 9,584 vs 9,800 bytes)."""
    theirs = _tensorflow(lstm, tf, int8=True)
    s_tf = sqnr(lstm.expected, _fresh_each_run(theirs, lstm.x))
    for source in (lstm.keras3, lstm.tf_keras):
        ours = _ours(lstm, saved_model=source, inference_type=InferenceType.INT8)
        s_ours = sqnr(lstm.expected, litert(ours.tflite).run(lstm.x)[0])
        info = describe(ours.tflite)
        lstm_op = next(op for op in info.subgraphs[0].operators if op.op == "UNIDIRECTIONAL_SEQUENCE_LSTM")
        tensors = info.subgraphs[0].tensors
        cell = tensors[lstm_op.inputs[19]]
        print(f"INT8 from {source.name}: SQNR qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB; bytes "
              f"{len(ours.tflite):,} vs TensorFlow {len(theirs):,}; cell state {cell.dtype} scale "
              f"{cell.quantization.scale[0]:.3g}")  # type: ignore[union-attr]
        assert not ours.quantization.float_nodes  # type: ignore[union-attr]
        assert tensors[lstm_op.inputs[0]].dtype == "int8" and cell.dtype == "int16"
        assert np.log2(cell.quantization.scale[0]).is_integer()  # type: ignore[union-attr]
        assert s_ours >= s_tf - 0.5
    assert not _quantized_without_min_max(ours.tflite)
    assert len(ours.tflite) <= len(theirs)


def test_bidirectional_lstm_is_two_fused_ops(bilstm: Models, litert: Any) -> None:  # noqa: ANN401
    """Bidirectional: a forward and a backward (input reversed, outputs reversed back) sequence LSTM and their
    concatenation, as TensorFlow's converter writes it (LiteRT's BIDIRECTIONAL_SEQUENCE_LSTM has no integer
    kernel); both read the batch-major input (no transposes). FLOAT within 1e-5 of Keras."""
    flt = _ours(bilstm)
    ops = _ops(flt.tflite)
    got = litert(flt.tflite).run(bilstm.x)[0]
    print(f"Bidirectional: FLOAT vs Keras {_max_rel(bilstm.expected, got):.1e}, ops {dict(ops)}")
    assert ops["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 2 and ops["REVERSE_V2"] == 2 and ops["CONCATENATION"] == 1
    assert not set(ops) & (_CELL_OPS | {"TRANSPOSE"})
    assert _max_rel(bilstm.expected, got) <= 1e-5


@pytest.mark.slow(reason="TensorFlow's converter takes ~12 s on the bidirectional model")
def test_bidirectional_int8_keeps_tensorflow_accuracy(bilstm: Models, tf: Any, litert: Any,  # noqa: ANN401
                                                      sqnr: Any) -> None:  # noqa: ANN401
    """INT8 SQNR >= TensorFlow's - 0.5 dB, two integer sequence LSTMs."""
    int8 = _ours(bilstm, inference_type=InferenceType.INT8)
    s_ours = sqnr(bilstm.expected, litert(int8.tflite).run(bilstm.x)[0])
    s_tf = sqnr(bilstm.expected, _fresh_each_run(_tensorflow(bilstm, tf, int8=True), bilstm.x))
    print(f"Bidirectional INT8 SQNR: qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB")
    assert _ops(int8.tflite)["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 2 and not int8.quantization.float_nodes  # type: ignore[union-attr]
    assert s_ours >= s_tf - 0.5
