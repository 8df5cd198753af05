"""The precision plan (quantize.precision): what it holds, how flags name layers, how the quantizer resolves it.

The graph is a small IR MLP, x -> fc1 (ReLU) -> fc2 -> fc3 -> softmax, with ranges from float data. A layer kept
float by the plan runs as float in LiteRT: its output is exactly its float function of its (dequantized) input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.backend.writer import write_tflite
from converter.ir import Activation, Graph, QuantRange, RangeSource
from converter.ir.attrs import FullyConnectedAttrs, SoftmaxAttrs
from converter.quantize.precision import (LayerPrecision, Precision, PrecisionPlan, matches, matching_nodes,
                                          precision_of_dtype)
from converter.quantize.quantizer import FLOAT32, QuantizeOptions, quantize_graph

SIZES = (6, 16, 12, 4)


def _mlp(seed: int = 0) -> tuple[Graph, dict[str, np.ndarray]]:
    """The IR graph (every activation calibrated on 64 samples) and its weights."""
    rng = np.random.default_rng(seed)
    w = {f"w{i}": (rng.standard_normal((SIZES[i], SIZES[i - 1])) / np.sqrt(SIZES[i - 1])).astype(np.float32)
         for i in (1, 2, 3)}
    w.update({f"b{i}": (0.1 * rng.standard_normal(SIZES[i])).astype(np.float32) for i in (1, 2, 3)})
    g = Graph()
    x = g.tensor("x", np.float32, (1, SIZES[0]), tf_name="input_x")
    g.add_input(x)
    h = x
    outs = []
    for i in (1, 2, 3):
        y = g.tensor(f"h{i}", np.float32, (1, SIZES[i]), tf_name=f"model/dense_{i}/BiasAdd")
        act = Activation.RELU if i == 1 else Activation.NONE
        g.add_node("fully_connected", [h, g.const(f"w{i}", w[f"w{i}"]), g.const(f"b{i}", w[f"b{i}"])], [y],
                   FullyConnectedAttrs(activation=act), name=f"dense_{i}")
        outs.append(y)
        h = y
    p = g.tensor("probs", np.float32, (1, SIZES[3]))
    g.add_node("softmax", [h], [p], SoftmaxAttrs(beta=1.0), name="softmax")
    g.set_outputs([p])
    xs = rng.standard_normal((64, SIZES[0])).astype(np.float32)
    vals = _float(w, xs)
    for t in (x, *outs):
        v = vals[t.name]
        t.qrange = QuantRange.per_tensor(float(v.min()), float(v.max()), RangeSource.CALIBRATION)
    return g, w


def _float(w: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    h1 = np.maximum(x @ w["w1"].T + w["b1"], 0)
    h2 = h1 @ w["w2"].T + w["b2"]
    h3 = h2 @ w["w3"].T + w["b3"]
    return {"x": x, "h1": h1, "h2": h2, "h3": h3}


def _opts(plan: PrecisionPlan) -> QuantizeOptions:
    return QuantizeOptions(plan=plan, weights_per_channel=True, input_dtype=FLOAT32, output_dtype=FLOAT32)


def test_plan_holds_a_default_and_per_layer_choices() -> None:
    plan = PrecisionPlan.uniform(Precision.INT8, reason="--inference_type=INT8")
    changed = plan.with_layers({"dense_2": LayerPrecision(Precision.FLOAT, reason="kept float by --float_layers")})
    assert plan.of("dense_2").precision is Precision.INT8  # the original is unchanged
    assert changed.of("dense_2").precision is Precision.FLOAT and changed.of("dense_1") == plan.default
    assert changed.counts(["dense_1", "dense_2", "dense_3"]) == {"int8": 2, "float": 1}
    assert LayerPrecision(Precision.INT8, 4).weight_bits == 4
    with pytest.raises(ValueError, match="weight width 2 bits"):
        LayerPrecision(Precision.INT8, 2)
    assert [precision_of_dtype(np.dtype(d)) for d in (np.uint8, np.int8, np.int16)] == \
        [Precision.UINT8, Precision.INT8, Precision.INT16X8]
    assert Precision.INT16X8.activation_dtype == np.int16


def test_layers_are_named_by_node_tensor_or_tf_name_exactly_or_by_regex() -> None:
    g, _ = _mlp()
    by = {n.name: n for n in g.nodes}
    assert matches(["dense_2"], by["dense_2"])  # node name
    assert matches(["h2"], by["dense_2"])  # output tensor
    assert matches(["model/dense_2/BiasAdd"], by["dense_2"])  # TF name
    assert not matches(["dense_"], by["dense_2"])  # a regex must match the whole name
    assert [n.name for n in matching_nodes(g, ["dense_[23]"])] == ["dense_2", "dense_3"]
    assert [n.name for n in matching_nodes(g, ["model/dense_(1"])] == []  # not a regex: literal only


def test_quantizer_resolves_the_plan_and_keeps_float_layers_float(litert: Any) -> None:  # noqa: ANN401
    g, w = _mlp()
    plan = PrecisionPlan.uniform(Precision.INT8, reason="default").with_layers(
        {"dense_2": LayerPrecision(Precision.FLOAT, reason="kept float by --float_layers")})
    res = quantize_graph(g, _opts(plan))
    resolved = res.plan
    assert resolved is not None
    assert {k: v.precision for k, v in resolved.layers.items()} == {
        "dense_1": Precision.INT8, "dense_2": Precision.FLOAT, "dense_3": Precision.INT8, "softmax": Precision.INT8}
    assert resolved.of("dense_2").reason == "kept float by --float_layers"
    assert [(f.name, f.reason) for f in res.float_nodes] == [("dense_2", "kept float by --float_layers")]
    assert res.layer_ops["dense_2"] == "fully_connected"

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=write_tflite(g), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    tensors = {d["name"]: d for d in it.get_tensor_details()}
    x = np.random.default_rng(5).standard_normal((1, SIZES[0])).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    # dense_2 reads h1 through a DEQUANTIZE and computes in float32: exactly W2 h1 + b2 of what it read.
    h1 = it.get_tensor(tensors["h1/dequantized"]["index"])
    h2 = it.get_tensor(tensors["h2"]["index"])
    assert tensors["h2"]["dtype"] == np.float32 and tensors["h1"]["dtype"] == np.int8
    np.testing.assert_allclose(h2, h1 @ w["w2"].T + w["b2"], rtol=1e-5, atol=1e-6)
    # The rest is int8: the model still follows the float function (softmax output within a few of its steps).
    probs = it.get_tensor(it.get_output_details()[0]["index"])
    h3 = _float(w, x)["h3"]
    ref = np.exp(h3 - h3.max()) / np.exp(h3 - h3.max()).sum()
    # Output step 1/256; the int8 input, h1 and h3 roundings move a probability by a few steps at most.
    np.testing.assert_allclose(probs, ref, atol=4 / 256)


def test_weight_width_is_resolved_per_layer(litert: Any) -> None:  # noqa: ANN401
    """A 4-bit layer gets int4 weights (FULLY_CONNECTED version 10); an int16x8 layer asked for 4 bits keeps 8 (no
    int4 weights with int16 activations in LiteRT) and says why; an op without weights (softmax) resolves to 8."""
    g, w = _mlp()
    plan = PrecisionPlan.uniform(Precision.INT8).with_layers({
        "dense_1": LayerPrecision(Precision.INT8, 4), "dense_2": LayerPrecision(Precision.INT16X8, 4),
        "softmax": LayerPrecision(Precision.INT8, 4)})
    res = quantize_graph(g, _opts(plan))
    assert res.plan is not None
    assert res.plan.of("dense_1").weight_bits == 4 and res.plan.of("softmax").weight_bits == 8
    d2 = res.plan.of("dense_2")
    assert d2.weight_bits == 8 and "no int4 weights with int16x8 activations" in d2.reason
    assert [k.name for k in res.kept_8bit] == ["dense_2"]
    model = write_tflite(g)
    from tests.support import tflite_file

    f = tflite_file.read(model)
    (w1,) = [c for c in f.weights("FULLY_CONNECTED") if c.type == tflite_file.INT4]
    assert w1.shape == w["w1"].shape and np.abs(w1.dense()).max() <= 7
    assert 10 in f.op_versions()["FULLY_CONNECTED"]
    x = np.random.default_rng(5).standard_normal((16, SIZES[0])).astype(np.float32)
    probs = litert(model).run(x)[0]
    h3 = _float(w, x)["h3"]
    ref = np.exp(h3 - h3.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    # int4 weights of a 6-input layer: each weight within scale/2 = max|w|/14 of its value; the outputs follow the
    # float model to a few hundredths of probability (measured 0.018; bound 0.1, far below a wrong weight layout).
    print(f"int4 dense_1: largest probability error {np.abs(probs - ref).max():.3f}")
    assert np.abs(probs - ref).max() < 0.1
