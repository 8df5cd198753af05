"""No flag combination reaches an internal error (issue 15). Every mode x input type x output type x dataset kind
(none, .npz, .npy, image directory) x calibration method x mean/std given or not, on a small float model and on a
small QAT graph, plus each weight/precision flag against every mode, I/O type and dataset kind: each run ends in a
model that LiteRT runs with the I/O types asked, or in a one-line typed error with exit code 1 or 2, and which of
the two is predicted by ``expected`` (so a combination that silently stopped working, or started to be refused,
fails too). The newer flags (--optimize, --target_sqnr, --prune, --cluster_weights, --sparsity, --weight_bits,
--bias_correction, --equalize, --weight_rounding, --calibration_method entropy ...) run in a covering design
(``COVER``, ``Cover.predict``): by default every pair of values, and every value in a run that converts; with
``-m slow`` every triple, and every pair (and triple) among the runs that convert.

The default run crosses every dimension with every other except calibration method with the I/O types (the method
only changes the ranges calibration records, the I/O types only the model's edges: minmax runs with every I/O
type, each method with every mode, dataset kind and mean/std): 2,544 of the 6,000 combinations, most of the
added ones usage errors. The whole product runs with ``-m slow``.

The runs go through the CLI's conversion function in this process (``run_conversion``, after click has parsed the
flags: every flag is a plain value here; parsing is tested elsewhere). The stages that do not depend on the flags
swept are computed once per distinct input and replayed, to keep some 4,000 conversions within seconds: import and
passes (a copy of the optimized graph per run), calibration (the ranges it set, by tensor name, keyed by the
graph's tensor names and weights, the dataset's bytes, the method, the tensors whose means it collects and the
methods proposed; ``on_batch`` still sees every batch; range selection's calibration of a half too) and the
MSE search of uint8 weight ranges (a pure function of the weights). A sample of combinations runs as real
processes of the console script, with nothing replayed.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LiteRTModel
from tests.errors._support import PREFIX, Models, run_subprocess

MODES = {"FLOAT": [], "QUANTIZED_UINT8": ["--inference_type=QUANTIZED_UINT8"], "INT8": ["--inference_type=INT8"],
         "INT16X8": ["--inference_type=INT16X8"], "dynamic": ["--post_training_quantize"],
         "float16": ["--quantize_to_float16"]}
IO_TYPES = [None, "FLOAT", "QUANTIZED_UINT8", "INT8", "INT16X8"]
DATASETS = [None, "npz", "npy", "images"]
METHODS = ["minmax", "percentile", "mse"]
STATS = [None, (127.5, 127.5)]
# The weight/precision flags on main; a flag that lands later adds a row here and a rule in ``expected``.
EXTRA_FLAGS = {
    "per_tensor": ["--per_tensor"],
    "equalize": ["--equalize"],
    "no_float_fallback": ["--no_float_fallback"],
    "float_layers": ["--float_layers=conv"],
    "default_ranges": ["--default_ranges_min=-6", "--default_ranges_max=6"],
    "num_calibration_samples": ["--num_calibration_samples=3"],
    "debug_layers": ["--debug_layers"],
    "int16_layers": ["--int16_layers=conv"],
    "default_int16_ranges": ["--default_int16_ranges_min=-8", "--default_int16_ranges_max=8"],
}
_DTYPE = {"FLOAT": np.float32, "QUANTIZED_UINT8": np.uint8, "INT8": np.int8, "INT16X8": np.int16}
_8BIT = ("QUANTIZED_UINT8", "INT8")


@dataclass(frozen=True)
class Combo:
    model: str  # "float" or "qat"
    mode: str
    input_type: str | None
    output_type: str | None
    dataset: str | None
    method: str | None
    stats: tuple[float, float] | None
    extra: str | None = None

    @property
    def quantized(self) -> bool:
        return self.mode in ("QUANTIZED_UINT8", "INT8", "INT16X8")

    def kwargs(self, files: dict[str, Path]) -> dict[str, Any]:
        """The flags as the click command hands them to ``run_conversion``."""
        kw: dict[str, Any] = {"input_file": files[self.model], "quiet": True,
                              "inference_type": "FLOAT" if not self.quantized else self.mode,
                              "post_training_quantize": "true" if self.mode == "dynamic" else None,
                              "quantize_to_float16": "true" if self.mode == "float16" else None,
                              "inference_input_type": self.input_type, "inference_output_type": self.output_type,
                              "representative_dataset": files[self.dataset] if self.dataset else None,
                              "calibration_method": self.method or "minmax"}
        if self.stats:
            kw["mean_values"], kw["std_dev_values"] = str(self.stats[0]), str(self.stats[1])
        return kw

    def args(self, files: dict[str, Path]) -> list[str]:
        out = [f"--input_file={files[self.model]}", *MODES[self.mode]]
        if self.input_type:
            out.append(f"--inference_input_type={self.input_type}")
        if self.output_type:
            out.append(f"--inference_output_type={self.output_type}")
        if self.dataset:
            out.append(f"--representative_dataset={files[self.dataset]}")
        if self.method:
            out.append(f"--calibration_method={self.method}")
        if self.stats:
            out += [f"--mean_values={self.stats[0]}", f"--std_dev_values={self.stats[1]}"]
        if self.extra:
            out += EXTRA_FLAGS[self.extra]
        return out


def expected(c: Combo) -> int:
    """The exit code the combination must give: 0 (a model), 1 (conversion error) or 2 (usage error)."""
    io = (c.input_type, c.output_type)
    if not c.quantized:
        if c.dataset or any(t not in (None, "FLOAT") for t in io) or \
                c.extra in ("debug_layers", "int16_layers", "equalize"):
            return 2  # calibration data, integer I/O, --debug_layers, --int16_layers, --equalize: an integer model
        return 0
    if c.mode == "INT16X8" and (any(t in _8BIT for t in io) or c.extra == "int16_layers"):
        return 2  # an INT16X8 model's inputs and outputs are float or int16; --int16_layers is for 8-bit models
    if c.mode != "INT16X8" and "INT16X8" in io:
        return 2  # int16 inputs and outputs need int16 activations inside
    if c.extra == "debug_layers" and not c.dataset:
        return 2
    if c.stats is not None:
        # The integers mean/std describe: int16 (zero point 0) for int16 inputs, whose scale comes from calibration
        # with images; else pixels with images, else the fed type, else the inference type.
        if c.mode == "INT16X8":
            if c.dataset != "images":
                return 2  # mean 127.5 is not zero point 0
        else:
            units = "QUANTIZED_UINT8" if c.dataset == "images" else \
                (c.input_type if c.input_type in _8BIT else c.mode)
            if units == "INT8":  # zero point 128 is not an int8 value
                return 2
    if c.model == "float" and not c.dataset and c.extra not in ("default_ranges", "default_int16_ranges"):
        return 1  # activations without a range: no calibration data, no fake quant, no default range
    if c.model == "float" and not c.dataset and c.extra == "default_int16_ranges" and c.mode != "INT16X8":
        return 1  # the int16 default range is for int16 arrays only
    return 0


def main_combos(full: bool) -> list[Combo]:
    out = []
    for model, mode, it, ot, ds, st in itertools.product(("float", "qat"), MODES, IO_TYPES, IO_TYPES, DATASETS,
                                                         STATS):
        for method in (METHODS if ds else [None]):
            if full or method in (None, "minmax") or (it, ot) == (None, None):
                out.append(Combo(model, mode, it, ot, ds, method, st))
    return out


def extra_combos() -> list[Combo]:
    out = []
    for model, mode, it, ds, extra in itertools.product(("float", "qat"), MODES, IO_TYPES, (None, "npz"),
                                                        EXTRA_FLAGS):
        out.append(Combo(model, mode, it, it, ds, "minmax" if ds else None, None, extra))
    return out


# ---- the models and data ------------------------------------------------------------------------------------------
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


@pytest.fixture(scope="module")
def files(models: Models, tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Path]:  # noqa: ANN401
    from PIL import Image

    root = tmp_path_factory.mktemp("matrix")
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


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> None:
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
                  on_batch: Callable[[list[np.ndarray]], None] | None = None, propose: Any = ()) -> Any:  # noqa: ANN401
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


# ---- checking one run ---------------------------------------------------------------------------------------------
def check_run(c: Combo, code: int, err: str, output: Path) -> str | None:
    """None if the run did what ``expected`` says, else what went wrong."""
    default = c.mode if c.quantized else "FLOAT"
    return check_outcome(expected(c), c.input_type or default, c.output_type or default, code, err, output)


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


def sweep(capsys: pytest.CaptureFixture[str], combos: Sequence[Combo], files: dict[str, Path],
          out_dir: Path) -> list[str]:
    from cli.main import convert_command, run_conversion

    bases: dict[str | None, dict[str, Any]] = {}  # click's values of the other flags (defaults, the extra flag)
    failures = []
    out = out_dir / "m.tflite"
    for c in combos:
        if c.extra not in bases:
            bases[c.extra] = convert_command.make_context(
                "qconvert", ["--input_file=m.pb", "--output_file=m.tflite", *EXTRA_FLAGS.get(c.extra or "", [])]).params
        out.unlink(missing_ok=True)
        capsys.readouterr()
        try:
            run_conversion({**bases[c.extra], **c.kwargs(files), "output_file": out})
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        problem = check_run(c, code, capsys.readouterr().err, out)
        if problem:
            failures.append(f"{c}: {problem}")
    return failures


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow(reason="6,000 conversions"))],
                         ids=["pairs-of-method-and-io", "full-product"])
def test_every_mode_io_type_dataset_method_and_mean_std(full: bool, capsys: pytest.CaptureFixture[str],
                                                       files: dict[str, Path], out_dir: Path, replayed: None) -> None:
    combos = main_combos(full)
    outcomes = {code: sum(1 for c in combos if expected(c) == code) for code in (0, 1, 2)}
    assert outcomes[0] > 500 and outcomes[1] > 20 and outcomes[2] > 1000, outcomes  # all three outcomes exercised
    failures = sweep(capsys, combos, files, out_dir)
    assert not failures, f"{len(failures)} of {len(combos)} combinations:\n" + "\n".join(failures[:400])


def test_weight_and_precision_flags(capsys: pytest.CaptureFixture[str], files: dict[str, Path], out_dir: Path,
                                    replayed: None) -> None:
    combos = extra_combos()
    failures = sweep(capsys, combos, files, out_dir)
    assert not failures, f"{len(failures)} of {len(combos)} combinations:\n" + "\n".join(failures[:400])


# As real processes of the console script, nothing replayed: issue 15's README image flow by default (its QAT case
# runs in process in the sweep and in test_mean_std), the QAT case and one combination per other outcome and
# dataset kind in the slow run.
_SLOW = pytest.mark.slow(reason="a sample of the matrix in real processes")
SAMPLED = [
    Combo("float", "INT8", None, None, "images", "minmax", (127.5, 127.5)),
    pytest.param(Combo("qat", "INT8", None, None, None, None, (127.5, 127.5)), marks=_SLOW),
    pytest.param(Combo("float", "INT8", "FLOAT", "FLOAT", "images", "mse", (127.5, 127.5)), marks=_SLOW),
    pytest.param(Combo("qat", "QUANTIZED_UINT8", "INT8", "FLOAT", "npz", "percentile", None), marks=_SLOW),
    pytest.param(Combo("float", "QUANTIZED_UINT8", None, None, "npy", None, None), marks=_SLOW),
    pytest.param(Combo("float", "QUANTIZED_UINT8", None, None, None, None, None), marks=_SLOW),
]


@pytest.mark.parametrize("combo", SAMPLED, ids=lambda c: f"{c.model}-{c.mode}-{c.input_type}-{c.dataset}")
def test_sampled_in_a_real_process(combo: Combo, files: dict[str, Path], out_dir: Path) -> None:
    out = out_dir / "m.tflite"
    run = run_subprocess([*combo.args(files), f"--output_file={out}", "-q"])
    problem = check_run(combo, run.code, run.err, out)
    assert problem is None, problem


# ---- the newer flags, in a covering design ----------------------------------------------------------------------
# Each dimension's values (None: the flag left out). A covering array crosses them so that each pair of values of
# any two dimensions (default run) or each triple of any three (slow run) meets in at least one run: a few dozen
# runs for pairs where the full product would be millions. Refusals come early, so a design over every value
# mostly exercises the checks; a second design over the combinations ``predict`` says convert exercises how the
# flags work together.
COVER: dict[str, list[Any]] = {
    "model": ["float", "qat"],
    "mode": list(MODES),
    "input_type": [None, *IO_TYPES[1:]],
    "output_type": [None, *IO_TYPES[1:]],
    "dataset": DATASETS,
    "method": [None, "percentile", "mse", "entropy"],
    "stats": [False, True],
    "optimize": [None, "default", "size", "latency", "accuracy"],
    "target_sqnr": [None, 5.0, 300.0],  # 5 dB: met by the 8-bit model; 300 dB: out of reach (float32 kernels)
    "prune": [None, 0.5],
    "cluster_weights": [None, 4],
    "sparsity": [False, True],
    "weight_bits": [8, 4],
    "bias_correction": [False, True],
    "int16_layers": [False, True],
    "float_layers": [False, True],
    "per_tensor": [False, True],
    "num_calibration_samples": [None, 3],
    "debug_layers": [False, True],
    "equalize": [False, True],
    "weight_rounding": [None, "adaptive"],
}
_SAMPLES = {None: 0, "npz": 6, "npy": 6, "images": 4}  # samples in each dataset (the ``files`` fixture)


class Cover(collections.namedtuple("Cover", list(COVER))):  # type: ignore[misc]
    """One run of the covering design: a value of every ``COVER`` dimension."""

    __slots__ = ()

    def args(self, files: dict[str, Path]) -> list[str]:
        out = [f"--input_file={files[self.model]}", *MODES[self.mode]]
        for name, flag in (("input_type", "inference_input_type"), ("output_type", "inference_output_type"),
                           ("method", "calibration_method"), ("optimize", "optimize"), ("prune", "prune"),
                           ("target_sqnr", "target_sqnr"), ("cluster_weights", "cluster_weights"),
                           ("num_calibration_samples", "num_calibration_samples"),
                           ("weight_rounding", "weight_rounding")):
            if getattr(self, name) is not None:
                out.append(f"--{flag}={getattr(self, name)}")
        if self.dataset:
            out.append(f"--representative_dataset={files[self.dataset]}")
        if self.stats:
            out += ["--mean_values=127.5", "--std_dev_values=127.5"]
        if self.weight_bits != 8:
            out.append(f"--weight_bits={self.weight_bits}")
        for name, flags in (("sparsity", ["--sparsity=auto"]), ("bias_correction", ["--bias_correction"]),
                            ("int16_layers", ["--int16_layers=conv"]), ("float_layers", ["--float_layers=conv"]),
                            ("per_tensor", ["--per_tensor"]), ("debug_layers", ["--debug_layers"]),
                            ("equalize", ["--equalize"])):
            if getattr(self, name):
                out += flags
        return out

    def predict(self) -> tuple[int, str, str]:
        """The exit code the run must give, and the model's input and output types when it is 0."""
        ds, mode = self.dataset, self.mode
        itype = mode if mode in ("QUANTIZED_UINT8", "INT8", "INT16X8") else "FLOAT"
        ptq, fp16 = mode == "dynamic", mode == "float16"
        it, ot = self.input_type, self.output_type
        usage = []
        # --optimize as tf.lite.Optimize: DEFAULT (= SIZE = LATENCY) is dynamic range without data, INT8 with float
        # I/O with it; with --quantize_to_float16 it is float16 (TF's supported_types=[float16]); an explicit
        # quantization mode is kept. accuracy is that INT8 model, tuned on the data.
        if self.optimize is not None:
            usage.append(self.optimize == "accuracy" and (not ds or fp16 or ptq))
            if itype == "FLOAT" and not ptq and not fp16:
                if ds:
                    itype, it, ot = "INT8", it or "FLOAT", ot or "FLOAT"
                else:
                    ptq = True
            usage.append(self.optimize == "accuracy" and self.method is not None)  # it picks per tensor
        q = itype != "FLOAT"
        eight = itype in _8BIT
        given = [t for t in (it, ot) if t not in (None, "FLOAT")]
        usage += [
            self.weight_bits == 4 and (not (q or ptq) or itype in ("QUANTIZED_UINT8", "INT16X8") or fp16),
            self.prune is not None and not ds,
            self.debug_layers and not (q and ds),
            not q and bool(ds) and self.prune is None and self.cluster_weights is None,
            not q and bool(given),  # integer I/O of a float model
            itype == "INT16X8" and any(t in _8BIT for t in given),
            itype != "INT16X8" and "INT16X8" in given,
            self.target_sqnr is not None and not (eight and ds),
            self.bias_correction and not (q and ds),
            self.int16_layers and not eight,
            self.int16_layers and self.float_layers,  # the same layer named twice
            self.method is not None and not (q and ds),  # a calibrator needs data to calibrate
            self.equalize and not q,  # rescaling weights helps integer weights only
            self.weight_rounding is not None and not (q and ds),  # rounding by the output error on the data
        ]
        if q and self.stats:
            if itype == "INT16X8":
                usage.append(ds != "images")  # mean 127.5 is not zero point 0
            else:
                units = "QUANTIZED_UINT8" if ds == "images" else (it if it in _8BIT else itype)
                usage.append(units == "INT8")  # zero point 128 is not an int8 value
        if any(usage):
            return 2, "", ""
        samples = min(_SAMPLES[ds], self.num_calibration_samples or 99)
        error = [
            q and self.model == "float" and not ds,  # activations without a range
            self.target_sqnr is not None and (samples < 5 or self.target_sqnr > 100),  # no hold-out / unreachable
        ]
        if any(error):
            return 1, "", ""
        return 0, it or itype, ot or itype


