"""The --target_sqnr search (quantize.mixed) on the small IR MLP of test_precision_plan (x -> fc1 (ReLU) -> fc2 ->
fc3 -> softmax): its candidates, its op cost, and the search itself, every candidate measured in LiteRT.

The MLP's weights are random: these tests check the search's mechanics (what it may change, that it measures what
LiteRT computes, that it stops at the target with the smallest model), not an accuracy claim; those are made on
trained models in tests/models/test_target_sqnr.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.quantize.mixed import Candidate, candidates, macs, macs_by_precision, search_precision, split_held_out
from converter.quantize.precision import LayerPrecision, Precision, PrecisionPlan
from tests.quantize.test_precision_plan import SIZES, _mlp, _opts

INT8 = PrecisionPlan.uniform(Precision.INT8, reason="--inference_type=INT8")


def _resolved(plan: PrecisionPlan, names: list[str]) -> PrecisionPlan:
    return plan.with_layers({n: plan.of(n) for n in names})


def test_candidates_keep_a_tensor_at_16_bits_between_its_writer_and_readers() -> None:
    g, _ = _mlp()
    names = [n.name for n in g.nodes]
    by_tensor = {c.tensor: c for c in candidates(g, _resolved(INT8, names), _opts(INT8))}
    # The float input's readers; each layer's output with its writer and readers; the softmax (LiteRT has an int16
    # softmax) with its input's writer.
    assert {t: sorted(c.changes) for t, c in by_tensor.items()} == {
        "input_x": ["dense_1"], "model/dense_1/BiasAdd": ["dense_1", "dense_2"],
        "model/dense_2/BiasAdd": ["dense_2", "dense_3"], "model/dense_3/BiasAdd": ["dense_3", "softmax"],
        "probs": ["softmax"]}
    assert all(lp.precision is Precision.INT16X8 and lp.reason == "--target_sqnr"
               for c in by_tensor.values() for lp in c.changes.values())


def test_a_raised_layer_with_weights_may_keep_them_float_and_narrow_weights_may_go_back_to_8_bits() -> None:
    """The hook for --weight_bits=4: a layer whose plan has 4-bit weights is a candidate for 8-bit weights (its
    precision unchanged)."""
    g, _ = _mlp()
    names = [n.name for n in g.nodes]
    plan = INT8.with_layers({"dense_2": LayerPrecision(Precision.INT16X8, reason="--int16_layers"),
                             "dense_3": LayerPrecision(Precision.INT8, 4, reason="--weight_bits=4")})
    extra = [c for c in candidates(g, _resolved(plan, names), _opts(plan)) if c.kind != Candidate.TENSOR]
    assert [(c.kind, c.layer, dict(c.changes)) for c in extra] == [
        (Candidate.FLOAT_WEIGHTS, "dense_2", {"dense_2": LayerPrecision(Precision.FLOAT, 8, "--target_sqnr (weights)")}),
        (Candidate.WEIGHTS_TO_8_BITS, "dense_3",
         {"dense_3": LayerPrecision(Precision.INT8, 8, "--target_sqnr (weights to 8 bits)")})]


def test_op_cost_is_the_multiply_accumulates_by_precision() -> None:
    g, _ = _mlp()
    per = {n.name: macs(n) for n in g.nodes}
    assert per == {"dense_1": SIZES[0] * SIZES[1], "dense_2": SIZES[1] * SIZES[2], "dense_3": SIZES[2] * SIZES[3],
                   "softmax": 0}
    plan = INT8.with_layers({"dense_2": LayerPrecision(Precision.INT16X8)})
    assert macs_by_precision(g, _resolved(plan, list(per))) == {"int8": per["dense_1"] + per["dense_3"],
                                                               "int16x8": per["dense_2"]}


def test_held_out_samples_are_every_fifth() -> None:
    x = np.arange(12)[:, None]
    cal, held = split_held_out([x])
    assert held[0].ravel().tolist() == [4, 9] and cal[0].ravel().tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11]


@pytest.fixture(scope="module")
def held_out() -> list[np.ndarray]:
    return [np.random.default_rng(7).standard_normal((32, SIZES[0])).astype(np.float32)]


def test_search_reaches_the_target_with_what_litert_measures(held_out: list[np.ndarray], litert: Any,  # noqa: ANN401
                                                             sqnr: Any) -> None:  # noqa: ANN401
    # An unreachable target first: the search takes every step that gains, says it was not met, and its first step
    # is the 8-bit model.
    g, w = _mlp()
    search, _ = search_precision(g, _opts(INT8), held_out, target_db=200.0, calibration_samples=64)
    base = search.steps[0].sqnr_db
    assert not search.met and search.final_sqnr_db > base + 6.0
    g, _ = _mlp()
    search, chosen = search_precision(g, _opts(INT8), held_out, target_db=base + 6.0, calibration_samples=64)
    assert search.met and len(search.steps) >= 2 and search.final_sqnr_db >= base + 6.0
    assert search.steps[0].sqnr_db == base
    # Independently: the chosen file in LiteRT against the float math of the MLP (numpy, float64).
    h = np.maximum(held_out[0] @ w["w1"].T + w["b1"], 0) @ w["w2"].T + w["b2"]
    logits = h @ w["w3"].T + w["b3"]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    # The reference there is the IR run in float32 by TensorFlow: ~1e-7 relative from float64, far below the noise.
    assert sqnr(probs, litert(chosen.tflite).run(held_out[0])[0]) == pytest.approx(search.final_sqnr_db, abs=0.01)
    sqnrs = [s.sqnr_db for s in search.steps]
    assert sqnrs == sorted(sqnrs) and search.final_bytes == len(chosen.tflite)
    raised = {n for n, lp in chosen.result.plan.layers.items() if lp.reason.startswith("--target_sqnr")}  # type: ignore[union-attr]
    assert raised and raised <= {n for s in search.steps for n in s.changed}
