"""Activations and softmax."""

from __future__ import annotations

from . import In, Probe

X = In((1, 4, 6), scale=2.0)

PROBES: dict[str, Probe] = {
    "Relu": Probe(lambda tf, x: tf.nn.relu(x), (X,)),
    "Relu6": Probe(lambda tf, x: tf.nn.relu6(x), (In((1, 4, 6), scale=4.0),)),
    "Elu": Probe(lambda tf, x: tf.nn.elu(x), (X,)),
    "Selu": Probe(lambda tf, x: tf.nn.selu(x), (X,)),
    "LeakyRelu": Probe(lambda tf, x: tf.nn.leaky_relu(x, 0.1), (X,)),
    "Sigmoid": Probe(lambda tf, x: tf.sigmoid(x), (X,)),
    "Tanh": Probe(lambda tf, x: tf.tanh(x), (X,)),
    "Softplus": Probe(lambda tf, x: tf.nn.softplus(x), (X,), int8=True),
    "Softsign": Probe(lambda tf, x: tf.nn.softsign(x), (X,)),
    "Softmax": Probe(lambda tf, x: tf.nn.softmax(x), (X,)),
    "LogSoftmax": Probe(lambda tf, x: tf.nn.log_softmax(x), (X,)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
