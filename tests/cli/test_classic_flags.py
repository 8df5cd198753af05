"""Issue 12: every flag of TOCO's command line (toco_cmdline_flags.cc, model_cmdline_flags.cc) and of tflite_convert
is honoured, with its effect checked, or refused with a one-line reason (exit 2). The README's flag table lists
them all (checked here against cli/classic_flags.FLAGS and the command's options).

Conversions run in-process on tiny graphs built once per module; every .tflite produced runs in LiteRT and is
compared with TensorFlow's run of the same graph (quantized outputs within a few LSBs, float within 1e-5)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli import classic_flags
from converter.inspect_model import describe
from tests.errors._support import EXIT_ERROR, EXIT_USAGE, assert_error_line, run_cli

REPO = Path(__file__).resolve().parents[2]
STATS = ["--mean_values=128", "--std_dev_values=127.5"]  # real = (q - 128) / 127.5
W_LO, W_HI = -0.9, 1.1  # conv weights' fake-quant range


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory, tf: Any) -> dict[str, Any]:  # noqa: ANN401
    """``qat``: x -> conv -> FakeQuant [-3, 5] -> relu -> FakeQuant [0, 4] -> (itself, conv2 -> FakeQuant [0, 2]
    = tensor Conv2D_1) -> concat (no range of its own) -> out, plus a control input on out. ``float``: two conv +
    bias layers with equal biases, sin, a dense layer (2048 weights: enough for dynamic range), a batch dimension
    left free, no FakeQuant."""
    root = tmp_path_factory.mktemp("classic")
    rng = np.random.default_rng(3)
    fq = tf.quantization.fake_quant_with_min_max_vars
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 8, 8, 3], name="x")
        w1 = fq(tf.constant(rng.uniform(W_LO, W_HI, (3, 3, 3, 4)).astype(np.float32)), W_LO, W_HI, narrow_range=True)
        c = fq(tf.nn.conv2d(x, w1, 1, "SAME"), -3.0, 5.0, name="conv_q")
        r = fq(tf.nn.relu(c), 0.0, 4.0, name="relu_q")
        # conv2's weights take only -1, 0.5, 1: on the [-1, 1] grid -1 is the uint8 value 0, often and close together.
        w2 = tf.constant(rng.choice([-1.0, 0.5, 1.0], (1, 1, 4, 4), p=[0.6, 0.2, 0.2]).astype(np.float32))
        b = fq(tf.nn.conv2d(r, fq(w2, -1.0, 1.0), 1, "SAME"), 0.0, 2.0, name="b_q")
        cat = tf.concat([r, b], axis=3, name="cat")
        with tf.control_dependencies([r.op]):
            tf.identity(cat, name="out")
    qat = root / "qat.pb"
    qat.write_bytes(g.as_graph_def().SerializeToString())

    g2 = tf.Graph()
    bias = rng.normal(0, 0.1, 4).astype(np.float32)
    with g2.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 3], name="x")
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, rng.normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32), 1, "SAME"),
                                      tf.constant(bias)), name="relu1")
        y = tf.nn.bias_add(tf.nn.conv2d(y, rng.normal(0, 0.3, (3, 3, 4, 4)).astype(np.float32), 1, "SAME"),
                           tf.constant(bias.copy()))
        y = tf.reshape(tf.sin(y), [-1, 256])
        tf.identity(tf.matmul(y, rng.normal(0, 0.1, (256, 8)).astype(np.float32)), name="out")
    flt = root / "float.pb"
    flt.write_bytes(g2.as_graph_def().SerializeToString())
    xq = rng.integers(0, 256, (4, 8, 8, 3)).astype(np.float32)
    # The float inputs are exactly what the uint8 inputs stand for, so quantized and float runs see the same data.
    return {"root": root, "qat": qat, "qat_gd": g.as_graph_def(), "float": flt, "float_gd": g2.as_graph_def(),
            "x": ((xq - 128) / 127.5).astype(np.float32), "xq": xq}


def convert(capsys: pytest.CaptureFixture[str], args: Sequence[object], out: Path) -> bytes:
    run = run_cli(capsys, [*args, f"--output_file={out}"])
    assert run.code == 0, run.err
    return out.read_bytes()


def refused(capsys: pytest.CaptureFixture[str], args: Sequence[object], out: Path, code: int, *fragments: str) -> str:
    line = assert_error_line(run_cli(capsys, [*args, f"--output_file={out}"]), code, *fragments)
    assert not out.exists()
    return line


def tf_out(run_graph: Callable[..., list[np.ndarray]], gd: Any, x: np.ndarray) -> np.ndarray:  # noqa: ANN401
    return np.concatenate([run_graph(gd, {"x": x[i:i + 1]}, ["out"])[0] for i in range(len(x))])


def dequantized(model: Any, x: np.ndarray) -> tuple[np.ndarray, float]:  # noqa: ANN401
    out = model.run(x)[0].astype(np.float64)
    scale, zp = model.quantization("output")
    return (out - zp) * scale if scale else out, scale


def tensor(model: bytes, name: str) -> Any:  # noqa: ANN401
    (t,) = [t for t in describe(model).subgraphs[0].tensors if t.name == name]
    return t


def ops(model: bytes) -> list[str]:
    return [o.op for o in describe(model).subgraphs[0].operators]


# ------------------------------------------------------------------------------------------------ the flag table
def test_readme_and_help_list_every_classic_flag() -> None:
    from cli.main import convert_command

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Flags"):]
    options = {o for p in convert_command.params for o in p.opts}
    for flag in classic_flags.FLAGS:
        assert f"--{flag.name}" in options, flag.name
        assert f"`--{flag.name}`" in table, f"--{flag.name} missing from the README flag table"
    for name in classic_flags.REFUSALS:
        assert re.search(rf"`--{name}`[^\n]*refused", table), f"README must say --{name} is refused"


@pytest.mark.parametrize("name", sorted(classic_flags.REFUSALS))
def test_refused_flag(name: str, graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A flag qconvert cannot honour: one line, exit 2, the reason and what to do; a boolean one set to false asks
    for what qconvert does anyway and converts."""
    value = "" if name in classic_flags._REFUSED_BOOL else "=1"
    line = refused(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", f"--{name}{value}"],
                   tmp_path / "m.tflite", EXIT_USAGE, f"--{name}")
    assert classic_flags.REFUSALS[name] in line
    if name in classic_flags._REFUSED_BOOL:
        plain = convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"], tmp_path / "a.tflite")
        assert convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", f"--{name}=false"],
                       tmp_path / "b.tflite") == plain


