"""The compression flags through the CLI: refused combinations (one line, exit 2), and a run with all of them whose
--report validates against docs/report-schema.json and whose size report agrees with the file it describes (read
back independently: tests/support/tflite_file.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._support import EXIT_USAGE, PREFIX, run_cli
from tests.support import tflite_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> tuple[Path, Path]:  # noqa: ANN401
    """conv 3x3x8 -> ReLU -> transpose conv -> dense 10, random weights, as a frozen GraphDef; 64 samples."""
    root = tmp_path_factory.mktemp("compress_cli")
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (1, 8, 8, 3), name="x")
        h = tf.nn.relu(tf.nn.conv2d(x, rng.standard_normal((3, 3, 3, 32)).astype(np.float32) * 0.3, 1, "SAME"))
        h = tf.nn.conv2d_transpose(h, rng.standard_normal((3, 3, 8, 32)).astype(np.float32) * 0.1, (1, 8, 8, 8),
                                   1, "SAME")
        w = rng.standard_normal((512, 64)).astype(np.float32) * 0.05
        tf.identity(tf.matmul(tf.reshape(h, (1, 512)), w), name="out")
    path = root / "model.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    np.save(root / "data.npy", rng.standard_normal((64, 8, 8, 3)).astype(np.float32))
    return path, root / "data.npy"


@pytest.mark.parametrize("flags,message", [
    (["--prune=1.5"], "--prune=1.5: give the share of weights to remove, between 0 and 1"),
    (["--prune=0.5"], "--prune chooses each layer's share of zeros"),
    (["--cluster_weights=1"], "--cluster_weights=1: give the number of shared values per channel, 2 to 256"),
    (["--weight_bits=4"], "--weight_bits=4 quantizes weights: add --inference_type=INT8"),
    (["--weight_bits=4", "--inference_type=QUANTIZED_UINT8", "--representative_dataset={data}"],
     "LiteRT has no int4 weights with --inference_type=QUANTIZED_UINT8"),
    (["--representative_dataset={data}"], "--representative_dataset calibrates integer models; add --inference_type="),
    (["--sparsity=yes"], "Invalid value for '--sparsity'"),
])
def test_refused_combinations(flags: list[str], message: str, small_model: tuple[Path, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    path, data = small_model
    out = tmp_path / "m.tflite"
    run = run_cli(capsys, [f"--input_file={path}", f"--output_file={out}", "--input_arrays=x", "--output_arrays=out",
                           *(f.format(data=data) for f in flags)])
    assert run.code == EXIT_USAGE
    assert len(run.error_lines) == 1 and run.error_lines[0].startswith(PREFIX)
    assert message in run.error_lines[0]
    assert not out.exists()


def test_all_flags_report_matches_the_file(small_model: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    path, data = small_model
    out, report_path = tmp_path / "m.tflite", tmp_path / "m.json"
    run = run_cli(capsys, [f"--input_file={path}", f"--output_file={out}", "--input_arrays=x", "--output_arrays=out",
                           "--inference_type=INT8", f"--representative_dataset={data}", "--prune=0.6",
                           "--cluster_weights=8", "--weight_bits=4", "--sparsity=auto", f"--report={report_path}"])
    assert run.code == 0, run.err
    report = json.loads(report_path.read_text())
    jsonschema.validate(report, json.loads((REPO / "docs" / "report-schema.json").read_text()))
    c = report["compression"]
    model = out.read_bytes()
    f = tflite_file.read(model)
    assert c["total"]["file_bytes"] == len(model)
    assert c["total"]["gzip_bytes"] == len(gzip.compress(model, compresslevel=6, mtime=0))
    by_op = {x["op"]: x for x in c["layers"]}
    # conv and fully connected hold int4 weights; the transpose conv has no int4 kernel and keeps int8 (listed).
    assert by_op["conv_2d"]["bits"] == by_op["fully_connected"]["bits"] == 4
    assert by_op["transpose_conv"]["bits"] == 8
    assert [k["op"] for k in c["weight_bits"]["kept_8bit"]] == ["transpose_conv"]
    assert "8-bit weights (no int4 kernel)" in run.out and "transpose_conv" in run.out
    for op, name in (("conv_2d", "CONV_2D"), ("fully_connected", "FULLY_CONNECTED"),
                     ("transpose_conv", "TRANSPOSE_CONV")):
        (w,) = f.weights(name)
        dense = w.dense()
        assert by_op[op]["sparsity"] == pytest.approx(float(np.mean(dense == 0)))
        assert by_op[op]["distinct_per_channel"] == tflite_file.distinct_per_channel(w)
        assert by_op[op]["distinct_per_channel"] <= 8  # --cluster_weights=8 survives quantization
    # Pruned to 60% overall (the int4 fully-connected layer element by element: no sparse int4 kernel).
    assert c["prune"]["sparsity"] == pytest.approx(0.6, abs=1e-3)
    # Pruned zeros stay zero through clustering (0 is kept as one of the values) and quantization; both add some
    # (weights nearer 0 than to any other shared value or grid step).
    assert sum(round(x["sparsity"] * x["elements"]) for x in c["layers"]) >= sum(x["zeros"]
                                                                                for x in c["prune"]["layers"])
    assert {x["name"] for x in c["cluster"]["layers"]} == {x["name"] for x in c["prune"]["layers"]}
    for line in ("weights per layer", "pruned: 60.0%", "clustered: at most 8 values per channel", "file: "):
        assert line in run.out
