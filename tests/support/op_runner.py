"""Run the op probes (tests/support/op_probes): trace each as a tf.function, save them as signatures of SavedModels,
convert with qconvert (and, where asked, with TensorFlow's converter) and run the results in LiteRT.

Shared by tests/frontend/test_op_table.py and docs/make_ops_table.py, so the table shows exactly what the test
checks. Models are fed one sample at a time through their signature (inputs and outputs by name)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig, InferenceType, InputFormat
from converter.errors import QConvertError
from converter.pipeline import ConversionResult, convert

from tests.conftest import sqnr_db

from .op_probes import Probe

# The probe test's coverage line, printed at the end of the run (tests/frontend/conftest.py).
COVERAGE_KEY = pytest.StashKey[list[str]]()
N_CAL = 32    # calibration samples (both converters get the same ones)
N_EVAL = 16   # held-out samples every comparison is made on


@dataclass
class Traced:
    """A probe as a concrete function, its data and TensorFlow's (eager) outputs on the held-out samples."""

    probe: Probe
    fn: Any = None  # ConcreteFunction
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    cal: list[np.ndarray] = field(default_factory=list)
    eval: list[np.ndarray] = field(default_factory=list)
    # Per output: one array per held-out sample (outputs such as Unique's vary in shape with the data).
    expected: dict[str, list[np.ndarray]] = field(default_factory=dict)
    error: str | None = None  # the probe cannot be traced (a bug in the probe, reported by the test)

    @property
    def key(self) -> str:
        return self.probe.key

    @property
    def int8_inapplicable(self) -> str | None:
        """Why INT8 does not apply to this probe, or None: it needs a float input, finite sample data and results
        (TF's calibrator aborts on inf/NaN) and a batch axis of 1 on every input (qconvert's representative
        datasets stack samples along the batch axis)."""
        floats = [a for a in self.cal if np.issubdtype(a.dtype, np.floating)]
        if not floats:
            return "no float input"
        if not all(np.all(np.isfinite(a)) for a in floats):
            return "non-finite sample data"
        if not all(np.all(np.isfinite(v)) for vs in self.expected.values() for v in vs
                   if np.issubdtype(v.dtype, np.floating)):
            return "non-finite results (no 8-bit grid holds inf or NaN)"
        if not all(len(s.shape) > 0 and s.shape[0] == 1 for s in self.probe.inputs):
            return "an input without a batch axis of 1"
        return None

    @property
    def quantizable(self) -> bool:
        return self.int8_inapplicable is None

    def feeds(self, which: str = "eval") -> list[dict[str, np.ndarray]]:
        arrays = self.eval if which == "eval" else self.cal
        return [{n: a[i] for n, a in zip(self.input_names, arrays, strict=True)} for i in range(len(arrays[0]))]


def signature_key(key: str) -> str:
    """A SavedModel signature key for a probe key (letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def trace(tf: Any, probe: Probe) -> Traced:  # noqa: ANN401
    """The probe's concrete function (inputs x0, x1 ...; outputs y0, y1 ...), its data and eager outputs."""
    t = Traced(probe)
    names = tuple(f"x{i}" for i in range(len(probe.inputs)))
    specs = [tf.TensorSpec(spec.shape, tf.as_dtype(spec.dtype), name=n) for n, spec in zip(names, probe.inputs,
                                                                                           strict=True)]

    def fn(*args: Any) -> dict[str, Any]:  # noqa: ANN401
        out = probe.build(tf, *args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        outs = [o for item in outs for o in (item if isinstance(item, (tuple, list)) else (item,))]
        return {f"y{i}": o for i, o in enumerate(outs)}

    try:
        t.fn = tf.function(fn, autograph=False).get_concrete_function(*specs)
    except Exception as e:  # noqa: BLE001 - any tracing failure is the probe's bug; the test reports it
        t.error = f"cannot trace the probe: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        return t
    t.input_names = names
    t.output_names = tuple(sorted(t.fn.structured_outputs, key=lambda k: int(k[1:])))
    t.cal = probe.data(N_CAL, 0)
    t.eval = probe.data(N_EVAL, 1)
    per_sample = [t.fn(*[tf.constant(a[i]) for a in t.eval]) for i in range(N_EVAL)]
    t.expected = {k: [np.asarray(s[k]) for s in per_sample] for k in t.output_names}
    return t


def save(tf: Any, traced: Sequence[Traced], path: Path) -> Path:  # noqa: ANN401
    """One SavedModel holding every traced probe as a signature keyed by ``signature_key(probe.key)``."""
    module = tf.Module()
    sigs = {}
    for i, t in enumerate(traced):
        if t.fn is None:
            continue
        setattr(module, f"f{i}", t.fn)
        sigs[signature_key(t.key)] = t.fn
    tf.saved_model.save(module, str(path), signatures=sigs)
    return path


@dataclass
class Converted:
    """One conversion by qconvert: the result, or the error it raised (one line)."""

    result: ConversionResult | None = None
    error: QConvertError | None = None

    @property
    def tflite(self) -> bytes:
        assert self.result is not None
        return self.result.tflite


def qconvert(saved_model: Path, t: Traced, workdir: Path, mode: InferenceType = InferenceType.FLOAT,
             **kw: Any) -> Converted:  # noqa: ANN401
    """Convert probe ``t`` (a signature of ``saved_model``) with qconvert, in process. INT8 takes float inputs and
    outputs and calibrates on the probe's calibration samples."""
    key = signature_key(t.key)
    extra: dict[str, Any] = {}
    if mode is not InferenceType.FLOAT:
        data = workdir / f"{key}.cal.npz"
        # Samples along the batch axis: [N, 1, ...] -> [N, ...].
        np.savez(data, **{n: a.reshape(a.shape[0], *a.shape[2:]) for n, a in zip(t.input_names, t.cal, strict=True)})
        extra = {"inference_type": mode, "inference_input_type": InferenceType.FLOAT,
                 "inference_output_type": InferenceType.FLOAT, "representative_dataset": data}
    cfg = ConversionConfig(input_path=saved_model, output_path=workdir / f"{key}.tflite",
                           input_format=InputFormat.SAVED_MODEL, saved_model_signature_key=key, **extra, **kw)
    try:
        return Converted(result=convert(cfg))
    except QConvertError as e:
        return Converted(error=e)


def tf_convert(tf: Any, saved_model: Path, t: Traced, int8: bool = False) -> bytes:  # noqa: ANN401
    """TensorFlow's converter on the same signature (builtin ops only); INT8 with float I/O on the same
    calibration samples."""
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[signature_key(t.key)])
    if int8:
        feeds = t.feeds("cal")

        def representative() -> Any:  # noqa: ANN401
            yield from ({k: v for k, v in f.items()} for f in feeds)

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
    return conv.convert()


