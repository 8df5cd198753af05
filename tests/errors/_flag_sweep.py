"""What the flag sweeps share (test_flag_matrix: every mode x I/O type x dataset kind ...; test_flag_cover: the
newer flags in a covering design): the modes, I/O types and dataset kinds, the QAT graph and the data the runs
read, the replay of the stages that do not depend on the flags swept, and the check of one run's outcome."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LiteRTModel
from tests.errors._support import PREFIX, Models

MODES = {"FLOAT": [], "QUANTIZED_UINT8": ["--inference_type=QUANTIZED_UINT8"], "INT8": ["--inference_type=INT8"],
         "INT16X8": ["--inference_type=INT16X8"], "dynamic": ["--post_training_quantize"],
         "float16": ["--quantize_to_float16"]}
IO_TYPES = [None, "FLOAT", "QUANTIZED_UINT8", "INT8", "INT16X8"]
DATASETS = [None, "npz", "npy", "images"]
_DTYPE = {"FLOAT": np.float32, "QUANTIZED_UINT8": np.uint8, "INT8": np.int8, "INT16X8": np.int16}
EIGHT_BIT = ("QUANTIZED_UINT8", "INT8")


def build_qat_graph(tf: Any) -> Any:  # noqa: ANN401
    """The error tests' conv + matmul graph with fake quant on the input, the weights and the activations."""
    rng = np.random.RandomState(2)
    fq = tf.quantization.fake_quant_with_min_max_vars
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="input")
        q = fq(x, -1.0, 1.0)
        w = fq(tf.constant(rng.uniform(-1, 1, (3, 3, 3, 4)).astype(np.float32)), -1.0, 1.0, narrow_range=True)
        y = tf.nn.conv2d(q, w, 1, "SAME", name="conv")
        y = fq(tf.nn.relu6(tf.nn.bias_add(y, tf.constant(rng.randn(4).astype(np.float32)))), 0.0, 6.0)
        y = tf.reshape(y, [1, -1])
        w2 = fq(tf.constant(rng.uniform(-0.2, 0.2, (256, 5)).astype(np.float32)), -0.2, 0.2, narrow_range=True)
        fq(tf.matmul(y, w2), -8.0, 8.0, name="output")
    return g.as_graph_def()


def make_files(models: Models, root: Path, tf: Any) -> dict[str, Path]:  # noqa: ANN401
    """The sweeps' inputs, by name: the float model ("float"), the QAT graph ("qat"), 6 calibration samples as .npy
    and .npz, and a directory of 4 images."""
    from PIL import Image

    qat = root / "qat.pb"
    qat.write_bytes(build_qat_graph(tf).SerializeToString())
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (6, 8, 8, 3)).astype(np.float32)
    np.save(root / "cal.npy", x)
    np.savez(root / "cal.npz", input=x)
    images = root / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(images / f"{i}.png")
    return {"float": models.graph, "qat": qat, "npy": root / "cal.npy", "npz": root / "cal.npz", "images": images}


def replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import and passes once per model file, calibration once per (data, method, means collected), the uint8
    weights' MSE search once per weight; replay them. (And no fsync of each output, no heap trimming between
    phases: durability and memory, which these runs do not test, cost milliseconds per conversion.)"""
    import converter.pipeline as pipeline
    import converter.quantize.params as params
    import converter.quantize.range_select as range_select

    imports: dict[Any, tuple[bytes, Any]] = {}
    calibrations: dict[Any, tuple[dict[str, Any], Any]] = {}
    searches: dict[bytes, tuple[float, float]] = {}
    real_import, real_calibrate, real_search = pipeline.load_and_import, pipeline.calibrate, params.mse_clip_range
    real_passes = pipeline.PassManager
    passes: list[Any] = []

    def load_and_import(config: Any) -> Any:  # noqa: ANN401
        key = (config.input_path, config.input_arrays, config.output_arrays, config.input_shapes,
               config.reorder_across_fake_quant, config.dedupe_min_bytes, config.drop_fake_quant)
        if key not in imports:
            assert not config.drop_fake_quant, "the replay runs the pass manager alone"
            result = real_import(config)
            phases = pipeline.default_phases(config.reorder_across_fake_quant, config.dedupe_min_bytes)
            stats = real_passes(phases).run(result.graph)
            imports[key] = (pickle.dumps(result), stats)
        data, stats = imports[key]
        passes.append(stats)
        return pickle.loads(data)  # noqa: S301 - our own object, pickled just above

    class OptimizedAlready:
        def __init__(self, *_: Any, **__: Any) -> None:  # noqa: ANN401
            pass

        def run(self, graph: Any) -> Any:  # noqa: ANN401
            return passes.pop()

    def mse_clip_range(x: np.ndarray, *args: Any, **kwargs: Any) -> tuple[float, float]:  # noqa: ANN401
        key = x.tobytes() + repr((x.dtype, x.shape, args, sorted(kwargs.items()))).encode()
        if key not in searches:
            searches[key] = real_search(x, *args, **kwargs)
        return searches[key]

    def calibrate(graph: Any, data: Any, method: Any, progress: Any = None, means_for: Any = (),  # noqa: ANN401
                  on_batch: Callable[[list[np.ndarray]], None] | None = None, propose: Any = (),
                  riders: Any = ()) -> Any:  # noqa: ANN401
        if riders:  # riders take their values in the run itself: nothing to replay
            return real_calibrate(graph, data, method, progress, means_for, on_batch, propose, riders)
        digest = hashlib.sha256()
        for batch in data.batches(64):
            for a in batch:
                digest.update(a.tobytes())
        for t in graph.tensors():  # the weights (--prune and --cluster_weights change them)
            if t.is_const and t.data is not None:
                digest.update(np.ascontiguousarray(t.data).tobytes())
        # The graph is part of the key: the float model and the QAT graph are calibrated on the same data.
        key = (digest.hexdigest(), data.num_samples, method, tuple(sorted(means_for)),
               tuple(sorted(m.value for m in propose)), tuple(sorted(t.name for t in graph.tensors())))
        if key not in calibrations:
            stats = real_calibrate(graph, data, method, progress, means_for, propose=propose)
            calibrations[key] = ({t.name: t.qrange for t in graph.tensors() if t.qrange is not None}, stats)
        ranges, stats = calibrations[key]
        for t in graph.tensors():
            if t.name in ranges and (t.qrange is None or not t.qrange.fake_quant):
                t.qrange = ranges[t.name]
        if on_batch is not None:
            for batch in data.batches(16):
                on_batch(batch)
        return replace(stats)

    monkeypatch.setattr(pipeline, "load_and_import", load_and_import)
    monkeypatch.setattr(pipeline, "PassManager", OptimizedAlready)
    monkeypatch.setattr(pipeline, "calibrate", calibrate)
    monkeypatch.setattr(range_select, "calibrate", calibrate)  # the halves range selection calibrates on
    monkeypatch.setattr(params, "mse_clip_range", mse_clip_range)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(pipeline, "release_free_memory", lambda: None)


def check_outcome(want: int, input_type: str, output_type: str, code: int, err: str, output: Path) -> str | None:
    """None if the run ended as ``want`` says (a model whose I/O types are the ones given, or a one-line typed
    error), else what went wrong."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("qconvert: warning: ")]
    if code != want:
        return f"exit {code}, expected {want}: {err.strip()[:300]}"
    if code:
        if len(lines) != 1 or not lines[0].startswith(PREFIX) or "internal error" in lines[0]:
            return f"not a one-line typed error: {err.strip()[:300]}"
        return None
    if lines:
        return f"a model, but stderr says: {err.strip()[:300]}"
    model = LiteRTModel(output.read_bytes())
    for details, asked in ((model.inputs, input_type), (model.outputs, output_type)):
        if details[0]["dtype"] != _DTYPE[asked]:
            return f"{'input' if details is model.inputs else 'output'} dtype {details[0]['dtype']}, asked {asked}"
    x = np.linspace(-1, 1, 192, dtype=np.float32).reshape(1, 8, 8, 3)
    if model.inputs[0]["dtype"] != np.float32:
        scale, zp = model.quantization("input")
        info = np.iinfo(model.inputs[0]["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max)
    (y,) = model.run(x)
    if not np.all(np.isfinite(y.astype(np.float64))):
        return "LiteRT gave non-finite outputs"
    return None
