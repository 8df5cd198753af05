"""AbsorbFakeQuant: a FakeQuant on constant weights becomes the constant FakeQuant(W) (values on the nudged grid);
one on an activation is bypassed. Either way the raw min/max are recorded as the tensor's fake-quant range."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.errors import QuantizationError
from converter.ir import QuantRange, RangeSource
from converter.passes.fake_quant import AbsorbFakeQuant
from converter.passes.fold_constants import FoldConstants

W_MIN, W_MAX = -0.8, 1.1
A_MIN, A_MAX = -3.0, 5.0


def fq_range(lo: Any, hi: Any, num_bits: int = 8, narrow_range: bool = False,  # noqa: ANN401
             axis: int | None = None) -> QuantRange:
    """The range the pass must record: min/max as the float32 values the graph holds."""
    lo_t = tuple(float(v) for v in np.asarray(lo, np.float32).reshape(-1))
    hi_t = tuple(float(v) for v in np.asarray(hi, np.float32).reshape(-1))
    return QuantRange(lo_t, hi_t, axis, num_bits, narrow_range, fake_quant=True, source=RangeSource.FAKE_QUANT)


@pytest.mark.parametrize(("num_bits", "narrow_range"), [(8, False), (8, True), (4, False)])
def test_weights_and_activation(tf: Any, const: Any, load: Any, num_bits: int,  # noqa: ANN401
                                narrow_range: bool) -> None:
    weights: list[np.ndarray] = []
    fq = tf.quantization.fake_quant_with_min_max_vars

    def build(x: Any) -> None:  # noqa: ANN401
        w = const((3, 3, 3, 4))
        weights.append(tf.get_static_value(w))
        wq = fq(w, W_MIN, W_MAX, num_bits=num_bits, narrow_range=narrow_range, name="wq")
        fq(tf.nn.conv2d(x, wq, 1, "SAME"), A_MIN, A_MAX, num_bits=num_bits, narrow_range=narrow_range, name="out")

    case = load(build, scale=2.0)
    g = case.graph
    assert g.op_counts() == {"conv_2d": 1, "fake_quant": 2, "transpose": 1}
    conv, transpose = case.node("conv_2d"), case.node("transpose")
    before = case.ref()

    assert AbsorbFakeQuant().run(g) == 2

    assert g.op_counts() == {"conv_2d": 1, "transpose": 1}
    wq = transpose.input(0)
    assert wq.name == "wq" and wq.is_const and wq.producer is None
    expected_w = fq(weights[0], W_MIN, W_MAX, num_bits=num_bits, narrow_range=narrow_range).numpy()
    np.testing.assert_array_equal(wq.data, expected_w)
    assert wq.qrange == fq_range(W_MIN, W_MAX, num_bits, narrow_range)
    out = conv.output
    assert g.outputs == (out,) and out.name == "out" and out.tf_name == "out"
    assert out.qrange == fq_range(A_MIN, A_MAX, num_bits, narrow_range)
    # The activation fake quant is now implied by the range: applying it to the new output gives the old one.
    after = case.ref()
    requantized = fq(after[0], A_MIN, A_MAX, num_bits=num_bits, narrow_range=narrow_range).numpy()
    np.testing.assert_array_equal(requantized, before[0])
    np.testing.assert_allclose(before[0], case.tf_out[0], rtol=1e-5, atol=1e-6)
    assert not np.array_equal(after[0], before[0])  # the fake quant did clamp / round something

    # The per-tensor range follows the folded filter through its transpose into TFLite layout.
    assert FoldConstants().run(g) == 1
    assert conv.input(1).qrange == wq.qrange


def test_per_channel_weights(tf: Any, const: Any, load: Any, rng: Any) -> None:  # noqa: ANN401
    lo = -rng.uniform(0.5, 1.5, 4).astype(np.float32)
    hi = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    weights: list[np.ndarray] = []
    fq = tf.quantization.fake_quant_with_min_max_vars_per_channel

    def build(x: Any) -> None:  # noqa: ANN401
        w = const((3, 3, 3, 4))
        weights.append(tf.get_static_value(w))
        tf.nn.conv2d(x, fq(w, lo, hi, narrow_range=True, name="wq"), 1, "SAME", name="out")

    case = load(build)
    g = case.graph
    conv, transpose = case.node("conv_2d"), case.node("transpose")
    assert case.node("fake_quant").attrs.axis == 3
    before = case.ref()

    assert AbsorbFakeQuant().run(g) == 1

    assert g.op_counts() == {"conv_2d": 1, "transpose": 1}
    wq = transpose.input(0)
    np.testing.assert_array_equal(wq.data, fq(weights[0], lo, hi, narrow_range=True).numpy())
    assert wq.qrange == fq_range(lo, hi, 8, True, axis=3)
    case.check(before, exact=True)  # weights folded to exactly what the fake quant computed

    # HWIO -> OHWI: the channel axis moves from 3 to 0 with the transpose.
    assert FoldConstants().run(g) == 1
    w_ohwi = conv.input(1)
    assert w_ohwi.qrange == fq_range(lo, hi, 8, True, axis=0)
    np.testing.assert_array_equal(w_ohwi.data, np.transpose(wq.data, (3, 0, 1, 2)))
    case.check(before, exact=True)


def test_args_form_on_inner_activation(tf: Any, load: Any) -> None:  # noqa: ANN401
    """FakeQuantWithMinMaxArgs on the graph input, read by a relu: relu reads x, x carries the range."""

    def build(x: Any) -> None:  # noqa: ANN401
        tf.nn.relu(tf.quantization.fake_quant_with_min_max_args(x, -1.0, 2.0), name="out")

    case = load(build)
    g = case.graph
    x = g.inputs[0]
    before = case.ref()

    assert AbsorbFakeQuant().run(g) == 1

    assert g.op_counts() == {"relu": 1}
    assert case.node("relu").input(0) is x
    assert x.qrange == fq_range(-1.0, 2.0)
    np.testing.assert_array_equal(case.ref()[0], np.maximum(case.feeds[0], 0))
    fq = tf.quantization.fake_quant_with_min_max_args(case.feeds[0], -1.0, 2.0).numpy()
    np.testing.assert_array_equal(before[0], np.maximum(fq, 0))


def test_non_constant_min_max_raises(tf: Any, load: Any) -> None:  # noqa: ANN401
    def build(x: Any) -> None:  # noqa: ANN401
        tf.quantization.fake_quant_with_min_max_vars(x, tf.reduce_min(x), tf.reduce_max(x), name="out")

    case = load(build, batch=1)
    counts = case.graph.op_counts()
    assert counts == {"fake_quant": 1, "reduce_max": 1, "reduce_min": 1}

    with pytest.raises(QuantizationError, match="'out'.*non-constant min/max"):
        AbsorbFakeQuant().run(case.graph)

    assert case.graph.op_counts() == counts


# ---------------------------------------------------------------- barriers, --drop_fake_quant, float models
def _conv_fq_relu_fq(tf: Any, const: Any) -> Any:  # noqa: ANN401
    """conv -> FakeQuant [-3, 5] -> relu -> FakeQuant [0, 4]: a quantization point between a layer and its
    activation (the placement --reorder_across_fake_quant exists for)."""
    fq = tf.quantization.fake_quant_with_min_max_args

    def build(x: Any) -> None:  # noqa: ANN401
        y = fq(tf.nn.conv2d(x, fq(const((3, 3, 3, 4)), W_MIN, W_MAX), 1, "SAME"), A_MIN, A_MAX, name="conv_q")
        fq(tf.nn.relu(y), 0.0, 4.0, name="out")

    return build


@pytest.mark.parametrize("reorder", [False, True])
def test_fake_quant_barrier_keeps_the_quantization_point(tf: Any, const: Any, load: Any, reorder: bool) -> None:  # noqa: ANN401
    """Without --reorder_across_fake_quant (TOCO's default) the conv keeps its own grid and the relu stays a
    separate op; with it, the relu fuses into the conv and only the output's grid remains. Either way the IR with
    its ranges applied computes the fake-quant graph exactly."""
    from converter.frontend.reference import ReferenceExecutor
    from converter.passes.manager import PassManager, default_phases

    case = load(_conv_fq_relu_fq(tf, const), prep=False, scale=2.0)
    g = case.graph
    before = case.ref()
    stats = PassManager(default_phases(reorder_across_fake_quant=reorder)).run(g)
    fq = tf.quantization.fake_quant_with_min_max_args
    conv = case.node("conv_2d")
    if reorder:
        assert g.op_counts() == {"conv_2d": 1}
        assert stats.fired["fuse_activation"] == 1 and stats.fired["drop_fake_quant_barriers"] == 0
        assert conv.attrs.activation.value == "RELU" and conv.output.qrange == fq_range(0.0, 4.0)
        return
    assert g.op_counts() == {"conv_2d": 1, "relu": 1}
    assert stats.fired["fuse_activation"] == 0 and stats.fired["drop_fake_quant_barriers"] == 2
    relu = case.node("relu")
    assert conv.output.qrange == fq_range(A_MIN, A_MAX) and relu.output.qrange == fq_range(0.0, 4.0)
    assert relu.input(0) is conv.output
    # Apply each recorded range where training applied its FakeQuant: the result is the original graph's.
    conv_out = ReferenceExecutor(g, fetch=[conv.output])(case.feeds)[0]
    simulated = fq(tf.nn.relu(fq(conv_out, A_MIN, A_MAX)), 0.0, 4.0).numpy()
    np.testing.assert_array_equal(simulated, before[0])


def test_drop_fake_quant(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    """--drop_fake_quant: every FakeQuant bypassed, no range recorded; the graph computes plain float."""
    from converter.passes.fake_quant import DropFakeQuant

    weights: list[np.ndarray] = []
    fq = tf.quantization.fake_quant_with_min_max_args

    def build(x: Any) -> None:  # noqa: ANN401
        w = const((3, 3, 3, 4))
        weights.append(tf.get_static_value(w))
        fq(tf.nn.relu(fq(tf.nn.conv2d(fq(x, -1.0, 1.0), fq(w, W_MIN, W_MAX), 1, "SAME"), A_MIN, A_MAX)), 0.0, 4.0,
           name="out")

    case = load(build, prep=False)
    g = case.graph
    assert g.op_counts()["fake_quant"] == 4
    assert DropFakeQuant().run(g) == 4
    assert "fake_quant" not in g.op_counts()
    assert all(t.qrange is None for t in g.tensors())
    x = case.feeds[0]
    plain = tf.nn.relu(tf.nn.conv2d(x, weights[0], 1, "SAME")).numpy()
    np.testing.assert_allclose(case.ref()[0], plain, rtol=1e-6, atol=1e-6)


def test_materialize_fake_quant_in_float_models(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    """Float models: each activation's fake-quant point becomes QUANTIZE + DEQUANTIZE on its uint8 grid, and the
    IR then computes exactly what the FakeQuant graph computes (TensorFlow's FakeQuant kernel)."""
    from converter.ir import QuantParams
    from converter.passes.fake_quant import MaterializeFakeQuant
    from converter.passes.manager import PassManager

    case = load(_conv_fq_relu_fq(tf, const), prep=False, scale=2.0)
    g = case.graph
    PassManager().run(g)
    assert MaterializeFakeQuant().run(g) == 2
    g.toposort()
    g.validate()
    assert g.op_counts() == {"conv_2d": 1, "relu": 1, "quantize": 2, "dequantize": 2}
    qs = [n.output for n in case.ops("quantize")]
    assert {q.quant.dtype.name for q in qs} == {"uint8"}
    assert all(isinstance(q.quant, QuantParams) for q in qs)
    assert g.outputs[0].name == "out" and g.outputs[0].producer.op == "dequantize"
    np.testing.assert_array_equal(case.ref()[0], case.tf_out[0])
