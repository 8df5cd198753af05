"""Reading a frozen GraphDef file (binary or text protobuf) with a clear error for anything else.

Besides parsing, the file is checked for what the importer takes for granted: unique node names, inputs that
name existing nodes, and Const tensors whose data fits their declared shape (a corrupt file fails here, with
the node named, rather than deep inside the importer).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..tf_runtime import tensorflow

_TFLITE_MAGIC = b"TFL3"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# A protobuf message (hence a GraphDef file) cannot exceed 2 GiB.
_MAX_PROTO_BYTES = 2**31 - 1
# 'name', 'name:3' or '^name' (a control input).
_INPUT_RE = re.compile(r"^\^?[^:^\s][^:]*(:\d+)?$")


def read_model_bytes(path: Path) -> bytes:
    """The file's bytes, or an InputError naming what is wrong with the path."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(
            f"input file {path} does not exist; check the path given to --input_file/--graph_def_file"
        ) from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}; check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(
            f"{path} is a directory, not a GraphDef file; for a SavedModel use --saved_model_dir={path}"
        )
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is not a regular file (a device, pipe or socket); save the GraphDef to a file")
    if st.st_size > _MAX_PROTO_BYTES:
        raise InputError(
            f"{path} is {st.st_size:,} bytes, more than the 2 GiB a GraphDef protobuf can hold; "
            "export the model as a SavedModel and use --saved_model_dir"
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}; check its permissions") from None


def _refuse_other_formats(data: bytes, path: Path) -> None:
    """Recognise files that are certainly not a GraphDef by their first bytes (before TensorFlow loads)."""
    if not data:
        raise InputError(f"{path} is empty; expected a frozen GraphDef (.pb)")
    if data[4:8] == _TFLITE_MAGIC:
        raise InputError(
            f"{path} is already a TFLite flatbuffer; qconvert converts TensorFlow models, pass the frozen .pb or "
            "SavedModel it came from (use `qconvert inspect` to look at a .tflite)"
        )
    if data.startswith(_HDF5_MAGIC):
        raise InputError(
            f"{path} is an HDF5 (Keras .h5) file, not a GraphDef; convert it with --keras_model_file={path}"
        )
    if data.startswith(_ZIP_MAGIC):
        raise InputError(
            f"{path} is a zip archive (a .keras file?), not a GraphDef; convert it with --keras_model_file={path}"
        )


def parse_graph_def(data: bytes, path: Path) -> Any:  # noqa: ANN401 - GraphDef protobuf
    """Parse binary or text GraphDef bytes; refuse TFLite files, SavedModel protos and junk with one message."""
    _refuse_other_formats(data, path)
    tensorflow()  # quiet TF start-up before its protobuf modules load
    from google.protobuf import message, text_format  # noqa: PLC0415
    from tensorflow.core.framework import graph_pb2  # noqa: PLC0415

    gd = graph_pb2.GraphDef()
    try:
        gd.ParseFromString(data)
        if _plausible(gd):
            validate_graph_def(gd, path)
            return gd
    except (message.DecodeError, RuntimeWarning, ValueError):
        pass
    gd = graph_pb2.GraphDef()
    try:
        text_format.Parse(data.decode("utf-8"), gd)
        if _plausible(gd):
            validate_graph_def(gd, path)
            return gd
    except (UnicodeDecodeError, text_format.ParseError, ValueError):
        pass
    if path.name == "saved_model.pb" or (path.parent / "variables").is_dir() or _is_saved_model(data):
        raise InputError(
            f"{path} looks like a SavedModel's saved_model.pb; pass its directory with --saved_model_dir={path.parent}"
        )
    raise InputError(
        f"{path} is not a TensorFlow GraphDef (binary or text protobuf; file truncated or of another kind); "
        "export a frozen graph, or pass a SavedModel directory with --saved_model_dir"
    )


def _plausible(gd: Any) -> bool:  # noqa: ANN401
    """A parse of random bytes can 'succeed'; a real graph has nodes that all have a name and an op."""
    if len(gd.node) == 0:
        return False
    return all(n.name and n.op for n in gd.node)


def _is_saved_model(data: bytes) -> bool:
    from google.protobuf import message  # noqa: PLC0415
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415

    sm = saved_model_pb2.SavedModel()
    try:
        sm.ParseFromString(data)
    except (message.DecodeError, RuntimeWarning, ValueError):
        return False
    return any(len(mg.graph_def.node) > 0 for mg in sm.meta_graphs)


