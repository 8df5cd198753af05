"""Build a benchmark model and its data once into a work directory (run by compare.py in its own process, so the
benchmark's parent process never loads TensorFlow).

Layout of ``<work-dir>/<model>/``::

    (<model>_logits/ for --logits)
    saved_model/        model.export(...) of the Keras model
    eval_<E>.npy        held-out inputs;  ref_<E>.npy: the float Keras model's outputs on them
    cal_<N>.npy         N calibration samples (what both converters are given)
    model.keras         the Keras model (to compute references for a new eval size without rebuilding)

``lstm``: the trained LSTM(32) + Dense(4) of tests/support/trained.py (two-tone estimation) with ``unroll=False``
over 100 steps, in tf_keras (batch 1), saved with tf.saved_model.save: the form TensorFlow's converter fuses into
UNIDIRECTIONAL_SEQUENCE_LSTM (it keys on tf_keras' ``api_implements`` function attribute; Keras 3's export it does
not fuse). Held-out and calibration sequences come from seeds the training never saw.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.keras_models import (  # noqa: E402
    digits_cnn,
    digits_dilated,
    digits_prelu,
    digits_upsampled,
    sample_images,
    set_batch_norm_stats_from_data,
)

MNV2_SIZE = 224
CAL_SEED, EVAL_SEED, BN_SEED = 1, 2, 100
DIGITS_TRAIN = 1400  # the digits models train on the first 1400 digits; evaluation uses the rest
PRELU_SIZE = 32  # digits_prelu's input: the digits upsampled 4x, so that PReLU runs on 32x32 feature maps
# Models trained on the digits: builder and input size.
DIGITS_MODELS = {"digits": (digits_cnn, 8), "digits_prelu": (lambda: digits_prelu(PRELU_SIZE), PRELU_SIZE),
                 "digits_dilated": (digits_dilated, 8)}


def build_mobilenet_v2(logits: bool) -> Any:  # noqa: ANN401
    """Keras MobileNetV2, 224x224, alpha 1.0, 1000 classes, weights=None, batch-norm statistics from images;
    ``logits``: no softmax at the end (classifier_activation=None)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(MNV2_SIZE, MNV2_SIZE, 3), alpha=1.0,
                                           classifier_activation=None if logits else "softmax")
    set_batch_norm_stats_from_data(model, sample_images(16, MNV2_SIZE, seed=BN_SEED))
    return model


LSTM_STEPS, LSTM_FEATURES = 100, 4
LSTM_CAL_SEED, LSTM_EVAL_SEED = 1002, 1001


def build_lstm(d: Path, samples: int, n_eval: int) -> None:
    """The ``lstm`` model and its data into ``d`` (see the module docstring)."""
    import tensorflow as tf
    import tf_keras

    from tests.support.trained import trained, two_tone_sequences

    if not (d / "saved_model" / "saved_model.pb").exists():
        print(f"build: lstm -> {d}", flush=True)
        inp = tf_keras.Input((LSTM_STEPS, LSTM_FEATURES), batch_size=1, name="series")
        model = tf_keras.Model(inp, tf_keras.layers.Dense(4)(tf_keras.layers.LSTM(32)(inp)))
        model.set_weights(trained("lstm").model.get_weights())
        module = tf.Module()
        module.weights_ = list(model.weights)
        module.serve = tf.function(lambda x: {"output": model(x)},
                                   input_signature=[tf.TensorSpec([1, LSTM_STEPS, LSTM_FEATURES], tf.float32,
                                                                  name="series")])
        tf.saved_model.save(module, str(d / "saved_model"), signatures=module.serve)
        model.save_weights(str(d / "weights.h5"))
        for stale in list(d.glob("ref_*.npy")):
            stale.unlink()
    ref = d / f"ref_{n_eval}.npy"
    if not ref.exists():
        inp = tf_keras.Input((LSTM_STEPS, LSTM_FEATURES), name="series")
        model = tf_keras.Model(inp, tf_keras.layers.Dense(4)(tf_keras.layers.LSTM(32)(inp)))
        model.load_weights(str(d / "weights.h5"))
        x, _ = two_tone_sequences(n_eval, LSTM_EVAL_SEED, steps=LSTM_STEPS)
        np.save(d / f"eval_{n_eval}.npy", x)
        np.save(ref, np.asarray(model.predict(x, verbose=0, batch_size=len(x)), np.float32))
    cal = d / f"cal_{samples}.npy"
    if not cal.exists():
        np.save(cal, two_tone_sequences(samples, LSTM_CAL_SEED, steps=LSTM_STEPS)[0])


def calibration(model_name: str, n: int) -> np.ndarray:
    if model_name == "mobilenet_v2":
        return sample_images(n, MNV2_SIZE, seed=CAL_SEED)
    x, _ = digits_upsampled(DIGITS_MODELS[model_name][1])
    if n > DIGITS_TRAIN:
        raise SystemExit(f"build: digits has {DIGITS_TRAIN} training samples; --samples {n} is too many")
    return x[:n]


def evaluation(model_name: str, n: int) -> np.ndarray:
    if model_name == "mobilenet_v2":
        return sample_images(n, MNV2_SIZE, seed=EVAL_SEED)
    x, _ = digits_upsampled(DIGITS_MODELS[model_name][1])
    return x[DIGITS_TRAIN:DIGITS_TRAIN + n]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", choices=["mobilenet_v2", "lstm", *DIGITS_MODELS], required=True)
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--eval", type=int, required=True)
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--logits", action="store_true", help="mobilenet_v2 without its final softmax")
    a = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    d = a.work_dir / (a.model + ("_logits" if a.logits else ""))
    d.mkdir(parents=True, exist_ok=True)
    if a.model == "lstm":
        build_lstm(d, a.samples, a.eval)
        return

    import keras

    keras_path = d / "model.keras"
    model = None
    if not (d / "saved_model" / "saved_model.pb").exists() or not keras_path.exists():
        print(f"build: {a.model} -> {d}", flush=True)
        model = build_mobilenet_v2(a.logits) if a.model == "mobilenet_v2" else DIGITS_MODELS[a.model][0]()
        model.save(keras_path)
        model.export(str(d / "saved_model"), verbose=False)
        for stale in list(d.glob("ref_*.npy")):
            stale.unlink()
    ref = d / f"ref_{a.eval}.npy"
    if not ref.exists():
        model = model or keras.models.load_model(keras_path)
        x = evaluation(a.model, a.eval)
        np.save(d / f"eval_{a.eval}.npy", x)
        np.save(ref, np.asarray(model.predict(x, verbose=0, batch_size=len(x)), np.float32))
    cal = d / f"cal_{a.samples}.npy"
    if not cal.exists():
        np.save(cal, calibration(a.model, a.samples))


if __name__ == "__main__":
    main()
