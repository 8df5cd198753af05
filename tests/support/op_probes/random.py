"""Random ops LiteRT has kernels for (seeded, so both converters' models draw the same numbers)."""

from __future__ import annotations

from . import In, Probe

PROBES: dict[str, Probe] = {
    "RandomUniform": Probe(
        lambda tf, x: tf.raw_ops.RandomUniform(shape=[1, 8], dtype=tf.float32, seed=3, seed2=5) + x,
        context=("ADD",), reference="tflite", int8=True),
    "RandomStandardNormal": Probe(
        lambda tf, x: tf.raw_ops.RandomStandardNormal(shape=[1, 8], dtype=tf.float32, seed=3, seed2=5) + x,
        context=("ADD",), reference="tflite"),
    "Multinomial": Probe(lambda tf, x: tf.raw_ops.Multinomial(logits=x, num_samples=6, seed=3, seed2=5),
                         (In((2, 5)),), reference="tflite"),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
