"""Operands fed as tensors, not constants: axes, paddings, begin/size, multiples, perm, shapes and dims that are
model inputs reach the TFLite kernel as tensors (never baked into constants), the shapes they decide are dynamic
in the .tflite (shape_signature -1), and every sample below feeds a different operand value, so a baked value
could not pass. Scalar inputs, scalar outputs and zero-size tensors convert and run too. Reference: TensorFlow
on the same graph; FLOAT within 1e-5 relative."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converter.errors import QConvertError
from tests.support.oneop import Case, OneOp, Spec, build, build_all, check_float, qconvert, qconvert_int8, \
    run_litert, sqnr_db, tf_convert_int8

RNG = np.random.default_rng(11)
F, I = "float32", "int32"
N = 3  # samples per case, each with its own operand value


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal((N, *shape)).astype(np.float32)


def _i(*values: Any) -> np.ndarray:  # noqa: ANN401
    return np.asarray(values, np.int32)


# name -> (input specs, feeds (first axis = samples), builder)
CASES: dict[str, Case] = {
    "expand_dims_axis": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), _i(2, -1, 0)],
                         lambda tf, x, a: tf.expand_dims(x, a) * 2.0),
    "sum_axes": ([Spec(F, (1, 4, 3)), Spec(I, (1,))], [_x(1, 4, 3), _i([1], [2], [-1])],
                 lambda tf, x, a: tf.reduce_sum(x, a)),
    "mean_axes_keepdims": ([Spec(F, (1, 4, 3)), Spec(I, (2,))], [_x(1, 4, 3), _i([1, 2], [0, -1], [2, 1])],
                           lambda tf, x, a: tf.reduce_mean(x, a, keepdims=True)),
    "max_axes_int64": ([Spec(F, (2, 4, 3)), Spec("int64", (1,))], [_x(2, 4, 3), np.array([[0], [1], [2]])],
                       lambda tf, x, a: tf.reduce_max(x, a)),
    "pad_paddings": ([Spec(F, (1, 4, 3)), Spec(I, (3, 2))],
                     [_x(1, 4, 3), _i([[0, 0], [1, 2], [0, 1]], [[0, 1], [0, 0], [2, 2]], [[0, 0], [0, 0], [0, 0]])],
                     lambda tf, x, p: tf.pad(x, p)),
    "mirror_pad_paddings": ([Spec(F, (1, 4, 3)), Spec(I, (3, 2))],
                            [_x(1, 4, 3), _i([[0, 0], [1, 2], [0, 1]], [[0, 0], [0, 0], [2, 2]],
                                             [[0, 0], [3, 0], [1, 0]])],
                            lambda tf, x, p: tf.pad(x, p, mode="REFLECT")),
    "transpose_perm": ([Spec(F, (1, 4, 3)), Spec(I, (3,))], [_x(1, 4, 3), _i([2, 0, 1], [0, 2, 1], [1, 2, 0])],
                       lambda tf, x, p: tf.transpose(x, p)),
    "reshape_shape": ([Spec(F, (1, 4, 3)), Spec(I, (2,))], [_x(1, 4, 3), _i([3, 4], [12, 1], [2, -1])],
                      lambda tf, x, s: tf.reshape(x, s) + 1.0),
    "tile_multiples": ([Spec(F, (1, 4, 3)), Spec(I, (3,))], [_x(1, 4, 3), _i([2, 1, 3], [1, 1, 1], [1, 2, 1])],
                       lambda tf, x, m: tf.tile(x, m)),
    "slice_begin": ([Spec(F, (1, 4, 3)), Spec(I, (3,))], [_x(1, 4, 3), _i([0, 1, 1], [0, 2, 0], [0, 0, 1])],
                    lambda tf, x, b: tf.slice(x, b, [1, 2, 2])),
    "slice_size": ([Spec(F, (1, 4, 3)), Spec(I, (3,))], [_x(1, 4, 3), _i([1, 3, -1], [1, -1, 1], [1, 1, 2])],
                   lambda tf, x, s: tf.slice(x, [0, 0, 0], s)),
    "strided_slice_begin_end": ([Spec(F, (1, 6, 3)), Spec(I, (3,)), Spec(I, (3,))],
                                [_x(1, 6, 3), _i([0, 1, 0], [0, 0, 1], [0, 5, 0]), _i([1, 5, 3], [1, 6, 2],
                                                                                      [1, 6, 3])],
                                lambda tf, x, b, e: tf.strided_slice(x, b, e, [1, 2, 1])),
    "fill_dims": ([Spec(F, ()), Spec(I, (2,))], [_x(), _i([2, 5], [1, 1], [3, 2])], lambda tf, v, d: tf.fill(d, v)),
    "fill_computed_value": ([Spec(F, (1, 4, 3))], [_x(1, 4, 3)], lambda tf, x: tf.fill([2, 3], tf.reduce_max(x))),
    "range_limit": ([Spec(I, ())], [_i(5, 1, 7)], lambda tf, n: tf.range(0, n, 2)),
    "range_float": ([Spec(F, ()), Spec(F, ())], [np.float32([[0.5], [1], [-2]]).reshape(N), _x()],
                    lambda tf, a, b: tf.range(a, a + 3.0 + tf.abs(b), 0.75)),
    "argmax_axis": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), _i(1, 2, -1)],
                    lambda tf, x, a: tf.argmax(x, a, output_type=tf.int32)),
    "split_axis": ([Spec(F, (2, 4, 2)), Spec(I, ())], [_x(2, 4, 2), _i(0, 1, 2)],
                   lambda tf, x, a: tf.split(x, 2, axis=a)[1]),
    "split_v_sizes": ([Spec(F, (1, 6, 2)), Spec(I, (2,))], [_x(1, 6, 2), _i([2, 4], [5, 1], [3, 3])],
                      lambda tf, x, s: tf.split(x, s, axis=1)[0]),
    "resize_size": ([Spec(F, (1, 4, 4, 2)), Spec(I, (2,))], [_x(1, 4, 4, 2), _i([8, 8], [3, 5], [4, 4])],
                    lambda tf, x, s: tf.compat.v1.image.resize_bilinear(x, s)),
    "reverse_axis": ([Spec(F, (1, 4, 3)), Spec(I, (1,))], [_x(1, 4, 3), _i([1], [2], [-1])],
                     lambda tf, x, a: tf.reverse(x, a)),
    "broadcast_to_shape": ([Spec(F, (1, 3)), Spec(I, (3,))], [_x(1, 3), _i([2, 2, 3], [1, 1, 3], [4, 1, 3])],
                           lambda tf, x, s: tf.broadcast_to(x, s)),
    # What depends on a dynamic shape stays dynamic: Shape, ZerosLike, OnesLike of it are kernels, not constants.
    "shape_of_dynamic": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), _i(0, 1, 3)],
                         lambda tf, x, a: tf.shape(tf.expand_dims(x, a))),
    "size_of_dynamic": ([Spec(F, (1, 4, 3)), Spec(I, (3,))], [_x(1, 4, 3), _i([2, 1, 3], [1, 1, 1], [1, 2, 1])],
                        lambda tf, x, m: tf.size(tf.tile(x, m))),
    "zeros_like_dynamic": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), _i(0, 1, 3)],
                           lambda tf, x, a: tf.zeros_like(tf.expand_dims(x, a)) + 1.5),
    "ones_like_dynamic": ([Spec(F, (1, 4, 3)), Spec(I, ())], [_x(1, 4, 3), _i(0, 1, 3)],
                          lambda tf, x, a: tf.ones_like(tf.expand_dims(x, a)) * 2.0),
    # Scalars in and out, and zero-size tensors.
    "scalar_in_out": ([Spec(F, ()), Spec(F, ())], [_x(), _x()], lambda tf, a, b: a * b + 1.0),
    "scalar_reduce": ([Spec(F, (1, 4, 3))], [_x(1, 4, 3)], lambda tf, x: tf.reduce_sum(x)),
    "zero_size_input": ([Spec(F, (1, 0, 3))], [_x(1, 0, 3)], lambda tf, x: tf.concat([x * 2.0, x], 1)),
    "zero_size_slice": ([Spec(F, (1, 4, 3))], [_x(1, 4, 3)], lambda tf, x: tf.reduce_sum(x[:, 2:2], axis=1) + 1.0),
}


@pytest.fixture(scope="module")
def models(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, OneOp]:  # noqa: ANN401
    return build_all(tmp_path_factory.mktemp("operands"), CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_float(name: str, models: dict[str, OneOp]) -> None:
    check_float(models[name])


def test_dynamic_shapes_are_marked(models: dict[str, OneOp]) -> None:
    """The result of expand_dims with a run-time axis has no static dims: -1 in its shape signature."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=qconvert(models["expand_dims_axis"]))
    out = it.get_output_details()[0]
    assert list(out["shape_signature"]) == [-1, -1, -1, -1]
    ops = {d["op_name"] for d in it._get_ops_details()}  # noqa: SLF001 - the public API has no op list
    assert "EXPAND_DIMS" in ops


def test_expand_dims_axis_int8(models: dict[str, OneOp]) -> None:
    """INT8 with float I/O: the axis stays a run-time int32 input; SQNR within 0.5 dB of TensorFlow's converter."""
    op = models["expand_dims_axis"]
    ours = sqnr_db(run_litert(qconvert_int8(op), op), op.expected)
    theirs = sqnr_db(run_litert(tf_convert_int8(op), op), op.expected)
    assert ours >= theirs - 0.5, f"qconvert {ours:.2f} dB, TensorFlow {theirs:.2f} dB"


def test_constant_operand_still_required_names_it(tf: Any, tmp_path: Path) -> None:  # noqa: ANN401
    """Where TFLite needs a constant (the concat axis is an option), the error names the operand."""
    op = build(tmp_path, "concat_axis", [Spec(F, (1, 4, 3)), Spec(I, ())], lambda x, a: tf.concat([x, x], a),
               [_x(1, 4, 3), _i(1, 1, 1)])
    with pytest.raises(QConvertError, match=r"ConcatV2\): the concat axis \(input 2, in1\) must be a constant"):
        qconvert(op)
