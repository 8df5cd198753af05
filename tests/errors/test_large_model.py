"""Models over 2 GiB (issue 15): constant data that does not fit the 2 GiB a flatbuffer can address is stored after
it (Buffer.offset/size from the start of the file, 16-byte aligned), in every mode; LiteRT runs such files,
`qconvert inspect` reads them, the output is still atomic and deterministic.

The default tests lower the inline limit (``layout.INLINE_LIMIT``) so that the small test model takes that layout;
the slow test converts a real 2.25 GiB SavedModel (``tests/support/large_model.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LiteRTModel
from tests.errors._support import (EXIT_ERROR, Models, assert_output_untouched, expect_failure, run_cli,
                                   run_subprocess, sha256)

MODES = {
    "float": [],
    "dynamic-range": ["--post_training_quantize"],
    "float16": ["--quantize_to_float16"],
    "int8": ["--inference_type=INT8", "--representative_dataset={cal}"],
    "uint8": ["--inference_type=QUANTIZED_UINT8", "--representative_dataset={cal}"],
}


@pytest.fixture
def data_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any constant data is 'too large' for the flatbuffer."""
    import converter.backend.layout as layout

    monkeypatch.setattr(layout, "INLINE_LIMIT", 0)


def _convert(capsys: pytest.CaptureFixture[str], models: Models, mode: str, out: Path) -> bytes:
    args = [f"--input_file={models.graph}", *(f.format(cal=models.calibration) for f in MODES[mode])]
    run = run_cli(capsys, [*args, f"--output_file={out}", "-q"])
    assert (run.code, run.err) == (0, ""), run.err
    return out.read_bytes()


