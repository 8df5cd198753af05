"""Keras recurrent layers with the default ``unroll=False``: frozen with ``lower_control_flow=False`` they are While
loops over TensorLists; ``unroll_while_loops`` makes them feed-forward (LSTM loops become one fused sequence op:
test_sequence_lstm; here the unroller is checked with fusion off, and the conversions say which loop was fused). Checked three ways: no control flow is left,
the unrolled GraphDef computes in TensorFlow what the loop computes, and the converted model runs in LiteRT (FLOAT
against Keras, INT8 against TensorFlow's converter). Plus the errors for loops that cannot be unrolled, and If."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.errors import ConversionError, ShapeError
from converter.frontend.control_flow import unroll_while_loops
from tests.conftest import run_frozen_graph

T, F, UNITS = 6, 5, 8
# Ops that must not survive unrolling: functional and TF1 control flow, TensorLists.
_CONTROL_FLOW = {"While", "StatelessWhile", "If", "StatelessIf", "Enter", "Exit", "Merge", "Switch", "NextIteration",
                 "LoopCond"}


def _sequences(n: int, seed: int, steps: int = T) -> np.ndarray:
    """Noisy sines, a few cycles per sequence, one frequency per feature."""
    rng = np.random.RandomState(seed)
    t = np.linspace(0, 2 * np.pi, steps, dtype=np.float32)
    x = np.sin(t[None, :, None] * rng.uniform(0.5, 2, (n, 1, F)) + rng.uniform(0, 6, (n, 1, 1)))
    return (x + 0.1 * rng.randn(n, steps, F)).astype(np.float32)


def _keras_rnn(layers: tuple[tuple[str, bool], ...], unroll: bool = False, steps: int | None = T) -> Any:  # noqa: ANN401
    """Recurrent layers (cell, return_sequences) stacked on a (steps, F) input; same seed, same weights."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((steps, F), name="series")
    h = inp
    for cell, sequences in layers:
        h = getattr(keras.layers, cell)(UNITS, return_sequences=sequences, unroll=unroll)(h)
    return keras.Model(inp, h)


MODELS: dict[str, tuple[tuple[str, bool], ...]] = {
    "lstm": (("LSTM", False),),
    "gru": (("GRU", False),),
    "simple_rnn": (("SimpleRNN", False),),
    "lstm_sequences": (("LSTM", True),),
    "stacked_lstm_gru": (("LSTM", True), ("GRU", False)),
}


@dataclass
class Frozen:
    graph_def: Any  # with its While loops
    input_tensor: str
    output_tensor: str


def freeze_signature(saved_model: Path) -> Frozen:
    """What the frontend does with a SavedModel signature, control flow kept functional."""
    import tensorflow as tf
    from tensorflow.python.framework import convert_to_constants

    loaded = tf.saved_model.load(str(saved_model))
    frozen = convert_to_constants.convert_variables_to_constants_v2(loaded.signatures["serving_default"],
                                                                     lower_control_flow=False)
    return Frozen(frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name)


@dataclass
class Case:
    name: str
    model: Any  # keras.Model
    saved_model: Path
    frozen: Frozen
    unrolled: Any  # GraphDef
    unrolled_pb: Path
    calibration: Path
    x: np.ndarray
    expected: np.ndarray


@pytest.fixture(scope="session")
def rnn_case(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Case]:
    """Each model of MODELS built, exported, frozen and unrolled once (on first use)."""
    root = tmp_path_factory.mktemp("control_flow")
    cache: dict[str, Case] = {}

    def get(name: str) -> Case:
        if name not in cache:
            model = _keras_rnn(MODELS[name])
            path = root / name
            model.export(str(path), verbose=False)
            frozen = freeze_signature(path)
            unrolled = unroll_while_loops(frozen.graph_def, fuse=False)
            pb = root / f"{name}.pb"
            pb.write_bytes(unrolled.SerializeToString())
            cal = root / f"{name}_cal.npy"
            np.save(cal, _sequences(32, 1))
            x = _sequences(64, 2)
            cache[name] = Case(name, model, path, frozen, unrolled, pb, cal, x, np.asarray(model(x)))
        return cache[name]

    return get


