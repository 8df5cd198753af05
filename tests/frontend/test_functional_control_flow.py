"""Control flow that cannot be unrolled: a ``tf.while_loop`` whose trip count depends on the input and a
``tf.cond`` on a data-dependent predicate become WHILE and IF operators with their own subgraphs (cond/body,
then/else). Checked in LiteRT against TensorFlow on inputs that take different trip counts and both branches;
INT8 against TensorFlow's converter on the same SavedModel; ``qconvert inspect`` and the report against LiteRT's
own view of the subgraphs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.backend.optable import OPS
from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.errors import ConversionError
from converter.frontend.control_flow import unroll_while_loops
from converter.inspect_model import describe
from converter.pipeline import ConversionResult, convert
from converter.report import build_report

F, H, OUT = 8, 8, 3
STEPS_CAP = 20  # the loop also stops after this many steps


def _features(n: int, seed: int) -> np.ndarray:
    """Inputs of mixed scale, so the loop's growth test (sum |v| < 50) stops after anywhere from 1 to 20 steps."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, F)) * rng.uniform(0.1, 2.0, (n, 1))).astype(np.float32)


def _build(tf: Any, path: Path) -> None:  # noqa: ANN401
    """A feature layer, a loop that grows the features until their L1 norm passes 50 (at most 20 steps), a branch
    on their mean, and a linear readout fitted by least squares to a smooth target of the input on training data.
    The signature also returns the loop's step count and the branch taken, so both converters can be checked to
    take the same path as TensorFlow."""
    rng = np.random.default_rng(0)

    class Model(tf.Module):
        def __init__(self) -> None:
            self.w_in = tf.Variable((rng.standard_normal((F, H)) * 0.5).astype(np.float32))
            self.w_loop = tf.Variable((rng.standard_normal((H, H)) * 0.3).astype(np.float32))  # read in the body
            self.w_out = tf.Variable(np.zeros((H, OUT), np.float32))
            self.b_out = tf.Variable(np.zeros(OUT, np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, F], tf.float32)])
        def features(self, x: Any) -> tuple[Any, Any, Any]:  # noqa: ANN401
            h = tf.nn.relu(tf.matmul(x, self.w_in))
            steps, v = tf.while_loop(lambda i, v: tf.logical_and(tf.reduce_sum(tf.abs(v)) < 50.0, i < STEPS_CAP),
                                     lambda i, v: (i + 1, tf.tanh(tf.matmul(v, self.w_loop)) * 2.0 + v),
                                     [tf.constant(0), h])
            positive = tf.reduce_mean(v) > 0.5
            return tf.cond(positive, lambda: v * 0.5, lambda: tf.nn.relu(v) - 1.0), steps, positive

        @tf.function(input_signature=[tf.TensorSpec([1, F], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:  # noqa: ANN401
            y, steps, positive = self.features(x)
            return {"y": tf.matmul(y, self.w_out) + self.b_out, "steps": steps, "positive": positive}

    model = Model()
    x_train = _features(256, 1)
    phi = np.concatenate([model.features(x_train[i:i + 1])[0].numpy() for i in range(len(x_train))])
    target = np.stack([np.sin(x_train[:, 0]), x_train[:, 1] * x_train[:, 2], np.tanh(x_train.sum(1))], axis=1)
    fit = np.linalg.lstsq(np.concatenate([phi, np.ones((len(phi), 1))], axis=1), target, rcond=None)[0]
    model.w_out.assign(fit[:-1].astype(np.float32))
    model.b_out.assign(fit[-1].astype(np.float32))
    tf.saved_model.save(model, str(path), signatures=model.__call__)


def _run(model: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every signature output of ``model`` on each row of ``x`` in LiteRT (builtin kernels), stacked."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    runner = it.get_signature_runner()
    rows = [runner(x=x[i:i + 1]) for i in range(len(x))]
    return {k: np.concatenate([np.reshape(r[k], (1, -1)) for r in rows]) for k in rows[0]}


@dataclass
class Case:
    saved_model: Path
    calibration: Path
    x: np.ndarray
    expected: dict[str, np.ndarray]  # TensorFlow's function on x
    ours: ConversionResult
    tf_float: bytes


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> Case:  # noqa: ANN401
    root = tmp_path_factory.mktemp("functional")
    _build(tf, root / "sm")
    np.save(root / "cal.npy", _features(64, 2))
    x = _features(48, 3)
    loaded = tf.saved_model.load(str(root / "sm"))
    runs = [{k: v.numpy() for k, v in loaded(x[i:i + 1]).items()} for i in range(len(x))]
    expected = {k: np.concatenate([np.reshape(r[k], (1, -1)) for r in runs]) for k in runs[0]}
    ours = convert(ConversionConfig(input_path=root / "sm", output_path=root / "float.tflite",
                                    input_format=InputFormat.SAVED_MODEL))
    tf_float = tf.lite.TFLiteConverter.from_saved_model(str(root / "sm")).convert()
    return Case(root / "sm", root / "cal.npy", x, expected, ours, tf_float)


def _max_rel(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def test_float_while_and_if_run_as_tensorflow(case: Case) -> None:
    """Held-out inputs take 1 to 20 loop steps and both branches; qconvert's WHILE / IF model takes the same path as
    TensorFlow on each and matches it within 1e-5 (float32 throughout; the loop's tanh steps amplify the ulp-level
    differences of FULLY_CONNECTED's summation order by at most the 20 steps' growth, observed ~3e-7)."""
    steps, positive = case.expected["steps"].ravel(), case.expected["positive"].ravel()
    assert len(set(steps.tolist())) >= 4 and positive.any() and not positive.all()
    ops = Counter(op.op for op in describe(case.ours.tflite).subgraphs[0].operators)
    assert ops["WHILE"] == 1 and ops["IF"] == 1
    for name, model in (("qconvert", case.ours.tflite), ("TensorFlow", case.tf_float)):
        got = _run(model, case.x)
        print(f"{name}: FLOAT vs TensorFlow max rel {_max_rel(case.expected['y'], got['y']):.1e}; steps "
              f"{sorted(Counter(steps.tolist()).items())}, {int(positive.sum())}/{len(positive)} positive")
        assert np.array_equal(got["steps"].ravel(), steps)
        assert np.array_equal(got["positive"].ravel(), positive)
        assert _max_rel(case.expected["y"], got["y"]) <= 1e-5


def test_int8_keeps_control_flow_float_and_beats_tensorflow(case: Case, tf: Any, sqnr: Any) -> None:  # noqa: ANN401
    """INT8 with float I/O: the layers around the loop run int8; WHILE and IF keep their subgraphs float and are
    reported as float islands. TensorFlow's converter quantizes inside the subgraphs, where a rounded growth test
    stops the loop at another step: qconvert must do at least as well (SQNR >= TensorFlow's - 0.5 dB)."""
    cal = np.load(case.calibration)
    ours = convert(ConversionConfig(
        input_path=case.saved_model, output_path=case.saved_model.with_suffix(".int8.tflite"),
        input_format=InputFormat.SAVED_MODEL, inference_type=InferenceType.INT8,
        representative_dataset=case.calibration, inference_input_type=InferenceType.FLOAT,
        inference_output_type=InferenceType.FLOAT))
    conv = tf.lite.TFLiteConverter.from_saved_model(str(case.saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([cal[i:i + 1]] for i in range(len(cal)))
    theirs = conv.convert()
    got, tf_got = _run(ours.tflite, case.x), _run(theirs, case.x)
    s_ours, s_tf = sqnr(case.expected["y"], got["y"]), sqnr(case.expected["y"], tf_got["y"])
    same_path = float(np.mean(got["steps"] == case.expected["steps"]))
    tf_path = float(np.mean(tf_got["steps"] == case.expected["steps"]))
    print(f"INT8 SQNR: qconvert {s_ours:.2f} dB, TensorFlow {s_tf:.2f} dB; same step count as TensorFlow's float "
          f"function on {same_path:.0%} (TensorFlow's INT8: {tf_path:.0%})")
    reasons = {f.op: f.reason for f in ours.quantization.float_nodes}
    assert reasons["while"].startswith("control flow") and reasons["if"].startswith("control flow")
    main_ops = Counter(op.op for op in describe(ours.tflite).subgraphs[0].operators)
    assert main_ops["FULLY_CONNECTED"] == 2 and main_ops["DEQUANTIZE"] >= 1
    assert s_ours >= s_tf - 0.5


def test_inspect_lists_the_subgraphs_litert_loads(case: Case) -> None:
    """``qconvert inspect`` (describe) sees the subgraphs LiteRT sees: the same count, and per subgraph the same
    tensors (names, dtypes, shapes); WHILE / IF options point at the cond/body and then/else subgraphs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    info = describe(case.ours.tflite)
    it = Interpreter(model_content=case.ours.tflite,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert len(info.subgraphs) == it.num_subgraphs() == 5
    for sg in info.subgraphs:
        litert = {d["index"]: d for d in it.get_tensor_details(sg.index)}
        assert len(sg.tensors) == len(litert)
        for t in sg.tensors:
            assert (t.name, list(t.shape), t.dtype) == (litert[t.index]["name"], litert[t.index]["shape"].tolist(),
                                                        np.dtype(litert[t.index]["dtype"]).name)
    ops = {op.op: op.options for op in info.subgraphs[0].operators}
    names = {sg.index: sg.name for sg in info.subgraphs}
    assert names[ops["WHILE"]["cond_subgraph_index"]].endswith("/cond")
    assert names[ops["WHILE"]["body_subgraph_index"]].endswith("/body")
    assert names[ops["IF"]["then_subgraph_index"]].endswith("/then")
    assert names[ops["IF"]["else_subgraph_index"]].endswith("/else")


def test_report_counts_ops_per_subgraph(case: Case) -> None:
    """The report's per-subgraph op counts are the written model's, subgraph by subgraph."""
    report = build_report(case.ours)
    info = describe(case.ours.tflite)
    assert [sg["name"] for sg in report["ops"]["subgraphs"]] == [sg.name for sg in info.subgraphs]
    for sg, written in zip(report["ops"]["subgraphs"], info.subgraphs, strict=True):
        assert Counter({OPS[op].builtin: n for op, n in sg["ops"].items()}) == Counter(o.op for o in written.operators)


def test_data_dependent_loop_is_kept_unless_it_carries_tensor_lists(tf: Any) -> None:  # noqa: ANN401
    """A While whose trip count depends on the data stays a While (the importer makes it a WHILE); one that also
    carries a TensorList cannot be converted that way, and the error says why."""
    from tensorflow.python.framework import convert_to_constants

    def frozen(fn: Any) -> Any:  # noqa: ANN401
        concrete = tf.function(fn).get_concrete_function(tf.TensorSpec((1, 4), tf.float32))
        return convert_to_constants.convert_variables_to_constants_v2(concrete, lower_control_flow=False) \
            .graph.as_graph_def()

    def doubling(x: Any) -> Any:  # noqa: ANN401
        return tf.while_loop(lambda v: tf.reduce_sum(v) < 100.0, lambda v: [v * 2.0], [x])[0]

    def doubling_history(x: Any) -> Any:  # noqa: ANN401
        ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        _, _, ta = tf.while_loop(lambda i, v, ta: tf.reduce_sum(v) < 100.0,
                                 lambda i, v, ta: (i + 1, v * 2.0, ta.write(i, v)), [0, x, ta])
        return ta.stack()

    gd = frozen(doubling)
    kept = unroll_while_loops(gd)
    assert sum(n.op in ("While", "StatelessWhile") for n in kept.node) == 1
    with pytest.raises(ConversionError, match="data-dependent number of iterations .* carries TensorLists") as e:
        unroll_while_loops(frozen(doubling_history))
    assert "\n" not in str(e.value)
