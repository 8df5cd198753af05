"""Gradient and loss ops TensorFlow's converter lowers to builtins (they appear in exported training graphs)."""

from __future__ import annotations

import numpy as np

from . import In, Probe

X = In((1, 8))
X2 = (In((1, 8)), In((1, 8)))
POS = In((1, 8), dist="positive", low=0.25)

PROBES: dict[str, Probe] = {
    "SigmoidGrad": Probe(lambda tf, y, dy: tf.raw_ops.SigmoidGrad(y=y, dy=dy), X2, int8=True),
    "TanhGrad": Probe(lambda tf, y, dy: tf.raw_ops.TanhGrad(y=y, dy=dy), X2),
    "RsqrtGrad": Probe(lambda tf, y, dy: tf.raw_ops.RsqrtGrad(y=y, dy=dy), X2),
    "SqrtGrad": Probe(lambda tf, y, dy: tf.raw_ops.SqrtGrad(y=y, dy=dy), (POS, X)),
    "SeluGrad": Probe(lambda tf, g, x: tf.raw_ops.SeluGrad(gradients=g, outputs=x), X2),
    "BiasAddGrad": Probe(lambda tf, g: tf.raw_ops.BiasAddGrad(out_backprop=g), (In((1, 4, 5)),)),
    "L2Loss": Probe(lambda tf, x: tf.nn.l2_loss(x), (X,)),
    "SoftmaxCrossEntropyWithLogits": Probe(
        lambda tf, logits, labels: tf.raw_ops.SoftmaxCrossEntropyWithLogits(features=logits, labels=labels),
        (In((2, 5)), In((2, 5), dist="uniform", low=0.0, high=1.0))),
    "SparseSoftmaxCrossEntropyWithLogits": Probe(
        lambda tf, logits: tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=logits,
                                                                          labels=np.array([1, 4], np.int32)),
        (In((2, 5)),)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
