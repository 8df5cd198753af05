"""Bad input: a file or directory that is not a GraphDef or SavedModel (random bytes, a truncated protobuf, an
empty file or directory, a .tflite, a SavedModel's saved_model.pb given as a GraphDef, a corrupt SavedModel)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.errors._support import EXIT_ERROR, Models, expect_failure, expect_failure_subprocess

NOT_A_GRAPH_DEF = ("is not a TensorFlow GraphDef (binary or text protobuf; file truncated or of another kind); "
                   "export a frozen graph, or pass a SavedModel directory with --saved_model_dir")


def test_random_bytes(capsys: pytest.CaptureFixture[str], tmp_path: Path, out_dir: Path) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(np.random.RandomState(0).bytes(4096))
    expect_failure(capsys, [f"--input_file={junk}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{junk} {NOT_A_GRAPH_DEF}")


@pytest.mark.parametrize("keep", [0.5, 0.9, -1], ids=["half", "90%", "last-byte"])
def test_truncated_graph_def(keep: float, capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                             out_dir: Path) -> None:
    data = models.graph.read_bytes()
    cut = tmp_path / "cut.pb"
    cut.write_bytes(data[:int(len(data) * keep)] if keep > 0 else data[:-1])
    line = expect_failure(capsys, [f"--input_file={cut}"], out_dir / "m.tflite", EXIT_ERROR, str(cut))
    assert NOT_A_GRAPH_DEF in line or "is not a valid GraphDef" in line


def test_empty_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, out_dir: Path) -> None:
    empty = tmp_path / "empty.pb"
    empty.touch()
    expect_failure(capsys, [f"--input_file={empty}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{empty} is empty; expected a frozen GraphDef (.pb)")


def test_empty_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path, out_dir: Path) -> None:
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    expect_failure(capsys, [f"--saved_model_dir={empty}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{empty} is not a SavedModel (no saved_model.pb inside); pass the directory "
                         "tf.saved_model.save wrote")


def test_tflite_as_input(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--input_file={models.tflite}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{models.tflite} is already a TFLite flatbuffer; qconvert converts TensorFlow models, pass "
                         "the frozen .pb or SavedModel it came from (use `qconvert inspect` to look at a .tflite)")


def test_tflite_as_input_subprocess(models: Models, out_dir: Path) -> None:
    expect_failure_subprocess([f"--input_file={models.tflite}"], out_dir / "m.tflite", EXIT_ERROR,
                              "is already a TFLite flatbuffer")


def test_saved_model_pb_as_graph_def(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    pb = models.saved_model / "saved_model.pb"
    expect_failure(capsys, [f"--input_file={pb}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{pb} looks like a SavedModel's saved_model.pb; pass its directory with "
                         f"--saved_model_dir={models.saved_model}")


def test_renamed_saved_model_proto_as_graph_def(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                                out_dir: Path) -> None:
    """Recognised by its content, not only by its name."""
    pb = tmp_path / "frozen.pb"
    shutil.copy(models.saved_model / "saved_model.pb", pb)
    expect_failure(capsys, [f"--input_file={pb}"], out_dir / "m.tflite", EXIT_ERROR,
                   f"{pb} looks like a SavedModel's saved_model.pb", f"--saved_model_dir={tmp_path}")


@pytest.mark.parametrize(("magic", "kind"), [(b"\x89HDF\r\n\x1a\n", "HDF5 (Keras .h5) file"),
                                             (b"PK\x03\x04", "zip archive (a .keras file?)")])
def test_keras_files(magic: bytes, kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                     out_dir: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(magic + bytes(100))
    expect_failure(capsys, [f"--input_file={f}"], out_dir / "m.tflite", EXIT_ERROR,
                   f"{f} is an {kind}" if kind.startswith("HDF5") else f"{f} is a {kind}",
                   f"convert it with --keras_model_file={f}")


def test_text_that_is_not_a_graph(capsys: pytest.CaptureFixture[str], tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "notes.pbtxt"
    f.write_text("this is not a graph\n")
    expect_failure(capsys, [f"--input_file={f}"], out_dir / "m.tflite", EXIT_ERROR, exact=f"{f} {NOT_A_GRAPH_DEF}")


def test_dangling_input_in_graph_def(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                     out_dir: Path) -> None:
    """A parseable GraphDef whose node reads a node that is not there is refused, naming both."""
    gd = type(models.graph_def)()
    gd.CopyFrom(models.graph_def)
    next(n for n in gd.node if n.name == "fc").input[1] = "deleted_weights"
    f = tmp_path / "dangling.pb"
    f.write_bytes(gd.SerializeToString())
    expect_failure(capsys, [f"--input_file={f}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{f} is not a valid GraphDef (corrupt or hand-edited): node 'fc' reads 'deleted_weights', "
                         "which is not a node of the graph; re-export the graph")


def test_const_with_truncated_data(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                   out_dir: Path) -> None:
    gd = type(models.graph_def)()
    gd.CopyFrom(models.graph_def)
    t = next(n for n in gd.node if n.name == "fc_w").attr["value"].tensor
    t.tensor_content = t.tensor_content[:100]
    f = tmp_path / "short_const.pb"
    f.write_bytes(gd.SerializeToString())
    expect_failure(capsys, [f"--input_file={f}"], out_dir / "m.tflite", EXIT_ERROR,
                   "Const node 'fc_w' has 100 bytes of data for shape [256, 5] of float32 (5,120 bytes)")


def test_truncated_saved_model(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                               out_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models.saved_model, broken)
    pb = broken / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:200])
    expect_failure(capsys, [f"--saved_model_dir={broken}"], out_dir / "m.tflite", EXIT_ERROR,
                   f"cannot load SavedModel {broken} with tags serve:",
                   "the SavedModel is incomplete or corrupt; export it again with tf.saved_model.save")


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_saved_model_with_damaged_variables(damage: str, capsys: pytest.CaptureFixture[str], models: Models,
                                            tmp_path: Path, out_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(models.saved_model, broken)
    if damage == "missing":
        shutil.rmtree(broken / "variables")
    else:
        for f in (broken / "variables").glob("variables.data-*"):
            f.write_bytes(f.read_bytes()[:5])
    expect_failure(capsys, [f"--saved_model_dir={broken}"], out_dir / "m.tflite", EXIT_ERROR,
                   f"cannot load SavedModel {broken} with tags serve:", "incomplete or corrupt")


def test_wrong_tag_set(capsys: pytest.CaptureFixture[str], models: Models, out_dir: Path) -> None:
    expect_failure(capsys, [f"--saved_model_dir={models.saved_model}", "--saved_model_tag_set=train"],
                   out_dir / "m.tflite", EXIT_ERROR,
                   f"cannot load SavedModel {models.saved_model} with tags train:", "check --saved_model_tag_set")


def test_empty_attribute(capsys: pytest.CaptureFixture[str], tf: Any, tmp_path: Path, out_dir: Path) -> None:  # noqa: ANN401
    """An attribute present but without a value (found by the fuzz test: handlers would read it as None)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="input")
        tf.quantization.fake_quant_with_min_max_vars(x, -1.0, 1.0, name="output")
    gd = g.as_graph_def()
    next(n for n in gd.node if n.name == "output").attr["num_bits"].Clear()
    f = tmp_path / "empty_attr.pb"
    f.write_bytes(gd.SerializeToString())
    expect_failure(capsys, [f"--input_file={f}", "--inference_type=QUANTIZED_UINT8"], out_dir / "m.tflite",
                   EXIT_ERROR, exact=f"{f} is not a valid GraphDef (corrupt or hand-edited): node 'output' has an empty "
                                     "attribute 'num_bits'; re-export the graph")