def _convert(case: Case, **kw: Any) -> Any:  # noqa: ANN401 - ConversionResult
    from converter.config import ConversionConfig, InferenceType, InputFormat
    from converter.pipeline import convert

    if kw.get("inference_type", InferenceType.FLOAT) is not InferenceType.FLOAT:
        kw.update(representative_dataset=case.calibration, inference_input_type=InferenceType.FLOAT,
                  inference_output_type=InferenceType.FLOAT)
    # The SavedModel itself: the direct reader inlines, unrolls (with the given time dim) and freezes.
    return convert(ConversionConfig(
        input_path=case.saved_model, output_path=case.saved_model.with_suffix(".tflite"),
        input_format=InputFormat.SAVED_MODEL, input_shapes=((1, T, F),), **kw))


def _max_rel(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("name", list(MODELS))
def test_no_loops_or_tensor_lists_left(name: str, rnn_case: Callable[[str], Case]) -> None:
    case = rnn_case(name)
    before = {n.op for n in case.frozen.graph_def.node}
    after = {n.op for n in case.unrolled.node}
    assert {"While", "TensorListReserve", "TensorListFromTensor", "TensorListStack"} <= before
    assert not after & _CONTROL_FLOW
    assert not [op for op in after if op.startswith("TensorList")]
    loops = sum(1 for n in case.frozen.graph_def.node if n.op == "While")
    assert sum(1 for n in case.unrolled.node if n.op == "MatMul") == 2 * T * loops  # input and recurrent kernel


@pytest.mark.parametrize("name", list(MODELS))
def test_unrolled_graph_computes_what_the_loop_computes(name: str, rnn_case: Callable[[str], Case]) -> None:
    case = rnn_case(name)
    feeds = {case.frozen.input_tensor: case.x}
    looped = run_frozen_graph(case.frozen.graph_def, feeds, [case.frozen.output_tensor])[0]
    unrolled = run_frozen_graph(case.unrolled, feeds, [case.frozen.output_tensor])[0]
    print(f"{name}: unrolled vs While loop max rel {_max_rel(looped, unrolled):.1e}, vs Keras "
          f"{_max_rel(case.expected, unrolled):.1e}")
    assert _max_rel(looped, unrolled) <= 1e-6
    assert _max_rel(case.expected, unrolled) <= 1e-6


@pytest.mark.parametrize("name", list(MODELS))
def test_float_tflite_matches_keras(name: str, rnn_case: Callable[[str], Case], litert: Any) -> None:  # noqa: ANN401
    """The converter fuses LSTM loops into one sequence op and unrolls the others, saying which and why."""
    case = rnn_case(name)
    result = _convert(case)
    got = litert(result.tflite).run(case.x)[0]
    print(f"{name}: FLOAT in LiteRT vs Keras max rel {_max_rel(case.expected, got):.1e}; {result.notes}")
    assert got.shape == case.expected.shape
    assert _max_rel(case.expected, got) <= 1e-5
    lstms = sum(cell == "LSTM" for cell, _ in MODELS[name])
    assert result.ir_ops_after.get("unidirectional_sequence_lstm", 0) == lstms
    assert sum("fused into one UNIDIRECTIONAL_SEQUENCE_LSTM" in n for n in result.notes) == lstms
    assert sum("carries 1 state(s) besides its counters" in n for n in result.notes) == len(MODELS[name]) - lstms


def test_cli_recurrent_cell_fusion_flags(rnn_case: Callable[[str], Case], capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path, litert: Any) -> None:  # noqa: ANN401
    """--debug_disable_recurrent_cell_fusion keeps TOCO's meaning: the LSTM loop is unrolled (one cell per step, no
    sequence op), still within 1e-5 of Keras; --split_tflite_lstm_inputs is accepted (the sequence op's weights are
    always split per gate), false only noted."""
    from converter.inspect_model import describe
    from tests.errors._support import run_cli

    case = rnn_case("lstm")
    args = [f"--saved_model_dir={case.saved_model}", f"--input_shapes=1,{T},{F}"]
    ops = {}
    for flag in ("", "--debug_disable_recurrent_cell_fusion", "--split_tflite_lstm_inputs=false"):
        out = tmp_path / f"m{len(ops)}.tflite"
        run = run_cli(capsys, [*args, f"--output_file={out}", *filter(None, [flag])])
        assert run.code == 0, run.err
        model = out.read_bytes()
        ops[flag] = [op.op for sg in describe(model).subgraphs for op in sg.operators]
        assert _max_rel(case.expected, litert(model).run(case.x)[0]) <= 1e-5  # float32 either way (as above)
        if flag.startswith("--split"):
            assert "--split_tflite_lstm_inputs=false" in run.out + run.err
    assert ops[""].count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1 and "LOGISTIC" not in ops[""]
    assert ops["--split_tflite_lstm_inputs=false"] == ops[""]
    unrolled = ops["--debug_disable_recurrent_cell_fusion"]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in unrolled and unrolled.count("LOGISTIC") >= T  # a cell per step


def _keras_unrolled_twin(case: Case) -> Path:
    """The same weights in Keras' own unroll=True graph, exported once."""
    path = case.saved_model.with_name(case.name + "_unrolled_by_keras")
    if not path.exists():
        twin = _keras_rnn(MODELS[case.name], unroll=True)
        twin.set_weights(case.model.get_weights())
        twin.export(str(path), verbose=False)
    return path


def _tensorflow_int8(saved_model: Path, calibration: Path, tf: Any) -> bytes:  # noqa: ANN401
    cal = np.load(calibration)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    return conv.convert()


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_int8_sqnr_at_least_tensorflow(name: str, rnn_case: Callable[[str], Case], tf: Any, litert: Any,  # noqa: ANN401
                                       sqnr: Any) -> None:  # noqa: ANN401
    """TensorFlow's converter makes no INT8 model of the unroll=False layer (from the SavedModel: TensorListReserve
    'requires element_shape to be static'; from the frozen While: its calibrator crashes), so its figure is for the
    same weights in Keras' own unroll=True graph. qconvert converts both graphs: the unroller's must do as well."""
    from converter.config import ConversionConfig, InferenceType, InputFormat
    from converter.pipeline import convert

    case = rnn_case(name)
    twin = _keras_unrolled_twin(case)
    ours = _convert(case, inference_type=InferenceType.INT8)
    ours_twin = convert(ConversionConfig(
        input_path=twin, output_path=case.unrolled_pb.with_suffix(".twin.tflite"), input_format=InputFormat.SAVED_MODEL,
        input_shapes=((1, T, F),), inference_type=InferenceType.INT8, representative_dataset=case.calibration,
        inference_input_type=InferenceType.FLOAT, inference_output_type=InferenceType.FLOAT))
    s_ours = sqnr(case.expected, litert(ours.tflite).run(case.x)[0])
    s_twin = sqnr(case.expected, litert(ours_twin.tflite).run(case.x)[0])
    s_tf = sqnr(case.expected, litert(_tensorflow_int8(twin, case.calibration, tf)).run(case.x)[0])
    print(f"{name} INT8 SQNR: qconvert {s_ours:.2f} dB (unroll=False: an LSTM fused, others unrolled), "
          f"{s_twin:.2f} dB (Keras' unroll=True); TensorFlow {s_tf:.2f} dB (unroll=True)")
    assert not ours.quantization.float_nodes
    assert s_ours >= s_twin - 0.5
    assert s_ours >= s_tf - 1.0


def test_dynamic_time_dimension(tmp_path: Path) -> None:
    """An unknown time dim gives a one-line ShapeError naming --input_shapes; fixing it unrolls that many steps."""
    model = _keras_rnn((("GRU", False),), steps=None)
    model.export(str(tmp_path / "m"), verbose=False)
    frozen = freeze_signature(tmp_path / "m")
    with pytest.raises(ShapeError, match="fix the time dimension with --input_shapes") as info:
        unroll_while_loops(frozen.graph_def)
    assert "\n" not in str(info.value)
    name = frozen.input_tensor.split(":")[0]
    unrolled = unroll_while_loops(frozen.graph_def, {name: (1, 4, F)})
    x = _sequences(1, 3, steps=4)
    got = run_frozen_graph(unrolled, {frozen.input_tensor: x}, [frozen.output_tensor])[0]
    assert not {n.op for n in unrolled.node} & _CONTROL_FLOW
    assert _max_rel(np.asarray(model(x)), got) <= 1e-6


def test_tf_keras_trip_count_from_shape_with_unknown_batch(tf: Any) -> None:  # noqa: ANN401
    """tf_keras loops run to Shape(x)[time]: static although the batch dim is unknown (-1)."""
    import tf_keras
    from tensorflow.python.framework import convert_to_constants

    tf_keras.utils.set_random_seed(0)
    inp = tf_keras.Input((T, F))
    model = tf_keras.Model(inp, tf_keras.layers.LSTM(UNITS)(inp))
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec((None, T, F), tf.float32))
    frozen = convert_to_constants.convert_variables_to_constants_v2(fn, lower_control_flow=False)
    gd = frozen.graph.as_graph_def()
    assert "StatelessWhile" in {n.op for n in gd.node}
    unrolled = unroll_while_loops(gd)
    x = _sequences(3, 4)
    got = run_frozen_graph(unrolled, {frozen.inputs[0].name: x}, [frozen.outputs[0].name])[0]
    assert not {n.op for n in unrolled.node} & _CONTROL_FLOW
    assert _max_rel(model.predict(x, verbose=0), got) <= 1e-6


