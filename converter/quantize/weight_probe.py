"""What the weight transforms (--prune, --cluster_weights) need from the float model: which layers have weights to
change, the mean of each layer's input per channel (for bias correction), and the model's outputs on sample inputs
with some layers' weights replaced (for the error a change costs).

``WeightProbe`` compiles the float graph once with the layers' weights held in TensorFlow variables, so that trying
other weights costs one forward pass and no retracing.

Bias correction (Nagel et al. 2019): a change dW of a layer's weights moves output channel o's mean by
E[dW x]_o = sum_k dW[o, k] E[x_k]; adding -E[dW x] to the bias puts it back (``mean_shift``, the same rule the
quantizer applies to rounding errors). E[x] per input channel comes from the samples; border padding is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import Graph, Node, Tensor
from ..tf_runtime import tensorflow
from .bias_correction import mean_shift
from .spec import In, input_role, spec_for

# The layers whose weights the transforms change.
LAYER_OPS = ("conv_2d", "depthwise_conv_2d", "fully_connected", "transpose_conv")
# Samples the probe runs on at most (the first ones of the representative dataset).
MAX_SAMPLES = 256
BATCH = 64


@dataclass(frozen=True)
class WeightLayer:
    """A layer whose constant float weights a transform may change."""

    node: Node
    weight_index: int
    axis: int  # the output-channel axis of the weights (the quantizer's per-channel axis)

    @property
    def weights(self) -> Tensor:
        return self.node.inputs[self.weight_index]  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.node.name


def weight_layers(graph: Graph) -> list[WeightLayer]:
    """Layers of ``LAYER_OPS`` with constant float32 weights that no other node reads."""
    out = []
    for node in graph.nodes:
        spec = spec_for(node.op)
        if node.op not in LAYER_OPS or spec is None or spec.weight_axis is None:
            continue
        for i, t in enumerate(node.inputs):
            if t is not None and input_role(spec, i) is In.WEIGHT and t.is_const and t.dtype == np.float32 \
                    and len(t.consumers) == 1 and t.size > 0:
                out.append(WeightLayer(node, i, spec.weight_axis))
    return out


def set_weights(graph: Graph, layer: WeightLayer, data: np.ndarray, suffix: str) -> None:
    """Give ``layer`` new constant weights."""
    old = layer.weights
    graph.set_input(layer.node, layer.weight_index, graph.const(f"{old.name}/{suffix}", data.astype(np.float32),
                                                                tf_name=old.tf_name))


class WeightProbe:
    """The float graph on fixed samples, with the weights and biases of ``layers`` replaceable (module docstring).
    Every layer but a transpose convolution must have a bias input (``ensure_biases``)."""

    def __init__(self, graph: Graph, layers: Sequence[WeightLayer], arrays: Sequence[np.ndarray]) -> None:
        from ..frontend.reference import ReferenceExecutor, run_nodes  # noqa: PLC0415 (TensorFlow)

        tf = tensorflow()
        self.graph = graph
        self.layers = list(layers)
        n = min(int(arrays[0].shape[0]), MAX_SAMPLES)
        self.arrays = [a[:n] for a in arrays]
        self.samples = n
        self._shape = ReferenceExecutor(graph)  # how the graph takes samples (batched or one at a time)
        held = [t for lay in self.layers for t in (lay.weights, bias_of(lay)) if t is not None]
        self._vars = {id(t): tf.Variable(t.data, trainable=False) for t in held}
        self._original = {id(t): np.asarray(t.data) for t in held}
        inputs = [lay.node.inputs[0] for lay in self.layers if lay.node.op != "transpose_conv"]
        self._mean_inputs = list({id(t): t for t in inputs if t is not None and t.dtype == np.float32}.values())
        consts = {id(t): tf.constant(t.data) for node in graph.nodes for t in node.inputs
                  if t is not None and t.is_const and id(t) not in self._vars}

        def run(*xs: Any) -> list[Any]:  # noqa: ANN401
            env: dict[int, Any] = {id(t): x for t, x in zip(graph.inputs, xs, strict=True)}
            env.update(consts)
            env.update(self._vars)
            run_nodes(graph, env)
            outs = [tf.reshape(env[id(t)], [tf.shape(env[id(t)])[0], -1]) for t in graph.outputs]
            sums = [tf.reduce_sum(tf.cast(tf.reshape(env[id(t)], [-1, t.shape[-1]]), tf.float64), axis=0)
                    for t in self._mean_inputs]
            return [*outs, *sums]

        sig = [tf.TensorSpec([None, *t.shape[1:]] if self._shape.batched and t.shape else t.shape,
                             tf.as_dtype(t.dtype)) for t in graph.inputs]
        self._fn = tf.function(run, input_signature=sig, jit_compile=False, autograph=False)
        self.reference, sums = self._run()
        rows = [self.samples * int(np.prod(t.shape[1:-1], dtype=np.int64)) for t in self._mean_inputs]
        self.means = {t.name: s / r for t, s, r in zip(self._mean_inputs, sums, rows, strict=True)}
        self.signal = float(sum(np.sum(r.astype(np.float64) ** 2) for r in self.reference))

    def _run(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Outputs (flattened per sample) and per-channel sums of the layers' inputs over the samples."""
        n_out = len(self.graph.outputs)
        outs: list[list[np.ndarray]] = [[] for _ in range(n_out)]
        sums = [np.zeros(t.shape[-1]) for t in self._mean_inputs]
        step = BATCH if self._shape.batched else 1
        for start in range(0, self.samples, step):
            res = [np.asarray(v) for v in self._fn(*self._shape.samples(self.arrays, start, start + step))]
            for k in range(n_out):
                outs[k].append(res[k])
            sums = [a + b for a, b in zip(sums, res[n_out:], strict=True)]
        return [np.concatenate(o) for o in outs], sums

    def noise(self, changes: Mapping[int, tuple[np.ndarray, np.ndarray | None]]) -> float:
        """Output noise power relative to the signal, sum (y - y_float)^2 / sum y_float^2, with the layers given by
        index computing with other (weights, bias) (bias None: unchanged)."""
        changed = []
        try:
            for i, (w, b) in changes.items():
                lay = self.layers[i]
                for t, v in ((lay.weights, w), (bias_of(lay), b)):
                    if t is not None and v is not None:
                        self._vars[id(t)].assign(np.asarray(v, np.float32))
                        changed.append(id(t))
            outs, _ = self._run()
        finally:
            for key in changed:
                self._vars[key].assign(self._original[key])
        err = sum(float(np.sum((o.astype(np.float64) - r) ** 2)) for o, r in zip(outs, self.reference, strict=True))
        return err / max(self.signal, 1e-30)