def run_litert(model: bytes, key: str, feeds: Sequence[dict[str, np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Run the model's signature ``key`` on each feed (LiteRT, builtin kernels only); per output name, one array
    per feed."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    sigs = it.get_signature_list()
    runner = it.get_signature_runner(key if key in sigs else None)
    outs: dict[str, list[np.ndarray]] = {}
    for f in feeds:
        for k, v in runner(**f).items():
            outs.setdefault(k, []).append(np.array(v))
    return outs


def io_types(model: bytes) -> tuple[list[str], list[str]]:
    """The dtypes of the model's first subgraph's inputs and outputs (lower-case TensorType names)."""
    from converter.inspect_model import describe

    sg = describe(model).subgraphs[0]
    return ([sg.tensors[i].dtype for i in sg.inputs], [sg.tensors[i].dtype for i in sg.outputs])


def builtins_of(model: bytes) -> list[str]:
    """The operators a .tflite uses (every subgraph), sorted."""
    from converter.inspect_model import describe

    return sorted({o.op for sg in describe(model).subgraphs for o in sg.operators})


def quantized_ops(model: bytes) -> tuple[list[str], list[str]]:
    """The operators (other than QUANTIZE/DEQUANTIZE) of a quantized model that run with integer activations, and
    those that touch float32 tensors."""
    from converter.inspect_model import describe

    ints, floats = set(), set()
    for sg in describe(model).subgraphs:
        for o in sg.operators:
            if o.op in ("QUANTIZE", "DEQUANTIZE"):
                continue
            dts = [sg.tensors[i].dtype for i in (*o.inputs, *o.outputs) if i >= 0]
            (floats if "float32" in dts else ints).add(o.op)
    return sorted(ints), sorted(floats)


def outputs_sqnr(expected: dict[str, list[np.ndarray]], got: dict[str, list[np.ndarray]]) -> float:
    """SQNR over every output of every sample together, as float64 (an index or a bool that differs counts by how
    far it is off)."""
    ref = np.concatenate([a.reshape(-1).astype(np.float64) for k in expected for a in expected[k]])
    out = np.concatenate([a.reshape(-1).astype(np.float64) for k in expected for a in got[k]])
    return sqnr_db(ref, out)


class ProbeSet:
    """Probes traced and saved once (one SavedModel, a signature each); conversions made on first use and kept.
    TensorFlow's converter gets a SavedModel of the probe alone (loading one with every signature is slow)."""

    def __init__(self, tf: Any, probes: Sequence[Probe], workdir: Path) -> None:  # noqa: ANN401
        self.tf = tf
        self.workdir = workdir
        self.traced = {p.key: trace(tf, p) for p in probes}
        self.saved = save(tf, list(self.traced.values()), workdir / "probes")
        self._float: dict[str, Converted] = {}
        self._single: dict[str, Path] = {}
        self._tf_float: dict[str, bytes] = {}
        # Outcomes of checks made on the probes (None: passed; else the exception), kept for later tests.
        self.outcomes: dict[str, BaseException | None] = {}

    def float(self, key: str) -> Converted:
        """qconvert's FLOAT conversion of probe ``key``."""
        if key not in self._float:
            self._float[key] = qconvert(self.saved, self.traced[key], self.workdir)
        return self._float[key]

    def single(self, key: str) -> Path:
        """A SavedModel holding only probe ``key``."""
        if key not in self._single:
            self._single[key] = save(self.tf, [self.traced[key]], self.workdir / f"single_{signature_key(key)}")
        return self._single[key]

    def tf_float(self, key: str) -> bytes:
        """TensorFlow's FLOAT conversion of probe ``key``."""
        if key not in self._tf_float:
            self._tf_float[key] = tf_convert(self.tf, self.single(key), self.traced[key])
        return self._tf_float[key]
