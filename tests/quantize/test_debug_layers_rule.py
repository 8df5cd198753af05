"""The ranking rule's arithmetic (converter/debug_layers.py, module docstring): the measured gain's standard error
as a prediction for one more calibration, the order layers are measured in, and the ranking. Exact math on made-up noise
energies; no model is converted."""

from __future__ import annotations

import numpy as np

from converter.debug_layers import Measured, bar, measurement_order, output_layers, rank_layers
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


def test_layers_are_measured_output_first_then_by_the_top_and_the_bottom_of_their_interval_in_turn() -> None:
    """e + bar(n) se and e - bar(n) se, alternately, each layer once: an estimate far from sure (the zoo MobileNet's
    conv1: -0.08 dB, standard error 0.77 on 16 simulated samples) is measured first, by the top of its interval;
    then the surest gain (DenseNet121's classifier: small, with a small standard error), by the bottom of its
    interval; then the next by the top, which skips a layer already measured. A layer whose simulated effect is 0 on
    every sample (padding: its bottom, 0, is above every other) is not measured. The output layers go first."""
    layers = [Effect(f"mid{i}", (f"mid{i}",), 0.30 - 0.01 * i, estimated_se_db=0.10) for i in range(25)]
    layers.append(Effect("conv1", ("conv1",), -0.08, estimated_se_db=0.77))
    layers.append(Effect("head", ("head",), 0.04, estimated_se_db=0.005))
    layers.append(Effect("pad", ("pad",), 0.0, estimated_se_db=0.0))
    c = bar(28)
    assert c > 2 and 0.30 - c * 0.10 < 0.04 - c * 0.005 < 0.30 + c * 0.10 < -0.08 + c * 0.77
    order = [e.name for e in measurement_order(layers)]
    # top: conv1, mid0, mid1, ...; bottom: head, mid0, mid1, ... (the mids by estimate, conv1 last)
    assert order[:4] == ["conv1", "head", "mid0", "mid1"] and order[4:] == [f"mid{i}" for i in range(2, 25)]
    assert sorted(order) == sorted(e.name for e in layers if e.name != "pad")
    # a layer that writes a model output goes first (the zoo DenseNet121's classifier: +0.043 dB held out, standard
    # error 0.011, 31st by estimate), then the same alternation; an output layer with no simulated effect is skipped
    first = [e.name for e in measurement_order(layers, outputs={"mid20", "pad"})]
    assert first == ["mid20", *order[:22], *order[23:]] and order[22] == "mid20"


def test_output_layers_are_those_writing_a_graph_output() -> None:
    """The layer whose node writes the graph's output, not the one feeding it."""
    from converter.ir import Graph

    g = Graph()
    x = g.tensor("x", np.float32, [1, 4])
    g.add_input(x)
    w = g.const("w", np.eye(4, dtype=np.float32))
    h, y = g.tensor("h", np.float32, [1, 4]), g.tensor("y", np.float32, [1, 4])
    g.add_node("FullyConnected", [x, w, None], [h], name="fc")
    g.add_node("Softmax", [h], [y], name="softmax")
    g.set_outputs([y])
    assert output_layers(g, {"dense": ["fc"], "head": ["softmax"]}) == {"head"}


def test_ranking_where_none_stands_out_puts_an_output_layers_sure_gain_first_then_gains_by_size() -> None:
    """A gain that stands out goes first; where none does, the output layer's measured gain if more than one standard
    error above zero (it carries to the final model: the zoo DenseNet121's classifier, +0.040 dB measured, standard
    error 0.037, +0.043 (0.011) held out), then the other gains by size (not by gain over standard error:
    DenseNet121's conv5_block13_2_conv, +0.031 (0.014), gains +0.014 (0.016) held out); then the unmeasured by
    estimate; then measured losses. An output layer's measured loss ranks with the losses."""
    def layer(name: str, estimate: float = 0.0) -> Effect:
        return Effect(name, (name,), estimate, estimated_se_db=0.1)

    names = ["concat", "classifier", "sure", "early", "lost", "estimated"]
    estimated = [layer(n, 0.5 if n == "estimated" else 0.0) for n in names]
    measured = {"concat": Measured(0.247, 0.120, ()), "classifier": Measured(0.040, 0.037, ()),
                "sure": Measured(0.031, 0.014, ()), "early": Measured(0.016, 0.248, ()),
                "lost": Measured(-0.093, 0.231, ())}
    assert not any(m.stands_out(len(measured)) for m in measured.values())
    ranked = [e.name for e in rank_layers(estimated, measured, outputs={"classifier"})]
    assert ranked == ["classifier", "concat", "sure", "early", "estimated", "lost"]
    # with no output layer among them: the inner gains by size, the largest first
    assert [e.name for e in rank_layers(estimated, measured)][:4] == ["concat", "classifier", "sure", "early"]
    # an output layer's gain within one standard error (mbconv_blocks' dense head: +0.008 (0.017), +0.007 (0.022) held
    # out) ranks with the other gains, by size
    within = {**measured, "classifier": Measured(0.040, 0.041, ())}
    assert [e.name for e in rank_layers(estimated, within, outputs={"classifier"})][:4] == \
        ["concat", "classifier", "sure", "early"]
    # an output layer that measured a loss ranks among the losses, after every estimate
    lost = {**measured, "classifier": Measured(-0.019, 0.011, ())}
    assert [e.name for e in rank_layers(estimated, lost, outputs={"classifier"})] == \
        ["concat", "sure", "early", "estimated", "classifier", "lost"]
    # a gain that stands out as the best of 5 (bar(5) = 2.88 standard errors) goes before the output layer's
    standing = {**measured, "early": Measured(0.9, 0.3, ())}
    assert standing["early"].stands_out(5) and not standing["concat"].stands_out(5)
    assert [e.name for e in rank_layers(estimated, standing, outputs={"classifier"})][:3] == \
        ["early", "classifier", "concat"]
