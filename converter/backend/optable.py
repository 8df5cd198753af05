"""The one table mapping IR ops to TFLite builtin operators: operator code, options table and fields, version.

Versions follow TensorFlow's op versioning (lite/tools/versioning/op_version.cc): a runtime refuses an operator
version newer than it knows, and the version records which kernel features (int8, int16, per-channel, hybrid ...)
the model needs. Under int16 activations (int16x8) the layers with weights read int64 biases and say so in their
options (quantized_bias_type), and ADD/SUB use general scaling (pot_scale_int16 = false), as TF's converter writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..ir import Node, QuantParams
from ..ir.attrs import Activation, Padding

FieldValue = int | float | bool | list[int] | list[float]

_PADDING = {Padding.SAME: 0, Padding.VALID: 1}
_ACTIVATION = {Activation.NONE: 0, Activation.RELU: 1, Activation.RELU_N1_TO_1: 2, Activation.RELU6: 3,
               Activation.TANH: 4}
_INT8, _UINT8, _INT16, _FLOAT16 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.float16)
_FLOAT32, _BOOL, _INT64 = np.dtype(np.float32), np.dtype(np.bool_), np.dtype(np.int64)


def _in_dtype(node: Node, i: int = 0) -> np.dtype | None:
    t = node.inputs[i] if i < len(node.inputs) else None
    return t.dtype if t is not None else None


def _is_hybrid(node: Node) -> bool:
    """Float activations with int8 weights (dynamic-range quantization)."""
    return _in_dtype(node, 0) == _FLOAT32 and _in_dtype(node, 1) == _INT8


def _int4_weights(node: Node) -> bool:
    """int8 activations with int4 weights (op_version.cc: CONV_2D/DEPTHWISE_CONV_2D 7, FULLY_CONNECTED 10). Float
    activations with int4 weights (hybrid) have no version of their own: the kernel is chosen by the types."""
    w = _in_dtype(node, 1)
    return w is not None and w.name == "int4" and _in_dtype(node, 0) == _INT8


def _sparse_weights(node: Node) -> bool:
    """FULLY_CONNECTED reading its weights as a sparse tensor (backend/sparse.py) takes its sparse kernels at
    version 8; XNNPACK refuses that version, so it never reads the sparse buffer as dense. A FULLY_CONNECTED reading
    weights a DENSIFY expands is written at version 8 too: LiteRT 2.3's XNNPACK delegate takes it otherwise and then
    fails to prepare it (TensorFlow's converter's own int8 files fail so); at version 8 the builtin kernel runs it."""
    w = node.inputs[1] if len(node.inputs) > 1 else None
    return w is not None and (w.sparse_block is not None or (w.producer is not None and w.producer.op == "densify"))


def _int8_version(v_int8: int, v_base: int = 1, int16: int | None = None, data: int = 0) -> Callable[[Node], int]:
    """``v_int8`` for int8 data (input ``data``), ``int16`` (if given) for int16 data, else ``v_base``."""
    def version(node: Node) -> int:
        dt = _in_dtype(node, data)
        if dt == _INT16 and int16 is not None:
            return int16
        return v_int8 if dt == _INT8 else v_base

    return version


def _int64_bias(node: Node, i: int = 2) -> bool:
    """The layer reads an int64 bias (int16 activations): its options carry quantized_bias_type."""
    return _in_dtype(node, i) == _INT64


def _per_channel(node: Node, i: int = 1) -> bool:
    t = node.inputs[i] if i < len(node.inputs) else None
    return t is not None and t.quant is not None and len(t.quant.scale) > 1


def _conv_version(node: Node) -> int:
    if _int4_weights(node):
        return 7
    if _in_dtype(node) == _INT16:
        return 8 if _int64_bias(node) else 1
    if _is_hybrid(node):
        return 5 if _per_channel(node) else 2
    return 3 if _in_dtype(node) == _INT8 else 1


def _depthwise_version(node: Node) -> int:
    if _int4_weights(node):
        return 7
    if _is_hybrid(node):
        return 6
    if _in_dtype(node) == _INT8:
        return 3
    return 2 if node.attrs.dilation != (1, 1) else 1  # type: ignore[union-attr]


def _fc_version(node: Node) -> int:
    if _sparse_weights(node):
        return 8
    if _int4_weights(node):
        return 10
    hybrid = _is_hybrid(node)
    if hybrid and _per_channel(node):
        return 12
    if _in_dtype(node) == _INT16 and _int64_bias(node):
        return 11
    if getattr(node.attrs, "keep_num_dims", False):
        return 5
    if _in_dtype(node) == _INT8:
        return 4
    if hybrid:
        return 9 if getattr(node.attrs, "asymmetric_quantize_inputs", False) else 3
    return 1


def _abs_version(node: Node) -> int:
    # op_version.cc: int8/uint8 2; int16 3 when quantized (4 when not); int32 5.
    dt = _in_dtype(node)
    if dt == np.dtype(np.int32):
        return 5
    if dt == _INT16:
        return 3 if node.inputs[0] is not None and node.inputs[0].quant is not None else 4
    return 2 if dt in (_INT8, _UINT8) else 1


def _dequantize_version(node: Node) -> int:
    dt = _in_dtype(node)
    if dt in (_FLOAT16, _INT16):
        return 3
    return 2 if dt == _INT8 else 1


def _quantize_version(node: Node) -> int:
    # float -> int8/uint8 is version 1; to int16, and requantizing between integer types, version 2.
    return 2 if _in_dtype(node) in (_INT8, _UINT8, _INT16) or node.output.dtype == _INT16 else 1


def _resize_version(node: Node) -> int:
    if _in_dtype(node) == _INT16:
        return 4
    return 3 if node.attrs.half_pixel_centers else _int8_version(2)(node)  # type: ignore[union-attr]


def _reverse_version(node: Node) -> int:
    # LiteRT's REVERSE_V2: v1 float32/uint8/int16/int32/int64, v2 bool, v3 int8 (the kernel takes all of them).
    dt = _in_dtype(node)
    return 3 if dt == _INT8 else 2 if dt == _BOOL else 1


def _space_batch_version(node: Node) -> int:
    # SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: v2 int8, v3 for 3-D inputs (one spatial axis).
    if len(node.input(0).shape) == 3:
        return 3
    return _int8_version(2)(node)


def _gather_nd_version(node: Node) -> int:
    dt = _in_dtype(node)
    return 5 if dt == _BOOL else 4 if _in_dtype(node, 1) == _INT16 else 3 if dt == _INT16 else 1


def _lstm_fields(n: Node) -> dict[str, FieldValue]:
    a = n.attrs
    return {"FusedActivationFunction": _act(n), "CellClip": a.cell_clip, "ProjClip": 0.0,  # type: ignore[union-attr]
            "TimeMajor": a.time_major, "AsymmetricQuantizeInputs": False}  # type: ignore[union-attr]


def _lstm_version(node: Node) -> int:
    # op_version.cc: int16 activations 5; float input with int8 weights (hybrid) 2; float and int8 x int8: 1.
    if _in_dtype(node, 0) == _INT16:
        return 5
    return 2 if _in_dtype(node, 0) == _FLOAT32 and _in_dtype(node, 2) == _INT8 else 1


def _lstm_intermediates(node: Node) -> tuple[tuple[np.dtype, QuantParams | None], ...]:
    """The integer kernel (8x8_16) reads five intermediates: the gates' (only with layer norm: unquantized here) and
    the hidden state's, which without projection is the output's grid."""
    out = node.outputs[0]
    if out.dtype not in (_INT8, _INT16) or out.quant is None:
        return ()
    return ((_FLOAT32, None),) * 4 + ((out.dtype, out.quant),)


def _fill_version(node: Node) -> int:
    dt = _in_dtype(node, 1)
    return 4 if dt == _FLOAT16 else 3 if dt in (_INT8, _INT16) else 2 if dt == _BOOL else 1


@dataclass(frozen=True)
class OpEntry:
    """How one IR op is written: BuiltinOperator name, options table (also the BuiltinOptions union member),
    the option fields from the node, and the operator version. ``subgraph_fields`` name the option fields that
    hold the indices of the node's subgraphs (``ir.subgraphs_of``), in order; the writer numbers the subgraphs.
    ``state_inputs``: inputs the kernel keeps its state in, which TFLite wants as variable tensors (see
    ``states``); ``intermediates``: the (dtype, quantization) of each Operator.intermediates tensor the kernel
    reads its internal scales from."""

    builtin: str
    options: str | None = None
    fields: Callable[[Node], dict[str, FieldValue]] = field(default=lambda n: {})
    version: Callable[[Node], int] = field(default=lambda n: 1)
    subgraph_fields: tuple[str, ...] = ()
    state_inputs: tuple[int, ...] = ()
    intermediates: Callable[[Node], tuple[tuple[np.dtype, QuantParams | None], ...]] = field(default=lambda n: ())


def _act(n: Node) -> int:
    return _ACTIVATION[n.attrs.activation]  # type: ignore[union-attr]


def _bias_type_fields(n: Node, i: int = 2) -> dict[str, FieldValue]:
    return {"QuantizedBiasType": _TENSOR_TYPE["int64"]} if _int64_bias(n, i) else {}


def _conv_fields(n: Node) -> dict[str, FieldValue]:
    return {**_spatial_fields(n), **_bias_type_fields(n)}


def _random_fields(n: Node) -> dict[str, FieldValue]:
    return {"Seed": n.attrs.seed, "Seed2": n.attrs.seed2}  # type: ignore[union-attr]


def _conv3d_fields(n: Node) -> dict[str, FieldValue]:
    a = n.attrs
    d, h, w = a.stride  # type: ignore[union-attr]
    dd, dh, dw = a.dilation  # type: ignore[union-attr]
    return {"Padding": _PADDING[a.padding], "StrideD": d, "StrideW": w, "StrideH": h,  # type: ignore[union-attr]
            "FusedActivationFunction": _act(n), "DilationDFactor": dd, "DilationWFactor": dw, "DilationHFactor": dh}


def _spatial_fields(n: Node) -> dict[str, FieldValue]:
    a = n.attrs
    return {"Padding": _PADDING[a.padding], "StrideW": a.stride[1], "StrideH": a.stride[0],  # type: ignore[union-attr]
            "FusedActivationFunction": _act(n), "DilationWFactor": a.dilation[1],  # type: ignore[union-attr]
            "DilationHFactor": a.dilation[0]}  # type: ignore[union-attr]


def _depthwise_fields(n: Node) -> dict[str, FieldValue]:
    # DEPTHWISE_CONV_2D has no quantized_bias_type: its int16 kernel reads int64 biases only.
    return {**_spatial_fields(n), "DepthMultiplier": n.attrs.depth_multiplier}  # type: ignore[union-attr]


def _pool_fields(n: Node) -> dict[str, FieldValue]:
    a = n.attrs
    return {"Padding": _PADDING[a.padding], "StrideW": a.stride[1], "StrideH": a.stride[0],  # type: ignore[union-attr]
            "FilterWidth": a.filter[1], "FilterHeight": a.filter[0],  # type: ignore[union-attr]
            "FusedActivationFunction": _act(n)}


def _act_fields(n: Node) -> dict[str, FieldValue]:
    return {"FusedActivationFunction": _act(n)}


def _add_sub_fields(n: Node) -> dict[str, FieldValue]:
    # int16: general scaling (any input/output scales), as TF's converter writes; the schema's default (true)
    # would take power-of-two scales only.
    return {**_act_fields(n), **({"PotScaleInt16": False} if _in_dtype(n) == _INT16 else {})}


# numpy dtype name -> TFLite TensorType (schema TensorType). Strings are numpy object or bytes arrays; int4,
# bfloat16 and the float8 types are ml_dtypes' numpy types. RESOURCE and VARIANT have no numpy form: the importer
# resolves them (variables frozen, TensorLists unrolled).
_TENSOR_TYPE = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "object": 5, "bool": 6, "int16": 7,
                "complex64": 8, "int8": 9, "float64": 10, "complex128": 11, "uint64": 12, "uint32": 15, "uint16": 16,
                "int4": 17, "bfloat16": 18, "int2": 19, "uint4": 20, "float8_e4m3fn": 21, "float8_e5m2": 22}


def tensor_type(dtype: np.dtype) -> int:
    """TFLite TensorType of a numpy dtype (ValueError, naming it, for a type TFLite lacks)."""
    dt = np.dtype(dtype)
    if dt.kind == "S":
        return _TENSOR_TYPE["object"]
    try:
        return _TENSOR_TYPE[dt.name]
    except KeyError:
        raise ValueError(f"dtype {dt.name} has no TFLite tensor type") from None


OPS: dict[str, OpEntry] = {
    "conv_2d": OpEntry("CONV_2D", "Conv2DOptions", _conv_fields, _conv_version),
    "depthwise_conv_2d": OpEntry("DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions", _depthwise_fields, _depthwise_version),
    "fully_connected": OpEntry("FULLY_CONNECTED", "FullyConnectedOptions",
                               lambda n: {**_act_fields(n), "KeepNumDims": n.attrs.keep_num_dims,  # type: ignore[union-attr]
                                          "AsymmetricQuantizeInputs": n.attrs.asymmetric_quantize_inputs,  # type: ignore[union-attr]
                                          **_bias_type_fields(n)},
                               _fc_version),
    "add": OpEntry("ADD", "AddOptions", _add_sub_fields, _int8_version(2, int16=3)),
    "sub": OpEntry("SUB", "SubOptions", _add_sub_fields, _int8_version(2, int16=5)),
    "mul": OpEntry("MUL", "MulOptions", _act_fields, _int8_version(2, int16=4)),
    "div": OpEntry("DIV", "DivOptions", _act_fields),
    "maximum": OpEntry("MAXIMUM", "MaximumMinimumOptions", version=_int8_version(2, int16=4)),
    "minimum": OpEntry("MINIMUM", "MaximumMinimumOptions", version=_int8_version(2, int16=4)),
    "squared_difference": OpEntry("SQUARED_DIFFERENCE", "SquaredDifferenceOptions", version=_int8_version(2)),
    "pow": OpEntry("POW", "PowOptions"),
    "average_pool_2d": OpEntry("AVERAGE_POOL_2D", "Pool2DOptions", _pool_fields, _int8_version(2, int16=3)),
    "max_pool_2d": OpEntry("MAX_POOL_2D", "Pool2DOptions", _pool_fields, _int8_version(2, int16=3)),
    "mean": OpEntry("MEAN", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims}, _int8_version(2, int16=3)),  # type: ignore[union-attr]
    "sum": OpEntry("SUM", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims}, _int8_version(2)),  # type: ignore[union-attr]
    "reduce_max": OpEntry("REDUCE_MAX", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims},  # type: ignore[union-attr]
                          _int8_version(2, int16=3)),
    "reduce_min": OpEntry("REDUCE_MIN", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims},  # type: ignore[union-attr]
                          _int8_version(2, int16=3)),
    "reduce_prod": OpEntry("REDUCE_PROD", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims},  # type: ignore[union-attr]
                           _int8_version(2, int16=2)),
    "reduce_any": OpEntry("REDUCE_ANY", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims}),  # type: ignore[union-attr]
    "reduce_all": OpEntry("REDUCE_ALL", "ReducerOptions", lambda n: {"KeepDims": n.attrs.keep_dims}),  # type: ignore[union-attr]
    "concatenation": OpEntry("CONCATENATION", "ConcatenationOptions",
                             lambda n: {"Axis": n.attrs.axis, **_act_fields(n)}, _int8_version(2, int16=3)),  # type: ignore[union-attr]
    # A run-time target shape is the kernel's second input; a static one is the option.
    "reshape": OpEntry("RESHAPE", "ReshapeOptions",
                       lambda n: {"NewShape": list(n.attrs.new_shape)} if len(n.inputs) == 1 else {}),  # type: ignore[union-attr]
    "expand_dims": OpEntry("EXPAND_DIMS", "ExpandDimsOptions"),
    # An identity left between two names of the model's interface (input -> output, output -> output): a copy.
    "identity": OpEntry("RESHAPE", "ReshapeOptions", lambda n: {"NewShape": list(n.output.shape)}),
    "shape": OpEntry("SHAPE", "ShapeOptions", lambda n: {"OutType": tensor_type(n.output.dtype)}),
    "fill": OpEntry("FILL", "FillOptions", version=_fill_version),
    "zeros_like": OpEntry("ZEROS_LIKE", "ZerosLikeOptions"),
    "range": OpEntry("RANGE", "RangeOptions", version=lambda n: 2 if _in_dtype(n) == _INT64 else 1),
    "gather_nd": OpEntry("GATHER_ND", "GatherNdOptions", version=_gather_nd_version),
    "scatter_nd": OpEntry("SCATTER_ND", "ScatterNdOptions"),
    "sparse_to_dense": OpEntry("SPARSE_TO_DENSE", "SparseToDenseOptions", lambda n: {"ValidateIndices": False},
                               lambda n: 3 if _in_dtype(n, 2) in (_INT8, _UINT8) else
                               2 if _in_dtype(n, 2) == _INT64 else 1),
    "one_hot": OpEntry("ONE_HOT", "OneHotOptions", lambda n: {"Axis": n.attrs.axis}),  # type: ignore[union-attr]
    "matrix_diag": OpEntry("MATRIX_DIAG", "MatrixDiagOptions"),
    "matrix_set_diag": OpEntry("MATRIX_SET_DIAG", "MatrixSetDiagOptions"),
    "reverse_sequence": OpEntry("REVERSE_SEQUENCE", "ReverseSequenceOptions",
                                lambda n: {"SeqDim": n.attrs.seq_dim, "BatchDim": n.attrs.batch_dim}),  # type: ignore[union-attr]
    "topk_v2": OpEntry("TOPK_V2", "TopKV2Options", version=_int8_version(2)),
    "unique": OpEntry("UNIQUE", "UniqueOptions",
                      lambda n: {"IdxOutType": tensor_type(np.dtype(n.attrs.idx_out_type))}),  # type: ignore[union-attr]
    "where": OpEntry("WHERE", "WhereOptions", version=lambda n: 1 if _in_dtype(n) == _BOOL else 2),
    "bucketize": OpEntry("BUCKETIZE", "BucketizeOptions",
                         lambda n: {"Boundaries": [float(b) for b in n.attrs.boundaries]}),  # type: ignore[union-attr]
    "broadcast_args": OpEntry("BROADCAST_ARGS", None),
    "bitcast": OpEntry("BITCAST", "BitcastOptions"),
    "dynamic_update_slice": OpEntry("DYNAMIC_UPDATE_SLICE", "DynamicUpdateSliceOptions"),
    "broadcast_to": OpEntry("BROADCAST_TO", "BroadcastToOptions",
                            version=lambda n: 3 if _in_dtype(n) in (_INT8, _INT16) else 2),
    "squeeze": OpEntry("SQUEEZE", "SqueezeOptions", lambda n: {"SqueezeDims": list(n.attrs.axes)}),  # type: ignore[union-attr]
    "softmax": OpEntry("SOFTMAX", "SoftmaxOptions", lambda n: {"Beta": n.attrs.beta}, _int8_version(2, int16=3)),  # type: ignore[union-attr]
    "logistic": OpEntry("LOGISTIC", None, version=_int8_version(2, int16=3)),
    "tanh": OpEntry("TANH", None, version=_int8_version(2, int16=3)),
    "relu": OpEntry("RELU", None, version=_int8_version(2, int16=3)),
    "relu6": OpEntry("RELU6", None, version=_int8_version(2, int16=3)),
    "relu_n1_to_1": OpEntry("RELU_N1_TO_1", None),
    "elu": OpEntry("ELU", None),
    "leaky_relu": OpEntry("LEAKY_RELU", "LeakyReluOptions", lambda n: {"Alpha": n.attrs.alpha},  # type: ignore[union-attr]
                          _int8_version(2, int16=2)),
    "hard_swish": OpEntry("HARD_SWISH", "HardSwishOptions"),
    "prelu": OpEntry("PRELU", None),  # LiteRT registers PRELU version 1 only; its kernel takes int8/uint8 there
    "log_softmax": OpEntry("LOG_SOFTMAX", "LogSoftmaxOptions", version=_int8_version(2)),
    "l2_normalization": OpEntry("L2_NORMALIZATION", "L2NormOptions", version=_int8_version(2)),
    "gelu": OpEntry("GELU", "GeluOptions", lambda n: {"Approximate": n.attrs.approximate}, _int8_version(2)),  # type: ignore[union-attr]
    "pad": OpEntry("PAD", "PadOptions", version=_int8_version(2, int16=3)),
    "padv2": OpEntry("PADV2", "PadV2Options", version=_int8_version(2, int16=3)),
    "mirror_pad_reflect": OpEntry("MIRROR_PAD", "MirrorPadOptions", lambda n: {"Mode": 0}),
    "mirror_pad_symmetric": OpEntry("MIRROR_PAD", "MirrorPadOptions", lambda n: {"Mode": 1}),
    "transpose": OpEntry("TRANSPOSE", "TransposeOptions", version=_int8_version(2, int16=5)),
    "strided_slice": OpEntry("STRIDED_SLICE", "StridedSliceOptions",
                             lambda n: {"BeginMask": n.attrs.begin_mask, "EndMask": n.attrs.end_mask,  # type: ignore[union-attr]
                                        "EllipsisMask": n.attrs.ellipsis_mask,  # type: ignore[union-attr]
                                        "NewAxisMask": n.attrs.new_axis_mask,  # type: ignore[union-attr]
                                        "ShrinkAxisMask": n.attrs.shrink_axis_mask},  # type: ignore[union-attr]
                             _int8_version(2)),
    "slice": OpEntry("SLICE", "SliceOptions", version=_int8_version(2, int16=4)),
    "pack": OpEntry("PACK", "PackOptions",
                    lambda n: {"ValuesCount": len(n.inputs), "Axis": n.attrs.axis}, _int8_version(2, int16=3)),  # type: ignore[union-attr]
    "unpack": OpEntry("UNPACK", "UnpackOptions",
                      lambda n: {"Num": len(n.outputs), "Axis": n.attrs.axis}, _int8_version(2, int16=4)),  # type: ignore[union-attr]
    # SPLIT's data is input 1 (input 0 is the axis).
    "split": OpEntry("SPLIT", "SplitOptions", lambda n: {"NumSplits": n.attrs.num_splits},  # type: ignore[union-attr]
                     _int8_version(2, int16=4, data=1)),
    "split_v": OpEntry("SPLIT_V", "SplitVOptions", lambda n: {"NumSplits": n.attrs.num_splits}, _int8_version(2)),  # type: ignore[union-attr]
    "gather": OpEntry("GATHER", "GatherOptions",
                      lambda n: {"Axis": n.attrs.axis, "BatchDims": n.attrs.batch_dims},  # type: ignore[union-attr]
                      lambda n: 5 if n.attrs.batch_dims else _int8_version(2, int16=4)(n)),  # type: ignore[union-attr]
    "tile": OpEntry("TILE", "TileOptions", version=_int8_version(3)),
    "reverse_v2": OpEntry("REVERSE_V2", "ReverseV2Options", version=_reverse_version),
    "cast": OpEntry("CAST", "CastOptions",
                    lambda n: {"InDataType": tensor_type(n.input(0).dtype), "OutDataType": tensor_type(n.output.dtype)}),
    "resize_bilinear": OpEntry("RESIZE_BILINEAR", "ResizeBilinearOptions",
                               lambda n: {"AlignCorners": n.attrs.align_corners,  # type: ignore[union-attr]
                                          "HalfPixelCenters": n.attrs.half_pixel_centers},  # type: ignore[union-attr]
                               _resize_version),
    "resize_nearest_neighbor": OpEntry("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions",
                                       lambda n: {"AlignCorners": n.attrs.align_corners,  # type: ignore[union-attr]
                                                  "HalfPixelCenters": n.attrs.half_pixel_centers},  # type: ignore[union-attr]
                                       _resize_version),
    "batch_matmul": OpEntry("BATCH_MATMUL", "BatchMatMulOptions",
                            lambda n: {"AdjX": n.attrs.adj_x, "AdjY": n.attrs.adj_y}, _int8_version(2, int16=3)),  # type: ignore[union-attr]
    "rsqrt": OpEntry("RSQRT", None, version=_int8_version(2, int16=3)),
    "sqrt": OpEntry("SQRT", None, version=_int8_version(2)),
    "square": OpEntry("SQUARE", None),
    "exp": OpEntry("EXP", None, version=_int8_version(2, int16=2)),
    "log": OpEntry("LOG", None, version=_int8_version(2, int16=2)),
    "neg": OpEntry("NEG", None),  # LiteRT registers NEG version 1 only; its kernel takes int8 at that version
    "abs": OpEntry("ABS", None, version=_abs_version),
    "floor": OpEntry("FLOOR", None),
    "sin": OpEntry("SIN", None),
    "cos": OpEntry("COS", None),
    "floor_div": OpEntry("FLOOR_DIV", "FloorDivOptions"),
    "floor_mod": OpEntry("FLOOR_MOD", "FloorModOptions"),
    "less": OpEntry("LESS", "LessOptions", version=_int8_version(2)),
    "less_equal": OpEntry("LESS_EQUAL", "LessEqualOptions", version=_int8_version(2)),
    "greater": OpEntry("GREATER", "GreaterOptions", version=_int8_version(2)),
    "greater_equal": OpEntry("GREATER_EQUAL", "GreaterEqualOptions", version=_int8_version(2)),
    "equal": OpEntry("EQUAL", "EqualOptions", version=_int8_version(2)),
    "not_equal": OpEntry("NOT_EQUAL", "NotEqualOptions", version=_int8_version(2)),
    "logical_and": OpEntry("LOGICAL_AND", "LogicalAndOptions"),
    "logical_or": OpEntry("LOGICAL_OR", "LogicalOrOptions"),
    "logical_not": OpEntry("LOGICAL_NOT", "LogicalNotOptions"),
    "select_v2": OpEntry("SELECT_V2", "SelectV2Options"),
    "select": OpEntry("SELECT", "SelectOptions",
                      version=lambda n: 3 if any(len(t.shape) == 5 for t in n.inputs if t is not None) else
                      _int8_version(2)(n)),
    "transpose_conv": OpEntry("TRANSPOSE_CONV", "TransposeConvOptions",
                              lambda n: {"Padding": _PADDING[n.attrs.padding], "StrideW": n.attrs.stride[1],  # type: ignore[union-attr]
                                         "StrideH": n.attrs.stride[0], **_bias_type_fields(n, 3)},  # type: ignore[union-attr]
                              lambda n: 5 if _int64_bias(n, 3) and _in_dtype(n, 2) == _INT16 else
                              3 if len(n.inputs) > 3 and n.inputs[3] is not None else
                              (2 if _in_dtype(n, 2) == _INT8 else 1)),
    "space_to_batch_nd": OpEntry("SPACE_TO_BATCH_ND", "SpaceToBatchNDOptions", version=_space_batch_version),
    "batch_to_space_nd": OpEntry("BATCH_TO_SPACE_ND", "BatchToSpaceNDOptions", version=_space_batch_version),
    "space_to_depth": OpEntry("SPACE_TO_DEPTH", "SpaceToDepthOptions",
                              lambda n: {"BlockSize": n.attrs.block_size}, _int8_version(2)),  # type: ignore[union-attr]
    "depth_to_space": OpEntry("DEPTH_TO_SPACE", "DepthToSpaceOptions",
                              lambda n: {"BlockSize": n.attrs.block_size}, _int8_version(2)),  # type: ignore[union-attr]
    "arg_max": OpEntry("ARG_MAX", "ArgMaxOptions", lambda n: {"OutputType": tensor_type(n.output.dtype)},
                       _int8_version(2)),
    "arg_min": OpEntry("ARG_MIN", "ArgMinOptions", lambda n: {"OutputType": tensor_type(n.output.dtype)},
                       _int8_version(2)),
    # ---- math builtins TensorFlow's converter writes (float/integer kernels only)
    "ceil": OpEntry("CEIL", None),
    "round": OpEntry("ROUND", None),
    "sign": OpEntry("SIGN", None),
    "atan2": OpEntry("ATAN2", None),
    "add_n": OpEntry("ADD_N", None),
    "bitwise_xor": OpEntry("BITWISE_XOR", None),
    "right_shift": OpEntry("RIGHT_SHIFT", None),
    "cumsum": OpEntry("CUMSUM", "CumsumOptions",
                      lambda n: {"Exclusive": n.attrs.exclusive, "Reverse": n.attrs.reverse}),  # type: ignore[union-attr]
    "segment_sum": OpEntry("SEGMENT_SUM", None),
    "non_max_suppression_v4": OpEntry("NON_MAX_SUPPRESSION_V4", None),
    "non_max_suppression_v5": OpEntry("NON_MAX_SUPPRESSION_V5", None),
    "random_uniform": OpEntry("RANDOM_UNIFORM", "RandomOptions", _random_fields),
    "random_standard_normal": OpEntry("RANDOM_STANDARD_NORMAL", "RandomOptions", _random_fields),
    "multinomial": OpEntry("MULTINOMIAL", "RandomOptions", _random_fields),
    "rfft2d": OpEntry("RFFT2D", None),
    "real": OpEntry("REAL", None),
    "imag": OpEntry("IMAG", None),
    "complex_abs": OpEntry("COMPLEX_ABS", None),
    "conv_3d": OpEntry("CONV_3D", "Conv3DOptions", lambda n: _conv3d_fields(n)),
    "conv_3d_transpose": OpEntry("CONV_3D_TRANSPOSE", "Conv3DOptions", lambda n: _conv3d_fields(n)),
    "local_response_normalization": OpEntry(
        "LOCAL_RESPONSE_NORMALIZATION", "LocalResponseNormalizationOptions",
        lambda n: {"Radius": n.attrs.radius, "Bias": n.attrs.bias, "Alpha": n.attrs.alpha,  # type: ignore[union-attr]
                   "Beta": n.attrs.beta}),  # type: ignore[union-attr]
    "unsorted_segment_sum": OpEntry("UNSORTED_SEGMENT_SUM", None),
    "unsorted_segment_prod": OpEntry("UNSORTED_SEGMENT_PROD", None),
    "unsorted_segment_max": OpEntry("UNSORTED_SEGMENT_MAX", None),
    "unsorted_segment_min": OpEntry("UNSORTED_SEGMENT_MIN", None),
    "unidirectional_sequence_lstm": OpEntry("UNIDIRECTIONAL_SEQUENCE_LSTM", "UnidirectionalSequenceLSTMOptions",
                                            _lstm_fields, _lstm_version, state_inputs=(18, 19),
                                            intermediates=_lstm_intermediates),
    "while": OpEntry("WHILE", "WhileOptions", subgraph_fields=("CondSubgraphIndex", "BodySubgraphIndex")),
    "if": OpEntry("IF", "IfOptions", subgraph_fields=("ThenSubgraphIndex", "ElseSubgraphIndex")),
    "quantize": OpEntry("QUANTIZE", "QuantizeOptions", version=_quantize_version),
    # A sparse constant expanded once to dense (backend/sparse.py): float32, float16, int8.
    "densify": OpEntry("DENSIFY", "DensifyOptions"),
    "dequantize": OpEntry("DEQUANTIZE", "DequantizeOptions", version=_dequantize_version),
}
