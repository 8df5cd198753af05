"""The direct SavedModel reader (saved_model.pb + variables, calls inlined, reads frozen) against TensorFlow: the
frozen graph it returns computes what the SavedModel's signature computes, for Keras models, tf.Modules with
nested functions, embeddings (ResourceGather) and several inputs/outputs; TF1 SavedModels fall back to
TensorFlow's loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.frontend import saved_model_reader
from converter.frontend.functions import CALL_OPS
from converter.frontend.saved_model import load_saved_model
from tests.conftest import run_frozen_graph


def _keras_cnn(tmp: Path) -> tuple[Path, dict[str, np.ndarray], Callable[..., Any]]:
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="pixels")
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(3)(h))
    path = tmp / "cnn"
    model.export(str(path), verbose=False)
    x = np.random.RandomState(0).randn(2, 8, 8, 3).astype(np.float32)
    return path, {"pixels": x}, lambda x: model(x)


def _keras_embedding(tmp: Path) -> tuple[Path, dict[str, np.ndarray], Callable[..., Any]]:
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((6,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(20, 5)(inp)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    path = tmp / "embedding"
    model.export(str(path), verbose=False)
    x = np.random.RandomState(1).randint(0, 20, (2, 6)).astype(np.int32)
    return path, {"tokens": x}, lambda x: model(x)


def _module_two_in_two_out(tmp: Path) -> tuple[Path, dict[str, np.ndarray], Callable[..., Any]]:
    import tensorflow as tf

    class Inner(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)

        @tf.function
        def __call__(self, x: Any) -> Any:  # noqa: ANN401
            mean, var = tf.nn.moments(x, axes=[1], keepdims=True)  # several outputs through a nested call
            return tf.matmul((x - mean) / tf.sqrt(var + 1e-3), self.w)

    class Outer(tf.Module):
        def __init__(self) -> None:
            self.inner = Inner()
            self.b = tf.Variable([0.5, -1.0, 2.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="a"),
                                      tf.TensorSpec([None, 3], tf.float32, name="b")])
        def __call__(self, a: Any, b: Any) -> dict[str, Any]:  # noqa: ANN401
            y = self.inner(a) + self.b
            return {"sum": y + b, "prod": y * b}

    m = Outer()
    path = tmp / "module"
    tf.saved_model.save(m, str(path))
    rng = np.random.RandomState(2)
    feeds = {"a": rng.randn(2, 4).astype(np.float32), "b": rng.randn(2, 3).astype(np.float32)}
    return path, feeds, lambda a, b: m(a, b)


MODELS = {"keras_cnn": _keras_cnn, "keras_embedding": _keras_embedding, "module": _module_two_in_two_out}


@pytest.fixture(scope="module", params=sorted(MODELS))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          tf: Any) -> tuple[Path, dict[str, np.ndarray], Callable[..., Any]]:  # noqa: ANN401
    return MODELS[request.param](tmp_path_factory.mktemp(request.param))


def test_direct_reader_matches_tensorflow(saved: tuple[Path, dict[str, np.ndarray], Callable[..., Any]]) -> None:
    path, feeds, model = saved
    sig = saved_model_reader.read_signature(path, ("serve",), "serving_default")
    assert sig is not None, "the direct reader fell back to tf.saved_model.load"
    ops = {n.op for n in sig.graph_def.node}
    assert not ops & {*CALL_OPS, "VarHandleOp", "ReadVariableOp", "ResourceGather"}, ops
    assert set(sig.input_names) == set(feeds)
    got = run_frozen_graph(sig.materialized(), {t: feeds[n] for t, n in zip(sig.input_tensors, sig.input_names,
                                                                             strict=True)}, list(sig.output_tensors))
    want = model(*(feeds[n] for n in sig.input_names))
    want = [want[k] for k in sig.output_names] if isinstance(want, dict) else [want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-6, atol=1e-6)


def test_direct_reader_names_like_tensorflows_loader(saved: tuple[Path, dict[str, np.ndarray], Callable[..., Any]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Same signature names, in the same order, as the path through tf.saved_model.load."""
    path, _, _ = saved
    direct = load_saved_model(path, ("serve",), "serving_default")
    monkeypatch.setattr("converter.frontend.saved_model.read_signature", lambda *a: None)
    loaded = load_saved_model(path, ("serve",), "serving_default")
    assert direct.input_names == loaded.input_names
    assert direct.output_names == loaded.output_names


def test_tf1_saved_model_falls_back(tmp_path: Path, tf: Any) -> None:  # noqa: ANN401
    """A TF1 SavedModel (VariableV2, no object graph) goes through TensorFlow's loader and still converts."""
    path = tmp_path / "tf1"
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        w = tf.compat.v1.get_variable("w", initializer=np.eye(3, dtype=np.float32) * 2, use_resource=False)
        y = tf.identity(tf.matmul(x, w) + 1.0, name="y")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.saved_model.simple_save(sess, str(path), {"x": x}, {"y": y})
    assert saved_model_reader.read_signature(path, ("serve",), "serving_default") is None
    sig = load_saved_model(path, ("serve",), "serving_default")
    feed = np.array([[1.0, 2.0, 3.0]], np.float32)
    (got,) = run_frozen_graph(sig.graph_def, {sig.input_tensors[0]: feed}, list(sig.output_tensors))
    np.testing.assert_allclose(got, feed * 2 + 1)


def test_captured_constant_and_output_outside_a_call(tmp_path: Path, tf: Any) -> None:  # noqa: ANN401
    """A function capturing an eager constant (not a variable) is read directly, and computes the same."""
    table = tf.constant(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))

    class M(tf.Module):
        def __init__(self) -> None:
            self.v = tf.Variable(np.float32(3.0))

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:  # noqa: ANN401
            return tf.matmul(x, table) * self.v

    m = M()
    path = tmp_path / "captured"
    tf.saved_model.save(m, str(path))
    sig = saved_model_reader.read_signature(path, ("serve",), "serving_default")
    assert sig is not None
    x = np.array([[1.0, -2.0]], np.float32)
    (got,) = run_frozen_graph(sig.materialized(), {sig.input_tensors[0]: x}, list(sig.output_tensors))
    np.testing.assert_allclose(got, np.asarray(m(x)), rtol=1e-6)
