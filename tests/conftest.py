"""Shared test fixtures. LiteRT is the oracle: every converted model runs in ai_edge_litert's interpreter with the
builtin kernels only (no XNNPACK delegate, which skips some kernel checks and rounds differently).

The same verdicts on any machine (issue 15): before TensorFlow loads, its numerics are pinned for this process and
every subprocess a test starts (they inherit the environment):
* TF_ENABLE_ONEDNN_OPTS=0: TensorFlow's own kernels, not oneDNN's, which oneDNN picks by the CPU's instruction set;
* TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS=2: a fixed thread count, so the way work is split, hence the
  order float sums are taken in, does not follow the machine's core count;
* TF_DETERMINISTIC_OPS=1: TensorFlow's op determinism (tf.config.experimental.enable_op_determinism), also
  called once TensorFlow is imported: deterministic kernels, and an error for an op that has none.
Models are seeded where they are built (keras.utils.set_random_seed, numpy Generators with fixed seeds). Some float
differences across CPUs remain (cache-size-dependent blocking of matrix products); tests that train a model
assert what holds for any trained model, each tolerance justified where it is asserted."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["TF_NUM_INTRAOP_THREADS"] = "2"
os.environ["TF_NUM_INTEROP_THREADS"] = "2"
os.environ["TF_DETERMINISTIC_OPS"] = "1"

from converter.tf_runtime import tensorflow  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO / "testdata"


@pytest.fixture(scope="session")
def tf() -> Any:  # noqa: ANN401
    """TensorFlow, imported once and quietly, with op determinism on."""
    t = tensorflow()
    t.config.experimental.enable_op_determinism()
    return t


class LiteRTModel:
    """A .tflite loaded in LiteRT with builtin kernels; ``run`` feeds a batch one sample at a time."""

    def __init__(self, model: bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interpreter = Interpreter(
            model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        self.interpreter.allocate_tensors()
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()

    def run(self, *batches: np.ndarray) -> list[np.ndarray]:
        """One array per model input, first axis = samples; returns one array per output."""
        n = batches[0].shape[0]
        results: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for i in range(n):
            for detail, batch in zip(self.inputs, batches, strict=True):
                self.interpreter.set_tensor(detail["index"], batch[i:i + 1].astype(detail["dtype"]))
            self.interpreter.invoke()
            for k, detail in enumerate(self.outputs):
                results[k].append(self.interpreter.get_tensor(detail["index"]).copy())
        return [np.concatenate(r, axis=0) for r in results]

    def quantization(self, which: str = "output", index: int = 0) -> tuple[float, int]:
        details = self.outputs if which == "output" else self.inputs
        scale, zp = details[index]["quantization"]
        return float(scale), int(zp)


@pytest.fixture(scope="session")
def litert() -> Callable[[bytes], LiteRTModel]:
    return LiteRTModel


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``reference``, in dB."""
    ref = np.asarray(reference, dtype=np.float64)
    noise = ref - np.asarray(test, dtype=np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-30)))


@pytest.fixture(scope="session")
def sqnr() -> Callable[[np.ndarray, np.ndarray], float]:
    return sqnr_db


def run_frozen_graph(graph_def: Any, feeds: dict[str, np.ndarray], fetches: Sequence[str]) -> list[np.ndarray]:  # noqa: ANN401
    """Run a GraphDef in TensorFlow (the float reference)."""
    tf = tensorflow()
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        return sess.run([f if ":" in f else f + ":0" for f in fetches],
                        {(k if ":" in k else k + ":0"): v for k, v in feeds.items()})


@pytest.fixture(scope="session")
def run_graph() -> Callable[..., list[np.ndarray]]:
    return run_frozen_graph


def graph_def_of(build: Callable[[], None]) -> Any:  # noqa: ANN401
    """Build a TF1-style graph with ``build`` (which creates placeholders and ops) and return its GraphDef."""
    tf = tensorflow()
    g = tf.Graph()
    with g.as_default():
        build()
    return g.as_graph_def()


@pytest.fixture(scope="session")
def make_graph_def() -> Callable[[Callable[[], None]], Any]:
    return graph_def_of