def covering_rows(strength: int, allowed: Callable[[Cover], bool] = lambda c: True, seed: int = 0,
                  candidates: int = 60) -> list[Cover]:
    """Runs (``Cover``) in which every ``strength``-tuple of values of any ``strength`` dimensions occurs in some
    run that ``allowed`` admits: greedy, each run the best of ``candidates`` random ones (each holding one tuple
    not yet covered, so every run makes progress) by the number of tuples it covers first. A tuple no admitted
    candidate holds counts as covered (it cannot occur)."""
    sizes = np.array([len(v) for v in COVER.values()])
    cols = np.array(list(itertools.combinations(range(len(sizes)), strength)))
    radix = np.ones((len(cols), strength), np.int64)
    for j in range(strength - 2, -1, -1):
        radix[:, j] = radix[:, j + 1] * sizes[cols[:, j + 1]]
    covered = np.zeros((len(cols), int(np.prod(sizes[cols], axis=1).max())), bool)
    for i, c in enumerate(cols):  # slots beyond a tuple of dimensions' own product do not exist
        covered[i, int(np.prod(sizes[c])):] = True
    rng = np.random.default_rng(seed)
    values = list(COVER.values())
    rows: list[Cover] = []
    while not covered.all():
        t, flat = np.argwhere(~covered)[0]
        cand = rng.integers(0, sizes, (candidates * 4, len(sizes)))
        for j in range(strength):
            cand[:, cols[t, j]] = (flat // radix[t, j]) % sizes[cols[t, j]]
        runs = (Cover(*(values[d][k] for d, k in enumerate(r))) for r in cand)
        ok = list(itertools.islice(((i, r) for i, r in enumerate(runs) if allowed(r)), candidates))
        if not ok:
            covered[t, flat] = True
            continue
        keys = (cand[[i for i, _ in ok]][:, cols] * radix).sum(axis=2)  # candidates x column tuples
        best = int(np.argmax((~covered[np.arange(len(cols)), keys]).sum(axis=1)))
        covered[np.arange(len(cols)), keys[best]] = True
        rows.append(ok[best][1])
    return rows


def sweep_runs(capsys: pytest.CaptureFixture[str], runs: Sequence[Cover], files: dict[str, Path],
               out_dir: Path) -> list[str]:
    """Each run's flags parsed by click and converted in this process; what went wrong, per run."""
    from cli.main import convert_command, run_conversion

    out = out_dir / "m.tflite"
    failures = []
    for c in runs:
        out.unlink(missing_ok=True)
        capsys.readouterr()
        try:
            run_conversion(convert_command.make_context("qconvert", [*c.args(files), f"--output_file={out}",
                                                                     "-q"]).params)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        problem = check_outcome(*c.predict(), code, capsys.readouterr().err, out)
        if problem:
            failures.append(f"{' '.join(c.args({k: Path(k) for k in files}))}: {problem}")
    return failures


# By default every pair of values over all values (43 runs, ~5 s) and every value in a converting run (~10 runs);
# with -m slow every triple both ways (~230 + ~220 runs, of which the converting ones take ~2 s each).
@pytest.mark.parametrize("strengths", [(2, 1), pytest.param((3, 2), marks=pytest.mark.slow(reason="~280 runs")),
                                       pytest.param((3, 3), marks=pytest.mark.slow(reason="~450 runs"))],
                         ids=["pairs", "triples-pairs", "triples"])
def test_newer_flags_in_a_covering_design(strengths: tuple[int, int], capsys: pytest.CaptureFixture[str],
                                          files: dict[str, Path], out_dir: Path, replayed: None) -> None:
    """--optimize, --target_sqnr, --prune, --cluster_weights, --sparsity, --weight_bits, --bias_correction,
    --int16_layers, --calibration_method entropy, --equalize, --weight_rounding with the modes, I/O types, datasets
    and the other precision flags: every ``strengths[0]`` values of any as many flags together over all values
    (mostly refusals: each must be a one-line usage error), and every ``strengths[1]`` over the combinations that
    convert (each must give a model LiteRT runs, with the I/O types asked)."""
    every = covering_rows(strengths[0])
    converting = covering_rows(strengths[1], lambda c: c.predict()[0] == 0)
    outcomes = collections.Counter(c.predict()[0] for c in every + converting)
    assert outcomes[0] >= 5 and outcomes[1] >= 1 and outcomes[2] >= 30, outcomes  # all three outcomes exercised
    failures = sweep_runs(capsys, every + converting, files, out_dir)
    assert not failures, f"{len(failures)} of {len(every) + len(converting)} runs:\n" + "\n".join(failures[:200])
