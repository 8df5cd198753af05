"""The ranking rule's arithmetic (converter/debug_layers.py, module docstring): the measured gain's standard error
as a prediction for one more calibration, and the order layers are measured in. Exact math on made-up noise
energies; no model is converted."""

from __future__ import annotations

import numpy as np

from converter.debug_layers import Measured, bar, measurement_order
from converter.quantize.sensitivity import Effect, jackknife_gain_db


def test_measured_standard_error_counts_the_spread_between_calibrations() -> None:
    """se^2 = s^2 + (1 + 1/K) tau^2, tau^2 = max(0, var_k g_k - mean_k s_k^2): folds that agree (the same
    per-sample ratios) add nothing to the jackknife over all samples; folds whose gains differ beyond their own
    sampling add their spread, and then a gain 3 jackknife errors above zero no longer stands out."""
    rng = np.random.default_rng(0)
    base = [rng.uniform(1.0, 2.0, 16) for _ in range(4)]
    same = Measured.of(base, [b / 2 for b in base])  # every sample and fold gains 10 log10 2
    assert np.allclose(same.fold_db, 10 * np.log10(2)) and np.isclose(same.db, 10 * np.log10(2))
    assert same.se_db == jackknife_gain_db(np.concatenate(base), np.concatenate([b / 2 for b in base]))[1] == 0.0

    factors = (1.6, 0.9, 1.0, 1.5)  # each calibration's own gain: +2.0, -0.5, 0.0, +1.8 dB
    after = [b / f * rng.uniform(0.98, 1.02, 16) for b, f in zip(base, factors)]
    m = Measured.of(base, after)
    folds = [jackknife_gain_db(b, a) for b, a in zip(base, after)]
    g = np.array([x for x, _ in folds])
    tau2 = np.var(g, ddof=1) - np.mean([s * s for _, s in folds])
    s = jackknife_gain_db(np.concatenate(base), np.concatenate(after))[1]
    assert tau2 > 1.0 and np.isclose(m.se_db, np.sqrt(s * s + 1.25 * tau2))
    assert m.fold_db == tuple(g)
    assert m.db > 3 * s and not m.stands_out(1)  # above its sampling noise, within the calibrations' spread


def test_layers_are_measured_by_the_top_of_their_interval() -> None:
    """e + bar(n) se: an estimate far from sure (the zoo MobileNet's conv1: -0.08 dB, standard error 0.77 on 16
    simulated samples) is measured before a sure small one (+0.08, 0.10); among equally sure ones, by estimate."""
    layers = [Effect(f"mid{i}", (f"mid{i}",), 0.08 - 0.01 * i, estimated_se_db=0.10) for i in range(25)]
    layers.append(Effect("conv1", ("conv1",), -0.08, estimated_se_db=0.77))
    order = [e.name for e in measurement_order(layers)]
    assert bar(26) > 2 and order[0] == "conv1" and order[1:] == [f"mid{i}" for i in range(25)]
