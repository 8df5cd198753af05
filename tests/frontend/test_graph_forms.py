"""Graph forms users bring: dangling colocation attributes, every TFLite tensor type, scalars given with
--input_shapes as tflite_convert takes them. Reference: TensorFlow on the same graph, run in LiteRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.config import ConversionConfig
from converter.errors import ConversionError
from converter.pipeline import convert
from tests.support.oneop import Spec, assert_float_match, build, qconvert, run_litert

RNG = np.random.default_rng(5)


def test_dangling_colocation_accepted(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """``_class: loc:@missing_node`` (a frozen graph whose variables were cut away) is a placement hint: ignored."""
    op = build(tmp_path, "coloc", [Spec("float32", (1, 4))],
               lambda x: tf.matmul(x, np.arange(8, dtype=np.float32).reshape(4, 2)) + 1.0,
               [RNG.standard_normal((2, 1, 4)).astype(np.float32)])
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(op.path.read_bytes())
    for node in gd.node:
        if node.op in ("Const", "MatMul"):
            node.attr["_class"].list.s.append(b"loc:@missing_node")
    op.path.write_bytes(gd.SerializeToString())
    with pytest.raises(ValueError, match="colocated with unknown node"):  # what TensorFlow's own import says
        tf.graph_util.import_graph_def(gd, name="")
    assert_float_match(run_litert(qconvert(op), op), op.expected)


@pytest.mark.parametrize(("dtype", "tflite_type"), [("uint16", 16), ("uint32", 15), ("int16", 7), ("int64", 4),
                                                     ("float64", 10), ("uint8", 3), ("int8", 9)])
def test_integer_and_wide_types(dtype: str, tflite_type: int, tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """An input of each type, cast to float32 in the model: the input keeps its TFLite type and LiteRT's CAST reads
    it exactly."""
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = (np.array([[info.min, 0, 1, info.max]], dtype) if info is not None else
              np.array([[-1.5, 0.0, 2.25, 1e30]], dtype))
    op = build(tmp_path, dtype, [Spec(dtype, (1, 4))], lambda x: tf.cast(x, tf.float32) * 0.5, [values[None]])
    model = qconvert(op)
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_content=model).get_input_details()[0]
    assert np.dtype(detail["dtype"]) == np.dtype(dtype)
    from schema.tflite.Model import Model

    sg = Model.GetRootAs(model, 0).Subgraphs(0)
    assert sg.Tensors(sg.Inputs(0)).Type() == tflite_type
    assert_float_match(run_litert(model, op), op.expected)


def test_type_tflite_lacks_is_one_line(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """A TF quantized type (qint8) has no TFLite tensor type: one error naming the type and the tensor."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.qint8, [1, 4], name="in0")
        tf.identity(x, name="out")
    path = tmp_path / "qint8.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    with pytest.raises(ConversionError, match=r"^TFLite has no tensor type for .*\(in0") as e:
        convert(ConversionConfig(input_path=path, output_path=tmp_path / "m.tflite", input_arrays=("in0",),
                                 output_arrays=("out",)))
    assert "\n" not in str(e.value)


def test_input_shapes_empty_entry_is_scalar(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """``--input_shapes=1,4:`` as in tflite_convert: the second input is a scalar (its declared shape unknown)."""
    from cli.main import main

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, name="x")
        s = tf.compat.v1.placeholder(tf.float32, None, name="s")
        tf.identity(x * s, name="out")
    path = tmp_path / "scalar.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    out = tmp_path / "m.tflite"
    try:
        main([f"--input_file={path}", f"--output_file={out}", "--input_arrays=x,s", "--output_arrays=out",
              "--input_shapes=1,4:", "-q"])
    except SystemExit as e:
        assert e.code in (0, None)
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(out))
    it.allocate_tensors()
    shapes = {d["name"]: list(d["shape"]) for d in it.get_input_details()}
    assert shapes == {"x": [1, 4], "s": []}
    xv = RNG.standard_normal((1, 4)).astype(np.float32)
    for d in it.get_input_details():
        it.set_tensor(d["index"], xv if d["name"] == "x" else np.float32(-2.5))
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), xv * -2.5, rtol=1e-6)


@pytest.mark.parametrize("kind", ["input", "constant", "scalar_input"])
def test_identity_as_graph_output(kind: str, tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """An output that is an input or a constant under its own name converts (a copy: a RESHAPE to its shape)."""
    shape = () if kind == "scalar_input" else (1, 4)
    x_data = RNG.standard_normal((2, *shape)).astype(np.float32)

    def fn(x: Any) -> Any:  # noqa: ANN401
        if kind == "constant":
            return tf.identity(tf.constant([1.5, -2.0]))
        return tf.identity(x)

    op = build(tmp_path, kind, [Spec("float32", shape)], fn, [x_data])
    assert_float_match(run_litert(qconvert(op), op), op.expected)


def test_identity_between_two_outputs(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """Two outputs, one the identity of the other: both names are outputs, both hold relu(x)."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 4], name="x")
        tf.identity(tf.nn.relu(x, name="r"), name="out")
    path = tmp_path / "two.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    model = convert(ConversionConfig(input_path=path, output_path=tmp_path / "m.tflite", input_arrays=("x",),
                                     output_arrays=("r", "out"))).tflite
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    xv = RNG.standard_normal((1, 4)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], xv)
    it.invoke()
    outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    assert sorted(outs) == ["out", "r"]
    for v in outs.values():
        np.testing.assert_array_equal(v, np.maximum(xv, 0))


FOLD_CASES = {
    # Ops without a handler (MatrixInverse, Svd, Cumprod) on constants: computed at conversion time.
    "inverse_of_weight": lambda tf, x: tf.matmul(x, tf.linalg.inv(np.float32([[2, 1, 0, 0], [0, 1, 0, 0],
                                                                              [0, 0, 3, 1], [1, 0, 0, 1]]))),
    "svd_and_cumprod_of_constants": lambda tf, x: x * tf.linalg.svd(np.eye(4, dtype=np.float32) * 2.0,
                                                                    compute_uv=False) + tf.math.cumprod(
        np.float32([1.0, 2.0, 0.5, 3.0])),
    # TensorFlow builds these from Range and shape arithmetic over constants.
    "softmax_non_last_axis": lambda tf, x: tf.nn.softmax(tf.reshape(x, [1, 2, 2]), axis=1),
    "signal_frame": lambda tf, x: tf.signal.frame(x, 2, 1, axis=-1),
}


@pytest.mark.parametrize("name", list(FOLD_CASES))
def test_constant_subgraphs_fold_before_the_supported_op_check(name: str, tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    op = build(tmp_path, name, [Spec("float32", (1, 4))], lambda x: FOLD_CASES[name](tf, x),
               [RNG.standard_normal((2, 1, 4)).astype(np.float32)])
    assert_float_match(run_litert(qconvert(op), op), op.expected)
