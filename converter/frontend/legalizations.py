"""The TensorFlow ops TensorFlow 2.21's converter (TFLiteConverter, builtin ops only) turns into TFLite builtins, as
data: per op, the builtin(s) it writes, whether its INT8 conversion runs them as integer kernels, and where the
rewrite is. docs/ops.md is generated from this table and qconvert's registries (docs/make_ops_table.py); the importer
uses it to tell an op LiteRT has no builtin for from one qconvert does not convert yet.

Read from TensorFlow's MLIR converter sources:
  tensorflow/compiler/mlir/lite/transforms/legalize_patterns.td   TF -> TFL patterns              (LP)
  tensorflow/compiler/mlir/lite/transforms/legalize_tf.cc         C++ TF -> TFL patterns          (LT)
  tensorflow/compiler/mlir/lite/transforms/prepare_tf.cc          conv/einsum/rfft preparation    (PT)
  tensorflow/compiler/mlir/lite/transforms/prepare_patterns.td    batch norm, set_diag lowering   (PP)
  tensorflow/compiler/mlir/lite/transforms/legalize_tf_while.cc   functional While -> WHILE       (WHILE)
  tensorflow/compiler/mlir/tensorflow/transforms/lower_tf.td      TF -> TF lowerings              (LO)
  tensorflow/compiler/mlir/tensorflow/transforms/lower_tf.cc      C++ TF -> TF lowerings          (LC)
and checked against TensorFlow 2.21 itself: ``builtins`` and ``tf_int8`` are what TensorFlow's converter writes for
the row's probe (tests/support/op_probes), which tests/frontend/test_op_table.py re-measures (slow run).

Not listed: ops TensorFlow's converter keeps only as Flex or custom ops (e.g. FusedBatchNormV2, Complex,
FakeQuantWithMinMaxVarsPerChannel), ops it removes without a builtin (Identity, IdentityN, StopGradient, Snapshot,
CheckNumerics, PlaceholderWithDefault, Assert, NoOp), and ops no TF2 graph can hold (BatchNormWithGlobalNormalization,
removed from GraphDef version 9).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

LP, LT, PT = "legalize_patterns.td", "legalize_tf.cc", "prepare_tf.cc"
PP = "prepare_patterns.td -> legalize_patterns.td"
LO, LC = "lower_tf.td -> legalize_patterns.td", "lower_tf.cc -> legalize_patterns.td"
WHILE, IF = "legalize_tf_while.cc", "if_outline.cc / legalize_tf.cc"
MEASURED = "measured (lowering not located in the files above)"


@dataclass(frozen=True)
class Legalization:
    """One TF op: the builtins TensorFlow's converter writes for it (empty: folded away with static shapes),
    ``tf_int8`` ("yes" / "partial" / "no" / "n/a": its INT8 conversion with float fallback runs all / some / none
    of them as integer kernels; n/a without float data), the source file, the op family (docs/ops.md sections;
    "array" rows are the array/shape ops) and a note."""

    op: str
    builtins: tuple[str, ...]
    tf_int8: str
    source: str
    note: str = ""
    family: str = ""


def L(op: str, builtins: str, tf_int8: str, source: str, note: str = "") -> Legalization:  # noqa: N802
    return Legalization(op, tuple(builtins.split()), tf_int8, source, note)


def _family(family: str, *rows: Legalization) -> tuple[Legalization, ...]:
    return tuple(replace(r, family=family) for r in rows)


LEGALIZATIONS: tuple[Legalization, ...] = (
    *_family("math",
        L("Add", "ADD", "yes", LP),
        L("AddV2", "ADD", "yes", LP),
        L("Sub", "SUB", "yes", LP),
        L("Mul", "MUL", "yes", LP),
        L("RealDiv", "DIV", "yes", LP),
        L("Div", "DIV", "yes", LP),
        L("Maximum", "MAXIMUM", "yes", LP),
        L("Minimum", "MINIMUM", "yes", LP),
        L("SquaredDifference", "SQUARED_DIFFERENCE", "yes", LP),
        L("Pow", "POW", "no", LP),
        L("FloorDiv", "FLOOR_DIV", "no", LP),
        L("FloorMod", "FLOOR_MOD", "no", LP),
        L("TruncateDiv", "DIV", "n/a", LO, "integer DIV"),
        L("DivNoNan", "DIV EQUAL SELECT_V2", "yes", LO),
        L("MulNoNan", "EQUAL MUL SELECT_V2", "yes", LO),
        L("Xdivy", "DIV EQUAL SELECT", "yes", LO),
        L("Xlogy", "EQUAL LOG MUL SELECT", "yes", LO),
        L("Xlog1py", "ADD EQUAL LOG MUL SELECT", "yes", LO),
        L("Atan2", "ATAN2", "no", LP),
        L("AddN", "ADD_N", "no", LP),
        L("BitwiseXor", "BITWISE_XOR", "n/a", LP),
        L("RightShift", "RIGHT_SHIFT", "n/a", LP),
        L("Abs", "ABS", "yes", LP),
        L("Neg", "NEG", "no", LP),
        L("Exp", "EXP", "yes", LP),
        L("Log", "LOG", "yes", LP),
        L("Log1p", "ADD LOG", "yes", LP),
        L("Expm1", "EXP SUB", "yes", LO),
        L("Sqrt", "SQRT", "yes", LP),
        L("Rsqrt", "RSQRT", "yes", LP),
        L("Square", "SQUARE", "no", LP),
        L("Reciprocal", "DIV", "yes", LO),
        L("Inv", "DIV", "yes", LO),
        L("Floor", "FLOOR", "no", LP),
        L("Ceil", "CEIL", "no", LP),
        L("Round", "ROUND", "no", LP),
        L("Rint", "ROUND", "no", LO),
        L("Sign", "SIGN", "no", LP),
        L("Sin", "SIN", "no", LP),
        L("Cos", "COS", "no", LP),
        L("IsFinite", "EQUAL SUB", "n/a", LO),
        L("IsInf", "ABS EQUAL", "n/a", LO),
        L("IsNan", "NOT_EQUAL", "n/a", LO),
        L("Lgamma", "ABS ADD DIV EQUAL FLOOR GREATER LESS LOG MUL NEG SELECT SELECT_V2 SIN SUB", "partial", LC),
        L("Less", "LESS", "yes", LP),
        L("LessEqual", "LESS_EQUAL", "yes", LP),
        L("Greater", "GREATER", "yes", LP),
        L("GreaterEqual", "GREATER_EQUAL", "yes", LP),
        L("Equal", "EQUAL", "yes", LP),
        L("NotEqual", "NOT_EQUAL", "no", LP),
        L("LogicalAnd", "LOGICAL_AND", "n/a", LP),
        L("LogicalOr", "LOGICAL_OR", "n/a", LP),
        L("LogicalNot", "LOGICAL_NOT", "n/a", LP),
        L("Select", "SELECT", "yes", LP),
        L("SelectV2", "SELECT", "yes", LP, "SELECT when the three shapes are equal, SELECT_V2 when they broadcast"),
        L("Mean", "MEAN", "yes", LP),
        L("Sum", "SUM", "yes", LP),
        L("Max", "REDUCE_MAX", "yes", LP),
        L("Min", "REDUCE_MIN", "yes", LP),
        L("Prod", "REDUCE_PROD", "yes", LP),
        L("Any", "REDUCE_ANY", "n/a", LP),
        L("All", "REDUCE_ALL", "n/a", LP),
        L("ArgMax", "ARG_MAX", "yes", LP),
        L("ArgMin", "ARG_MIN", "yes", LP),
        L("Cumsum", "CUMSUM", "no", LP),
        L("SegmentSum", "SEGMENT_SUM", "no", LP, "LiteRT's kernel needs sorted ids that grow by 0 or 1"),
        L("UnsortedSegmentSum", "UNSORTED_SEGMENT_SUM", "no", LP),
        L("UnsortedSegmentProd", "UNSORTED_SEGMENT_PROD", "no", LP),
        L("UnsortedSegmentMax", "UNSORTED_SEGMENT_MAX", "no", LP),
        L("UnsortedSegmentMin", "UNSORTED_SEGMENT_MIN", "no", LP),
    ),
    *_family("activation",
        L("Relu", "RELU", "yes", LP),
        L("Relu6", "RELU6", "yes", LP),
        L("Elu", "ELU", "no", LP),
        L("Selu", "EXP GREATER MUL SELECT SUB", "yes", LO),
        L("LeakyRelu", "LEAKY_RELU", "yes", LP),
        L("Sigmoid", "LOGISTIC", "yes", LP),
        L("Tanh", "TANH", "yes", LP),
        L("Softplus", "ADD EXP LOG", "yes", LP),
        L("Softsign", "ABS ADD DIV", "yes", MEASURED),
        L("Softmax", "SOFTMAX", "yes", LP),
        L("LogSoftmax", "LOG_SOFTMAX", "yes", LP),
    ),
    *_family("nn",
        L("Conv2D", "CONV_2D", "yes", PT),
        L("DepthwiseConv2dNative", "DEPTHWISE_CONV_2D", "yes", PT),
        L("Conv2DBackpropInput", "TRANSPOSE_CONV", "yes", LP),
        L("Conv3D", "CONV_3D", "no", LT),
        L("Conv3DBackpropInputV2", "CONV_3D_TRANSPOSE", "no", LT),
        L("MatMul", "FULLY_CONNECTED", "yes", LT, "FULLY_CONNECTED (TRANSPOSE of the weights folded)"),
        L("BatchMatMul", "BATCH_MATMUL", "yes", LT),
        L("BatchMatMulV2", "BATCH_MATMUL", "yes", LT, "FULLY_CONNECTED when the right operand is a 2-D constant"),
        L("BatchMatMulV3", "BATCH_MATMUL", "yes", LT),
        L("BiasAdd", "ADD", "yes", LP),
        L("FusedBatchNorm", "ADD MUL", "yes", PP),
        L("FusedBatchNormV3", "ADD MUL", "yes", PP),
        L("MaxPool", "MAX_POOL_2D", "yes", LP),
        L("AvgPool", "AVERAGE_POOL_2D", "yes", LP),
        L("LRN", "LOCAL_RESPONSE_NORMALIZATION", "no", LP),
        L("Einsum", "BATCH_MATMUL", "yes", PT),
        L("SparseMatMul", "FULLY_CONNECTED", "yes", LC),
    ),
    *_family("signal",
        L("RFFT", "RESHAPE RFFT2D", "partial", PT,
          "RFFT is rewritten to RFFT2D over a unit leading axis (RESHAPE in and out)"),
        L("RFFT2D", "RFFT2D", "no", LP),
        L("ComplexAbs", "COMPLEX_ABS", "no", LP),
        L("Real", "REAL", "no", LP),
        L("Imag", "IMAG", "no", LP),
    ),
    *_family("image",
        L("ResizeBilinear", "RESIZE_BILINEAR", "yes", LP),
        L("ResizeNearestNeighbor", "RESIZE_NEAREST_NEIGHBOR", "yes", LP),
    ),
    *_family("detection",
        L("NonMaxSuppressionV4", "NON_MAX_SUPPRESSION_V4", "no", LP),
        L("NonMaxSuppressionV5", "NON_MAX_SUPPRESSION_V5", "no", LP),
    ),
    *_family("random",
        L("RandomUniform", "RANDOM_UNIFORM", "no", LP),
        L("RandomStandardNormal", "RANDOM_STANDARD_NORMAL", "no", LP),
        L("Multinomial", "MULTINOMIAL", "no", LP),
    ),
    *_family("array",
        L("Reshape", "RESHAPE", "yes", LP),
        L("ExpandDims", "RESHAPE", "yes", LP, "EXPAND_DIMS, rewritten to RESHAPE for static shapes"),
        L("Squeeze", "RESHAPE", "yes", LP, "SQUEEZE, rewritten to RESHAPE for static shapes"),
        L("ConcatV2", "CONCATENATION", "yes", LT),
        L("Pack", "PACK", "yes", LT),
        L("Unpack", "UNPACK", "yes", LT),
        L("Split", "SPLIT", "yes", LT),
        L("SplitV", "SPLIT_V", "yes", LT),
        L("Transpose", "TRANSPOSE", "yes", LP),
        L("Slice", "SLICE", "yes", LP),
        L("StridedSlice", "STRIDED_SLICE", "yes", LP),
        L("Tile", "TILE", "yes", LP),
        L("Pad", "PAD", "yes", LP),
        L("PadV2", "PADV2", "yes", LP),
        L("MirrorPad", "MIRROR_PAD", "yes", LP),
        L("GatherV2", "GATHER", "yes", LP),
        L("Gather", "GATHER", "yes", LP),
        L("GatherNd", "GATHER_ND", "yes", LP),
        L("ScatterNd", "SCATTER_ND", "yes", LP),
        L("TensorScatterUpdate", "ADD BROADCAST_TO MUL SCATTER_ND SUB", "yes", LO),
        L("TensorScatterAdd", "ADD BROADCAST_TO GATHER_ND MUL SCATTER_ND SUB", "yes", MEASURED),
        L("BroadcastTo", "BROADCAST_TO", "yes", LP),
        L("BroadcastArgs", "BROADCAST_ARGS", "n/a", LP),
        L("Fill", "FILL", "yes", LP),
        L("ZerosLike", "ZEROS_LIKE", "no", LP),
        L("OnesLike", "", "n/a", LO, "folded (x * ones_like(x) = x); BROADCAST_TO of a constant otherwise"),
        L("Shape", "", "n/a", LP, "folded to a constant when the shape is static (SHAPE otherwise)"),
        L("Rank", "", "n/a", LP, "folded to a constant when the rank is known (RANK otherwise)"),
        L("Size", "", "n/a", LO,
          "folded to a constant when the shape is static (lowered to REDUCE_PROD of SHAPE otherwise)"),
        L("Range", "RANGE", "n/a", LP),
        L("OneHot", "ONE_HOT", "n/a", LP),
        L("ReverseV2", "REVERSE_V2", "yes", LP),
        L("ReverseSequence", "REVERSE_SEQUENCE", "yes", LP),
        L("Roll", "CONCATENATION SLICE", "yes", LC),
        L("SpaceToDepth", "SPACE_TO_DEPTH", "yes", LP),
        L("DepthToSpace", "DEPTH_TO_SPACE", "yes", LP),
        L("SpaceToBatchND", "SPACE_TO_BATCH_ND", "yes", LP),
        L("BatchToSpaceND", "BATCH_TO_SPACE_ND", "yes", LP),
        L("TopKV2", "TOPK_V2", "yes", LP),
        L("Unique", "UNIQUE", "n/a", LP),
        L("Where", "WHERE", "n/a", LP),
        L("Bucketize", "BUCKETIZE", "no", LP),
        L("SparseToDense", "SPARSE_TO_DENSE", "yes", LP),
        L("MatrixDiag", "MATRIX_DIAG", "yes", LP),
        L("MatrixDiagV2", "MATRIX_DIAG", "yes", LT),
        L("MatrixDiagV3", "MATRIX_DIAG", "yes", LT),
        L("MatrixSetDiag", "MATRIX_SET_DIAG", "yes", PP),
        L("MatrixSetDiagV2", "MATRIX_SET_DIAG", "yes", PP),
        L("MatrixSetDiagV3", "MATRIX_SET_DIAG", "yes", LP),
        L("MatrixBandPart", "GREATER_EQUAL LOGICAL_AND NEG SELECT_V2 ZEROS_LIKE", "partial", MEASURED),
        L("DynamicStitch", "PACK UNPACK", "yes", LC),
        L("InvertPermutation", "ADD MUL RESHAPE SCATTER_ND SUB", "n/a", LC),
        L("Bitcast", "BITCAST", "n/a", LP),
        L("Cast", "CAST", "no", LP),
        L("XlaDynamicUpdateSlice", "DYNAMIC_UPDATE_SLICE", "no", LP),
        L("ApproxTopK", "TOPK_V2", "yes", LP),
    ),
    *_family("quantization",
        L("FakeQuantWithMinMaxArgs", "DEQUANTIZE QUANTIZE", "n/a", LP),
        L("FakeQuantWithMinMaxVars", "DEQUANTIZE QUANTIZE", "n/a", LP),
        L("QuantizeAndDequantizeV4", "DEQUANTIZE QUANTIZE", "n/a", LP),
        L("QuantizeAndDequantizeV2", "DEQUANTIZE QUANTIZE", "n/a", MEASURED),
    ),
    *_family("training",
        L("SigmoidGrad", "MUL SUB", "yes", LP),
        L("TanhGrad", "MUL SQUARE SUB", "partial", LO),
        L("RsqrtGrad", "MUL", "yes", LO),
        L("SqrtGrad", "DIV MUL", "yes", LO),
        L("SeluGrad", "ADD GREATER MUL SELECT", "yes", LO),
        L("BiasAddGrad", "SUM", "yes", LO),
        L("L2Loss", "MUL SUM", "yes", LO),
        L("SoftmaxCrossEntropyWithLogits", "EQUAL LOG_SOFTMAX MUL NEG SELECT_V2 SOFTMAX SUB SUM", "partial", LO),
        L("SparseSoftmaxCrossEntropyWithLogits",
          "ADD EQUAL LOG_SOFTMAX MUL NEG RESHAPE SELECT_V2 SOFTMAX SUB SUM",
          "partial", LO),
    ),
    *_family("control",
        L("StatelessWhile", "WHILE", "no", WHILE, "WHILE with cond/body subgraphs"),
        L("StatelessIf", "IF", "no", IF, "IF with then/else subgraphs"),
    ),
)

BY_OP: dict[str, Legalization] = {r.op: r for r in LEGALIZATIONS}
if len(BY_OP) != len(LEGALIZATIONS):  # pragma: no cover - a data error caught at import
    raise RuntimeError("an op is listed twice in LEGALIZATIONS")

# TF ops TensorFlow's converter turns into builtins through passes outside this table (hash tables:
# legalize_hashtables.cc -> HASHTABLE*, string/int64 keys only; resource variables: legalize_variables.td ->
# VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE; TensorLists: lower_static_tensor_list.cc -> plain tensor ops;
# stateful While / If: legalize_tf_while.cc). An importer error must not call these "no TFLite builtin".
CONVERTED_ELSEWHERE: frozenset[str] = frozenset({
    "HashTableV2", "LookupTableFindV2", "LookupTableImportV2", "LookupTableSizeV2",
    "VarHandleOp", "ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "TensorListReserve", "TensorListFromTensor", "TensorListGetItem", "TensorListSetItem", "TensorListStack",
    "TensorListLength", "TensorListPushBack", "TensorListPopBack", "TensorListElementShape", "TensorListResize",
    "EmptyTensorList", "TensorListConcatV2", "TensorListSplit", "TensorListGather", "TensorListScatterIntoExistingList",
    "While", "If",
})