# ------------------------------------------------------------------------------------------------ FakeQuant flags
def test_reorder_across_fake_quant(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   litert: Any, run_graph: Any) -> None:  # noqa: ANN401
    """Default (TOCO's): the FakeQuant between the conv and its relu keeps the conv's grid and a separate RELU, as
    training simulated; with the flag the relu fuses into the conv."""
    base = [f"--input_file={graphs['qat']}", "--inference_type=QUANTIZED_UINT8", *STATS]
    kept = convert(capsys, base, tmp_path / "kept.tflite")
    fused = convert(capsys, [*base, "--reorder_across_fake_quant"], tmp_path / "fused.tflite")
    assert "RELU" in ops(kept) and "RELU" not in ops(fused)
    info = describe(kept).subgraphs[0]
    (relu,) = [o for o in info.operators if o.op == "RELU"]
    assert info.tensors[relu.inputs[0]].quantization.scale[0] == pytest.approx(8 / 255, rel=1e-6)  # conv's [-3, 5]
    ref = tf_out(run_graph, graphs["qat_gd"], graphs["x"])
    errors = []
    for model in (kept, fused):
        got, scale = dequantized(litert(model), graphs["xq"])
        errors.append(np.abs(got - ref).max() / scale)
    print(f"largest error against the fake-quant graph: {errors[0]:.2f} LSB kept, {errors[1]:.2f} LSB fused")
    # Kept: the training arithmetic, up to the concat's rescale of b (half a step each way). Fused: the relu
    # output is rounded once instead of twice, and conv2 then amplifies the difference.
    assert errors[0] <= 1 + 1e-4 and errors[1] > errors[0]