def _frozen_fn(tf: Any, fn: Callable[[Any], Any], shape: tuple[int, ...]) -> tuple[Any, str, str]:  # noqa: ANN401
    from tensorflow.python.framework import convert_to_constants

    frozen = convert_to_constants.convert_variables_to_constants_v2(
        tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.float32)), lower_control_flow=False)
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name


def test_too_many_iterations_is_refused(rnn_case: Callable[[str], Case]) -> None:
    """Too long to unroll, and its TensorLists keep it from staying a While (a data-dependent loop stays one:
    test_functional_control_flow)."""
    with pytest.raises(ConversionError, match=f"more than {T - 1} iterations"):
        unroll_while_loops(rnn_case("gru").frozen.graph_def, max_iterations=T - 1)


def test_if_with_static_predicate_is_inlined_and_a_dynamic_one_kept(tf: Any, run_graph: Any) -> None:  # noqa: ANN401
    def gated(x: Any) -> Any:  # noqa: ANN401
        steps = tf.shape(tf.reshape(x, [-1, 6, 2]))[1]  # static only through shape inference
        y = tf.cond(steps > 3, lambda: x * 2.0, lambda: x - 1.0)
        return tf.cond(tf.reduce_sum(y) > 0, lambda: y + 1.0, lambda: y)

    gd, inp, out = _frozen_fn(tf, gated, (1, 12))
    assert sum(1 for n in gd.node if n.op in ("If", "StatelessIf")) == 2
    unrolled = unroll_while_loops(gd)
    assert sum(1 for n in unrolled.node if n.op in ("If", "StatelessIf")) == 1
    x = np.linspace(-1, 2, 12, dtype=np.float32).reshape(1, 12)
    assert np.array_equal(run_graph(unrolled, {inp: x}, [out])[0], run_graph(gd, {inp: x}, [out])[0])


def test_graph_without_control_flow_is_returned_as_is(tf: Any) -> None:  # noqa: ANN401
    gd, _, _ = _frozen_fn(tf, lambda x: tf.nn.relu(x) * 3.0, (1, 4))
    assert unroll_while_loops(gd) is gd
