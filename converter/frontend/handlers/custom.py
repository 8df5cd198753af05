"""TF ops with no TFLite builtin, kept as CUSTOM operators (--allow_custom_ops), the way TOCO wrote them.

TF -> IR:
  <op type without a handler>(inputs...) -> custom(inputs...), CustomAttrs(code=<op type>, options=<node attrs>)

The node's attributes become the operator's FlexBuffer options with TOCO's mapping: string, int, float and bool
attributes, and lists of strings, ints or floats; other kinds (types, shapes, tensors, functions) carry nothing a
kernel reads and are left out. ``_output_quantized`` says the kernel takes quantized data and
``_support_output_type_float_in_quantized_op`` that its float outputs stay float in a quantized model (TF1's object
detection exporter sets both on TFLite_Detection_PostProcess).

Outputs keep their TensorFlow types and shapes. For ops TensorFlow knows, its shape inference gives them; for ops
it does not know (TFLite_Detection_PostProcess, or ops registered only by --custom_opdefs) the importer lets a
stand-in (``stand_ins``) take the node's place during shape inference, typed by the node's ``_output_types`` (or
the OpDef) and shaped by ``_output_shapes`` or the op's known output rule (``known_output_shapes``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConversionError, InputError, UsageError
from ...ir import Node
from ...ir.attrs import CustomAttrs, CustomOption
from ...tf_runtime import tensorflow
from ..context import ImportContext
from ..registry import reference

CUSTOM_OP = "custom"
DETECTION_POSTPROCESS = "TFLite_Detection_PostProcess"
OUTPUT_QUANTIZED = "_output_quantized"
FLOAT_OUTPUTS_OK = "_support_output_type_float_in_quantized_op"
_OUTPUT_TYPES = "_output_types"
_OUTPUT_SHAPES = "_output_shapes"


# ---------------------------------------------------------------------------------------------- attributes
def custom_options(node_def: Any) -> tuple[tuple[str, CustomOption], ...]:  # noqa: ANN401 - NodeDef
    """The attributes a custom kernel can read, sorted by name (a FlexBuffer map is sorted by key)."""
    out: list[tuple[str, CustomOption]] = []
    for key in sorted(node_def.attr):
        value = node_def.attr[key]
        kind = value.WhichOneof("value")
        if kind == "s":
            out.append((key, value.s.decode("utf-8", errors="replace")))
        elif kind == "i":
            out.append((key, int(value.i)))
        elif kind == "f":
            out.append((key, float(value.f)))
        elif kind == "b":
            out.append((key, bool(value.b)))
        elif kind == "list" and len(value.list.s):
            out.append((key, tuple(v.decode("utf-8", errors="replace") for v in value.list.s)))
        elif kind == "list" and len(value.list.i):
            out.append((key, tuple(int(v) for v in value.list.i)))
        elif kind == "list" and len(value.list.f):
            out.append((key, tuple(float(v) for v in value.list.f)))
    return tuple(out)


def _bool_attr(node_def: Any, key: str) -> bool:  # noqa: ANN401
    return key in node_def.attr and node_def.attr[key].WhichOneof("value") == "b" and bool(node_def.attr[key].b)


# Ops registered by --custom_opdefs: TensorFlow registers a placeholder CPU kernel for them that computes nothing.
_REGISTERED_OPDEFS: dict[str, bytes] = {}


def tf_has_kernel(op_type: str) -> bool:
    """Whether TensorFlow can run ``op_type`` (its OpDef and a real CPU kernel are registered)."""
    tensorflow()
    from tensorflow.python.framework import kernels, op_def_registry  # noqa: PLC0415

    if op_type in _REGISTERED_OPDEFS or op_def_registry.get(op_type) is None:
        return False
    return any(k.device_type == "CPU" for k in kernels.get_registered_kernels_for_op(op_type).kernel)


def custom_attrs(node_def: Any) -> CustomAttrs:  # noqa: ANN401
    return CustomAttrs(code=node_def.op, options=custom_options(node_def),
                       quantized=_bool_attr(node_def, OUTPUT_QUANTIZED),
                       float_outputs=_bool_attr(node_def, FLOAT_OUTPUTS_OK),
                       tf_kernel=tf_has_kernel(node_def.op), node_def=node_def.SerializeToString())


def emit_custom(ctx: ImportContext) -> None:
    """The node as one ``custom`` IR node: its data inputs in order, one output per TF output."""
    outputs = [ctx.output(i) for i in range(ctx.num_outputs)]
    ctx.graph.add_node(CUSTOM_OP, ctx.inputs(), outputs, custom_attrs(ctx.node_def), name=ctx.name,
                       tf_op=ctx.op_type)


# ---------------------------------------------------------------------------------------------- shapes
def known_output_shapes(node_def: Any, input_shapes: Sequence[tuple[int, ...] | None]) -> list[tuple[int, ...]] | None:  # noqa: ANN401
    """Output shapes of custom ops whose LiteRT kernel fixes them (TOCO knew the same rule).

    TFLite_Detection_PostProcess: N = max_detections * max_classes_per_detection boxes; outputs boxes [1, N, 4],
    classes [1, N], scores [1, N] and the number of detections [1]."""
    if node_def.op != DETECTION_POSTPROCESS:
        return None
    attrs = dict(custom_options(node_def))
    n = int(attrs.get("max_detections", 0)) * int(attrs.get("max_classes_per_detection", 1))
    if n <= 0:
        raise InputError(f"node {node_def.name!r} ({node_def.op}): max_detections must be > 0; re-export the graph")
    return [(1, n, 4), (1, n), (1, n), (1,)]


def output_signature(node_def: Any, input_shapes: Sequence[tuple[int, ...] | None]  # noqa: ANN401
                     ) -> list[tuple[int, tuple[int, ...] | None]]:
    """(TF dtype enum, static shape or None) of each output of a custom op TensorFlow cannot run."""
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415

    if _OUTPUT_TYPES in node_def.attr and len(node_def.attr[_OUTPUT_TYPES].list.type):
        types = [int(t) for t in node_def.attr[_OUTPUT_TYPES].list.type]
    else:
        op_def = op_def_registry.get(node_def.op)
        if op_def is None:
            raise InputError(
                f"node {node_def.name!r}: op {node_def.op} is not a TensorFlow op and the node has no "
                f"{_OUTPUT_TYPES} attribute; register its OpDef with --custom_opdefs so its outputs are known"
            )
        types = []
        for arg in op_def.output_arg:
            if arg.number_attr or arg.type_list_attr:
                raise InputError(
                    f"node {node_def.name!r} ({node_def.op}): its OpDef has a list output ({arg.name}); give the "
                    f"node an {_OUTPUT_TYPES} attribute with one type per output"
                )
            types.append(int(arg.type) if arg.type else int(node_def.attr[arg.type_attr].type))
    shapes: list[tuple[int, ...] | None] = [None] * len(types)
    if _OUTPUT_SHAPES in node_def.attr and len(node_def.attr[_OUTPUT_SHAPES].list.shape) == len(types):
        for k, s in enumerate(node_def.attr[_OUTPUT_SHAPES].list.shape):
            dims = [d.size for d in s.dim]
            if not s.unknown_rank and all(d >= 0 for d in dims):
                shapes[k] = tuple(dims)
    known = known_output_shapes(node_def, input_shapes)
    if known is not None and len(known) == len(types):
        shapes = [s if s is not None else k for s, k in zip(shapes, known, strict=True)]
    return list(zip(types, shapes, strict=True))


def stand_ins(node_def: Any, signature: Sequence[tuple[int, tuple[int, ...] | None]]) -> list[Any]:  # noqa: ANN401
    """NodeDefs standing for a custom op TensorFlow cannot run, for shape inference only: a Placeholder per output
    (its type and shape) and an IdentityN of them named like the node, so that ``name:k`` resolves as before."""
    tf = tensorflow()
    out = []
    for k, (dtype, shape) in enumerate(signature):
        ph = type(node_def)()
        ph.name = f"{node_def.name}/_qconvert_output_{k}"
        ph.op = "Placeholder"
        ph.attr["dtype"].type = dtype
        ph.attr["shape"].shape.CopyFrom(tf.TensorShape(shape).as_proto())
        out.append(ph)
    ident = type(node_def)()
    ident.name = node_def.name
    ident.op = "IdentityN"
    ident.input.extend(p.name for p in out)
    ident.attr["T"].list.type.extend(dtype for dtype, _ in signature)
    out.append(ident)
    return out


# ---------------------------------------------------------------------------------------------- reference
@reference(CUSTOM_OP)
def ref_custom(node: Node, *inputs: Any) -> list[Any]:  # noqa: ANN401
    """The TF op itself (for calibration and constant folding), when TensorFlow has a kernel for it."""
    tf = tensorflow()
    a: CustomAttrs = node.attrs  # type: ignore[assignment]
    if not a.tf_kernel:
        raise ConversionError(
            f"custom op {a.code} (node {node.name!r}) has no TensorFlow kernel, so qconvert cannot compute what "
            "depends on it (calibration); give ranges with --default_ranges_min/--default_ranges_max, or end the "
            "graph before it with --output_arrays"
        )
    from tensorflow.core.framework import node_def_pb2  # noqa: PLC0415

    nd = node_def_pb2.NodeDef.FromString(a.node_def)
    attrs = {k: v for k, v in nd.attr.items() if k not in (_OUTPUT_TYPES, _OUTPUT_SHAPES)}
    dtypes = [tf.as_dtype(np.dtype(t.dtype)) for t in node.outputs]

    def run(*xs: Any) -> list[Any]:  # noqa: ANN401
        op = tf.compat.v1.get_default_graph().create_op(a.code, list(xs), dtypes, attrs=attrs,
                                                        name=node.name.replace("/", "_"))
        return list(op.outputs)

    args = [x for x in inputs if x is not None]
    return list(tf.function(run, autograph=False)(*args))


# ---------------------------------------------------------------------------------------------- --custom_opdefs
_OP_NAME = re.compile(r"^[A-Z][a-zA-Z0-9>_]*$")
_ARG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ATTR_TYPES = frozenset({"string", "int", "float", "bool", "type", "shape", "tensor", "func"})


def register_opdefs(texts: Sequence[str]) -> list[str]:
    """Register custom OpDefs (text protos, as tflite_convert's --custom_opdefs takes them) with TensorFlow, so
    that a GraphDef using them imports and their outputs are typed. Every OpDef is checked here first: TensorFlow
    aborts the process on an invalid or duplicate registration. An op already registered with the same OpDef is
    left alone. Returns the op names."""
    tensorflow()
    from google.protobuf import text_format  # noqa: PLC0415
    from tensorflow.compiler.mlir.lite.python import wrap_converter  # noqa: PLC0415
    from tensorflow.core.framework import op_def_pb2  # noqa: PLC0415
    from tensorflow.python.framework import op_def_registry  # noqa: PLC0415

    names, pending, fresh = [], [], {}
    for text in texts:
        op = op_def_pb2.OpDef()
        try:
            text_format.Parse(text, op)
        except text_format.ParseError as e:
            raise UsageError(f"--custom_opdefs: {text[:60]!r} is not an OpDef text proto ({e}); write e.g. "
                             "\"name: 'MyOp' input_arg: { name: 'x' type: DT_FLOAT } output_arg: { name: 'y' "
                             "type: DT_FLOAT }\"") from None
        _check_opdef(op)
        mine = _REGISTERED_OPDEFS.get(op.name)
        if mine is not None and mine != op.SerializeToString():
            raise UsageError(f"--custom_opdefs: op {op.name} was registered with another OpDef in this process; a "
                             "custom op has one OpDef")
        if mine is None and op_def_registry.get(op.name) is not None:
            raise UsageError(f"--custom_opdefs: op {op.name} is already a TensorFlow op; a custom op needs a name "
                             "of its own")
        if mine is None:
            pending.append(text_format.MessageToString(op, as_one_line=True))
            fresh[op.name] = op.SerializeToString()
        names.append(op.name)
    if pending and not wrap_converter.wrapped_register_custom_opdefs(pending):
        raise UsageError("--custom_opdefs: TensorFlow refused the OpDefs; check them against tf.raw_ops' OpDefs")
    _REGISTERED_OPDEFS.update(fresh)
    return names


def _check_opdef(op: Any) -> None:  # noqa: ANN401 - OpDef
    """TensorFlow's ValidateOpDef rules, checked before registering (a failed registration aborts TensorFlow)."""
    bad = f"--custom_opdefs: OpDef {op.name or '(no name)'!r}"
    if not _OP_NAME.match(op.name):
        raise UsageError(f"{bad}: an op name starts with a capital letter and has letters, digits and _ only")
    attrs: dict[str, str] = {}
    for a in op.attr:
        base = a.type[5:-1] if a.type.startswith("list(") and a.type.endswith(")") else a.type
        if not _ARG_NAME.match(a.name) or base not in _ATTR_TYPES or a.name in attrs:
            raise UsageError(f"{bad}: attr {a.name!r} of type {a.type!r} is not valid (lower-case unique name; "
                             "type int, float, string, bool, type, shape, tensor, func or list(...) of them)")
        attrs[a.name] = a.type
    for arg in (*op.input_arg, *op.output_arg):
        kinds = [bool(arg.type), bool(arg.type_attr), bool(arg.type_list_attr)]
        if not _ARG_NAME.match(arg.name) or sum(kinds) != 1:
            raise UsageError(f"{bad}: argument {arg.name!r} needs a lower-case name and exactly one of type, "
                             "type_attr or type_list_attr")
        for ref, want in ((arg.type_attr, "type"), (arg.number_attr, "int"), (arg.type_list_attr, "list(type)")):
            if ref and attrs.get(ref) != want:
                raise UsageError(f"{bad}: argument {arg.name!r} refers to attr {ref!r}, which must be an attr of "
                                 f"type {want!r}")