def test_drop_fake_quant(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                         litert: Any, run_graph: Any, tf: Any) -> None:  # noqa: ANN401
    """FLOAT keeps every FakeQuant point (QUANTIZE/DEQUANTIZE) and computes the fake-quant graph; with
    --drop_fake_quant the model is plain float and computes the graph without its FakeQuant ops."""
    simulated = convert(capsys, [f"--input_file={graphs['qat']}"], tmp_path / "sim.tflite")
    plain = convert(capsys, [f"--input_file={graphs['qat']}", "--drop_fake_quant"], tmp_path / "plain.tflite")
    assert ops(simulated).count("QUANTIZE") >= 3 and "QUANTIZE" not in ops(plain)
    x = graphs["x"]
    got = litert(simulated).run(x)[0]
    # The fake-quant graph itself: QUANTIZE and FakeQuant round differently only at grid midpoints (a flip there
    # moves one pixel by one step of the conv's grid, 8/255). (TensorFlow's converter also rounds the concat's
    # output onto the union of its inputs' grids, which the training graph never did; qconvert does not.)
    diff = np.abs(got - tf_out(run_graph, graphs["qat_gd"], x))
    assert (diff <= 1e-5).mean() >= 0.99 and diff.max() <= 2 * 8 / 255
    gd = type(graphs["qat_gd"])()
    gd.CopyFrom(graphs["qat_gd"])
    for node in gd.node:  # the same graph with each FakeQuant an identity
        if node.op.startswith("FakeQuant"):
            node.op = "Identity"
            del node.input[1:]
            for key in list(node.attr):
                del node.attr[key]
            node.attr["T"].type = tf.float32.as_datatype_enum
    np.testing.assert_allclose(litert(plain).run(x)[0], tf_out(run_graph, gd, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value", ["true", "false"])
def test_change_concat_input_ranges(value: str, graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path, litert: Any, run_graph: Any) -> None:  # noqa: ANN401
    """The concat has no FakeQuant: its range is the union of its inputs' ([0, 4]). FALSE: conv2 keeps its own
    [0, 2] grid (and its clamp at 2) and the uint8 kernel rescales it: the fake-quant graph within 1 step. TRUE
    (TOCO's meaning): conv2 writes on the concat's [0, 4] grid, so its values above 2 are no longer clamped."""
    model = convert(capsys, [f"--input_file={graphs['qat']}", "--inference_type=QUANTIZED_UINT8", *STATS,
                             f"--change_concat_input_ranges={value.upper()}"], tmp_path / "m.tflite")
    assert tensor(model, "out").quantization.scale[0] == pytest.approx(4 / 255, rel=1e-6)
    b_scale = tensor(model, "Conv2D_1").quantization.scale[0]
    assert b_scale == pytest.approx(4 / 255 if value == "true" else 2 / 255, rel=1e-6)
    got, scale = dequantized(litert(model), graphs["xq"])
    ref = tf_out(run_graph, graphs["qat_gd"], graphs["x"])
    clamped = np.zeros(ref.shape, bool)
    clamped[..., 4:] = ref[..., 4:] >= 2.0 - 1e-6  # conv2's values the FakeQuant clamped at its max
    assert np.abs(got - ref)[~clamped].max() <= scale + 1e-6
    if value == "true":
        assert clamped.any() and (got[clamped] > 2.0 + scale).any()
    else:
        assert np.abs(got - ref)[clamped].max() <= scale + 1e-6


def test_change_concat_input_ranges_in_int8(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, litert: Any, run_graph: Any) -> None:  # noqa: ANN401
    """int8 concatenation needs its inputs on its own grid. FALSE (and the default, since conv2's trained range is
    narrower than the concat's) keeps conv2's grid and requantizes it with a QUANTIZE op; TRUE moves conv2 onto
    the concat's grid (no QUANTIZE, no clamp at 2)."""
    base = [f"--input_file={graphs['qat']}", "--inference_type=INT8", *STATS, "--inference_input_type=QUANTIZED_UINT8",
            "--inference_output_type=QUANTIZED_UINT8"]
    default = convert(capsys, base, tmp_path / "a.tflite")
    kept = convert(capsys, [*base, "--change_concat_input_ranges=false"], tmp_path / "b.tflite")
    moved = convert(capsys, [*base, "--change_concat_input_ranges=true"], tmp_path / "c.tflite")
    assert kept == default
    assert ops(kept).count("QUANTIZE") == ops(moved).count("QUANTIZE") + 1
    assert tensor(kept, "Conv2D_1").quantization.scale[0] == pytest.approx(2 / 255, rel=1e-6)
    assert tensor(moved, "Conv2D_1").quantization.scale[0] == pytest.approx(4 / 255, rel=1e-6)
    a, scale = dequantized(litert(kept), graphs["xq"])
    b, _ = dequantized(litert(moved), graphs["xq"])
    ref = tf_out(run_graph, graphs["qat_gd"], graphs["x"])
    clamped = np.zeros(ref.shape, bool)
    clamped[..., 4:] = ref[..., 4:] >= 2.0 - 1e-6
    assert a[..., 4:].max() <= 2.0 + scale and (b[clamped] > 2.0 + scale).any()
    assert np.abs(a - b)[~clamped].max() <= scale + 1e-6  # one requantization step apart elsewhere


# ------------------------------------------------------------------------------------------------ graph flags
def test_drop_control_dependency(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [f"--input_file={graphs['qat']}", f"--report={tmp_path / 'r.json'}"]
    convert(capsys, args, tmp_path / "a.tflite")
    assert "1 control input(s) dropped" in " ".join(json.loads((tmp_path / "r.json").read_text())["notes"])
    convert(capsys, [*args, "--drop_control_dependency=true"], tmp_path / "b.tflite")
    refused(capsys, [f"--input_file={graphs['qat']}", "--drop_control_dependency=false"], tmp_path / "c.tflite",
            EXIT_ERROR, "1 control input(s)", "--drop_control_dependency")


def test_input_data_types(tmp_path: Path, tf: Any, capsys: pytest.CaptureFixture[str], litert: Any) -> None:  # noqa: ANN401
    """An input array that is not a Placeholder (here ArgMax's int64 result) is typed by --input_data_types."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
        idx = tf.argmax(x, axis=1, name="idx")
        tf.identity(tf.cast(idx, tf.float32) * 2.5, name="out")
    path = tmp_path / "g.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    base = [f"--input_file={path}", "--input_arrays=idx", "--output_arrays=out", "--input_shapes=1"]
    model = convert(capsys, [*base, "--input_data_types=INT64"], tmp_path / "m.tflite")
    m = litert(model)
    assert m.inputs[0]["dtype"] == np.int64 and m.inputs[0]["shape"].tolist() == [1]
    m.interpreter.set_tensor(m.inputs[0]["index"], np.array([3], np.int64))
    m.interpreter.invoke()
    np.testing.assert_array_equal(m.interpreter.get_tensor(m.outputs[0]["index"]), [7.5])
    assert convert(capsys, [*base, "--input_data_type=INT64"], tmp_path / "m2.tflite") == model  # TOCO's singular
    refused(capsys, [f"--input_file={path}", "--input_arrays=x", "--output_arrays=out", "--input_data_types=INT32"],
            tmp_path / "bad.tflite", EXIT_ERROR, "--input_data_types gives int32", "placeholder of type float32")
    refused(capsys, [*base, "--input_data_types=WORDS"], tmp_path / "bad.tflite", EXIT_USAGE, "'WORDS' is not a type")


def test_batch_size(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path, litert: Any,
                    run_graph: Any) -> None:  # noqa: ANN401
    model = convert(capsys, [f"--input_file={graphs['float']}", "--batch_size=4"], tmp_path / "m.tflite")
    m = litert(model)
    assert m.inputs[0]["shape"].tolist() == [4, 8, 8, 3]
    m.interpreter.set_tensor(m.inputs[0]["index"], graphs["x"])
    m.interpreter.invoke()
    ref = run_graph(graphs["float_gd"], {"x": graphs["x"]}, ["out"])[0]
    np.testing.assert_allclose(m.interpreter.get_tensor(m.outputs[0]["index"]), ref, rtol=1e-5, atol=1e-5)
    refused(capsys, [f"--input_file={graphs['float']}", "--batch_size=4", "--input_shapes=1,8,8,3"],
            tmp_path / "x.tflite", EXIT_USAGE, "--batch_size")


def test_allow_nonascii_arrays(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A zero-width space pasted with the name: TOCO's check names the invisible character; with the flag the name
    is looked up as given (TensorFlow node names are ASCII, so it is then simply not in the graph)."""
    args = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--output_arrays=out\u200b"]
    refused(capsys, args, tmp_path / "m.tflite", EXIT_USAGE, "holds U+200B", "--allow_nonascii_arrays")
    refused(capsys, [*args, "--allow_nonascii_arrays"], tmp_path / "m.tflite", EXIT_ERROR,
            "is not in the graph (did you mean: out)")


# ------------------------------------------------------------------------------------------------ custom op flags
def _unknown_op_graph(tf: Any, path: Path, output_types: bool) -> None:  # noqa: ANN401
    g = tf.Graph()
    with g.as_default():
        tf.nn.relu(tf.compat.v1.placeholder(tf.float32, [1, 4], name="x"), name="r")
    gd = g.as_graph_def()
    node = gd.node.add()
    node.name, node.op = "mystery", "QconvertTestOp"
    node.input.append("r")
    node.attr["k"].i = 3
    if output_types:
        node.attr["_output_types"].list.type.append(tf.float32.as_datatype_enum)
    path.write_bytes(gd.SerializeToString())


def _unresolved_in_litert(model: bytes, litert: Any) -> None:  # noqa: ANN401
    """A custom op without a kernel: LiteRT reads the model and names the op it cannot resolve."""
    with pytest.raises(RuntimeError, match="QconvertTestOp"):
        litert(model)


def test_allow_custom_ops_and_allow_dynamic_tensors(tmp_path: Path, tf: Any, capsys: pytest.CaptureFixture[str],
                                                    litert: Any) -> None:  # noqa: ANN401
    path = tmp_path / "g.pb"
    _unknown_op_graph(tf, path, output_types=True)
    args = [f"--input_file={path}", "--output_arrays=mystery"]
    refused(capsys, args, tmp_path / "x.tflite", EXIT_ERROR, "QconvertTestOp x1 (mystery)", "--allow_custom_ops")
    model = convert(capsys, [*args, "--allow_custom_ops"], tmp_path / "m.tflite")
    (op,) = [o for o in describe(model).subgraphs[0].operators if o.builtin == "CUSTOM"]
    assert (op.custom_code, op.custom_options) == ("QconvertTestOp", {"k": 3})
    out = tensor(model, "mystery")
    assert (out.dtype, out.shape) == ("float32", ())  # no shape known: sized by the kernel at run time
    _unresolved_in_litert(model, litert)
    refused(capsys, [*args, "--allow_custom_ops", "--allow_dynamic_tensors=false"], tmp_path / "m2.tflite",
            EXIT_ERROR, "mystery", "no static shape", "--allow_dynamic_tensors")


def test_custom_opdefs(tmp_path: Path, tf: Any, capsys: pytest.CaptureFixture[str], litert: Any) -> None:  # noqa: ANN401
    """An op TensorFlow does not know and the node does not type: its OpDef, given as tflite_convert took it,
    types the output (int32 here)."""
    path = tmp_path / "g.pb"
    _unknown_op_graph(tf, path, output_types=False)
    opdef = ("name: 'QconvertTestOp' input_arg: { name: 'x' type: DT_FLOAT } output_arg: { name: 'y' type: DT_INT32 } "
             "attr: { name: 'k' type: 'int' }")
    args = [f"--input_file={path}", "--output_arrays=mystery", "--allow_custom_ops"]
    refused(capsys, args, tmp_path / "x.tflite", EXIT_ERROR, "QconvertTestOp", "--custom_opdefs")
    model = convert(capsys, [*args, f"--custom_opdefs={opdef}"], tmp_path / "m.tflite")
    assert tensor(model, "mystery").dtype == "int32"
    _unresolved_in_litert(model, litert)
    refused(capsys, [f"--input_file={path}", "--output_arrays=mystery", f"--custom_opdefs={opdef}"],
            tmp_path / "x.tflite", EXIT_USAGE, "--custom_opdefs", "--allow_custom_ops")
    refused(capsys, [*args, "--custom_opdefs=name: 'Conv2D' input_arg: { name: 'x' type: DT_FLOAT }"],
            tmp_path / "x.tflite", EXIT_USAGE, "op Conv2D is already a TensorFlow op")
    refused(capsys, [*args, "--custom_opdefs=name: 'lowercase'"], tmp_path / "x.tflite", EXIT_USAGE,
            "an op name starts with a capital letter")


# ------------------------------------------------------------------------------------------------ output flags
def test_output_format_graphviz_dot(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dot = convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3",
                           "--output_format=GRAPHVIZ_DOT"], tmp_path / "g.dot").decode()
    assert dot.startswith('digraph "converted"') and dot.count("conv_2d") == 2 and "sin" in dot
    refused(capsys, [f"--input_file={graphs['float']}", "--output_format=TENSORFLOW_GRAPHDEF"],
            tmp_path / "g.pb", EXIT_USAGE, "--output_format=TENSORFLOW_GRAPHDEF")
    refused(capsys, [f"--input_file={graphs['float']}", "--input_format=TFLITE"], tmp_path / "m.tflite", EXIT_USAGE,
            "--input_format=TFLITE", "qconvert inspect")


def test_dump_graphviz_and_video(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    d = tmp_path / "dots"
    convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", f"--dump_graphviz={d}"],
            tmp_path / "a.tflite")
    assert sorted(p.name for p in d.iterdir()) == ["1_imported.dot", "2_after_passes.dot"]
    v = tmp_path / "video"
    convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", f"--dump_graphviz_dir={v}",
                     "--dump_graphviz_video"], tmp_path / "b.tflite")
    frames = sorted(p.name for p in v.iterdir() if p.name.startswith("2_pass_"))
    assert len(frames) >= 3 and any("fuse_bias_add" in f for f in frames) and any("fuse_activation" in f for f in frames)
    assert (v / frames[0]).read_text() != (v / frames[-1]).read_text()
    refused(capsys, [f"--input_file={graphs['float']}", "--dump_graphviz_video"], tmp_path / "c.tflite", EXIT_USAGE,
            "--dump_graphviz_video", "--dump_graphviz_dir")


