"""Weights a SavedModel keeps beside its GraphDef (saved_model_reader: a Const holding only dtype and shape, marked
STORED_MARK) are never read as the zeros of their empty tensor: StaticValues does not count their value as static
(their shape stays static), and the TensorList resolver does not take an index or a count from one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.frontend.static_values import STORED_MARK, StaticValues
from converter.frontend.tensor_lists import resolve_tensor_lists


def _stored(tf: Any, name: str, dtype: Any, shape: list[int]) -> Any:  # noqa: ANN401
    """A Const as saved_model_reader leaves a stored weight: dtype and shape, no content, the mark."""
    node = tf.compat.v1.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = dtype.as_datatype_enum
    node.attr["value"].tensor.dtype = dtype.as_datatype_enum
    for d in shape:
        node.attr["value"].tensor.tensor_shape.dim.add(size=d)
    node.attr[STORED_MARK].b = True
    return node


def test_a_stored_weight_has_a_static_shape_but_no_static_value(tf: Any) -> None:  # noqa: ANN401
    g = tf.Graph()
    with g.as_default():
        w = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
        tf.reduce_sum(w, name="total")
        tf.shape(w, name="shape")
    gd = g.as_graph_def()
    plain = StaticValues(gd)
    assert plain.is_static("total:0") and plain.evaluate(["total:0"])[0] == 15.0
    for i, n in enumerate(gd.node):
        if n.name == "w":
            gd.node[i].CopyFrom(_stored(tf, "w", tf.float32, [2, 3]))
    with StaticValues(gd) as sv:
        assert not sv.is_static("w:0") and not sv.is_static("total:0")  # not 0.0 from an empty tensor
        assert sv.is_static("shape:0") and list(sv.evaluate(["shape:0"])[0]) == [2, 3]


def test_a_tensor_list_count_from_a_stored_const_is_not_read_as_zero(tf: Any) -> None:  # noqa: ANN401
    g = tf.Graph()
    with g.as_default():
        n = tf.constant(3, name="count")
        lst = tf.raw_ops.TensorListReserve(element_shape=tf.constant([2], tf.int32), num_elements=n,
                                           element_dtype=tf.float32, name="list")
        tf.raw_ops.TensorListLength(input_handle=lst, name="length")
    gd = g.as_graph_def()
    for i, node in enumerate(gd.node):
        if node.name == "count":
            gd.node[i].CopyFrom(_stored(tf, "count", tf.int32, []))
    with pytest.raises(ConversionError, match="is not a constant"):
        resolve_tensor_lists(gd)
