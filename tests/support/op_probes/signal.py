"""FFTs and complex numbers (complex results leave the model as real and imaginary parts)."""

from __future__ import annotations

from . import In, Probe


def _parts(tf, z):  # noqa: ANN001, ANN202 - tf module, complex tensor
    return tf.math.real(z), tf.math.imag(z)


SIG = In((1, 3, 16))

PROBES: dict[str, Probe] = {
    "RFFT": Probe(lambda tf, x: _parts(tf, tf.signal.rfft(x)), (SIG,), context=("REAL", "IMAG")),
    "RFFT2D": Probe(lambda tf, x: _parts(tf, tf.signal.rfft2d(x)), (In((1, 8, 16)),), context=("REAL", "IMAG")),
    "ComplexAbs": Probe(lambda tf, x: tf.abs(tf.signal.rfft(x)), (SIG,), context=("RESHAPE", "RFFT2D"),
                        int8=True),
    "Real": Probe(lambda tf, x: tf.math.real(tf.signal.rfft(x)), (SIG,), context=("RESHAPE", "RFFT2D")),
    "Imag": Probe(lambda tf, x: tf.math.imag(tf.signal.rfft(x)), (SIG,), context=("RESHAPE", "RFFT2D")),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}

# Variants (slow run): an fft_length that crops or zero-pads the signal.
VARIANTS.update({
    "RFFT": (Probe(lambda tf, x: _parts(tf, tf.signal.rfft(x, [8])), (SIG,), context=("REAL", "IMAG"), slow=True,
                   name="crop"),
             Probe(lambda tf, x: _parts(tf, tf.signal.rfft(x, [32])), (SIG,), context=("REAL", "IMAG"), slow=True,
                   name="pad")),
    "RFFT2D": (Probe(lambda tf, x: _parts(tf, tf.signal.rfft2d(x, [4, 8])), (In((1, 8, 16)),),
                     context=("REAL", "IMAG"), slow=True, name="crop"),),
})