def test_conversion_summary_dir(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import jsonschema

    d = tmp_path / "summary"
    convert(capsys, [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", f"--conversion_summary_dir={d}",
                     f"--report={tmp_path / 'r.json'}"], tmp_path / "m.tflite")
    report = json.loads((d / "report.json").read_text())
    jsonschema.validate(report, json.loads((REPO / "docs" / "report-schema.json").read_text()))
    assert (d / "report.json").read_text() == (tmp_path / "r.json").read_text()
    assert (d / "1_imported.dot").exists() and (d / "2_after_passes.dot").exists()


# ------------------------------------------------------------------------------------------------ weight flags
def test_allow_nudging_weights_to_use_fast_gemm_kernel(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, litert: Any) -> None:  # noqa: ANN401
    """conv2's uint8 weights hold many close zeros; with the flag each zero within 16 values of the previous kept
    zero becomes 1 (TOCO's rule), without it the weights stay exact (LiteRT's kernels need no nudge)."""
    base = [f"--input_file={graphs['qat']}", "--inference_type=QUANTIZED_UINT8", *STATS]
    exact = convert(capsys, base, tmp_path / "a.tflite")
    nudged = convert(capsys, [*base, "--allow_nudging_weights_to_use_fast_gemm_kernel=true",
                              f"--report={tmp_path / 'r.json'}"], tmp_path / "b.tflite")

    def conv2_weights(model: bytes) -> np.ndarray:
        from schema.tflite.Model import Model

        m = Model.GetRootAs(model, 0)
        sg = m.Subgraphs(0)
        convs = [sg.Operators(i) for i in range(sg.OperatorsLength())
                 if m.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode() == 3]
        t = sg.Tensors(int(convs[-1].InputsAsNumpy()[1]))
        return np.asarray(m.Buffers(t.Buffer()).DataAsNumpy()).copy()

    w0, w1 = conv2_weights(exact), conv2_weights(nudged)
    zeros = np.flatnonzero(w1 == 0)
    assert (w0 == 0).sum() > (w1 == 0).sum() > 0 and (np.diff(zeros) >= 16).all()
    assert set(np.flatnonzero(w0 != w1)) <= set(np.flatnonzero(w0 == 0)) and (w1[w0 != w1] == 1).all()
    moved = int((w0 != w1).sum())
    assert f"{moved} uint8 weight value(s) nudged" in " ".join(json.loads((tmp_path / "r.json").read_text())["notes"])
    a, b = litert(exact).run(graphs["xq"])[0].astype(int), litert(nudged).run(graphs["xq"])[0].astype(int)
    assert 0 < np.abs(a - b).max() <= 4  # one step on a few weights moves outputs by a few LSBs at most


def test_dedupe_array_min_size_bytes(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     litert: Any) -> None:  # noqa: ANN401
    """The two equal 16-byte biases share one buffer by default; from 64 bytes on only bigger constants merge."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"]
    merged = convert(capsys, base, tmp_path / "a.tflite")
    apart = convert(capsys, [*base, "--dedupe_array_min_size_bytes=64"], tmp_path / "b.tflite")
    bias_buffers = lambda m: {t.buffer for t in describe(m).subgraphs[0].tensors  # noqa: E731
                              if t.shape == (4,) and t.dtype == "float32" and t.buffer_bytes}
    assert len(bias_buffers(merged)) == 1 and len(bias_buffers(apart)) == 2
    np.testing.assert_array_equal(litert(merged).run(graphs["x"])[0], litert(apart).run(graphs["x"])[0])


@pytest.mark.parametrize("flag", ["--quantize_weights", "--quantize_weights=true", "--post_training_quantize=1"])
def test_quantize_weights(flag: str, graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                          tmp_path: Path) -> None:
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"]
    ptq = convert(capsys, [*base, "--post_training_quantize"], tmp_path / "a.tflite")
    assert convert(capsys, [*base, flag], tmp_path / "b.tflite") == ptq
    assert convert(capsys, [*base, "--quantize_weights=false"], tmp_path / "c.tflite") != ptq


def test_accumulation_type(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--quantize_to_float16"]
    fp16 = convert(capsys, base, tmp_path / "a.tflite")
    assert convert(capsys, [*base, "--accumulation_type=FLOAT32"], tmp_path / "b.tflite") == fp16
    assert "DEQUANTIZE" in ops(fp16)  # float16 weights dequantized: float32 accumulation
    refused(capsys, [*base, "--accumulation_type=FLOAT16"], tmp_path / "c.tflite", EXIT_USAGE, "float32")
    refused(capsys, base[:2] + ["--accumulation_type=FLOAT32"], tmp_path / "c.tflite", EXIT_USAGE,
            "--quantize_to_float16")


# ------------------------------------------------------------------------------------------------ converter choice
def test_target_ops(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"]
    plain = convert(capsys, base, tmp_path / "a.tflite")
    assert convert(capsys, [*base, "--target_ops=TFLITE_BUILTINS"], tmp_path / "b.tflite") == plain
    int8 = [*base, "--inference_type=INT8", "--default_ranges_min=-4", "--default_ranges_max=4"]
    convert(capsys, int8, tmp_path / "c.tflite")  # SIN has no integer kernel: kept float by default
    refused(capsys, [*int8, "--target_ops=TFLITE_BUILTINS,TFLITE_BUILTINS_INT8"], tmp_path / "d.tflite", EXIT_ERROR,
            "cannot run as integer kernels", "(sin:")
    refused(capsys, [*base, "--target_ops=SELECT_TF_OPS"], tmp_path / "e.tflite", EXIT_USAGE, "SELECT_TF_OPS",
            "--allow_custom_ops")
    refused(capsys, [*base, "--target_ops=TFLITE_BUILTINS_INT8"], tmp_path / "e.tflite", EXIT_USAGE,
            "--inference_type=INT8")


@pytest.mark.parametrize("flag", ["--enable_v1_converter", "--experimental_new_converter=false",
                                  "--experimental_new_quantizer=true"])
def test_converter_choice_flags(flag: str, graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    """tflite_convert's choice between TensorFlow's converters: qconvert has one; the same model, and a note."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"]
    plain = convert(capsys, base, tmp_path / "a.tflite")
    assert convert(capsys, [*base, flag, f"--report={tmp_path / 'r.json'}"], tmp_path / "b.tflite") == plain
    name = flag.split("=")[0]
    assert any(n.startswith(name) for n in json.loads((tmp_path / "r.json").read_text())["notes"])


