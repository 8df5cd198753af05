"""Functional control flow (TensorFlow's converter writes WHILE / IF with subgraphs)."""

from __future__ import annotations

from . import Probe


def _loop(tf, x):  # noqa: ANN001, ANN202
    return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.tanh(v) * 1.5), [tf.constant(0), x])[1]


def _cond(tf, x):  # noqa: ANN001, ANN202
    return tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.tanh(x), lambda: tf.sigmoid(x))


PROBES: dict[str, Probe] = {
    # tf.function traces stateless bodies to StatelessWhile / StatelessIf (While / If when they have side effects).
    "StatelessWhile": Probe(lambda tf, x: _loop(tf, x), context=("ADD", "LESS", "MUL", "TANH"), int8=True),
    "StatelessIf": Probe(lambda tf, x: _cond(tf, x), context=("GREATER", "LOGISTIC", "SUM", "TANH")),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
