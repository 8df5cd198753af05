"""Small, deterministic Keras models for the tests. No downloads: weights=None, data from scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np


def set_batch_norm_stats_from_data(model: Any, x: np.ndarray, gamma: float = 1.0) -> None:  # noqa: ANN401
    """Give every BatchNormalization layer the per-channel mean/variance its input has on ``x`` (each layer sees
    already-normalised inputs), with the given gamma and beta 0.2: activations neither vanish nor explode, as in a
    trained network. A gamma below 1 tames the chaotic amplification of deep random networks.

    One eager pass through the functional graph in topological order (Keras's own ``_run_through_graph``): each
    BatchNormalization sets its statistics from the input it receives, then runs with them, so every later layer
    sees normalised inputs. (A probe model and a ``predict`` per layer computes the same, one traced function per
    layer: minutes for a deep network.)"""
    import keras

    def with_stats(op: Any) -> Any:  # noqa: ANN401
        if not isinstance(op, keras.layers.BatchNormalization):
            return op

        def call(inp: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            a = np.asarray(keras.ops.convert_to_numpy(inp), dtype=np.float64)
            axes = tuple(range(a.ndim - 1))
            mean, var = a.mean(axis=axes), a.var(axis=axes) + 1e-3
            weights = ([np.full_like(mean, gamma)] if op.scale else []) + \
                ([np.full_like(mean, 0.2)] if op.center else []) + [mean, var]
            op.set_weights([w.astype(np.float32) for w in weights])
            return op(inp, *args, **kwargs)

        return call

    model._run_through_graph(keras.ops.convert_to_tensor(x), operation_fn=with_stats)  # noqa: SLF001


def sample_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """float32 images in [-1, 1] (MobileNet preprocessing): random crops/flips of scikit-learn's two sample photos,
    resized to ``size``."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.RandomState(seed)
    photos = load_sample_images().images
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        img = photos[i % len(photos)]
        crop = rng.randint(160, 400)
        y, x = rng.randint(0, img.shape[0] - crop), rng.randint(0, img.shape[1] - crop)
        patch = Image.fromarray(img[y:y + crop, x:x + crop]).resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(patch, np.float32)
        if rng.rand() < 0.5:
            arr = arr[:, ::-1]
        out[i] = arr / 127.5 - 1.0
    return out


def mobilenet_v2(size: int = 96, alpha: float = 0.35, classes: int = 16, seed: int = 0) -> Any:  # noqa: ANN401
    """Keras MobileNetV2 (weights=None) with batch-norm statistics set from sample images."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None,
                                           classes=classes, classifier_activation="softmax")
    set_batch_norm_stats_from_data(model, sample_images(24, size, seed=seed + 100))
    return model


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[..., None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def digits_cnn(epochs: int = 8, seed: int = 0) -> Any:  # noqa: ANN401
    """A small CNN trained on the first 1400 digits (conv, batch norm, depthwise, pooling, dense, softmax)."""
    import keras

    x, y = digits_data()
    keras.utils.set_random_seed(seed)
    # Every layer named: Keras's automatic names count the layers made before in the process, so a test that names
    # a layer of this model (--float_layers, --int16_layers) would depend on which tests ran first.
    inp = keras.Input((8, 8, 1), name="digit")
    h = keras.layers.Conv2D(16, 3, padding="same", name="conv")(inp)
    h = keras.layers.BatchNormalization(name="batch_norm")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(h)
    h = keras.layers.ReLU(6.0, name="relu6")(h)
    h = keras.layers.Conv2D(32, 1, name="pointwise")(h)
    h = keras.layers.MaxPooling2D(name="max_pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(32, activation="relu", name="hidden")(h)
    out = keras.layers.Dense(10, activation="softmax", name="classes")(h)
    model = keras.Model(inp, out, name="digits_cnn")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:1400], y[:1400], epochs=epochs, batch_size=32, verbose=0)
    return model


def digits_upsampled(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits at ``size`` x ``size`` (each pixel repeated; size a multiple of 8)."""
    x, y = digits_data()
    k = size // 8
    return np.repeat(np.repeat(x, k, axis=1), k, axis=2), y


def _train_digits(model: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> Any:  # noqa: ANN401
    import keras

    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    model.fit(x[:1400], y[:1400], epochs=epochs, batch_size=64, verbose=0, shuffle=False)
    return model


def digits_prelu(size: int = 8, epochs: int = 3, seed: int = 0) -> Any:  # noqa: ANN401
    """A CNN with four PReLU layers (two with shared_axes=[1, 2]) trained on the first 1400 digits; logits out."""
    import keras

    x, y = digits_upsampled(size)
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 1), name="digit")
    h = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(16, 3, padding="same")(inp))
    h = keras.layers.PReLU()(keras.layers.Conv2D(32, 3, strides=2, padding="same")(h))
    h = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(32, 3, padding="same")(h))
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.PReLU()(keras.layers.Dense(32)(h))
    return _train_digits(keras.Model(inp, keras.layers.Dense(10)(h)), x, y, epochs)


def digits_dilated(epochs: int = 3, seed: int = 0) -> Any:  # noqa: ANN401
    """Dilated convolutions (Conv2D SAME + batch norm, DepthwiseConv2D SAME, Conv2D VALID, all dilation 2) trained
    on the first 1400 digits; logits out."""
    import keras

    x, y = digits_data()
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1), name="digit")
    h = keras.layers.Conv2D(16, 3, dilation_rate=2, padding="same")(inp)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    h = keras.layers.ReLU()(keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(h))
    h = keras.layers.Conv2D(16, 3, dilation_rate=2, padding="valid", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    return _train_digits(keras.Model(inp, keras.layers.Dense(10)(h)), x, y, epochs)
