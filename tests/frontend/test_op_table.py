"""docs/ops.md row by row: each row's probe (a one-op tf.function, tests/support/op_probes) is saved as a SavedModel
signature, converted by qconvert (and by TensorFlow's converter where a comparison needs it) and run in LiteRT.

* FLOAT: within 1e-5 of TensorFlow (relative, or of the output's largest magnitude): float32 kernels differ from
  TensorFlow's only in summation order and in their exp/log/sin approximations, a few float32 ulp (~1e-7).
  Random ops are compared with TensorFlow's converted model (LiteRT's generator is not TensorFlow's).
* A row whose op qconvert has no handler for must be refused with one line naming the op (xfail: not converted
  yet); a variant marked ``refuse`` must be refused with its one-line reason.
* INT8 with float I/O (default run: one or more probes per op family; slow run: all): the model's inputs and outputs
  keep their types; SQNR at least TensorFlow's - 0.5 dB wherever TensorFlow's INT8 model runs the op's builtins as
  integer kernels; both calibrate on the same samples and are measured on 16 others.
* docs/ops.md is what docs/make_ops_table.py generates from the same conversions.
* Coverage: >= 97% of the rows convert in FLOAT and >= 95% of those TensorFlow quantizes run integer kernels.
* Slow: TensorFlow 2.21 still writes the builtins converter/frontend/legalizations.py records for each row.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import InferenceType
from converter.errors import UnsupportedOpsError
from converter.frontend.legalizations import BY_OP, LEGALIZATIONS
from converter.frontend.registry import HANDLERS, load_handlers
from tests.support import op_runner
from tests.support.op_probes import PROBES, VARIANTS, Probe

REPO = Path(__file__).resolve().parents[2]
FAST = [*PROBES.values(), *(v for vs in VARIANTS.values() for v in vs if not v.slow)]
SLOW = [v for vs in VARIANTS.values() for v in vs if v.slow]
BY_KEY = {p.key: p for p in (*FAST, *SLOW)}
SQNR_MARGIN_DB = 0.5


def _params(probes: list[Probe], slow: bool = False) -> list[Any]:
    return [pytest.param(p.key, id=p.key, marks=[pytest.mark.slow] if slow else []) for p in probes]


@pytest.fixture(scope="module")
def fast_set(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> op_runner.ProbeSet:  # noqa: ANN401
    load_handlers()
    return op_runner.ProbeSet(tf, FAST, tmp_path_factory.mktemp("op_probes"))


@pytest.fixture(scope="module")
def slow_set(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> op_runner.ProbeSet:  # noqa: ANN401
    load_handlers()
    return op_runner.ProbeSet(tf, SLOW, tmp_path_factory.mktemp("op_probes_slow"))


def _set_for(key: str, request: pytest.FixtureRequest) -> op_runner.ProbeSet:
    return request.getfixturevalue("slow_set" if BY_KEY[key].slow else "fast_set")


def _graph_ops(fn: Any) -> set[str]:  # noqa: ANN401 - ConcreteFunction
    gd = fn.graph.as_graph_def()
    return {n.op for n in gd.node} | {n.op for f in gd.library.function for n in f.node_def}


def _assert_one_line_naming(error: Exception, op: str) -> None:
    msg = str(error)
    assert "\n" not in msg, f"multi-line error: {msg!r}"
    assert re.search(rf"\b{re.escape(op)}\b", msg), f"the error does not name {op}: {msg}"


def _reference(key: str, ps: op_runner.ProbeSet, tf: Any) -> dict[str, list[np.ndarray]]:  # noqa: ANN401
    t = ps.traced[key]
    if t.probe.reference == "eager":
        return t.expected
    return op_runner.run_litert(ps.tf_float(key), op_runner.signature_key(key), t.feeds())


def _assert_matches(key: str, got: dict[str, list[np.ndarray]], expected: dict[str, list[np.ndarray]]) -> None:
    assert set(got) == set(expected), f"{key}: outputs {sorted(got)} vs {sorted(expected)}"
    for name, refs in expected.items():
        for i, (ref, out) in enumerate(zip(refs, got[name], strict=True)):
            assert out.shape == ref.shape and out.dtype == ref.dtype, \
                f"{key} {name}[{i}]: {out.dtype}{list(out.shape)} vs TensorFlow's {ref.dtype}{list(ref.shape)}"
            if np.issubdtype(ref.dtype, np.floating):
                finite = ref[np.isfinite(ref)]
                scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
                np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * scale, equal_nan=True,
                                           err_msg=f"{key} {name}[{i}]")
            else:
                np.testing.assert_array_equal(out, ref, err_msg=f"{key} {name}[{i}]")


def check_float(key: str, ps: op_runner.ProbeSet, tf: Any) -> None:  # noqa: ANN401
    """The FLOAT contract of probe ``key`` (see the module docstring); raises AssertionError, or calls
    pytest.xfail for an op qconvert has no handler for yet. The outcome is kept: the coverage test reuses it."""
    if key not in ps.outcomes:
        try:
            _check_float(key, ps, tf)
            ps.outcomes[key] = None
        except (AssertionError, pytest.xfail.Exception) as e:
            ps.outcomes[key] = e
    if ps.outcomes[key] is not None:
        raise ps.outcomes[key]


def _check_float(key: str, ps: op_runner.ProbeSet, tf: Any) -> None:  # noqa: ANN401
    t = ps.traced[key]
    probe = t.probe
    assert t.error is None, f"{key}: {t.error}"
    assert probe.op in _graph_ops(t.fn), f"{key}: the probe's graph has no {probe.op} op: {sorted(_graph_ops(t.fn))}"
    c = ps.float(key)
    if probe.refuse is not None:
        assert c.error is not None, f"{key}: converted, but expected a refusal matching {probe.refuse!r}"
        assert re.search(probe.refuse, str(c.error)), f"{key}: {c.error}"
        assert "\n" not in str(c.error)
        return
    if c.error is not None:
        if probe.op not in HANDLERS:
            assert isinstance(c.error, UnsupportedOpsError), f"{key}: {c.error}"
            _assert_one_line_naming(c.error, probe.op)
            pytest.xfail(f"qconvert has no handler for {probe.op} yet")
        raise AssertionError(f"{key}: {c.error}")
    ins, outs = op_runner.io_types(c.tflite)
    assert ins == [np.dtype(a.dtype).name for a in t.cal], f"{key}: input types {ins}"
    assert outs == [np.dtype(v[0].dtype).name for v in t.expected.values()], f"{key}: output types {outs}"
    got = op_runner.run_litert(c.tflite, op_runner.signature_key(key), t.feeds())
    _assert_matches(key, got, _reference(key, ps, tf))


def _expect_gap(gap: str, check: Any) -> None:  # noqa: ANN401
    """Run ``check``; with a known gap its failure is expected (xfail) and its success an error (remove the gap)."""
    if not gap:
        check()
        return
    try:
        check()
    except AssertionError as e:
        pytest.xfail(f"known gap: {gap} ({str(e).splitlines()[0]})")
    raise AssertionError(f"fixed: remove the known gap {gap!r} from the probe")


@pytest.mark.parametrize("key", [*_params(FAST), *_params(SLOW, slow=True)])
def test_float(key: str, request: pytest.FixtureRequest, tf: Any) -> None:  # noqa: ANN401
    ps = _set_for(key, request)
    _expect_gap(ps.traced[key].probe.float_gap, lambda: check_float(key, ps, tf))


INT8_DEFAULT = [p for p in FAST if p.int8]
INT8_SLOW = [p for p in (*FAST, *SLOW) if not p.int8 and p.refuse is None]


@pytest.mark.parametrize("key", [*_params(INT8_DEFAULT), *_params(INT8_SLOW, slow=True)])
def test_int8(key: str, request: pytest.FixtureRequest, tf: Any) -> None:  # noqa: ANN401
    ps = _set_for(key, request)
    _expect_gap(ps.traced[key].probe.int8_gap, lambda: check_int8(key, ps, tf))


def check_int8(key: str, ps: op_runner.ProbeSet, tf: Any) -> None:  # noqa: ANN401
    """The INT8 contract of probe ``key`` (see the module docstring)."""
    t = ps.traced[key]
    assert t.error is None, t.error
    if not t.quantizable:
        pytest.skip(f"INT8 does not apply: {t.int8_inapplicable}")
    if t.probe.op not in HANDLERS:
        pytest.xfail(f"qconvert has no handler for {t.probe.op} yet")
    single = ps.single(key)
    c = op_runner.qconvert(single, t, ps.workdir, InferenceType.INT8)
    assert c.error is None, f"{key}: {c.error}"
    ins, outs = op_runner.io_types(c.tflite)
    # Float inputs and outputs stay float (asked with --inference_input_type/--inference_output_type=FLOAT);
    # integer and bool ones keep their type.
    assert ins == [np.dtype(a.dtype).name for a in t.cal], f"{key}: input types {ins}"
    assert outs == [np.dtype(v[0].dtype).name for v in t.expected.values()], f"{key}: output types {outs}"
    sig = op_runner.signature_key(key)
    reference = _reference(key, ps, tf)
    got = op_runner.run_litert(c.tflite, sig, t.feeds())
    ours = op_runner.outputs_sqnr(reference, got)
    try:
        tf_model = op_runner.tf_convert(tf, single, t, int8=True)
    except Exception as e:  # noqa: BLE001 - TensorFlow's converter fails (e.g. Atan2 with broadcasting)
        # No reference model: the 30 dB bound below for ops TensorFlow keeps float (8-bit rounding of the inputs).
        assert ours >= 30.0, f"{key}: INT8 SQNR {ours:.2f} dB (TensorFlow's converter fails on the probe)"
        pytest.skip(f"TensorFlow's INT8 conversion fails ({type(e).__name__}); qconvert's: {ours:.1f} dB")
    tf_ints, _ = op_runner.quantized_ops(tf_model)
    row = BY_OP.get(t.probe.op)
    tf_quantizes = row is not None and bool(set(row.builtins) & set(tf_ints))
    try:
        theirs = op_runner.outputs_sqnr(reference, op_runner.run_litert(tf_model, sig, t.feeds()))
    except (RuntimeError, ValueError) as e:  # TensorFlow's INT8 model fails in LiteRT (e.g. int8 DIV by zero)
        assert np.isfinite(ours), f"{key}: qconvert's INT8 model gives non-finite results"
        pytest.skip(f"TensorFlow's INT8 model fails in LiteRT ({str(e).splitlines()[0]}); qconvert's: {ours:.1f} dB")
    if tf_quantizes:
        assert ours >= theirs - SQNR_MARGIN_DB, f"{key}: INT8 SQNR {ours:.2f} dB vs TensorFlow's {theirs:.2f} dB"
    else:
        # TensorFlow keeps the op float. Where qconvert runs it as an integer kernel its error is 8-bit rounding of
        # the input and output grids (~40 dB each on the probes' Gaussian data): 30 dB leaves room for ops that
        # stretch the error (division, exp); where qconvert keeps it float too, both are near float precision.
        assert ours >= min(theirs - SQNR_MARGIN_DB, 30.0), \
            f"{key}: INT8 SQNR {ours:.2f} dB (TensorFlow keeps the op float: {theirs:.2f} dB)"


@functools.cache
def _make_ops_table() -> Any:  # noqa: ANN401 - the docs script as a module
    spec = importlib.util.spec_from_file_location("make_ops_table", REPO / "docs" / "make_ops_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def row_statuses(fast_set: op_runner.ProbeSet) -> list[Any]:
    gen = _make_ops_table()
    results = {op: fast_set.float(op) for op in PROBES if fast_set.traced[op].error is None}
    return gen.statuses_for(results)


def test_ops_md_is_generated(row_statuses: list[Any]) -> None:
    """docs/ops.md is exactly what `python docs/make_ops_table.py` writes for the code as it is."""
    text = _make_ops_table().render(row_statuses)
    assert (REPO / "docs" / "ops.md").read_text() == text, \
        "docs/ops.md is stale: run python docs/make_ops_table.py and commit it"


def test_every_row_has_a_probe_or_no_handler() -> None:
    """A row without a probe is one nobody converts yet: qconvert has no handler for it."""
    load_handlers()
    unprobed = [r.op for r in LEGALIZATIONS if r.op not in PROBES and r.op in HANDLERS]
    assert not unprobed, f"rows with a handler but no probe in tests/support/op_probes: {unprobed}"


def test_coverage(row_statuses: list[Any], fast_set: op_runner.ProbeSet, tf: Any,
                  request: pytest.FixtureRequest) -> None:  # noqa: ANN401
    """>= 97% of the rows convert in FLOAT (and match TensorFlow); >= 95% of the rows TensorFlow quantizes run
    integer kernels in INT8."""
    float_ok = 0
    for s in row_statuses:
        if not s.converts:
            continue
        try:
            check_float(s.row.op, fast_set, tf)
            float_ok += 1
        except (AssertionError, pytest.xfail.Exception):
            pass
    cov = _make_ops_table().coverage(row_statuses)
    line = (f"op table coverage: {len(row_statuses)} rows; FLOAT {float_ok} ({100 * float_ok / len(row_statuses):.1f}%)"
            f" convert and match TensorFlow; INT8 {cov.int8_ok} of {cov.tf_quantized} rows TensorFlow quantizes "
            f"({cov.int8_pct:.1f}%) run integer kernels")
    request.config.stash.setdefault(op_runner.COVERAGE_KEY, []).append(line)
    assert float_ok >= 0.97 * len(row_statuses), line
    assert cov.int8_ok >= 0.95 * cov.tf_quantized, line


@pytest.mark.slow
@pytest.mark.parametrize("op", [r.op for r in LEGALIZATIONS if r.op in PROBES])
def test_tensorflow_writes_the_recorded_builtins(op: str, fast_set: op_runner.ProbeSet, tf: Any) -> None:  # noqa: ANN401
    """converter/frontend/legalizations.py matches TensorFlow 2.21: the builtins it writes for the row's probe
    (besides the probe's context ops) and whether its INT8 conversion runs them as integer kernels."""
    row, t = BY_OP[op], fast_set.traced[op]
    model = fast_set.tf_float(op)
    assert sorted(set(op_runner.builtins_of(model)) - set(t.probe.context)) == sorted(row.builtins)
    if t.quantizable and row.builtins and not set(row.builtins) <= {"QUANTIZE", "DEQUANTIZE"}:
        ints, _ = op_runner.quantized_ops(op_runner.tf_convert(tf, fast_set.single(op), t, int8=True))
        q = set(row.builtins) & set(ints)
        assert row.tf_int8 == ("yes" if q == set(row.builtins) else "partial" if q else "no")

