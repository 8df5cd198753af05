"""Small models trained on real or generated tasks, for accuracy claims (quantization error on held-out data means
something only on trained weights). Shared by the accuracy, precision and compression tests and by the zoo.

Each task has three disjoint splits: ``train`` (what the model is fitted on), ``calibration`` (drawn from the
training distribution; what converters calibrate on) and ``held_out`` (never seen by training or calibration; what
accuracy is measured on). Everything is seeded and trained with op determinism, so a model is the same on every run
of the same machine; each is trained once per process (``trained``) in a few seconds.

    digits       sklearn's 8x8 digits, a CNN with conv / batch norm / depthwise / pooling / dense / softmax
    dwsep        a depthwise-separable CNN (MobileNet-v1 blocks with batch norms and ReLU) on generated 24x24
                 texture images, 4 classes, logits out
    lstm         an LSTM (unrolled) reading 16 steps of a noisy two-tone signal and estimating its frequencies
                 and amplitudes (regression)
    transformer  one encoder block (multi-head attention, layer norms, GELU feed-forward) counting, for every
                 position of a sequence of 12 noisy one-hot symbols, how often its symbol occurs (regression)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .keras_models import digits_cnn, digits_data


@dataclass(frozen=True)
class Task:
    """A trained model and its data. ``x_*`` are model inputs (first axis = samples), ``y_*`` the task's targets."""

    name: str
    model: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_calibration: np.ndarray
    x_held_out: np.ndarray
    y_held_out: np.ndarray
    classifier: bool  # y are class labels (accuracy is meaningful), else regression targets

    def calibration(self, n: int) -> np.ndarray:
        """The first ``n`` calibration samples (never held-out ones)."""
        if n > len(self.x_calibration):
            raise ValueError(f"{self.name}: {n} calibration samples asked for, {len(self.x_calibration)} exist")
        return self.x_calibration[:n]

    def held_out(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` held-out samples (a seeded choice among them; seed 0: the first ``n``)."""
        if n > len(self.x_held_out):
            raise ValueError(f"{self.name}: {n} held-out samples asked for, {len(self.x_held_out)} exist")
        if seed == 0:
            return self.x_held_out[:n]
        idx = np.random.default_rng(seed).choice(len(self.x_held_out), n, replace=False)
        return self.x_held_out[np.sort(idx)]


def _deterministic(seed: int) -> Any:  # noqa: ANN401
    """Seed Python, numpy and TensorFlow, and make TensorFlow's kernels deterministic (process-wide)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return keras


def _fit(model: Any, optimizer: Any, loss: Any, x: np.ndarray, y: np.ndarray, epochs: int,  # noqa: ANN401
         batch_size: int) -> None:
    """Keras fit without XLA (compiling costs more than these tiny models' training), several steps per call."""
    model.compile(optimizer, loss, jit_compile=False, steps_per_execution=10)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)


def _splits(make: Callable[[int, int], tuple[np.ndarray, np.ndarray]], n_train: int,
            seed: int) -> tuple[np.ndarray, ...]:
    """x_train, y_train, x_calibration, x_held_out, y_held_out of a generated task (different seeds: disjoint)."""
    x_train, y_train = make(n_train, seed)
    x_cal, _ = make(200, seed + 1)
    x_held, y_held = make(200, seed + 2)
    return x_train, y_train, x_cal, x_held, y_held


# --- digits ----------------------------------------------------------------------------------------------------

def _digits() -> Task:
    _deterministic(0)
    x, y = digits_data()
    model = digits_cnn(epochs=8, seed=0)  # fitted on x[:1400]
    # Calibration from the training images, held-out from the last 397 (never trained on).
    return Task("digits", model, x[:1400], y[:1400], x[:200], x[1400:], y[1400:], classifier=True)


# --- depthwise-separable CNN on generated textures ---------------------------------------------------------------

def texture_images(n: int, seed: int, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Images of 4 texture classes (horizontal stripes, vertical stripes, diagonal stripes, blobs) with random
    frequency, phase, colours, contrast and pixel noise; float32 in about [-1, 1], labels int64."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32), indexing="ij")
    labels = rng.integers(0, 4, n)
    out = np.empty((n, size, size, 3), np.float32)
    for i, c in enumerate(labels):
        freq = rng.uniform(0.25, 0.9)
        phase = rng.uniform(0, 2 * np.pi)
        if c == 0:
            pattern = np.sin(freq * yy + phase)
        elif c == 1:
            pattern = np.sin(freq * xx + phase)
        elif c == 2:
            sign = rng.choice([-1.0, 1.0])
            pattern = np.sin(freq * 0.7 * (xx + sign * yy) + phase)
        else:
            cy, cx = rng.uniform(4, size - 4, 2)
            r = rng.uniform(3, 8)
            pattern = 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) - 1.0
        colour = rng.uniform(-1, 1, 3).astype(np.float32)
        base = rng.uniform(-0.3, 0.3, 3).astype(np.float32)
        contrast = rng.uniform(0.3, 1.0)
        img = base + contrast * pattern[..., None] * colour
        out[i] = img + rng.normal(0, 0.15, img.shape)
    return np.clip(out, -1.5, 1.5).astype(np.float32), labels.astype(np.int64)


def _dwsep() -> Task:
    keras = _deterministic(1)
    x_train, y_train, x_cal, x_held, y_held = _splits(texture_images, 1600, seed=11)
    inp = keras.Input((24, 24, 3), name="image")
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inp)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    h = keras.layers.ReLU()(h)
    for filters, stride in ((24, 1), (32, 2), (48, 1)):
        h = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=0.9)(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.Conv2D(filters, 1, use_bias=False)(h)
        h = keras.layers.BatchNormalization(momentum=0.9)(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(4, name="logits")(h)
    model = keras.Model(inp, out)
    _fit(model, keras.optimizers.Adam(5e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
         x_train, y_train, epochs=5, batch_size=32)
    return Task("dwsep", model, x_train, y_train, x_cal, x_held, y_held, classifier=True)


# --- LSTM on a generated sequence task ---------------------------------------------------------------------------

def two_tone_sequences(n: int, seed: int, steps: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two sinusoids (random frequency, amplitude and phase) on 2 channels plus their sum and noise on 2 more:
    inputs [n, steps, 4]; targets [n, 4]: the two frequencies and the two amplitudes."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=np.float32)
    f = rng.uniform(0.2, 1.2, (n, 2)).astype(np.float32)
    a = rng.uniform(0.3, 1.5, (n, 2)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, (n, 2)).astype(np.float32)
    s = a[:, None, :] * np.sin(f[:, None, :] * t[None, :, None] + ph[:, None, :])
    x = np.concatenate([s, s.sum(-1, keepdims=True), rng.normal(0, 0.3, (n, steps, 1))], axis=-1)
    x = x + rng.normal(0, 0.05, x.shape)
    return x.astype(np.float32), np.concatenate([f, a], axis=1).astype(np.float32)


def _lstm() -> Task:
    keras = _deterministic(2)
    x_train, y_train, x_cal, x_held, y_held = _splits(two_tone_sequences, 2000, seed=21)
    inp = keras.Input((16, 4), name="series")
    h = keras.layers.LSTM(32, unroll=True)(inp)
    out = keras.layers.Dense(4, name="estimate")(h)
    model = keras.Model(inp, out)
    _fit(model, keras.optimizers.Adam(1e-2), "mse", x_train, y_train, epochs=6, batch_size=64)
    return Task("lstm", model, x_train, y_train, x_cal, x_held, y_held, classifier=False)


# --- transformer encoder on a generated counting task ----------------------------------------------------------

def symbol_sequences(n: int, seed: int, length: int = 12, symbols: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of noisy one-hot symbols [n, length, symbols + 2] (two extra noise features); targets [n, length]:
    how many times each position's symbol occurs in its sequence, divided by the length."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, symbols, (n, length))
    onehot = np.eye(symbols, dtype=np.float32)[ids]
    x = np.concatenate([onehot, rng.normal(0, 0.5, (n, length, 2))], axis=-1) + rng.normal(0, 0.1, (n, length,
                                                                                                    symbols + 2))
    counts = (ids[:, :, None] == ids[:, None, :]).sum(-1) / length
    return x.astype(np.float32), counts.astype(np.float32)


def _transformer() -> Task:
    keras = _deterministic(3)
    x_train, y_train, x_cal, x_held, y_held = _splits(symbol_sequences, 3000, seed=31)
    inp = keras.Input((12, 8), name="symbols")
    h = keras.layers.Dense(32)(inp)
    att = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(h, h)
    h = keras.layers.LayerNormalization()(h + att)
    f = keras.layers.Dense(64, activation="gelu")(h)
    f = keras.layers.Dense(32)(f)
    h = keras.layers.LayerNormalization()(h + f)
    out = keras.layers.Reshape((12,))(keras.layers.Dense(1)(h))
    model = keras.Model(inp, out)
    _fit(model, keras.optimizers.Adam(3e-3), "mse", x_train, y_train, epochs=8, batch_size=64)
    return Task("transformer", model, x_train, y_train, x_cal, x_held, y_held, classifier=False)


BUILDERS: dict[str, Callable[[], Task]] = {
    "digits": _digits, "dwsep": _dwsep, "lstm": _lstm, "transformer": _transformer,
}
NAMES = tuple(BUILDERS)


@functools.cache
def trained(name: str) -> Task:
    """The trained task ``name`` (one of ``NAMES``), trained on first use in this process."""
    return BUILDERS[name]()