# ------------------------------------------------------------------------------------------------ TOCO files
def test_model_checks(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    base = [f"--input_file={graphs['qat']}"]
    convert(capsys, [*base, "--model_checks={count_type:Conv2D,count_min:2,count_max:2},{count_type:None,"
                            "count_min:5}"], tmp_path / "a.tflite")
    refused(capsys, [*base, "--model_checks={count_type:Conv2D,count_max:1}"], tmp_path / "b.tflite", EXIT_ERROR,
            "--model_checks failed", "2 Conv2D ops, expected [-, 1]")
    refused(capsys, [*base, "--model_checks={count:2}"], tmp_path / "b.tflite", EXIT_USAGE, "count_type:OP")


def test_arrays_extra_info_file(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                litert: Any, run_graph: Any) -> None:  # noqa: ANN401
    """The first layer's range [0, 2] from the file; every other tensor takes --default_ranges [-8, 8]."""
    info = tmp_path / "extra.pbtxt"
    info.write_text('entries { name: "relu1" min: 0 max: 2 }\n')
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--inference_type=QUANTIZED_UINT8",
            *STATS, "--default_ranges_min=-8", "--default_ranges_max=8", "--inference_output_type=FLOAT"]
    default = convert(capsys, base, tmp_path / "a.tflite")
    model = convert(capsys, [*base, f"--arrays_extra_info_file={info}"], tmp_path / "b.tflite")
    assert tensor(default, "relu1").quantization.scale[0] == pytest.approx(16 / 255, rel=1e-6)
    assert tensor(model, "relu1").quantization.scale[0] == pytest.approx(2 / 255, rel=1e-6)
    litert(model).run(graphs["xq"])  # runs
    info.write_text('entries { name: "relu1" min: 0 max: 2 data_type: INT32 }\n')
    refused(capsys, [*base, f"--arrays_extra_info_file={info}"], tmp_path / "c.tflite", EXIT_ERROR, "data_type")


