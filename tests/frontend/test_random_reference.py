"""The reference executor draws what LiteRT's random kernels draw: one executor call per sample continues each
op's stream as one invocation of a LiteRT interpreter does, so calibration sees the numbers the converted model
draws (converter/frontend/handlers/random_ops.py). Compared with qconvert's FLOAT model run in LiteRT, invocation
by invocation, in one interpreter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from converter.frontend.graphdef import load_graph_def
from converter.frontend.importer import import_graph_def
from converter.frontend.reference import ReferenceExecutor, evaluate_node
from tests.support import oneop

INVOCATIONS = 4


def _build(tf: Any, x: Any) -> Any:  # noqa: ANN401
    """Three random ops in one graph: a normal draw and a uniform one whose sizes are not multiples of 4 (LiteRT
    drops the rest of a 4-number block), and categorical samples from x's rows (one logit -inf), all seeded."""
    normal = tf.raw_ops.RandomStandardNormal(shape=[1, 6], dtype=tf.float32, seed=3, seed2=5)
    uniform = tf.raw_ops.RandomUniform(shape=[1, 7], dtype=tf.float32, seed=11, seed2=2)
    logits = tf.concat([tf.reshape(x, [2, 4]), tf.fill([2, 1], -np.inf)], axis=1)
    picks = tf.raw_ops.Multinomial(logits=logits, num_samples=6, seed=7, seed2=1, output_dtype=tf.int32)
    return tf.concat([normal, tf.reshape(x[:, :6], [1, 6]) + uniform[:, :6],
                      tf.cast(tf.reshape(picks, [1, 12]), tf.float32)], axis=1)


@pytest.mark.slow  # 3 s; the default run covers the path through the RandomUniform INT8 probe (test_op_table)
def test_reference_draws_litert_numbers(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    feeds = [np.random.default_rng(0).standard_normal((INVOCATIONS, 1, 8)).astype(np.float32)]
    op = oneop.build(tmp_path, "random", [oneop.Spec("float32", (1, 8))], lambda x: _build(tf, x), feeds)
    litert = np.concatenate(oneop.run_litert(oneop.qconvert(op), op))
    graph = import_graph_def(load_graph_def(op.path), ["in0"], ["out"], [(1, 8)]).graph
    executor = ReferenceExecutor(graph)
    assert not executor.batched  # one sample per call: each has its own draws
    ref = executor([feeds[0][:, 0]])[0]  # samples on axis 0, run one per call
    assert len({tuple(r[:6]) for r in ref}) == INVOCATIONS, "each call draws new numbers"
    # Both compute the same Philox blocks and the same float32 arithmetic on them (Box-Muller's log/sin/cos in
    # another build of the same code: a few ulp at most); categorical picks are integers and match exactly.
    np.testing.assert_allclose(ref[:, :12], litert[:, :12], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ref[:, 12:], litert[:, 12:])
    # A new executor starts its streams over, as a new interpreter does; so does one eager evaluation.
    np.testing.assert_array_equal(ReferenceExecutor(graph)([feeds[0][:1, 0]])[0], ref[:1])
    normal = next(n for n in graph.nodes if n.op == "random_standard_normal")
    np.testing.assert_array_equal(evaluate_node(normal, [normal.input(0).data])[0], ref[:1, :6])


@pytest.mark.slow  # ~6 s
def test_optimize_accuracy_on_a_random_graph(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """--optimize=accuracy simulates the integer model on the calibration samples, a random op drawing anew for
    each sample there too (it failed on a random op with a constant shape before: KeyError). Measured on
    16 held-out inputs against qconvert's FLOAT model in LiteRT (the same draws, invocation by invocation): no
    worse than plain INT8 - 0.5 dB (the margin the op table allows against TensorFlow)."""
    rng = np.random.default_rng(1)
    cal = [rng.standard_normal((32, 1, 8)).astype(np.float32)]
    op = oneop.build(tmp_path, "normal", [oneop.Spec("float32", (1, 8))],
                     lambda x: tf.raw_ops.RandomStandardNormal(shape=[1, 8], dtype=tf.float32, seed=3, seed2=5) + x,
                     cal)
    held = dataclasses.replace(op, feeds=[rng.standard_normal((16, 1, 8)).astype(np.float32)])
    ref = oneop.run_litert(oneop.qconvert(op), held)
    plain = oneop.sqnr_db(oneop.run_litert(oneop.qconvert_int8(op), held), ref)
    tuned = oneop.sqnr_db(oneop.run_litert(oneop.qconvert_int8(op, optimize_accuracy=True), held), ref)
    assert tuned >= plain - 0.5, f"--optimize=accuracy: {tuned:.2f} dB, plain INT8 {plain:.2f} dB"