def test_const_dtype_differs_from_its_tensor(capsys: pytest.CaptureFixture[str], models: Models, tmp_path: Path,
                                             out_dir: Path) -> None:
    """TensorFlow trusts a Const's declared dtype and aborts the whole process (a C++ CHECK) when the tensor holds
    another type (found by the fuzz test): refused before TensorFlow sees the graph."""
    gd = type(models.graph_def)()
    gd.CopyFrom(models.graph_def)
    shape = next(n for n in gd.node if n.name == "flatten/shape")
    shape.attr["value"].tensor.dtype = 7  # DT_STRING
    f = tmp_path / "const_dtype.pb"
    f.write_bytes(gd.SerializeToString())
    expect_failure(capsys, [f"--input_file={f}"], out_dir / "m.tflite", EXIT_ERROR,
                   exact=f"{f} is not a valid GraphDef (corrupt or hand-edited): Const node 'flatten/shape' declares "
                         "dtype int32 but holds a string tensor; re-export the graph")


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "cannot read the HDF5 file"),
    (b"PK\x03\x04" + bytes(100), "is not a readable .keras file"),
    (b"not a model at all", "is neither an HDF5 (.h5) nor a .keras (zip) Keras model file"),
])
def test_keras_model_file_that_is_not_one(content: bytes, expected: str, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, out_dir: Path) -> None:
    f = tmp_path / "model.keras"
    f.write_bytes(content)
    expect_failure(capsys, [f"--keras_model_file={f}"], out_dir / "m.tflite", EXIT_ERROR, str(f), expected)


@pytest.mark.parametrize("damage", ["return value", "input", "control input"])
def test_saved_model_with_inconsistent_function_library(damage: str, capsys: pytest.CaptureFixture[str],
                                                        models: Models, tmp_path: Path, out_dir: Path) -> None:
    """A function output without a return value (a protobuf map lookup would read "") or a node input naming
    nothing: the damage a bit flip in a name does (tests/errors/test_fuzz.py found both as KeyError). A control
    input naming nothing too: TensorFlow refuses it on import ("input[1] == '^nothing_here', is not found"), where
    qconvert used to drop it silently."""
    from tensorflow.core.protobuf import saved_model_pb2

    broken = tmp_path / "broken"
    shutil.copytree(models.saved_model, broken)
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((broken / "saved_model.pb").read_bytes())
    for fn in (fn for mg in sm.meta_graphs for fn in mg.graph_def.library.function if fn.node_def):
        if damage == "return value":
            for arg in fn.signature.output_arg:
                fn.ret[arg.name + "_"] = fn.ret.pop(arg.name)
        elif damage == "input":
            next(n for n in fn.node_def if n.input).input[0] = "nothing_here"
        else:
            next(n for n in fn.node_def if n.input).input.append("^nothing_here")
    (broken / "saved_model.pb").write_bytes(sm.SerializeToString())
    line = expect_failure(capsys, [f"--saved_model_dir={broken}"], out_dir / "m.tflite", EXIT_ERROR,
                          "the model's function library is inconsistent, export it again")
    assert {"return value": "has no return value", "input": "input 'nothing_here' names no argument or node",
            "control input": "control input '^nothing_here' names no node or argument"}[damage] in line
