"""Issue 13, cross-layer equalization (--equalize) on the trained models of tests/support/trained.py, measured on
held-out data in LiteRT against the Keras model, next to INT8 per-channel and TensorFlow's INT8 converter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.trained import trained
from tests.support.weight_rounding import per_tensor_weight_sqnr

# The digits CNN is trained once per session anyway (test_ptq, test_accuracy); the depthwise-separable CNN trains
# only for the slow runs (30-60 s).
MODELS = ["digits", pytest.param("dwsep", marks=pytest.mark.slow)]
CALIBRATION = 200
PAIRS = {"digits": 2, "dwsep": 7}  # layer pairs each model's graph offers (conv/depthwise chains; see below)


@dataclass
class Case:
    saved_model: Path
    calibration: Path
    cal_data: np.ndarray
    x: np.ndarray  # held-out inputs
    expected: np.ndarray  # the Keras model's outputs on them

    def convert(self, tmp: Path, **kw: Any) -> Any:  # noqa: ANN401
        from converter.config import ConversionConfig, InferenceType, InputFormat
        from converter.pipeline import convert

        return convert(ConversionConfig(input_path=self.saved_model, output_path=tmp / "m.tflite",
                                        input_format=InputFormat.SAVED_MODEL, representative_dataset=self.calibration,
                                        inference_input_type=InferenceType.FLOAT,
                                        inference_output_type=InferenceType.FLOAT, **kw))


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Case]:  # noqa: ANN401
    root = tmp_path_factory.mktemp("equalization")

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> Case:
            task = trained(name)
            task.model.export(str(root / name), verbose=False)
            cal = task.calibration(CALIBRATION)
            np.save(root / f"{name}_cal.npy", cal)
            self[name] = Case(root / name, root / f"{name}_cal.npy", cal, task.x_held_out,
                              task.model.predict(task.x_held_out, verbose=0))
            return self[name]

    return Lazy()


@pytest.mark.parametrize("name", MODELS)
def test_equalized_graph_computes_the_same_and_rounds_weights_better(name: str, cases: dict[str, Case]) -> None:
    """On the imported graph (batch norms folded, activations fused): the pass rescales every conv / depthwise /
    dense pair, the float outputs on held-out data stay the Keras model's (float32 rounding), and per-tensor int8
    weights alone cost less output SQNR."""
    from converter.config import ConversionConfig, InputFormat
    from converter.frontend.reference import ReferenceExecutor
    from converter.passes.equalize import CrossLayerEqualization
    from converter.passes.manager import PassManager
    from converter.pipeline import load_and_import

    case = cases[name]
    graph = load_and_import(ConversionConfig(input_path=case.saved_model, output_path=Path("unused.tflite"),
                                             input_format=InputFormat.SAVED_MODEL)).graph
    PassManager().run(graph)
    before = ReferenceExecutor(graph)([case.x])[0]
    weights_before = per_tensor_weight_sqnr(graph, [case.x], before)

    assert CrossLayerEqualization().run(graph) == PAIRS[name]

    after = ReferenceExecutor(graph)([case.x])[0]
    # Weights rounded to float32 once, then a few layers of float32 sums: a few ulps of the largest logit.
    scale = float(np.abs(before).max())
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(after, case.expected, rtol=1e-4, atol=1e-4 * scale)  # the Keras model itself
    weights_after = per_tensor_weight_sqnr(graph, [case.x], before)
    print(f"{name}: output SQNR with per-tensor int8 weights (activations float) {weights_before:.2f} -> "
          f"{weights_after:.2f} dB equalized")
    # Measured: digits 45.47 -> 49.46, dwsep 40.34 -> 43.66 dB. The rounding is deterministic (same weights, same
    # data), so a third of the smaller gain is a bound that does not move between machines.
    assert weights_after > weights_before + 1.0


@pytest.mark.parametrize("name", MODELS)
def test_uint8_with_equalization_within_1db_of_int8_per_channel(name: str, cases: dict[str, Case], tmp_path: Path,
                                                                 tf: Any, litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    """The acceptance: QUANTIZED_UINT8 with --equalize within 1 dB of INT8 per-channel, held out. Printed next to
    uint8 without it, INT8 --per_tensor without and with it, and TensorFlow's INT8 converter. Measured: dwsep
    uint8 35.00 -> 35.07 dB equalized, --per_tensor 34.71 -> 34.89, per-channel and TensorFlow 35.31; digits
    43.22 -> 42.29, 42.44 -> 41.70, 41.18 and 41.18 (equalization rescales the activations between the layers
    too, whose range is per-tensor: on digits that costs more than the better weights gain, hence off by
    default). Training and conversion are deterministic, so the verdict repeats; the bound's margins are 0.76 dB
    (dwsep) and 2.1 dB (digits)."""
    from converter.config import InferenceType

    case = cases[name]
    runs = {
        "uint8": dict(inference_type=InferenceType.QUANTIZED_UINT8),
        "uint8 --equalize": dict(inference_type=InferenceType.QUANTIZED_UINT8, equalize=True),
        "int8 --per_tensor": dict(inference_type=InferenceType.INT8, per_tensor=True),
        "int8 --per_tensor --equalize": dict(inference_type=InferenceType.INT8, per_tensor=True, equalize=True),
        "int8 per-channel": dict(inference_type=InferenceType.INT8),
    }
    results = {k: case.convert(tmp_path, **kw) for k, kw in runs.items()}
    db = {k: sqnr(case.expected, litert(r.tflite).run(case.x)[0]) for k, r in results.items()}
    db["TensorFlow int8"] = sqnr(case.expected, litert(_tensorflow_int8(case, tf)).run(case.x)[0])
    print(f"{name} held-out SQNR: " + ", ".join(f"{k} {v:.2f} dB" for k, v in db.items()))
    for k, r in results.items():
        assert r.passes.fired.get("cross_layer_equalization", 0) == (PAIRS[name] if "equalize" in k else 0)
        # Same ops, same tensors: equalization only changes weight values (file size within a few bytes).
        assert r.ir_ops_after == results["int8 per-channel"].ir_ops_after
    assert abs(len(results["uint8 --equalize"].tflite) - len(results["uint8"].tflite)) <= 64
    assert any("cross-layer equalization" in n for n in results["uint8 --equalize"].notes)
    assert db["uint8 --equalize"] >= db["int8 per-channel"] - 1.0


def _tensorflow_int8(case: Case, tf: Any) -> bytes:  # noqa: ANN401
    conv = tf.lite.TFLiteConverter.from_saved_model(str(case.saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([case.cal_data[i:i + 1]] for i in range(len(case.cal_data)))
    conv.inference_input_type = conv.inference_output_type = tf.float32
    return conv.convert()