def _sizes(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    run = run_cli(capsys, ["inspect", str(path), "--json"])
    assert run.code == 0, run.err
    return json.loads(run.out)


def _offsets(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every buffer stored after the flatbuffer, read with the generated reader."""
    from schema.tflite.Model import Model

    m = Model.GetRootAs(data, 0)
    return [(m.Buffers(i).Offset(), m.Buffers(i).Size()) for i in range(m.BuffersLength())
            if m.Buffers(i).Offset() > 1]


@pytest.mark.parametrize("mode", list(MODES))
def test_data_after_the_flatbuffer_runs_as_inline(mode: str, capsys: pytest.CaptureFixture[str], models: Models,
                                                  out_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inline = _convert(capsys, models, mode, out_dir / "inline.tflite")
    import converter.backend.layout as layout

    monkeypatch.setattr(layout, "INLINE_LIMIT", 0)
    after = _convert(capsys, models, mode, out_dir / "after.tflite")
    again = _convert(capsys, models, mode, out_dir / "again.tflite")
    assert sha256(after) == sha256(again)  # deterministic
    assert not _offsets(inline)
    offsets = _offsets(after)
    described = _sizes(capsys, out_dir / "after.tflite")
    constants = sum(1 for sg in described["subgraphs"] for t in sg["tensors"] if t["buffer_bytes"])
    assert len(offsets) == constants > 0 and described["sizes"]["offset_buffers"] == constants
    assert described["sizes"]["buffer_bytes"] == _sizes(capsys, out_dir / "inline.tflite")["sizes"]["buffer_bytes"]
    # Laid out after the flatbuffer, in order, each on a 16-byte boundary, the file ending with the last one.
    assert all(o % 16 == 0 for o, _ in offsets)
    assert all(a + n <= b for (a, n), (b, _) in zip(offsets, offsets[1:], strict=False))
    assert offsets[-1][0] + offsets[-1][1] == len(after)
    # The same numbers in LiteRT, from memory and from the file (memory-mapped).
    x = np.random.default_rng(5).uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    ref, got = LiteRTModel(inline), LiteRTModel(after)
    if ref.inputs[0]["dtype"] != np.float32:
        scale, zp = ref.quantization("input")
        x = np.clip(np.round(x / scale) + zp, -128 if ref.inputs[0]["dtype"] == np.int8 else 0,
                    127 if ref.inputs[0]["dtype"] == np.int8 else 255)
    np.testing.assert_array_equal(got.run(x)[0], ref.run(x)[0])
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    mapped = Interpreter(model_path=str(out_dir / "after.tflite"),
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    mapped.allocate_tensors()
    mapped.set_tensor(mapped.get_input_details()[0]["index"], x[:1].astype(ref.inputs[0]["dtype"]))
    mapped.invoke()
    np.testing.assert_array_equal(mapped.get_tensor(mapped.get_output_details()[0]["index"]), ref.run(x[:1])[0])


@pytest.mark.slow(reason="a console-script process; the in-process tests above go through the same streaming write")
def test_data_after_the_flatbuffer_subprocess(models: Models, out_dir: Path) -> None:
    """The console script streams the data into the temporary file and renames it, as for any model."""
    out = out_dir / "m.tflite"
    run = run_subprocess([f"--input_file={models.graph}", f"--output_file={out}", "-q"],
                         prelude="import converter.backend.layout as layout\nlayout.INLINE_LIMIT = 0\n")
    assert (run.code, run.err) == (0, ""), run.err
    assert len(_offsets(out.read_bytes())) == 3  # conv weights, conv bias, matmul weights
    assert sorted(p.name for p in out_dir.iterdir()) == ["m.tflite"]


def test_flatbuffer_itself_over_2_gib(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch, data_after: None) -> None:
    """Only the tables (tensors, ops, names) must fit 2 GiB; if even they do not, a one-line error."""
    import converter.backend.writer as writer

    monkeypatch.setattr(writer, "MAX_FLATBUFFER_BYTES", 100)
    line = expect_failure(capsys, [f"--input_file={models.graph}"], out_dir / "m.tflite", EXIT_ERROR,
                          "beyond the 2 GiB a TFLite flatbuffer can address; split the model into smaller ones")
    assert "the model's flatbuffer (tensors, ops and names) takes" in line
    assert_output_untouched(out_dir / "m.tflite", existed=False)


# ---- the real thing -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def large_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "saved_model"
    subprocess.run([sys.executable, "-m", "tests.support.large_model", str(path)], check=True,
                   cwd=Path(__file__).resolve().parents[2], capture_output=True)
    return path


@pytest.mark.slow(reason="writes a 2.25 GiB SavedModel and two .tflite files; needs ~6 GiB of memory")
def test_model_over_2_gib(large_saved_model: Path, tmp_path: Path, tf: Any) -> None:  # noqa: ANN401
    from tests.support.large_model import inputs, litert_outputs, tensorflow_outputs, weight_bytes

    outs = {}
    for mode, flags in (("float", []), ("dynamic-range", ["--post_training_quantize"])):
        out = tmp_path / f"{mode}.tflite"
        run = run_subprocess([f"--saved_model_dir={large_saved_model}", f"--output_file={out}", "-q", *flags])
        assert (run.code, run.err) == (0, ""), run.err
        outs[mode] = out
    assert outs["float"].stat().st_size > weight_bytes() > 2**31
    x = inputs(2)
    ref = tensorflow_outputs(large_saved_model, x)
    got = {mode: litert_outputs(out, x) for mode, out in outs.items()}
    rel = float(np.max(np.abs(got["float"] - ref)) / np.max(np.abs(ref)))
    noise = np.sum((got["dynamic-range"] - ref) ** 2)
    sqnr = 10 * np.log10(np.sum(ref**2) / noise)
    print(f"2.25 GiB model: FLOAT max rel err {rel:.2e}; dynamic range SQNR {sqnr:.1f} dB, "
          f"{outs['dynamic-range'].stat().st_size:,} bytes")
    # float32 sums of 8192 products in another order differ by a few ulps of the partial sums: ~1e-6 relative.
    assert rel <= 1e-5
    # int8 weights (per-channel, 127 steps) on 9 layers: each layer adds ~ -40 dB of noise; 25 dB is far below.
    assert sqnr > 25
    assert outs["dynamic-range"].stat().st_size < 2**31  # a quarter of the weights: inline again


@pytest.mark.slow(reason="writes a 1.9 GiB GraphDef and its .tflite; needs ~8 GiB of memory")
def test_graph_def_near_the_protobuf_limit(tmp_path: Path, tf: Any, run_graph: Any) -> None:  # noqa: ANN401
    """A frozen GraphDef of 1.9 GiB (protobuf's limit is 2 GiB) converts to FLOAT: its weights still fit inline (the
    flatbuffer just under 2 GiB), and LiteRT computes what TensorFlow computes on the GraphDef."""
    from converter.inspect_model import read_model
    from tests.support.large_model import litert_outputs

    rng = np.random.default_rng(0)
    widths = [8192] * 8 + [4096]  # 7 layers of 8192 x 8192 and one of 8192 x 4096 float32: 2.0e9 bytes
    gd = tf.compat.v1.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    x.attr["shape"].shape.dim.add(size=1)
    x.attr["shape"].shape.dim.add(size=widths[0])
    prev = "x"
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:], strict=False)):
        w = rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(np.sqrt(2 / n_in))
        for name, value in ((f"w{i}", w), (f"b{i}", rng.uniform(-0.1, 0.1, n_out).astype(np.float32))):
            c = gd.node.add(name=name, op="Const")
            c.attr["dtype"].type = 1
            c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        del w
        mm = gd.node.add(name=f"mm{i}", op="MatMul", input=[prev, f"w{i}"])
        mm.attr["T"].type = 1
        add = gd.node.add(name=f"add{i}", op="AddV2", input=[f"mm{i}", f"b{i}"])
        add.attr["T"].type = 1
        prev = f"add{i}"
        if i < len(widths) - 2:
            r = gd.node.add(name=f"relu{i}", op="Relu", input=[prev])
            r.attr["T"].type = 1
            prev = f"relu{i}"
    y = gd.node.add(name="y", op="Identity", input=[prev])
    y.attr["T"].type = 1
    pb = tmp_path / "large.pb"
    pb.write_bytes(gd.SerializeToString())
    assert 1.8 * 2**30 < pb.stat().st_size < 2**31 - 1
    out = tmp_path / "large.tflite"
    run = run_subprocess([f"--input_file={pb}", f"--output_file={out}", "-q"])
    assert (run.code, run.err) == (0, ""), run.err
    assert read_model(out).sizes.offset_buffers == 0  # still inline: under the flatbuffer's 2 GiB
    feed = rng.uniform(-1, 1, (1, widths[0])).astype(np.float32)
    (ref,) = run_graph(gd, {"x": feed}, ["y"])
    del gd
    got = litert_outputs(out, feed[None])
    rel = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    print(f"1.9 GiB GraphDef: {pb.stat().st_size:,} bytes -> {out.stat().st_size:,} bytes, max rel err {rel:.2e}")
    assert rel <= 1e-5  # float32 sums of 8192 products in another order: a few ulps of the partial sums
