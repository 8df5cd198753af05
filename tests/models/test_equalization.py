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
    assert any(n.startswith(f"--equalize: {PAIRS[name]} layer pair(s) rescaled") for n in results["uint8 --equalize"].notes)
    assert not any("equaliz" in n for n in results["uint8"].notes)
    assert db["uint8 --equalize"] >= db["int8 per-channel"] - 1.0


def _tensorflow_int8(case: Case, tf: Any) -> bytes:  # noqa: ANN401
    conv = tf.lite.TFLiteConverter.from_saved_model(str(case.saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([case.cal_data[i:i + 1]] for i in range(len(case.cal_data)))
    conv.inference_input_type = conv.inference_output_type = tf.float32
    return conv.convert()


def _spread_channels(model: Any, seed: int) -> Any:  # noqa: ANN401
    """The trained digits CNN reparameterized with the same function: channel i of the batch norm (gamma, beta)
    times c_i and of the depthwise kernel divided by it (relu(c x) = c relu(x) for c > 0); hidden unit j's kernel
    column and bias times d_j, the classifier's row j divided by it. c, d = 10^U(-1, 1): channel ranges two decades
    apart, as training can leave them (nothing in the loss prefers one parameterization)."""
    import keras

    m = keras.models.clone_model(model)
    m.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    gamma, beta, mean, var = m.get_layer("batch_norm").get_weights()
    c = (10.0 ** rng.uniform(-1, 1, gamma.shape)).astype(np.float32)
    m.get_layer("batch_norm").set_weights([gamma * c, beta * c, mean, var])
    k, b = m.get_layer("depthwise").get_weights()
    m.get_layer("depthwise").set_weights([k / c[None, None, :, None], b])
    k, b = m.get_layer("hidden").get_weights()
    d = (10.0 ** rng.uniform(-1, 1, b.shape)).astype(np.float32)
    m.get_layer("hidden").set_weights([k * d, b * d])
    k, b = m.get_layer("classes").get_weights()
    m.get_layer("classes").set_weights([k / d[:, None], b])
    return m


def test_equalization_recovers_uint8_on_channels_of_very_different_ranges(cases: dict[str, Case], tmp_path: Path,
                                                                         litert: Any, sqnr: Any) -> None:  # noqa: ANN401
    """Where per-tensor weights collapse: the trained digits CNN with its channels rescaled two decades apart (the
    same function) loses uint8 accuracy without equalization and gets it back with --equalize."""
    from converter.config import InferenceType

    case = cases["digits"]
    spread = _spread_channels(trained("digits").model, seed=7)
    expected = spread.predict(case.x, verbose=0)
    np.testing.assert_allclose(expected, case.expected, rtol=1e-4, atol=1e-6)  # float32 reassociation only
    spread.export(str(tmp_path / "spread"), verbose=False)
    moved = Case(tmp_path / "spread", case.calibration, case.cal_data, case.x, expected)
    db = {}
    for label, kw in (("uint8", {}), ("uint8 --equalize", {"equalize": True})):
        for model, c in (("trained", case), ("spread", moved)):
            r = c.convert(tmp_path, inference_type=InferenceType.QUANTIZED_UINT8, **kw)
            db[f"{model} {label}"] = sqnr(c.expected, litert(r.tflite).run(c.x)[0])
    print("digits held-out SQNR: " + ", ".join(f"{k} {v:.2f} dB" for k, v in db.items()))
    # Measured: trained 43.22 / 42.29 dB, spread 21.12 dB without and 42.29 dB with equalization. Equalization's
    # fixed point does not depend on how the channels were scaled before (the same weights up to float32 rounding
    # and the 1e-4 stopping tolerance), so spread and trained agree once equalized; without it the spread model
    # loses 22 dB, so the 10 dB bound holds with room on any machine (everything here is deterministic).
    assert db["spread uint8 --equalize"] > db["spread uint8"] + 10.0
    assert db["spread uint8 --equalize"] == pytest.approx(db["trained uint8 --equalize"], abs=0.1)
