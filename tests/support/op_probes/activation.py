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

# Variants (slow run): ranks 0 and 5 for the elementwise activations; softmax over rank 2, rank 5 and a middle axis.
_ELEMENTWISE = {
    "Relu": lambda tf, x: tf.nn.relu(x), "Relu6": lambda tf, x: tf.nn.relu6(x), "Elu": lambda tf, x: tf.nn.elu(x),
    "Selu": lambda tf, x: tf.nn.selu(x), "LeakyRelu": lambda tf, x: tf.nn.leaky_relu(x, 0.3),
    "Sigmoid": lambda tf, x: tf.sigmoid(x), "Tanh": lambda tf, x: tf.tanh(x),
    "Softplus": lambda tf, x: tf.nn.softplus(x), "Softsign": lambda tf, x: tf.nn.softsign(x),
}
VARIANTS.update({op: (Probe(f, (In((), scale=2.0),), slow=True, name="rank0"),
                      Probe(f, (In((1, 2, 3, 2, 4), scale=2.0),), slow=True, name="rank5"))
                 for op, f in _ELEMENTWISE.items()})
for _op, _f in (("Softmax", lambda tf, x, axis=-1: tf.nn.softmax(x, axis=axis)),
                ("LogSoftmax", lambda tf, x, axis=-1: tf.nn.log_softmax(x, axis=axis))):
    VARIANTS[_op] = (
        Probe(_f, (In((1, 10), scale=2.0),), slow=True, name="rank2"),
        Probe(_f, (In((1, 2, 3, 2, 4), scale=2.0),), slow=True, name="rank5"),
        Probe(lambda tf, x, f=_f: f(tf, x, 1), (X,), slow=True, name="axis1"),
    )
