"""A float32 model whose weights exceed the 2 GiB a flatbuffer can address: a stack of large dense layers, saved as a
TF2 SavedModel. Built one layer at a time (each variable from a seeded numpy array that is dropped at once), so
building takes about the weights' size in memory. Used by the slow test in tests/errors/test_large_model.py and by
bench/large_model.py.

    python -m tests.support.large_model DIR [--layers 9] [--width 8192]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np

LAYERS, WIDTH = 9, 8192  # 9 x 8192 x 8192 float32 = 2.25 GiB of weights


def weight_bytes(layers: int = LAYERS, width: int = WIDTH) -> int:
    return layers * (width * width + width) * 4


def build(path: Path, layers: int = LAYERS, width: int = WIDTH, seed: int = 0) -> None:
    """``layers`` x (MatMul [width, width] + bias + ReLU, the last without ReLU) with He-scaled normal weights
    (activations keep their scale through the stack), signature ``serving_default``: x float32[1, width] -> y."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    class Stack(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernels, self.biases = [], []
            for _ in range(layers):
                w = rng.standard_normal((width, width), dtype=np.float32)
                w *= np.float32(np.sqrt(2.0 / width))
                self.kernels.append(tf.Variable(w))
                del w
                self.biases.append(tf.Variable(rng.uniform(-0.1, 0.1, width).astype(np.float32)))

        @tf.function(input_signature=[tf.TensorSpec([1, width], tf.float32, name="x")])
        def __call__(self, x: Any) -> dict[str, Any]:  # noqa: ANN401
            for i, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
                x = tf.matmul(x, w) + b
                if i < layers - 1:
                    x = tf.nn.relu(x)
            return {"y": x}

    model = Stack()
    tf.saved_model.save(model, str(path))


def inputs(n: int, width: int = WIDTH, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, width)).astype(np.float32)


def litert_outputs(tflite: Path, x: np.ndarray) -> np.ndarray:
    """The model at ``tflite`` (memory-mapped by LiteRT, builtin kernels) on each sample of ``x``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(tflite), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    rows = []
    for sample in x:
        it.set_tensor(it.get_input_details()[0]["index"], sample)
        it.invoke()
        rows.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return np.concatenate(rows)


def tensorflow_outputs(saved_model: Path, x: np.ndarray) -> np.ndarray:
    """The SavedModel run by TensorFlow on each sample of ``x`` (the float reference)."""
    from converter.tf_runtime import tensorflow

    tf = tensorflow()
    fn = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    return np.concatenate([fn(x=tf.constant(sample))["y"].numpy() for sample in x])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path)
    p.add_argument("--layers", type=int, default=LAYERS)
    p.add_argument("--width", type=int, default=WIDTH)
    a = p.parse_args()
    build(a.dir, a.layers, a.width)
    print(f"wrote {a.dir} ({weight_bytes(a.layers, a.width) / 2**30:.2f} GiB of float32 weights)")


if __name__ == "__main__":
    main()