def test_model_flags_file(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flags = tmp_path / "model_flags.pbtxt"
    flags.write_text('input_arrays { name: "x" shape { dims: 1 dims: 8 dims: 8 dims: 3 } mean_value: 128 '
                     'std_value: 127.5 }\noutput_arrays: "out"\nchange_concat_input_ranges: true\n')
    base = [f"--input_file={graphs['qat']}", "--inference_type=QUANTIZED_UINT8"]
    by_flags = convert(capsys, [*base, "--input_arrays=x", "--output_arrays=out", "--input_shapes=1,8,8,3", *STATS,
                                "--change_concat_input_ranges=true"], tmp_path / "a.tflite")
    assert convert(capsys, [*base, f"--model_flags_file={flags}"], tmp_path / "b.tflite") == by_flags
    # The command line wins over the file.
    assert convert(capsys, [*base, f"--model_flags_file={flags}", "--change_concat_input_ranges=false"],
                   tmp_path / "c.tflite") != by_flags
    flags.write_text('output_arrays: "out"\nvariable_batch: true\n')
    refused(capsys, [*base, *STATS, f"--model_flags_file={flags}"], tmp_path / "d.tflite", EXIT_USAGE,
            "variable_batch")


def test_toco_saved_model_aliases(tmp_path: Path, tf: Any, capsys: pytest.CaptureFixture[str], litert: Any) -> None:  # noqa: ANN401
    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 3], tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:  # noqa: ANN401
            return {"y": tf.nn.relu(x * 2.0)}

    tf.saved_model.save(Tiny(), str(tmp_path / "sm"))
    ours = convert(capsys, [f"--saved_model_dir={tmp_path / 'sm'}", "--saved_model_tag_set=serve"], tmp_path / "a.tflite")
    toco = convert(capsys, [f"--savedmodel_directory={tmp_path / 'sm'}", "--savedmodel_tagset=serve"],
                   tmp_path / "b.tflite")
    assert toco == ours
    np.testing.assert_array_equal(litert(toco).run(np.array([[-1.0, 0.5, 2.0]], np.float32))[0], [[0, 1, 4]])


