"""Bad input: a graph with ops qconvert cannot convert. Every unsupported op type is reported at once, with its
count and node names, in one line, saying whether LiteRT has a builtin for it (from TensorFlow's legalizations,
converter/frontend/legalizations.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.errors._support import EXIT_ERROR, expect_failure, expect_failure_subprocess

EXPECTED = (
    "unsupported ops (no TFLite builtin for them): 6 node(s) of 4 type(s): MatrixInverse x2 (inv_a, inv_b); Svd x2 (svd_a, svd_b); "
    "AsString x1 (to_string); StringLength x1 (string_length). Remove them from the exported graph, cut the graph "
    "before them with --input_arrays/--output_arrays, or write them as custom ops with --allow_custom_ops (the "
    "runtime then needs their kernels)"
)


@pytest.fixture(scope="module")
def unsupported_graph(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> Path:  # noqa: ANN401
    """A float graph using Svd (twice), MatrixInverse (twice) and two string ops, next to supported ones."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [4, 4], name="input")
        s_a = tf.linalg.svd(x, compute_uv=False, name="svd_a")
        s_b = tf.linalg.svd(x * 2.0, compute_uv=False, name="svd_b")
        u_a = tf.linalg.inv(x, name="inv_a")
        u_b = tf.linalg.inv(x + 1.0, name="inv_b")
        lengths = tf.strings.length(tf.strings.as_string(x, name="to_string"), name="string_length")
        total = (tf.reduce_sum(s_a) + tf.reduce_sum(s_b) + tf.reduce_sum(u_a) + tf.reduce_sum(u_b)
                 + tf.reduce_sum(tf.cast(lengths, tf.float32)))
        tf.identity(total, name="output")
    path = tmp_path_factory.mktemp("unsupported") / "unsupported.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def test_all_unsupported_ops_listed(capsys: pytest.CaptureFixture[str], unsupported_graph: Path,
                                    out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={unsupported_graph}"], out_dir / "m.tflite", EXIT_ERROR, exact=EXPECTED)


def test_all_unsupported_ops_listed_quantized(capsys: pytest.CaptureFixture[str], unsupported_graph: Path,
                                              out_dir: Path) -> None:
    """Refused before any range or calibration question comes up."""
    expect_failure(capsys, [f"--input_file={unsupported_graph}", "--inference_type=INT8"], out_dir / "m.tflite",
                   EXIT_ERROR, exact=EXPECTED)


def test_all_unsupported_ops_listed_subprocess(unsupported_graph: Path, out_dir: Path) -> None:
    line = expect_failure_subprocess([f"--input_file={unsupported_graph}"], out_dir / "m.tflite", EXIT_ERROR)
    assert line == "qconvert: error: " + EXPECTED


def test_only_ops_of_the_selected_subgraph_count(capsys: pytest.CaptureFixture[str], unsupported_graph: Path,
                                                 out_dir: Path) -> None:
    """Cut at svd_a (as the message suggests), only the one Svd it needs is reported."""
    expect_failure(capsys, [f"--input_file={unsupported_graph}", "--output_arrays=svd_a"], out_dir / "m.tflite",
                   EXIT_ERROR, "unsupported ops (no TFLite builtin for them): 1 node(s) of 1 type(s): Svd x1 (svd_a).")


def test_an_op_with_a_builtin_is_told_apart(capsys: pytest.CaptureFixture[str], unsupported_graph: Path,
                                            out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An op TensorFlow's converter writes as a builtin but qconvert has no handler for (simulated by removing
    Sum's) is named with those builtins; the ops without a builtin say so one by one."""
    from converter.frontend import registry

    registry.load_handlers()
    monkeypatch.delitem(registry.HANDLERS, "Sum")
    expect_failure(capsys, [f"--input_file={unsupported_graph}"], out_dir / "m.tflite", EXIT_ERROR,
                   "Sum x5 (Sum, Sum_1, Sum_2, ...; TensorFlow's converter writes it as SUM, qconvert cannot yet); "
                   "MatrixInverse x2 (inv_a, inv_b; no TFLite builtin)")
