"""The model zoo: common architectures, built without downloads (weights=None, batch-norm statistics from data),
small inputs so a row converts in seconds. Used by tests/models/test_zoo.py and docs/make_zoo_table.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .keras_models import sample_images, set_batch_norm_stats_from_data


@dataclass(frozen=True)
class ZooModel:
    name: str
    build: Callable[[], Any]
    data: Callable[[int, int], np.ndarray]  # (n, seed) -> inputs
    kind: str  # "cnn", "text", "sequence", "transformer"
    default: bool  # in the default test run (the rest are marked slow)
    why_slow: str = ""
    # Slow rows whose TFLite ops (as docs/zoo.json records them) this default row must cover.
    stands_in_for: tuple[str, ...] = ()


def _images(size: int) -> Callable[[int, int], np.ndarray]:
    return lambda n, seed: sample_images(n, size, seed=seed)


def _app(factory: str, size: int, seed: int = 0, gamma: float = 0.5, **kw: Any) -> Callable[[], Any]:  # noqa: ANN401
    def build() -> Any:  # noqa: ANN401
        import keras

        keras.utils.set_random_seed(seed)
        # Logits out (no softmax): with random weights a softmax is near-uniform and its 1/256 output step would
        # dominate the error; the logits measure what the converter does to the network.
        model = getattr(keras.applications, factory)(input_shape=(size, size, 3), weights=None, classes=16,
                                                     classifier_activation=None, **kw)
        set_batch_norm_stats_from_data(model, sample_images(16, size, seed=seed + 50), gamma=gamma)
        return model

    return build


def _tokens(n: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 200, (n, 24)).astype(np.int32)


def _sequence(n: int, seed: int) -> np.ndarray:
    t = np.linspace(0, 4 * np.pi, 16, dtype=np.float32)
    rng = np.random.RandomState(seed)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    freq = rng.uniform(0.5, 2, (n, 1, 8)).astype(np.float32)
    return (np.sin(t[None, :, None] * freq + phase) + 0.1 * rng.randn(n, 16, 8)).astype(np.float32)


def _tokens_embedded(n: int, seed: int) -> np.ndarray:
    return np.random.RandomState(seed).randn(n, 12, 32).astype(np.float32)


def text_cnn() -> Any:  # noqa: ANN401
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((24,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(200, 16)(inp)
    h = keras.layers.Conv1D(32, 3, activation="relu")(h)
    h = keras.layers.GlobalMaxPooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(4, activation="softmax")(h))


def _recurrent(cell: str) -> Callable[[], Any]:
    def build() -> Any:  # noqa: ANN401
        import keras

        keras.utils.set_random_seed(0)
        inp = keras.Input((16, 8), name="series")
        layer = getattr(keras.layers, cell)(24, unroll=True)
        return keras.Model(inp, keras.layers.Dense(4)(layer(inp)))

    return build


def mbconv_blocks() -> Any:  # noqa: ANN401
    """EfficientNet's and MobileNetV3's building blocks, made by Keras's own code (``efficientnet.block``,
    ``mobilenet_v3._inverted_res_block``), two of each instead of the whole networks: the stem's rescaling and
    normalization, a padded stride-2 stem conv, swish, squeeze-excitation (sigmoid and hard-sigmoid), stride-2
    padded depthwise convs, residual adds, hard-swish, ReLU, global pooling and a dense head."""
    import keras
    from keras.src.applications import efficientnet, imagenet_utils, mobilenet_v3

    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 2.0)(inp)
    x = keras.layers.Normalization(axis=3, mean=[0.1, -0.05, 0.0], variance=[0.3, 0.25, 0.2])(x)
    x = keras.layers.ZeroPadding2D(imagenet_utils.correct_pad(x, 3))(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("swish")(x)
    x = efficientnet.block(x, "swish", name="e1_", filters_in=16, filters_out=16, se_ratio=0.25)
    x = efficientnet.block(x, "swish", name="e2_", filters_in=16, filters_out=24, strides=2, expand_ratio=6,
                           se_ratio=0.25)
    x = mobilenet_v3._inverted_res_block(x, 4, 24, 3, 1, 0.25, mobilenet_v3.hard_swish, 1)  # noqa: SLF001
    x = mobilenet_v3._inverted_res_block(x, 6, 40, 5, 2, 0.25, mobilenet_v3.relu, 2)  # noqa: SLF001
    x = keras.layers.Conv2D(64, 1, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(mobilenet_v3.hard_swish)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(16)(x))
    set_batch_norm_stats_from_data(model, sample_images(16, 32, seed=50), gamma=0.5)
    return model


def transformer_block() -> Any:  # noqa: ANN401
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 32), name="embeddings")
    att = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(inp, inp)
    h = keras.layers.LayerNormalization()(inp + att)
    f = keras.layers.Dense(64, activation="gelu")(h)
    f = keras.layers.Dense(32)(f)
    out = keras.layers.LayerNormalization()(h + f)
    return keras.Model(inp, out)


ZOO: list[ZooModel] = [
    ZooModel("mobilenet", _app("MobileNet", 96, alpha=0.25), _images(96), "cnn", False, "covered by MobileNetV2"),
    ZooModel("mobilenet_v2", _app("MobileNetV2", 96, alpha=0.35), _images(96), "cnn", False,
             "converted in the PTQ tests by default"),
    ZooModel("mobilenet_v3_small", _app("MobileNetV3Small", 96, alpha=0.75), _images(96), "cnn", False,
             "its blocks (hard-swish, squeeze-excitation) are converted by the mbconv_blocks row by default"),
    ZooModel("mobilenet_v3_large", _app("MobileNetV3Large", 96, alpha=0.75), _images(96), "cnn", False,
             "same op families as MobileNetV3Small"),
    ZooModel("resnet50", _app("ResNet50", 64), _images(64), "cnn", False, "25M parameters; conv/add/max-pool"),
    ZooModel("efficientnet_b0", _app("EfficientNetB0", 64), _images(64), "cnn", False,
             "its blocks (swish, squeeze-excitation, rescaling) are converted by the mbconv_blocks row by default"),
    ZooModel("mbconv_blocks", mbconv_blocks, _images(32), "cnn", True,
             stands_in_for=("efficientnet_b0", "mobilenet_v3_small")),
    ZooModel("densenet121", _app("DenseNet121", 64), _images(64), "cnn", False, "120 batch norms to set; concat"),
    ZooModel("inception_v3", _app("InceptionV3", 96), _images(96), "cnn", False, "24M parameters"),
    ZooModel("nasnet_mobile", _app("NASNetMobile", 96), _images(96), "cnn", False, "1,300 layers"),
    ZooModel("xception", _app("Xception", 96), _images(96), "cnn", False, "23M parameters"),
    ZooModel("text_cnn", text_cnn, _tokens, "text", True),
    ZooModel("lstm", _recurrent("LSTM"), _sequence, "sequence", True),
    ZooModel("gru", _recurrent("GRU"), _sequence, "sequence", False, "same op families as LSTM"),
    ZooModel("transformer", transformer_block, _tokens_embedded, "transformer", True),
]

BY_NAME = {m.name: m for m in ZOO}