def test_input_type_is_inference_input_type(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, litert: Any) -> None:  # noqa: ANN401
    base = [f"--input_file={graphs['qat']}", "--inference_type=QUANTIZED_UINT8", *STATS]
    new = convert(capsys, [*base, "--inference_input_type=FLOAT"], tmp_path / "a.tflite")
    assert convert(capsys, [*base, "--input_type=FLOAT"], tmp_path / "b.tflite") == new
    assert convert(capsys, [*base, "--input_types=FLOAT,FLOAT"], tmp_path / "c.tflite") == new
    assert litert(new).inputs[0]["dtype"] == np.float32
    refused(capsys, [*base, "--input_types=FLOAT,INT8"], tmp_path / "d.tflite", EXIT_USAGE, "one type for all")


def test_default_int16_ranges(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              litert: Any) -> None:  # noqa: ANN401
    """INT16X8 without calibration: int16 arrays take --default_int16_ranges, not --default_ranges."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--inference_type=INT16X8",
            "--default_ranges_min=-8", "--default_ranges_max=8", "--inference_input_type=FLOAT",
            "--inference_output_type=FLOAT"]
    plain = convert(capsys, base, tmp_path / "a.tflite")
    narrow = convert(capsys, [*base, "--default_int16_ranges_min=-2", "--default_int16_ranges_max=2"],
                     tmp_path / "b.tflite")
    assert tensor(plain, "relu1").quantization.scale[0] == pytest.approx(8 / 32767, rel=1e-6)
    assert tensor(narrow, "relu1").quantization.scale[0] == pytest.approx(2 / 32767, rel=1e-6)
    assert tensor(narrow, "relu1").dtype == "int16"
    litert(narrow).run(graphs["x"])
    refused(capsys, [*base, "--default_int16_ranges_min=-2"], tmp_path / "c.tflite", EXIT_USAGE,
            "give both --default_int16_ranges_min and --default_int16_ranges_max")
    ops16 = "--target_ops=EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8"
    assert convert(capsys, [*base, ops16], tmp_path / "d.tflite") == plain
    refused(capsys, [f"--input_file={graphs['float']}", ops16], tmp_path / "e.tflite", EXIT_USAGE,
            "--inference_type=INT16X8")


@pytest.mark.parametrize("mode", ["default", "size", "latency"])
def test_optimize_as_tensorflow(mode: str, graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    """--optimize=default|size|latency is tf.lite.Optimize, whose three values are one mode in TF 2.x: without a
    representative dataset the dynamic-range model, with one the INT8 model with float I/O (byte-identical to
    the explicit flags); accuracy without data is a usage error."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3"]
    data = tmp_path / "cal.npy"
    np.save(data, np.random.default_rng(5).normal(0, 1, (16, 8, 8, 3)).astype(np.float32))
    assert convert(capsys, [*base, f"--optimize={mode}"], tmp_path / "a.tflite") == \
        convert(capsys, [*base, "--post_training_quantize"], tmp_path / "b.tflite")
    int8 = convert(capsys, [*base, "--inference_type=INT8", "--inference_input_type=FLOAT",
                            "--inference_output_type=FLOAT", f"--representative_dataset={data}"], tmp_path / "c.tflite")
    assert convert(capsys, [*base, f"--optimize={mode}", f"--representative_dataset={data}"],
                   tmp_path / "d.tflite") == int8
    assert "QUANTIZE" in ops(int8) and "DEQUANTIZE" in ops(int8)  # integer inside, float input and output
    refused(capsys, [*base, "--optimize=accuracy"], tmp_path / "e.tflite", EXIT_USAGE, "--representative_dataset")