def bias_of(layer: WeightLayer) -> Tensor | None:
    """The layer's constant bias (conv, depthwise, fully connected: input 2)."""
    node = layer.node
    if node.op == "transpose_conv" or len(node.inputs) < 3:
        return None
    b = node.inputs[2]
    return b if b is not None and b.is_const else None


def ensure_biases(graph: Graph, layers: Sequence[WeightLayer]) -> None:
    """Give every layer that bias correction may change (all but transpose convolutions) a bias input (zeros when
    it has none): the correction needs somewhere to go."""
    for lay in layers:
        node = lay.node
        if node.op == "transpose_conv" or bias_of(lay) is not None:
            continue
        out_channels = lay.weights.shape[lay.axis]
        zero = graph.const(f"{node.name}/bias", np.zeros(out_channels, np.float32))
        if len(node.inputs) < 3:
            graph.set_inputs(node, [*node.inputs, zero])
        else:
            graph.set_input(node, 2, zero)


def corrected_bias(layer: WeightLayer, delta: np.ndarray, means: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The layer's bias after bias correction for a weight change ``delta`` (module docstring), or None when there
    is nothing to correct (no input mean, no bias input)."""
    bias = bias_of(layer)
    x = layer.node.inputs[0]
    mean = means.get(x.name) if x is not None else None
    if bias is None or mean is None:
        return None
    shift = mean_shift(layer.node, delta, mean)
    if shift is None:
        return None
    return (np.asarray(bias.data, np.float64) - shift).astype(np.float32)


def set_bias(graph: Graph, layer: WeightLayer, data: np.ndarray, suffix: str) -> None:
    old = bias_of(layer)
    assert old is not None
    graph.set_input(layer.node, 2, graph.const(f"{old.name}/{suffix}", data.astype(np.float32), tf_name=old.tf_name))


def sqnr_db(noise: float) -> float:
    """SQNR in dB of a relative noise power."""
    return float("inf") if noise <= 0 else float(-10 * np.log10(noise))
