"""A digits CNN in tf_keras (what tensorflow-model-optimization 0.8 wraps), trained, then compressed in training
with tensorflow-model-optimization: pruned to 80% with ``prune_low_magnitude`` and clustered to 16 clusters with
``cluster_weights``, each fine-tuned and stripped. Trained once per process, seeded, with op determinism; the data
splits are trained.py's digits splits (train on the first 1400 images, calibrate on the first 200 of them, measure
on the 397 held-out ones).

    base        conv 3x3x16 + batch norm + ReLU, depthwise 3x3 + ReLU6, conv 1x1x32, max pool, dense 64 + ReLU,
                dense 10 (logits): 38k weights, most in the first dense layer
    pruned      base, prune_low_magnitude to a constant 80% (conv and dense kernels), 2 epochs, strip_pruning
    clustered   base, cluster_weights to 16 clusters per layer (k-means++ init), 2 epochs, strip_clustering
    pruned_clustered   pruned, then cluster_weights(preserve_sparsity=True) to 16 clusters, 2 epochs, stripped
                (tensorflow-model-optimization's sparsity-preserving clustering; docs/compression.md only)

Each is saved as a SavedModel (``tf.saved_model.save``) for both converters.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .keras_models import digits_data

N_TRAIN, N_CAL = 1400, 200


@dataclass(frozen=True)
class TfmotModel:
    name: str
    saved_model: Path
    calibration: Path  # .npy of the calibration images
    x_cal: np.ndarray
    x_held_out: np.ndarray
    y_held_out: np.ndarray
    float_out: np.ndarray  # the Keras model's logits on the held-out images

    @property
    def float_accuracy(self) -> float:
        return float(np.mean(self.float_out.argmax(1) == self.y_held_out))


def _keras() -> tuple[Any, Any, Any]:  # noqa: ANN401
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    return tf, tfmot, keras


def _seed(seed: int) -> None:
    tf, _, keras = _keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _base(keras: Any) -> Any:  # noqa: ANN401
    inp = keras.Input((8, 8, 1), name="digit")
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same")(h)
    h = keras.layers.ReLU(6.0)(h)
    h = keras.layers.Conv2D(32, 1)(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(10, name="logits")(h))


def _fit(keras: Any, model: Any, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,  # noqa: ANN401
         callbacks: list[Any] | None = None) -> None:  # noqa: ANN401
    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, shuffle=True, callbacks=callbacks or [])


@functools.cache
def _root() -> Path:
    return Path(tempfile.mkdtemp(prefix="qconvert-tfmot-"))


@functools.cache
def _trained_base() -> Any:  # noqa: ANN401
    _, _, keras = _keras()
    _seed(0)
    x, y = digits_data()
    model = _base(keras)
    _fit(keras, model, x[:N_TRAIN], y[:N_TRAIN], epochs=10, lr=3e-3)
    return model


def _clone(keras: Any, model: Any) -> Any:  # noqa: ANN401
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _export(name: str, model: Any) -> TfmotModel:  # noqa: ANN401
    x, y = digits_data()
    root = _root() / name
    root.mkdir(parents=True, exist_ok=True)
    path = root / "saved_model"
    _keras()[0].saved_model.save(model, str(path))
    np.save(root / "cal.npy", x[:N_CAL])
    held_x, held_y = x[N_TRAIN:], y[N_TRAIN:]
    return TfmotModel(name, path, root / "cal.npy", x[:N_CAL], held_x, held_y,
                      np.asarray(model.predict(held_x, verbose=0)))


@functools.cache
def base() -> TfmotModel:
    return _export("base", _trained_base())


def _pruned_80(trained_base: Any) -> Any:  # noqa: ANN401
    """``trained_base`` pruned with prune_low_magnitude to a constant 80%, fine-tuned 2 epochs, stripped."""
    _, tfmot, keras = _keras()
    x, y = digits_data()
    schedule = tfmot.sparsity.keras.ConstantSparsity(0.8, begin_step=0, frequency=20)
    model = tfmot.sparsity.keras.prune_low_magnitude(_clone(keras, trained_base), pruning_schedule=schedule)
    _fit(keras, model, x[:N_TRAIN], y[:N_TRAIN], epochs=2, lr=1e-3,
         callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(model)


@functools.cache
def pruned() -> TfmotModel:
    trained_base = _trained_base()  # first: its own seed, then this model's (order-independent)
    _seed(1)
    return _export("pruned", _pruned_80(trained_base))


@functools.cache
def clustered() -> TfmotModel:
    _, tfmot, keras = _keras()
    trained_base = _trained_base()  # first: its own seed, then this model's (order-independent)
    _seed(2)
    x, y = digits_data()
    cl = tfmot.clustering.keras
    model = cl.cluster_weights(_clone(keras, trained_base), number_of_clusters=16,
                               cluster_centroids_init=cl.CentroidInitialization.KMEANS_PLUS_PLUS)
    _fit(keras, model, x[:N_TRAIN], y[:N_TRAIN], epochs=2, lr=1e-3)
    return _export("clustered", cl.strip_clustering(model))


@functools.cache
def pruned_clustered() -> TfmotModel:
    _, tfmot, keras = _keras()
    trained_base = _trained_base()  # first: its own seed, then this model's (order-independent)
    _seed(3)
    stripped = _pruned_80(trained_base)
    x, y = digits_data()
    cl = tfmot.clustering.keras
    model = cl.cluster_weights(stripped, number_of_clusters=16, preserve_sparsity=True,
                               cluster_centroids_init=cl.CentroidInitialization.KMEANS_PLUS_PLUS)
    _fit(keras, model, x[:N_TRAIN], y[:N_TRAIN], epochs=2, lr=1e-3)
    return _export("pruned_clustered", cl.strip_clustering(model))


def case(name: str, saved_model: Path, calibration: Path, model: Any) -> TfmotModel:  # noqa: ANN401
    """Any SavedModel of a digits classifier (e.g. trained.py's Keras 3 CNN) with the same splits and fields."""
    x, y = digits_data()
    return TfmotModel(name, saved_model, calibration, np.load(calibration), x[N_TRAIN:], y[N_TRAIN:],
                      np.asarray(model.predict(x[N_TRAIN:], verbose=0)))


def tf_convert(m: TfmotModel, int8: bool, sparsity: bool = False) -> bytes:
    """TensorFlow's converter on the same SavedModel and calibration images (float input and output)."""
    tf, _, _ = _keras()
    conv = tf.lite.TFLiteConverter.from_saved_model(str(m.saved_model))
    opts = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparsity else []
    if int8:
        opts.append(tf.lite.Optimize.DEFAULT)
        conv.representative_dataset = lambda: ([m.x_cal[i:i + 1]] for i in range(len(m.x_cal)))
    conv.optimizations = opts
    return conv.convert()