def validate_graph_def(gd: Any, path: Path) -> None:  # noqa: ANN401
    """Refuse a GraphDef the importer could not trust: duplicate node names, malformed or dangling inputs,
    Const tensors whose data does not fit their shape. Reads only protobuf fields (no weights are decoded)."""
    bad = f"{path} is not a valid GraphDef (corrupt or hand-edited)"
    names: set[str] = set()
    for nd in gd.node:
        if nd.name in names:
            raise InputError(f"{bad}: two nodes are named {nd.name!r}; re-export the graph")
        names.add(nd.name)
    for nd in gd.node:
        for inp in nd.input:
            if not _INPUT_RE.match(inp):
                raise InputError(f"{bad}: node {nd.name!r} has a malformed input {inp!r}; re-export the graph")
            src = inp.lstrip("^").split(":")[0]
            if src not in names:
                raise InputError(
                    f"{bad}: node {nd.name!r} reads {inp!r}, which is not a node of the graph; re-export the graph"
                )
        for key in sorted(nd.attr):
            if nd.attr[key].WhichOneof("value") is None:
                raise InputError(f"{bad}: node {nd.name!r} has an empty attribute {key!r}; re-export the graph")
        if nd.op == "Const":
            _check_const(nd, bad)


def _check_const(nd: Any, bad: str) -> None:  # noqa: ANN401
    tf = tensorflow()
    if "value" not in nd.attr or nd.attr["value"].WhichOneof("value") != "tensor":
        raise InputError(f"{bad}: Const node {nd.name!r} has no tensor value; re-export the graph")
    t = nd.attr["value"].tensor
    try:
        dtype = tf.dtypes.as_dtype(t.dtype)
    except TypeError:
        raise InputError(f"{bad}: Const node {nd.name!r} has an unknown dtype ({t.dtype}); re-export the graph") \
            from None
    declared = nd.attr["dtype"].type if "dtype" in nd.attr else None
    if declared != t.dtype:
        # TensorFlow trusts the declared dtype and aborts the process on a mismatch (a C++ CHECK), so refuse here.
        raise InputError(
            f"{bad}: Const node {nd.name!r} declares dtype {_dtype_name(declared)} but holds a {dtype.name} tensor; "
            "re-export the graph"
        )
    if t.tensor_shape.unknown_rank:
        raise InputError(f"{bad}: Const node {nd.name!r} has no shape; re-export the graph")
    dims = [d.size for d in t.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise InputError(f"{bad}: Const node {nd.name!r} has a negative dimension {dims}; re-export the graph")
    count = 1
    for d in dims:
        count *= d
    if dtype in (tf.string, tf.resource, tf.variant):
        return
    nbytes = count * dtype.size
    if nbytes > _MAX_PROTO_BYTES:
        raise InputError(
            f"{bad}: Const node {nd.name!r} declares shape {dims} ({nbytes:,} bytes), more than a model can "
            "hold; re-export the graph"
        )
    if t.tensor_content:
        if len(t.tensor_content) != nbytes:
            raise InputError(
                f"{bad}: Const node {nd.name!r} has {len(t.tensor_content):,} bytes of data for shape {dims} of "
                f"{dtype.name} ({nbytes:,} bytes); re-export the graph"
            )
        return
    field = _VALUE_FIELDS.get(dtype.name)
    if field is not None:
        n = len(getattr(t, field))
        if field in ("scomplex_val", "dcomplex_val"):
            n //= 2
        if n > count:
            raise InputError(
                f"{bad}: Const node {nd.name!r} has {n} value(s) for shape {dims} ({count} element(s)); "
                "re-export the graph"
            )


_VALUE_FIELDS = {
    "float16": "half_val", "bfloat16": "half_val", "float32": "float_val", "float64": "double_val",
    "int32": "int_val", "uint8": "int_val", "uint16": "int_val", "int16": "int_val", "int8": "int_val",
    "qint32": "int_val", "quint8": "int_val", "qint8": "int_val", "qint16": "int_val", "quint16": "int_val",
    "int64": "int64_val", "uint32": "uint32_val", "uint64": "uint64_val", "bool": "bool_val",
    "complex64": "scomplex_val", "complex128": "dcomplex_val",
}


def _dtype_name(enum: int | None) -> str:
    if enum is None:
        return "(none)"
    try:
        return str(tensorflow().dtypes.as_dtype(enum).name)
    except TypeError:
        return f"#{enum}"


def load_graph_def(path: Path) -> Any:  # noqa: ANN401
    return parse_graph_def(read_model_bytes(path), path)
