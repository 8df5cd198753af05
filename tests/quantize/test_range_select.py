"""range_select.choose_ranges (--calibration_method percentile / mse / entropy): proposals validated both ways
round on the calibration halves, and every range it does not keep, model outputs included, is all samples'
min/max (exact comparisons with the calibrator's own statistics)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.config import CalibrationMethod
from converter.quantize import range_select
from converter.quantize.calibrate import calibrate
from converter.quantize.dataset import Dataset
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions
from tests.support.ir_models import Layer, build


def _model_and_data() -> tuple[Any, np.ndarray]:  # noqa: ANN401
    """Two dense layers on heavy-tailed inputs (Student t, 2 degrees of freedom): percentile clips every tensor."""
    rng = np.random.default_rng(0)
    model = build((1, 16), [Layer("fully_connected", rng.standard_normal((16, 16)) * 0.3, rng.standard_normal(16)),
                            Layer("fully_connected", rng.standard_normal((4, 16)) * 0.3, None)])
    return model, rng.standard_t(2, (64, 1, 16)).astype(np.float32)[:, 0]


def test_unkept_ranges_and_outputs_are_all_samples_minmax(monkeypatch: pytest.MonkeyPatch, tf: Any) -> None:  # noqa: ANN401
    """Each fold's calibration writes its half's ranges into the graph; afterwards every tensor not kept, and the
    model output (never clipped), has the min/max of all 64 samples (the first fold's half range stayed on the
    output before), and the kept set is what both folds kept."""
    model, x = _model_and_data()
    data = Dataset.in_memory([x], "test")
    full = calibrate(model.graph, data, CalibrationMethod.PERCENTILE)
    calls: list[frozenset[str]] = []
    select = range_select.select_ranges

    def spy(*args: Any, **kw: Any) -> range_select.RangeChoice:  # noqa: ANN401
        choice = select(*args, **kw)
        calls.append(choice.names)
        return choice

    monkeypatch.setattr(range_select, "select_ranges", spy)
    opts = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True,
                           input_dtype=FLOAT32, output_dtype=FLOAT32)
    choice = range_select.choose_ranges(model.graph, opts, data, CalibrationMethod.PERCENTILE, full)
    assert 1 <= len(calls) <= 2 and choice.names == frozenset.intersection(*calls)
    out = model.graph.outputs[0]
    assert (min(out.qrange.min), max(out.qrange.max)) == pytest.approx(full.minmax[out.name], rel=0, abs=0)
    for t in model.graph.tensors():
        if t.name in full.minmax and t.name not in choice.names:
            assert (min(t.qrange.min), max(t.qrange.max)) == pytest.approx(full.minmax[t.name], rel=0, abs=0)
    # The halves' own output ranges differ from all samples' (so the check above can fail).
    halves = [calibrate(model.graph.copy(), Dataset.in_memory([h], "t"), CalibrationMethod.MINMAX).minmax[out.name]
              for h in (x[:32], x[32:])]
    assert all(h != full.minmax[out.name] for h in halves)


def test_gain_and_its_jackknife_standard_error_exact() -> None:
    """gain_db against exact math: the gain is 10 log10 of the summed noise ratio; the jackknife standard error
    is zero when every sample's noise falls by the same factor (each leave-one-out gain equals the gain), and on
    two samples it is |g_1 - g_2| / 2 (n = 2: sqrt(1/2 * 2 (d/2)^2) with d the leave-one-out gains' difference,
    each of which is one sample's own ratio). ``significant`` takes a gain only above both the margin and the
    standard error."""
    plain = np.array([1.0, 4.0, 2.0, 8.0])
    g, se = range_select.gain_db(plain, plain / 10.0)
    assert g == pytest.approx(10.0, abs=1e-12) and se == pytest.approx(0.0, abs=1e-9)
    g, se = range_select.gain_db(np.array([1.0, 1.0]), np.array([0.1, 0.01]))
    assert g == pytest.approx(10 * np.log10(2 / 0.11), abs=1e-12)
    assert se == pytest.approx(abs(10 * np.log10(1 / 0.01) - 10 * np.log10(1 / 0.1)) / 2, abs=1e-12)  # 5 dB
    assert range_select.gain_db(plain, np.array([1.0, np.inf, 1.0, 1.0]))[0] == -np.inf  # LiteRT refused it
    margin = range_select.MEASURED_MARGIN_DB
    assert range_select.significant(margin + 0.1, margin) and not range_select.significant(margin + 0.1, margin + 0.2)
    assert not range_select.significant(margin - 0.01, 0.0)
