"""range_refine (--optimize=accuracy's range narrowing): the units a recurrent layer's ops form, and the decision
rule on measured noise (exact: the measurements are given, so every gain and standard error is known)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from converter.ir import Graph, QuantRange, RangeSource
from converter.ir.attrs import FullyConnectedAttrs, FusedActivationAttrs
from converter.quantize import range_refine
from converter.quantize.precision import Precision, PrecisionPlan
from converter.quantize.quantizer import FLOAT32, QuantizeOptions
from converter.quantize.range_select import gain_db, significant

STEPS = 3
SAMPLES = 100


def _recurrent() -> Graph:
    """An unrolled cell of STEPS steps, h = tanh(h * a + x), then a dense layer; every activation has a range."""
    g = Graph()
    x = g.tensor("m/x", np.float32, (1, 4))
    g.add_input(x)
    h = x
    for k in range(STEPS):
        a = g.const(f"m/rnn/step_{k}/a", np.full((1, 4), 0.5, np.float32))
        mul = g.tensor(f"m/rnn/step_{k}/mul", np.float32, (1, 4))
        g.add_node("mul", [h, a], [mul], FusedActivationAttrs())
        add = g.tensor(f"m/rnn/step_{k}/add_1", np.float32, (1, 4))
        g.add_node("add", [mul, x], [add], FusedActivationAttrs())
        h = g.tensor(f"m/rnn/step_{k}/tanh", np.float32, (1, 4))
        g.add_node("tanh", [add], [h])
    y = g.tensor("m/dense/MatMul", np.float32, (1, 2))
    w = g.const("m/dense/w", np.ones((2, 4), np.float32))
    g.add_node("fully_connected", [h, w, g.const("m/dense/b", np.zeros(2, np.float32))], [y], FullyConnectedAttrs())
    g.set_outputs([y])
    for t in g.tensors():
        if not t.is_const:
            t.qrange = QuantRange.per_tensor(-2.0, 2.0, RangeSource.CALIBRATION)
    return g


def _names(g: Graph) -> list[str]:
    return [t.name for t in g.tensors() if not t.is_const and t.name not in ("m/x", "m/dense/MatMul")]


def test_units_group_the_same_op_of_every_step() -> None:
    """Each op of the cell is one unit over the steps (its digits in the step's scope replaced), two ops of one
    step are two units (mul and add_1 keep their own names)."""
    g = _recurrent()
    got = range_refine.units(g, _names(g))
    assert got == {f"m/rnn/step_#/{op}:0": [f"m/rnn/step_{k}/{op}" for k in range(STEPS)]
                   for op in ("mul", "add_1", "tanh")}


OPTS = QuantizeOptions(plan=PrecisionPlan.uniform(Precision.INT8), weights_per_channel=True, input_dtype=FLOAT32,
                       output_dtype=FLOAT32)


def _fold(g: Graph, plain: np.ndarray, effect: Callable[[float, float], np.ndarray]) -> range_refine.FoldModel:
    """A fold whose measured per-sample noise is ``plain`` times ``effect(mul's factor, add_1's factor)``: the
    factors read off the ranges the graph holds when the model is built (as a real fold quantizes them)."""
    ranges = {name: (-2.0, 2.0) for name in _names(g)}

    def measure(graph: Graph, opts: QuantizeOptions) -> range_refine.Energies:
        width = {t.name: max(t.qrange.max) / 2.0 for t in graph.tensors() if t.qrange is not None}
        noise = plain * effect(width["m/rnn/step_0/mul"], width["m/rnn/step_0/add_1"])
        return lambda: (np.ones_like(noise), noise)

    return range_refine.FoldModel(ranges, OPTS, measure)


RANKED = [("m/rnn/step_#/tanh:0", 3.0), ("m/rnn/step_#/add_1:0", 2.0), ("m/rnn/step_#/mul:0", 1.0)]
ADD = {0.9: 0.8, 0.8: 0.5, 0.7: 0.6, 0.6: 0.9}  # add_1's noise ratio by factor: 0.8 is best, -3.01 dB


def test_refine_keeps_the_best_factor_of_a_unit_that_gains() -> None:
    """add_1 narrowed to 0.8 halves the noise of every sample (+3.01 dB, standard error 0): kept. mul's factors
    move the noise of each sample up or down at random, its best gain is within its standard error: not kept.
    tanh writes on a fixed grid (1/128): not measured. Together +3.01 dB over the chosen (= plain) model: used."""
    g = _recurrent()
    rng = np.random.default_rng(0)
    plain = rng.uniform(1.0, 2.0, SAMPLES)
    wobble = {f: rng.uniform(0.5, 1.5, SAMPLES) for f in range_refine.FACTORS}
    folds = [_fold(g, plain[i::2], lambda m, a, i=i: ADD.get(round(a, 6), 1.0) * wobble.get(round(m, 6),
                                                                                           np.ones(SAMPLES))[i::2])
             for i in (0, 1)]
    chosen = np.concatenate([plain[0::2], plain[1::2]])
    factors, measured, total = range_refine.refine(g, folds, chosen, chosen, RANKED, range_refine.units(g, _names(g)),
                                                   significant, gain_db)
    assert factors == {f"m/rnn/step_{k}/add_1": 0.8 for k in range(STEPS)}
    assert [(n.unit, n.factor, n.kept) for n in measured][0] == ("m/rnn/step_#/add_1:0", 0.8, True)
    assert measured[0].gain_db == pytest.approx(10 * np.log10(2), abs=1e-9) and measured[0].standard_error_db < 1e-9
    assert [n.unit for n in measured] == ["m/rnn/step_#/add_1:0", "m/rnn/step_#/mul:0"] and not measured[1].kept
    assert measured[1].gain_db <= measured[1].standard_error_db
    assert total == pytest.approx((10 * np.log10(2), 0.0), abs=1e-9)


def test_refine_uses_a_small_gain_only_on_a_configuration_that_beats_plain() -> None:
    """add_1 at 0.8 gains 0.3 dB on every sample (kept: above its standard error, 0). On its own that is below
    the 0.5 dB any configuration must beat plain INT8 by (range_select.significant): not used. On top of a
    configuration already 1 dB better than plain it is used (1.3 dB over plain)."""
    g = _recurrent()
    plain = np.random.default_rng(1).uniform(1.0, 2.0, SAMPLES)
    small = 10 ** -0.03
    folds = [_fold(g, plain[i::2], lambda m, a: np.full(SAMPLES // 2, small if round(a, 6) == 0.8 else 1.0))
             for i in (0, 1)]
    both = np.concatenate([plain[0::2], plain[1::2]])
    units = range_refine.units(g, _names(g))
    factors, measured, total = range_refine.refine(g, folds, both, both, RANKED, units, significant, gain_db)
    assert measured[0].kept and total[0] == pytest.approx(0.3, abs=1e-9) and factors == {}
    better = [_fold(g, plain[i::2] * 10 ** -0.1, lambda m, a: np.full(SAMPLES // 2, small if round(a, 6) == 0.8
                                                                         else 1.0)) for i in (0, 1)]
    factors, _, total = range_refine.refine(g, better, both * 10 ** -0.1, both, RANKED, units, significant, gain_db)
    assert total[0] == pytest.approx(0.3, abs=1e-9)
    assert factors == {f"m/rnn/step_{k}/add_1": 0.8 for k in range(STEPS)}
