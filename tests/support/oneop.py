"""One-op models for the op tests: a TF1 graph built from placeholders, its TensorFlow result as the reference,
qconvert's (and, for INT8 comparisons, TensorFlow's converter's) .tflite run in LiteRT with builtin kernels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter.config import ConversionConfig, InferenceType
from converter.pipeline import convert
from converter.tf_runtime import tensorflow

Builder = Callable[..., Any]


@dataclass(frozen=True)
class Spec:
    """One model input: dtype name and shape."""

    dtype: str
    shape: tuple[int, ...]


@dataclass
class OneOp:
    path: Path
    names: tuple[str, ...]
    feeds: list[np.ndarray]  # one array per input, first axis = samples
    expected: list[np.ndarray]  # TensorFlow's output for each sample (shapes may differ between samples)


def build(root: Path, name: str, specs: Sequence[Spec], fn: Builder, feeds: Sequence[np.ndarray]) -> OneOp:
    """Freeze ``fn(*placeholders)`` as ``root/name.pb`` (output node 'out') and run it in TensorFlow on each sample of
    ``feeds`` (arrays with a leading sample axis)."""
    tf = tensorflow()
    g = tf.Graph()
    names = tuple(f"in{i}" for i in range(len(specs)))
    with g.as_default():
        phs = [tf.compat.v1.placeholder(tf.as_dtype(s.dtype), s.shape, name=n) for s, n in zip(specs, names, strict=True)]
        tf.identity(fn(*phs), name="out")
    n = len(feeds[0])
    with tf.compat.v1.Session(graph=g) as sess:
        outs = [sess.run("out:0", {f"{k}:0": f[i] for k, f in zip(names, feeds, strict=True)}) for i in range(n)]
    path = root / f"{name}.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    # qconvert's datasets put samples on the batch axis of batch-1 inputs, whole values for the others.
    np.savez(root / f"{name}.npz", **{k: f[:, 0] if s.shape and s.shape[0] == 1 else f
                                      for k, f, s in zip(names, feeds, specs, strict=True)})
    return OneOp(path, names, list(feeds), outs)


Case = tuple[Sequence[Spec], Sequence[np.ndarray], Builder]  # input specs, feeds, fn(tf, *inputs)


def build_all(root: Path, cases: dict[str, Case]) -> dict[str, OneOp]:
    """``build`` for every case; each builder also receives TensorFlow first."""
    tf = tensorflow()
    return {name: build(root, name, specs, lambda *xs, f=fn: f(tf, *xs), feeds)
            for name, (specs, feeds, fn) in cases.items()}


def check_float(op: OneOp) -> None:
    """qconvert's FLOAT model of ``op`` matches TensorFlow in LiteRT."""
    assert_float_match(run_litert(qconvert(op), op), op.expected)


def qconvert(op: OneOp, **kw: Any) -> bytes:  # noqa: ANN401
    return convert(ConversionConfig(input_path=op.path, output_path=op.path.with_suffix(".tflite"),
                                    input_arrays=op.names, output_arrays=("out",), **kw)).tflite


def qconvert_int8(op: OneOp, **kw: Any) -> bytes:  # noqa: ANN401
    return qconvert(op, inference_type=InferenceType.INT8, inference_input_type=InferenceType.FLOAT,
                    inference_output_type=InferenceType.FLOAT, representative_dataset=op.path.with_suffix(".npz"), **kw)


def tf_convert_int8(op: OneOp) -> bytes:
    """TensorFlow's converter on the same frozen graph: INT8 with float I/O, calibrated on the same samples."""
    tf = tensorflow()
    shapes = {n: list(f.shape[1:]) for n, f in zip(op.names, op.feeds, strict=True)}
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(op.path), list(op.names), ["out"], shapes)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def data() -> Any:  # noqa: ANN401
        for i in range(len(op.feeds[0])):
            yield [f[i] for f in op.feeds]

    conv.representative_dataset = data
    return bytes(conv.convert())


def run_litert(model: bytes, op: OneOp) -> list[np.ndarray]:
    """Run ``model`` on each sample of ``op`` (inputs matched by name); the output of each sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    ins = it.get_input_details()
    by_name = dict(zip(op.names, op.feeds, strict=True))
    out = it.get_output_details()[0]["index"]
    results = []
    for i in range(len(op.feeds[0])):
        for d in ins:
            it.set_tensor(d["index"], np.asarray(by_name[d["name"]][i], d["dtype"]))
        it.invoke()
        results.append(it.get_tensor(out).copy())
    return results


def assert_float_match(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> None:
    """FLOAT, per sample: the same float32 ops in another order agree to ~1e-6 relative; 1e-5 leaves room for
    kernels that sum in another order. Integer and bool results are exact."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape, f"shape {g.shape}, expected {e.shape}"
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(g, e)
        else:
            scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * scale)


def sqnr_db(got: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> float:
    ref = np.concatenate([np.ravel(e) for e in expected]).astype(np.float64)
    noise = ref - np.concatenate([np.ravel(g) for g in got]).astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-30)))