def test_bias_correction_needs_a_quantized_model_and_data(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    """--bias_correction without calibration data, or on a float model, would do nothing: a usage error, never a
    silently ignored flag."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--bias_correction"]
    refused(capsys, base, tmp_path / "a.tflite", EXIT_USAGE, "--bias_correction", "--representative_dataset")
    refused(capsys, [*base, "--post_training_quantize"], tmp_path / "b.tflite", EXIT_USAGE, "--inference_type=INT8")


def test_equalize_needs_a_quantized_model(graphs: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """--equalize on a float model would do nothing (the rescaling is exact in float): a usage error naming the
    flag and the quantized types, nothing written."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--equalize"]
    refused(capsys, base, tmp_path / "a.tflite", EXIT_USAGE, "--equalize", "QUANTIZED_UINT8")
    refused(capsys, [*base, "--post_training_quantize"], tmp_path / "b.tflite", EXIT_USAGE, "--equalize")


def test_adaptive_weight_rounding_needs_a_quantized_model_and_data(graphs: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    """--weight_rounding=adaptive rounds by calibration data: without it, or on a float model, a usage error."""
    base = [f"--input_file={graphs['float']}", "--input_shapes=1,8,8,3", "--weight_rounding=adaptive"]
    refused(capsys, base, tmp_path / "a.tflite", EXIT_USAGE, "--weight_rounding=adaptive", "--representative_dataset")
    refused(capsys, [*base, "--post_training_quantize"], tmp_path / "b.tflite", EXIT_USAGE, "--inference_type=INT8")
