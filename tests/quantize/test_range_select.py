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
