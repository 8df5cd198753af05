"""PassManager: the default phases on small frozen nets. Rewrite counts per pass, the final IR, and numerical
equality with the imported graph on the reference executor and with TensorFlow."""

from __future__ import annotations

from typing import Any

import numpy as np

from converter.frontend.reference import ReferenceExecutor
from converter.ir import QuantRange, RangeSource
from converter.ir.attrs import Activation
from converter.passes.manager import PassManager

EPS = 1e-3



def fired_only(fired: dict[str, int], **expected: int) -> dict[str, int]:
    """The fired-count table with exactly ``expected`` non-zero and every other pass at 0."""
    return {name: expected.get(name, 0) for name in fired} | expected

def test_float_conv_net(tf: Any, const: Any, load: Any) -> None:  # noqa: ANN401
    """Identities on weights, conv + BiasAdd + batch norm + relu6, depthwise + batch norm + relu, a 1x1 conv
    without bias, mean, dense + BiasAdd, and a batch norm no layer can absorb."""

    def bn(y: Any) -> Any:  # noqa: ANN401
        c = int(y.shape[-1])
        out, *_ = tf.compat.v1.nn.fused_batch_norm(y, const((c,), 0.5, 2.0), const((c,)), mean=const((c,)),
                                                   variance=const((c,), 0.2, 3.0), epsilon=EPS, is_training=False)
        return out

    def read(t: Any) -> Any:  # noqa: ANN401
        return tf.identity(t)  # a frozen variable's `read`

    def build(x: Any) -> None:  # noqa: ANN401
        y = tf.nn.conv2d(x, read(const((3, 3, 3, 8))), 1, "SAME")
        y = tf.nn.relu6(bn(tf.nn.bias_add(y, read(const((8,))))))
        y = tf.nn.relu(bn(tf.nn.depthwise_conv2d(y, read(const((3, 3, 8, 1))), [1, 2, 2, 1], "SAME")))
        y = bn(tf.nn.max_pool2d(tf.nn.conv2d(y, read(const((1, 1, 8, 4))), 1, "VALID"), 2, 2, "VALID"))
        y = tf.reduce_mean(y, axis=[1, 2])
        tf.identity(tf.nn.bias_add(tf.matmul(y, read(const((4, 5)))), read(const((5,)))), name="out")

    case = load(build, prep=False)
    g = case.graph
    assert g.op_counts() == {
        "add": 2, "batch_norm": 3, "conv_2d": 2, "depthwise_conv_2d": 1, "fully_connected": 1, "identity": 7,
        "max_pool_2d": 1, "mean": 1, "relu": 1, "relu6": 1, "reshape": 1, "transpose": 3,
    }
    before = case.ref()

    stats = PassManager().run(g)

    # fold_constants: 3 filter transposes + the depthwise reshape (LowerBatchNorm makes its constants itself)
    assert stats.fired == fired_only(stats.fired, remove_identity=7, fold_constants=4, fold_batch_norm=2,
                                     fuse_bias_add=2, fuse_activation=2, lower_batch_norm=1, add_missing_bias=1)
    assert g.op_counts() == {"add": 1, "conv_2d": 2, "depthwise_conv_2d": 1, "fully_connected": 1,
                             "max_pool_2d": 1, "mean": 1, "mul": 1}
    conv1, conv2 = case.ops("conv_2d")
    dw, fc = case.node("depthwise_conv_2d"), case.node("fully_connected")
    assert [n.attrs.activation for n in (conv1, dw, conv2, fc)] == [
        Activation.RELU6, Activation.RELU, Activation.NONE, Activation.NONE]
    assert [n.input(2).shape for n in (conv1, dw, conv2, fc)] == [(8,), (8,), (4,), (5,)]
    assert all(n.input(1).is_const and n.input(2).is_const for n in (conv1, dw, conv2, fc))
    np.testing.assert_array_equal(conv2.input(2).data, np.zeros(4, np.float32))
    assert g.outputs == (fc.output,) and fc.output.name == "out"
    case.check(before)
    assert PassManager().run(g).fired == dict.fromkeys(stats.fired, 0)


def test_qat_conv_net(tf: Any, const: Any, load: Any, rng: Any) -> None:  # noqa: ANN401
    """Per-channel fake-quant weights and a fake-quant output: the weights fold onto their grid, the output
    fake quant becomes the range of the tensor the conv (with fused bias and relu6) now produces."""
    lo = -rng.uniform(0.5, 1.5, 4).astype(np.float32)
    hi = -lo

    def build(x: Any) -> None:  # noqa: ANN401
        w = tf.quantization.fake_quant_with_min_max_vars_per_channel(tf.identity(const((3, 3, 3, 4))), lo, hi,
                                                                     narrow_range=True)
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, w, 1, "SAME"), const((4,))))
        tf.quantization.fake_quant_with_min_max_vars(y, 0.0, 6.0, name="out")

    case = load(build, prep=False, scale=2.0)
    g = case.graph
    before = case.ref()

    stats = PassManager().run(g)

    assert stats.fired == fired_only(stats.fired, remove_identity=1, fold_constants=1, absorb_fake_quant=2,
                                     fuse_bias_add=1, fuse_activation=1, drop_fake_quant_barriers=1)
    assert g.op_counts() == {"conv_2d": 1}
    conv = case.node("conv_2d")
    assert conv.attrs.activation is Activation.RELU6
    w = conv.input(1)
    fq = QuantRange(tuple(map(float, lo)), tuple(map(float, hi)), 0, 8, True, True, RangeSource.FAKE_QUANT)
    assert w.qrange == fq
    assert conv.output.name == "out" and g.outputs == (conv.output,)
    assert conv.output.qrange == QuantRange((0.0,), (6.0,), None, 8, False, True, RangeSource.FAKE_QUANT)
    # Weights sit exactly on their per-channel grid: integer multiples of max / 127.
    steps = w.data / (hi.astype(np.float32) / 127).reshape(4, 1, 1, 1)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)
    after = ReferenceExecutor(g)(case.feeds)[0]
    np.testing.assert_array_equal(tf.quantization.fake_quant_with_min_max_vars(after, 0.0, 6.0).numpy(), before[0])
    np.testing.assert_allclose(before[0], case.tf_out[0], rtol=1e-5, atol=1e-6)


def test_passes_run_inside_loop_bodies(tf: Any, load: Any) -> None:  # noqa: ANN401
    """A loop whose trip count depends on the data stays a WHILE; the phases rewrite its body as they rewrite the
    main graph (the identity goes, the ReLU fuses into the add), and the result still computes TensorFlow's."""

    def build(x: Any) -> None:  # noqa: ANN401
        def body(v: Any) -> list[Any]:  # noqa: ANN401
            return [tf.nn.relu(tf.identity(v) * 1.5 + 0.25)]

        tf.identity(tf.while_loop(lambda v: tf.reduce_sum(v) < 40.0, body, [x])[0] * 2.0, name="out")

    case = load(build, inputs={"x": (1, 4)}, prep=False, batch=1)
    before = case.ref()
    stats = PassManager().run(case.graph)
    (loop,) = case.ops("while")
    body = loop.attrs.body  # the add with a fused ReLU and the multiply; the other add counts iterations
    assert sorted(n.op for n in body.nodes) == ["add", "add", "mul"]
    assert sorted(n.attrs.activation.value for n in body.nodes if n.op == "add") == ["NONE", "RELU"]
    assert stats.fired["fuse_activation"] == 1 and stats.fired["remove_identity"] >= 2
    case.check(before)
